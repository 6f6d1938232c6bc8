/**
 * The PROXY protocol v1/v2 parser (src/net/proxy-protocol.ts, HAProxy's proxy-protocol text):
 * valid headers of every kind, every truncation of them ("incomplete", never a wrong answer), and
 * fuzz-ish malformed input (random bytes, single-byte mutations, oversize lines and lengths) that
 * must come back "invalid" or "incomplete", never throw, never claim bytes it was not given.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";
import { parseProxyHeader, V1_MAX_LENGTH, V2_MAX_LENGTH, V2_SIGNATURE } from "../../src/net/proxy-protocol.ts";

function v2(command: number, familyTransport: number, body: Buffer): Buffer {
	const head = Buffer.alloc(4);
	head[0] = 0x20 | command;
	head[1] = familyTransport;
	head.writeUInt16BE(body.length, 2);
	return Buffer.concat([V2_SIGNATURE, head, body]);
}

function ipv4Body(source: number[], destination: number[], sourcePort: number, destinationPort: number, tlvs = Buffer.alloc(0)): Buffer {
	const body = Buffer.alloc(12);
	Buffer.from(source).copy(body, 0);
	Buffer.from(destination).copy(body, 4);
	body.writeUInt16BE(sourcePort, 8);
	body.writeUInt16BE(destinationPort, 10);
	return Buffer.concat([body, tlvs]);
}

function ipv6Body(source: string, sourcePort: number): Buffer {
	const body = Buffer.alloc(36);
	for (const [index, group] of source.split(":").entries()) body.writeUInt16BE(Number.parseInt(group, 16), index * 2);
	body.writeUInt16BE(sourcePort, 32);
	body.writeUInt16BE(22, 34);
	return body;
}

const SSH = Buffer.from("SSH-2.0-OpenSSH_9.2\r\n");

const VALID: { name: string; header: Buffer; version: 1 | 2; source: { address: string; port: number } | null }[] = [
	{ name: "v1 TCP4", header: Buffer.from("PROXY TCP4 192.0.2.7 10.0.0.1 51234 2222\r\n"), version: 1, source: { address: "192.0.2.7", port: 51234 } },
	{ name: "v1 TCP6", header: Buffer.from("PROXY TCP6 2001:db8::7 2001:db8::1 4000 22\r\n"), version: 1, source: { address: "2001:db8::7", port: 4000 } },
	{ name: "v1 UNKNOWN", header: Buffer.from("PROXY UNKNOWN\r\n"), version: 1, source: null },
	{ name: "v1 UNKNOWN with addresses", header: Buffer.from("PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n"), version: 1, source: null },
	{
		name: "v2 PROXY TCP/IPv4",
		header: v2(1, 0x11, ipv4Body([198, 51, 100, 9], [10, 0, 0, 1], 40000, 2222)),
		version: 2,
		source: { address: "198.51.100.9", port: 40000 },
	},
	{
		name: "v2 PROXY TCP/IPv4 with TLVs",
		header: v2(1, 0x11, ipv4Body([198, 51, 100, 9], [10, 0, 0, 1], 1, 2, Buffer.from([0x04, 0x00, 0x02, 0xab, 0xcd]))),
		version: 2,
		source: { address: "198.51.100.9", port: 1 },
	},
	{
		name: "v2 PROXY TCP/IPv6",
		header: v2(1, 0x21, ipv6Body("2001:db8:0:0:0:0:0:9", 5555)),
		version: 2,
		source: { address: "2001:db8:0:0:0:0:0:9", port: 5555 },
	},
	{ name: "v2 LOCAL (health check)", header: v2(0, 0x00, Buffer.alloc(0)), version: 2, source: null },
	{ name: "v2 PROXY UDP carries no client for us", header: v2(1, 0x12, ipv4Body([1, 2, 3, 4], [5, 6, 7, 8], 1, 2)), version: 2, source: null },
	{ name: "v2 PROXY AF_UNSPEC", header: v2(1, 0x00, Buffer.alloc(0)), version: 2, source: null },
	{ name: "v2 PROXY unix stream", header: v2(1, 0x31, Buffer.alloc(216)), version: 2, source: null },
];

for (const entry of VALID) {
	test(`valid: ${entry.name}, followed by the SSH stream`, () => {
		const parsed = parseProxyHeader(Buffer.concat([entry.header, SSH]));
		assert.equal(parsed.kind, "ok");
		if (parsed.kind !== "ok") return;
		assert.equal(parsed.version, entry.version);
		assert.equal(parsed.length, entry.header.length, "the header's own bytes, not the stream's");
		assert.deepEqual(parsed.source, entry.source);
	});
	test(`valid: every truncation of ${entry.name} is incomplete`, () => {
		for (let cut = 0; cut < entry.header.length; cut += 1) {
			assert.equal(parseProxyHeader(entry.header.subarray(0, cut)).kind, "incomplete", `cut at ${cut}`);
		}
	});
}

const INVALID: { name: string; bytes: Buffer; reason: RegExp }[] = [
	{ name: "plain SSH (a trusted proxy that sends no header)", bytes: SSH, reason: /no PROXY/ },
	{ name: "HTTP", bytes: Buffer.from("GET / HTTP/1.1\r\n\r\n"), reason: /no PROXY/ },
	{ name: "v1 lower case", bytes: Buffer.from("proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n"), reason: /no PROXY/ },
	{ name: "v1 unknown protocol", bytes: Buffer.from("PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n"), reason: /unknown protocol/ },
	{ name: "v1 TCP4 with an IPv6 address", bytes: Buffer.from("PROXY TCP4 2001:db8::1 5.6.7.8 1 2\r\n"), reason: /bad address/ },
	{ name: "v1 TCP6 with an IPv4 address", bytes: Buffer.from("PROXY TCP6 1.2.3.4 2001:db8::1 1 2\r\n"), reason: /bad address/ },
	{ name: "v1 host name", bytes: Buffer.from("PROXY TCP4 evil.example 5.6.7.8 1 2\r\n"), reason: /bad address/ },
	{ name: "v1 port too big", bytes: Buffer.from("PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n"), reason: /bad port/ },
	{ name: "v1 port with leading zero", bytes: Buffer.from("PROXY TCP4 1.2.3.4 5.6.7.8 022 2\r\n"), reason: /bad port/ },
	{ name: "v1 negative port", bytes: Buffer.from("PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n"), reason: /bad port/ },
	{ name: "v1 missing field", bytes: Buffer.from("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n"), reason: /malformed/ },
	{ name: "v1 extra field", bytes: Buffer.from("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n"), reason: /malformed/ },
	{ name: "v1 double space", bytes: Buffer.from("PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n"), reason: /malformed/ },
	{ name: "v1 control character", bytes: Buffer.from("PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n"), reason: /printable/ },
	{ name: "v1 no CRLF within 107 bytes", bytes: Buffer.from(`PROXY TCP4 ${"1".repeat(120)}`), reason: /too long/ },
	{ name: "v1 CRLF after 107 bytes", bytes: Buffer.from(`PROXY UNKNOWN ${"x".repeat(100)}\r\n`), reason: /too long/ },
	{ name: "v2 version 1", bytes: Buffer.concat([V2_SIGNATURE, Buffer.from([0x11, 0x11, 0x00, 0x0c]), Buffer.alloc(12)]), reason: /bad version/ },
	{ name: "v2 version 3", bytes: Buffer.concat([V2_SIGNATURE, Buffer.from([0x31, 0x11, 0x00, 0x0c]), Buffer.alloc(12)]), reason: /bad version/ },
	{ name: "v2 command 2", bytes: Buffer.concat([V2_SIGNATURE, Buffer.from([0x22, 0x11, 0x00, 0x0c]), Buffer.alloc(12)]), reason: /bad command/ },
	{ name: "v2 family 4", bytes: v2(1, 0x41, Buffer.alloc(12)), reason: /bad family/ },
	{ name: "v2 IPv4 block too short", bytes: v2(1, 0x11, Buffer.alloc(8)), reason: /too short/ },
	{ name: "v2 IPv6 block too short", bytes: v2(1, 0x21, Buffer.alloc(20)), reason: /too short/ },
	{ name: "v2 length over our cap", bytes: Buffer.concat([V2_SIGNATURE, Buffer.from([0x21, 0x11, 0xff, 0xff])]), reason: /too long/ },
];

for (const entry of INVALID) {
	test(`invalid: ${entry.name}`, () => {
		const parsed = parseProxyHeader(entry.bytes);
		assert.equal(parsed.kind, "invalid", JSON.stringify(parsed));
		if (parsed.kind === "invalid") assert.match(parsed.reason, entry.reason);
	});
}

/** Deterministic bytes (a seeded hash chain), so a failure can be replayed. */
function bytes(seed: string, length: number): Buffer {
	const out: Buffer[] = [];
	let state = Buffer.from(seed);
	let total = 0;
	while (total < length) {
		state = createHash("sha256").update(state).digest();
		out.push(state);
		total += state.length;
	}
	return Buffer.concat(out).subarray(0, length);
}

