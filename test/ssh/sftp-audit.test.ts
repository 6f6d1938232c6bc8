/**
 * The SFTP audit parser (src/ssh/sftp-audit.ts, sftp-packets.ts) on crafted streams: what it
 * reports, that chunk boundaries do not matter, and that hostile input (lengths that lie, fields
 * that overrun, floods of requests or handles, another protocol version) is refused — the relay
 * then ends the channel (fail closed).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { MAX_HANDLES, MAX_PENDING, SftpAudit, type SftpAuditEvent } from "../../src/ssh/sftp-audit.ts";
import { SFTP, SFTP_MAX_PACKET } from "../../src/ssh/sftp-packets.ts";

const u32 = (value: number) => {
	const buffer = Buffer.alloc(4);
	buffer.writeUInt32BE(value);
	return buffer;
};
const u64 = (value: number) => {
	const buffer = Buffer.alloc(8);
	buffer.writeBigUInt64BE(BigInt(value));
	return buffer;
};
const str = (value: string | Buffer) => {
	const bytes = typeof value === "string" ? Buffer.from(value) : value;
	return Buffer.concat([u32(bytes.length), bytes]);
};
const packet = (type: number, ...fields: Buffer[]) => {
	const body = Buffer.concat([Buffer.from([type]), ...fields]);
	return Buffer.concat([u32(body.length), body]);
};
const NO_ATTRS = u32(0);
const version = packet(SFTP.VERSION, u32(3));
const init = packet(SFTP.INIT, u32(3));
const ok = (id: number) => packet(SFTP.STATUS, u32(id), u32(0), str("Success"), str(""));

function audited(): { audit: SftpAudit; events: SftpAuditEvent[] } {
	const events: SftpAuditEvent[] = [];
	return { audit: new SftpAudit((event) => events.push(event)), events };
}

/** A download and an upload, as (direction, bytes) steps. */
function session(): ["c" | "t", Buffer][] {
	const data = Buffer.alloc(70_000, 7);
	return [
		["c", init],
		["t", version],
		["c", packet(SFTP.OPEN, u32(1), str("/srv/in.txt"), u32(0x1), NO_ATTRS)],
		["t", packet(SFTP.HANDLE, u32(1), str("h1"))],
		["c", packet(SFTP.READ, u32(2), str("h1"), u64(0), u32(70_000))],
		["t", packet(SFTP.DATA, u32(2), str(data))],
		["c", packet(SFTP.CLOSE, u32(3), str("h1"))],
		["t", ok(3)],
		["c", packet(SFTP.OPEN, u32(4), str("/srv/out.bin"), u32(0x2 | 0x8 | 0x10), NO_ATTRS)],
		["t", packet(SFTP.HANDLE, u32(4), str("h2"))],
		["c", packet(SFTP.WRITE, u32(5), str("h2"), u64(0), str(data))],
		["t", ok(5)],
		["c", packet(SFTP.CLOSE, u32(6), str("h2"))],
		["t", ok(6)],
		["c", packet(SFTP.RENAME, u32(7), str("/srv/out.bin"), str("/srv/final.bin"))],
		["t", ok(7)],
		["c", packet(SFTP.REMOVE, u32(8), str("/srv/gone"))],
		["t", packet(SFTP.STATUS, u32(8), u32(3), str("Permission denied"), str(""))],
		["c", packet(SFTP.MKDIR, u32(9), str("/srv/d"), NO_ATTRS)],
		["t", ok(9)],
		["c", packet(SFTP.RMDIR, u32(10), str("/srv/d"))],
		["t", ok(10)],
		["c", packet(SFTP.SETSTAT, u32(11), str("/srv/final.bin"), Buffer.concat([u32(0x4), u32(0o100640)]))],
		["t", ok(11)],
		["c", packet(SFTP.EXTENDED, u32(12), str("posix-rename@openssh.com"), str("/srv/final.bin"), str("/srv/x.bin"))],
		["t", ok(12)],
	];
}

const expected = [
	{ op: "open", outcome: "success", detail: { path: "/srv/in.txt", flags: ["read"] } },
	{ op: "close", outcome: "success", detail: { path: "/srv/in.txt", flags: ["read"], bytesRead: 70_000, bytesWritten: 0 } },
	{ op: "open", outcome: "success", detail: { path: "/srv/out.bin", flags: ["write", "create", "truncate"] } },
	{ op: "close", outcome: "success", detail: { path: "/srv/out.bin", flags: ["write", "create", "truncate"], bytesRead: 0, bytesWritten: 70_000 } },
	{ op: "rename", outcome: "success", detail: { from: "/srv/out.bin", to: "/srv/final.bin" } },
	{ op: "remove", outcome: "failure", detail: { path: "/srv/gone", status: "permission-denied", message: "Permission denied" } },
	{ op: "mkdir", outcome: "success", detail: { path: "/srv/d", attrs: {} } },
	{ op: "rmdir", outcome: "success", detail: { path: "/srv/d" } },
	{ op: "setstat", outcome: "success", detail: { path: "/srv/final.bin", attrs: { permissions: "640" } } },
	{ op: "rename", outcome: "success", detail: { from: "/srv/final.bin", to: "/srv/x.bin", extension: "posix-rename@openssh.com" } },
];

