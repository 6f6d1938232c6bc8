/**
 * Hostile bytes at the transport layer (RFC 4253 §4.2 identification, §6 binary packets), before
 * any authentication: an HTTP request, random bytes, an SSH-1 banner, an endless identification
 * line, an absurd packet length, a well-framed packet of nonsense. Each connection is closed by
 * the gateway (never by the test), each is audited with ssh.connect and ssh.disconnect, and the
 * gateway keeps serving: a real login works afterwards.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { connect } from "node:net";
import { after, before, describe, test } from "node:test";
import { RawSsh } from "../helpers/ssh-client.ts";
import { addUser, PASSWORD, startFixture, type Fixture } from "./auth-fixtures.ts";

const IDENT = Buffer.from("SSH-2.0-hostile_0.1\r\n");

function packet(length: number, body: Buffer): Buffer {
	const header = Buffer.alloc(4);
	header.writeUInt32BE(length >>> 0);
	return Buffer.concat([header, body]);
}

const CASES: readonly [string, Buffer][] = [
	["an HTTP request", Buffer.from("GET / HTTP/1.1\r\nHost: gateway\r\n\r\n")],
	["64 KiB of random bytes", randomBytes(65536)],
	["an SSH-1 identification", Buffer.from("SSH-1.5-OpenSSH_1.2.3\r\n")],
	["an identification line that never ends", Buffer.concat([Buffer.from("SSH-2.0-"), Buffer.alloc(300 * 1024, 0x61)])],
	["a packet length of 4 GiB", Buffer.concat([IDENT, packet(0xffffffff, randomBytes(64))])],
	["a packet length of zero", Buffer.concat([IDENT, packet(0, Buffer.alloc(64))])],
	["a well-framed packet of an unknown message type before KEXINIT", Buffer.concat([IDENT, packet(12, Buffer.from([6, 0xfe, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]))])],
];

/** Sends the bytes and waits for the gateway to close the connection; true if it did. */
function closedByGateway(port: number, bytes: Buffer, timeoutMs: number): Promise<boolean> {
	return new Promise((resolve) => {
		const socket = connect(port, "127.0.0.1");
		const timer = setTimeout(() => {
			socket.destroy();
			resolve(false);
		}, timeoutMs);
		socket.on("error", () => undefined);
		socket.on("data", () => undefined);
		socket.once("connect", () => socket.write(bytes, () => undefined));
		socket.once("close", () => {
			clearTimeout(timer);
			resolve(true);
		});
	});
}

describe("hostile bytes before authentication", () => {
	let f: Fixture;
	before(async () => {
		f = await startFixture({ config: { ssh: { login_grace_seconds: 5 } } });
		await addUser(f, "sam");
	});
	after(async () => f?.close());

	for (const [name, bytes] of CASES) {
		test(`${name}: the gateway closes the connection and audits it`, async () => {
			const before = (await f.app.stores.audit.query({ event: "ssh.disconnect", limit: 1000 })).length;
			assert.ok(await closedByGateway(f.port, bytes, 120_000), "closed by the gateway");
			const disconnects = await f.app.stores.audit.query({ event: "ssh.disconnect", limit: 1000 });
			// The disconnect audit is written on the socket's close; give it a moment.
			for (let wait = 0; wait < 40 && disconnects.length === before; wait++) {
				await new Promise((resolve) => setTimeout(resolve, 50));
				disconnects.splice(0, disconnects.length, ...(await f.app.stores.audit.query({ event: "ssh.disconnect", limit: 1000 })));
			}
			assert.equal(disconnects.length, before + 1, "one ssh.disconnect for this connection");
			const detail = JSON.parse(disconnects[0]!.detail ?? "{}") as { authenticated?: boolean };
			assert.equal(detail.authenticated, false);
		});
	}

	test("afterwards the gateway still serves a real login", async () => {
		const raw = await RawSsh.connect(f.port);
		raw.password("sam", PASSWORD);
		assert.deepEqual(await raw.next(), { type: "success" });
		raw.end();
	});
});