function assertSane(input: Buffer, label: string): void {
	let parsed: ReturnType<typeof parseProxyHeader>;
	try {
		parsed = parseProxyHeader(input);
	} catch (error) {
		assert.fail(`${label}: threw ${String(error)}`);
	}
	if (parsed.kind === "ok") {
		assert.ok(parsed.length <= input.length, `${label}: claims ${parsed.length} of ${input.length} bytes`);
		assert.ok(parsed.length <= Math.max(V1_MAX_LENGTH, V2_MAX_LENGTH), label);
		if (parsed.source !== null) assert.ok(parsed.source.port >= 0 && parsed.source.port <= 65535, label);
	}
}

test("fuzz: random bytes, with and without each signature in front, never throw or over-claim", () => {
	for (let round = 0; round < 3000; round += 1) {
		const length = round % 300;
		const noise = bytes(`noise-${round}`, length);
		assertSane(noise, `noise ${round}`);
		assertSane(Buffer.concat([V2_SIGNATURE, noise]), `v2+noise ${round}`);
		assertSane(Buffer.concat([Buffer.from("PROXY "), noise]), `v1+noise ${round}`);
	}
});

test("fuzz: every single-byte mutation of each valid header is handled (ok, invalid or incomplete), never thrown", () => {
	for (const entry of VALID) {
		const input = Buffer.concat([entry.header, SSH]);
		for (let index = 0; index < entry.header.length; index += 1) {
			for (const value of [0x00, 0x0a, 0x0d, 0x20, 0x7f, 0xff, (input[index]! + 1) & 0xff]) {
				const mutated = Buffer.from(input);
				mutated[index] = value;
				assertSane(mutated, `${entry.name} byte ${index} = ${value}`);
			}
		}
	}
});

test("a v1 header announcing an address can never smuggle a second line or more than 107 bytes", () => {
	const parsed = parseProxyHeader(Buffer.from("PROXY TCP4 192.0.2.7 10.0.0.1 1 2\r\nPROXY TCP4 10.0.0.99 10.0.0.1 1 2\r\n"));
	assert.equal(parsed.kind, "ok");
	if (parsed.kind === "ok") assert.equal(parsed.source?.address, "192.0.2.7", "the first header only; the second is stream bytes");
});