describe("SFTP audit parser", () => {
	test("reports opens, closes with bytes, and changes with the target's outcome", () => {
		const { audit, events } = audited();
		for (const [from, bytes] of session()) assert.ok(from === "c" ? audit.fromClient(bytes) : audit.fromTarget(bytes));
		assert.deepEqual(events, expected);
		assert.equal(audit.failure, null);
	});

	test("the same events whatever the chunk boundaries (byte by byte, and all at once per direction)", () => {
		const { audit, events } = audited();
		for (const [from, bytes] of session())
			for (let at = 0; at < bytes.length; at++) {
				const one = bytes.subarray(at, at + 1);
				assert.ok(from === "c" ? audit.fromClient(one) : audit.fromTarget(one));
			}
		assert.deepEqual(events, expected);
	});

	test("a file still open when the channel ends is reported with its bytes", () => {
		const { audit, events } = audited();
		audit.fromClient(Buffer.concat([init, packet(SFTP.OPEN, u32(1), str("/srv/big"), u32(0x2), NO_ATTRS)]));
		audit.fromTarget(Buffer.concat([version, packet(SFTP.HANDLE, u32(1), str("h"))]));
		audit.fromClient(packet(SFTP.WRITE, u32(2), str("h"), u64(0), str(Buffer.alloc(1000))).subarray(0, 600)); // mid-packet disconnect
		audit.end();
		assert.deepEqual(events.at(-1), {
			op: "close",
			outcome: "info",
			detail: { path: "/srv/big", flags: ["write"], bytesRead: 0, bytesWritten: 1000, closedBy: "channel-end" },
		});
	});

	test("hostile input is refused: lengths that lie, fields that overrun, oversized packets, another version", () => {
		const cases: [string, "c" | "t", Buffer][] = [
			["zero length", "c", u32(0)],
			["length beyond 256 KiB", "c", Buffer.concat([u32(SFTP_MAX_PACKET + 1), Buffer.from([SFTP.WRITE])])],
			["4 GiB length", "t", Buffer.concat([u32(0xffffffff), Buffer.from([SFTP.DATA])])],
			["path longer than its packet", "c", packet(SFTP.OPEN, u32(1), u32(1000), Buffer.from("/x"), u32(1), NO_ATTRS)],
			["packet shorter than its fields", "c", packet(SFTP.RENAME, u32(1), str("/a"))],
			["handle over 256 bytes", "c", packet(SFTP.CLOSE, u32(1), str(Buffer.alloc(300)))],
			["a parsed packet of 40 KiB", "c", packet(SFTP.REMOVE, u32(1), str("a".repeat(40 * 1024)))],
			["attrs that overrun", "c", packet(SFTP.SETSTAT, u32(1), str("/a"), u32(0x1), u32(5))],
			["SFTP version 6", "t", packet(SFTP.VERSION, u32(6))],
		];
		for (const [name, from, bytes] of cases) {
			const { audit } = audited();
			const accepted = from === "c" ? audit.fromClient(bytes) : audit.fromTarget(bytes);
			assert.equal(accepted, false, name);
			assert.ok(audit.failure, name);
			// Dead for good: nothing more passes.
			assert.equal(audit.fromClient(init), false, name);
		}
	});

	test("floods are bounded: requests in flight and open files", () => {
		const pending = audited();
		let refused = false;
		for (let id = 0; id <= MAX_PENDING && !refused; id++) refused = !pending.audit.fromClient(packet(SFTP.REMOVE, u32(id), str("/x")));
		assert.ok(refused, "more requests in flight than the bound");
		assert.match(pending.audit.failure ?? "", /requests in flight/);

		const files = audited();
		refused = false;
		for (let id = 0; id <= MAX_HANDLES && !refused; id++) {
			files.audit.fromClient(packet(SFTP.OPEN, u32(id), str(`/f${id}`), u32(1), NO_ATTRS));
			refused = !files.audit.fromTarget(packet(SFTP.HANDLE, u32(id), str(`h${id}`)));
		}
		assert.ok(refused, "more open files than the bound");
	});

	test("the well-formed twin of each refusal passes", () => {
		const { audit } = audited();
		assert.ok(audit.fromTarget(packet(SFTP.VERSION, u32(3))));
		assert.ok(audit.fromClient(packet(SFTP.CLOSE, u32(1), str(Buffer.alloc(256)))));
		assert.ok(audit.fromClient(packet(SFTP.REMOVE, u32(2), str("a".repeat(30 * 1024)))));
		assert.ok(audit.fromClient(packet(SFTP.WRITE, u32(3), str("h"), u64(0), str(Buffer.alloc(SFTP_MAX_PACKET - 40)))));
		assert.equal(audit.failure, null);
	});
});
