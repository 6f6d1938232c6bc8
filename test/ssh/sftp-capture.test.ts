/**
 * SFTP content capture (src/ssh/sftp-capture.ts, docs/ssh-relay.md "Content capture"): only for a
 * server whose admin turned it on; WRITE data from the client's packets, READ data from the
 * target's DATA replies matched by request id and handle; capped with a truncation marker; stored
 * as hash-chained recording chunks; a capture that cannot be written refuses the transfer.
 * Crafted streams for the parser, then REAL OpenSSH sftp through the REAL gateway to REAL sshd.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { loadOrCreateGatewayKey } from "../../src/servers/gateway-key.ts";
import { serverService } from "../../src/servers/server-service.ts";
import { SftpAudit, type SftpAuditEvent } from "../../src/ssh/sftp-audit.ts";
import { type CaptureSink, captureOpener, FileCapture } from "../../src/ssh/sftp-capture.ts";
import { SFTP } from "../../src/ssh/sftp-packets.ts";
import { createOpenSshClient, type OpenSshClient } from "../helpers/relay-openssh.ts";
import { startRelayGateway, type RelayGateway } from "../helpers/relay-gateway.ts";
import { sshdSkipReason, startSshd, type Sshd } from "../helpers/sshd-target.ts";
import { ADMIN_ACTOR, createTestApp, type TestApp } from "../helpers/test-app.ts";
import { Browser } from "../web/helpers.ts";
import { webServices } from "../../src/app/web-services.ts";
import { buildWebServer } from "../../src/web/server.ts";

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
const ok = (id: number) => packet(SFTP.STATUS, u32(id), u32(0), str("Success"), str(""));

/** An in-memory sink that keeps the chunks as RecordingStore would (one list per capture). */
function memorySink(fail: { append: boolean } = { append: false }): CaptureSink & { chunks: Map<string, string[]>; finished: Set<string> } {
	const chunks = new Map<string, string[]>();
	const finished = new Set<string>();
	return {
		chunks,
		finished,
		async createCapture(input) {
			chunks.set(input.id, [input.header]);
			return `h0-${input.id}`;
		},
		async append(id, seq, previous, data) {
			if (fail.append) throw new Error("injected: the database refuses the chunk");
			const list = chunks.get(id)!;
			assert.equal(seq, list.length, "chunks arrive in sequence");
			assert.equal(previous, seq === 1 ? `h0-${id}` : `h${seq - 1}-${id}`, "each chunk chains from the one before");
			list.push(data);
			return `h${seq}-${id}`;
		},
		async finish(id) {
			finished.add(id);
		},
	};
}

/** The bytes of a capture's data chunks in order, and its truncation marker if any. */
function contentOf(chunks: string[]): { data: Buffer; truncated: boolean; header: Record<string, unknown> } {
	const parsed = chunks.map((chunk) => JSON.parse(chunk) as Record<string, unknown>);
	const parts = parsed.filter((chunk) => typeof chunk.data === "string").map((chunk) => Buffer.from(String(chunk.data), "base64"));
	return { header: parsed[0]!, data: Buffer.concat(parts), truncated: parsed.some((chunk) => chunk.truncated === true) };
}

let ids = 0;
function opener(sink: CaptureSink, maxBytes = 64 * 1024 * 1024) {
	return captureOpener({
		sink,
		newId: () => `cap${++ids}`,
		now: () => 0,
		userId: "u1",
		username: "alice",
		serverId: "s1",
		server: "db1",
		maxBytes,
	});
}

/** A download of `down` and an upload of `up`, each in two requests, as (direction, bytes) steps. */
function transfer(down: Buffer, up: Buffer): ["c" | "t", Buffer][] {
	const half = (data: Buffer) => [data.subarray(0, data.length >> 1), data.subarray(data.length >> 1)] as const;
	const [d1, d2] = half(down);
	const [u1, u2] = half(up);
	return [
		["c", packet(SFTP.INIT, u32(3))],
		["t", packet(SFTP.VERSION, u32(3))],
		["c", packet(SFTP.OPEN, u32(1), str("/srv/in.bin"), u32(0x1), u32(0))],
		["t", packet(SFTP.HANDLE, u32(1), str("h1"))],
		// Two reads in flight, answered in reverse order: the data is placed by request id, not by arrival.
		["c", packet(SFTP.READ, u32(2), str("h1"), u64(0), u32(d1.length))],
		["c", packet(SFTP.READ, u32(3), str("h1"), u64(d1.length), u32(d2.length))],
		["t", packet(SFTP.DATA, u32(2), str(d1))],
		["t", packet(SFTP.DATA, u32(3), str(d2))],
		["c", packet(SFTP.CLOSE, u32(4), str("h1"))],
		["t", ok(4)],
		["c", packet(SFTP.OPEN, u32(5), str("/srv/out.bin"), u32(0x2 | 0x8), u32(0))],
		["t", packet(SFTP.HANDLE, u32(5), str("h2"))],
		["c", packet(SFTP.WRITE, u32(6), str("h2"), u64(0), str(u1))],
		["c", packet(SFTP.WRITE, u32(7), str("h2"), u64(u1.length), str(u2))],
		["t", ok(6)],
		["t", ok(7)],
		["c", packet(SFTP.CLOSE, u32(8), str("h2"))],
		["t", ok(8)],
	];
}

/** Feeds the steps split into `piece`-byte chunks (packet boundaries fall anywhere). */
function feed(audit: SftpAudit, steps: ["c" | "t", Buffer][], piece: number): boolean {
	for (const [from, bytes] of steps)
		for (let at = 0; at < bytes.length; at += piece) {
			const chunk = bytes.subarray(at, at + piece);
			if (!(from === "c" ? audit.fromClient(chunk) : audit.fromTarget(chunk))) return false;
		}
	return true;
}

async function closes(events: SftpAuditEvent[], count: number): Promise<SftpAuditEvent[]> {
	for (let tries = 0; tries < 1000; tries++) {
		// By path: each close is told once its capture is stored, so the order of the two is not fixed.
		const found = events.filter((event) => event.op === "close").sort((a, b) => String(a.detail.path).localeCompare(String(b.detail.path)));
		if (found.length >= count) return found;
		await new Promise((resolveWait) => setImmediate(resolveWait));
	}
	throw new Error("the close events never came");
}

describe("relayed SFTP content capture (parser)", () => {
	const down = randomBytes(300_000);
	const up = randomBytes(250_001);

	for (const piece of [1 << 20, 4096, 333]) {
		test(`capture on: READ data and WRITE data are stored whole and in place (chunks of ${piece} bytes)`, async () => {
			const sink = memorySink();
			const events: SftpAuditEvent[] = [];
			const audit = new SftpAudit((event) => events.push(event), opener(sink));
			assert.ok(feed(audit, transfer(down, up), piece));
			const [read, write] = await closes(events, 2);
			const readCapture = read!.detail.capture as { id: string; bytes: number; truncated: boolean };
			const writeCapture = write!.detail.capture as { id: string; bytes: number; truncated: boolean };
			assert.deepEqual({ bytes: readCapture.bytes, truncated: readCapture.truncated }, { bytes: down.length, truncated: false });
			assert.deepEqual({ bytes: writeCapture.bytes, truncated: writeCapture.truncated }, { bytes: up.length, truncated: false });
			const readContent = contentOf(sink.chunks.get(readCapture.id)!);
			assert.equal(readContent.header.path, "/srv/in.bin");
			// Reads answered in order of request; each chunk keeps its offset, so the file is rebuilt by offset.
			const rebuilt = Buffer.alloc(down.length);
			for (const chunk of sink.chunks
				.get(readCapture.id)!
				.slice(1)
				.map((text) => JSON.parse(text)))
				Buffer.from(chunk.data, "base64").copy(rebuilt, chunk.offset);
			assert.ok(rebuilt.equals(down), "the downloaded file, from the target's DATA replies");
			assert.ok(contentOf(sink.chunks.get(writeCapture.id)!).data.equals(up), "the uploaded file, from the client's WRITE packets");
			assert.ok(sink.finished.has(readCapture.id) && sink.finished.has(writeCapture.id));
		});
	}

	test("capture off (the default): no capture is made and the close events name none", async () => {
		const events: SftpAuditEvent[] = [];
		const audit = new SftpAudit((event) => events.push(event));
		assert.ok(feed(audit, transfer(down, up), 4096));
		const found = await closes(events, 2);
		for (const event of found) assert.equal(event.detail.capture, undefined);
		assert.equal(audit.wait(), null);
	});

	test("the per-file cap: the capture stops at the cap and ends with a truncated marker; the transfer goes on", async () => {
		const sink = memorySink();
		const events: SftpAuditEvent[] = [];
		const audit = new SftpAudit((event) => events.push(event), opener(sink, 10_000));
		assert.ok(feed(audit, transfer(down, up), 4096));
		const found = await closes(events, 2);
		for (const event of found) {
			const capture = event.detail.capture as { id: string; bytes: number; truncated: boolean };
			assert.equal(capture.bytes, 10_000);
			assert.equal(capture.truncated, true);
			const content = contentOf(sink.chunks.get(capture.id)!);
			assert.equal(content.data.length, 10_000);
			assert.equal(content.truncated, true);
		}
		const [, write] = found;
		assert.ok(contentOf(sink.chunks.get((write!.detail.capture as { id: string }).id)!).data.equals(up.subarray(0, 10_000)));
	});

	test("a capture that cannot be written refuses the stream (fail closed); its close event says so", async () => {
		const sink = memorySink({ append: true });
		const events: SftpAuditEvent[] = [];
		const audit = new SftpAudit((event) => events.push(event), opener(sink));
		const steps = transfer(down, up);
		assert.ok(feed(audit, steps.slice(0, 10), 1 << 20), "the first read goes through (the database's answer comes later)");
		const [closed] = await closes(events, 1);
		assert.equal(closed!.outcome, "failure");
		assert.match(String((closed!.detail.capture as { failed?: string }).failed), /injected/);
		assert.equal(audit.fromClient(steps[10]![1]), false, "the next packet is refused");
		assert.match(String(audit.failure), /content capture failed/);
	});

	test("backpressure: wait() holds the source while chunks are queued for the database", async () => {
		let release: () => void = () => {};
		const gate = new Promise<void>((resolveGate) => {
			release = resolveGate;
		});
		const sink = memorySink();
		const slow: CaptureSink = {
			...sink,
			append: async (...args) => {
				await gate;
				return sink.append(...args);
			},
		};
		const capture = new FileCapture(
			{ sink: slow, newId: () => "slow", now: () => 0, userId: "u", username: "a", serverId: "s", server: "db1", maxBytes: 1 << 30 },
			"/x",
			["write"],
		);
		assert.equal(capture.wait(), null);
		for (let offset = 0; offset < 2 * 1024 * 1024; offset += 32 * 1024) capture.data("write", offset, Buffer.alloc(32 * 1024, 1));
		const wait = capture.wait();
		assert.ok(wait !== null, "more than the high-water mark is queued");
		release();
		await wait;
		const summary = await capture.close();
		assert.equal(summary.bytes, 2 * 1024 * 1024);
		assert.equal(contentOf(sink.chunks.get("slow")!).data.length, 2 * 1024 * 1024);
	});
});

describe("content capture end to end (OpenSSH sftp → gateway → OpenSSH sshd)", { skip: sshdSkipReason(["sftp"]) }, () => {
	const PASSWORD = "correct horse battery";
	let t: TestApp;
	let client: OpenSshClient;
	let db1: Sshd;
	let db2: Sshd;
	let gw: RelayGateway;

	before(async () => {
		t = await createTestApp({ config: { ssh: { sftp_capture_max_bytes: 150_000 } } });
		const gatewayKey = loadOrCreateGatewayKey(t.app.config);
		client = await createOpenSshClient();
		db1 = await startSshd({ authorizedKeys: [gatewayKey.publicKey] });
		db2 = await startSshd({ authorizedKeys: [gatewayKey.publicKey] });
		await t.app.admin.createGroup(ADMIN_ACTOR, { name: "ops", forceTwoFactor: false, allowedMethods: null });
		await t.app.admin.createUser(ADMIN_ACTOR, { username: "alice", password: PASSWORD, isAdmin: false, groups: ["ops"] });
		const servers = serverService(t.app);
		await servers.add(ADMIN_ACTOR, { name: "db1", host: db1.host, port: db1.port, loginUser: db1.user, groups: ["ops"], captureSftpContent: true });
		await servers.add(ADMIN_ACTOR, { name: "db2", host: db2.host, port: db2.port, loginUser: db2.user, groups: ["ops"] });
		gw = await startRelayGateway(t.app);
	});

	after(async () => {
		await client?.cleanup();
		await gw?.close();
		await db1?.stop();
		await db2?.stop();
		await t?.cleanup();
	});

	async function closeEvents(path: string, count: number): Promise<Record<string, unknown>[]> {
		for (let tries = 0; ; tries++) {
			const rows = (await t.app.stores.audit.query({ event: "ssh.sftp" })).map((row) => JSON.parse(String(row.detail)) as Record<string, unknown>);
			const found = rows.filter((row) => row.op === "close" && row.path === path);
			if (found.length >= count) return found;
			if (tries > 600) throw new Error(`no ${count} close events for ${path}`);
			await new Promise((resolveWait) => setTimeout(resolveWait, 50));
		}
	}

	async function stored(id: string): Promise<{ data: Buffer; truncated: boolean; kind: string; verified: string }> {
		const row = await t.app.stores.recordings.find(id);
		assert.ok(row, `capture ${id} is a recording`);
		const chunks: string[] = [];
		for await (const piece of t.app.stores.recordings.read(row)) chunks.push(piece);
		const verified = await t.app.stores.recordings.verify(id);
		return { ...contentOf(chunks), kind: row.kind, verified: verified.status };
	}

	for (const [how, args] of [
		["relayed subsystem (User=alice:db1)", (server: string, remote: string) => ({ user: `alice:${server}`, remote })],
		["the gateway's SFTP view (/db1/PATH)", (server: string, remote: string) => ({ user: "alice", remote: `/${server}${remote}` })],
	] as const) {
		test(`${how}: db1 (capture on) stores what was put and got; db2 (off) stores nothing`, async () => {
			const data = randomBytes(100_000);
			const name = `c-${randomBytes(4).toString("hex")}`;
			const local = join(client.dir, name);
			writeFileSync(local, data);
			for (const [server, sshd] of [
				["db1", db1],
				["db2", db2],
			] as const) {
				const target = join(sshd.dir, name);
				const { user, remote } = args(server, target);
				const result = await client.run("sftp", ["-o", `User=${user}`, "-P", String(gw.port), "127.0.0.1"], {
					password: PASSWORD,
					input: `put ${local} ${remote}\nget ${remote} ${local}.${server}\nbye\n`,
				});
				assert.equal(result.code, 0, result.stderr);
				assert.ok(readFileSync(target).equals(data) && readFileSync(`${local}.${server}`).equals(data), "the transfer itself is untouched");
				const found = await closeEvents(target, 2);
				if (server === "db2") {
					for (const event of found) assert.equal(event.capture, undefined, "no capture without the setting");
					continue;
				}
				for (const event of found) {
					const capture = event.capture as { id: string; bytes: number; truncated: boolean };
					assert.ok(capture, "the close event names the capture");
					const content = await stored(capture.id);
					assert.equal(content.kind, "sftp-file");
					assert.equal(content.verified, "ok", "the chunk chain verifies");
					assert.ok(content.data.equals(data), `${event.bytesWritten ? "upload" : "download"} stored whole`);
					assert.equal(content.truncated, false);
				}
			}
			// The twin without the setting left no capture at all.
			const captures = (await t.app.stores.recordings.list({ limit: 5000 })).filter((row) => row.kind === "sftp-file");
			assert.ok(captures.every((row) => row.servers === JSON.stringify(["db1"])));
		});
	}

	test("a file over ssh.sftp_capture_max_bytes: the capture is cut at the cap and marked truncated; the file arrives whole", async () => {
		const data = randomBytes(400_000);
		const name = `big-${randomBytes(4).toString("hex")}`;
		writeFileSync(join(client.dir, name), data);
		const target = join(db1.dir, name);
		const result = await client.run("sftp", ["-o", "User=alice:db1", "-P", String(gw.port), "127.0.0.1"], {
			password: PASSWORD,
			input: `put ${join(client.dir, name)} ${target}\nbye\n`,
		});
		assert.equal(result.code, 0, result.stderr);
		assert.ok(readFileSync(target).equals(data));
		const [event] = await closeEvents(target, 1);
		const capture = event!.capture as { id: string; bytes: number; truncated: boolean };
		assert.deepEqual({ bytes: capture.bytes, truncated: capture.truncated }, { bytes: 150_000, truncated: true });
		const content = await stored(capture.id);
		assert.equal(content.truncated, true);
		assert.ok(content.data.equals(data.subarray(0, 150_000)));
	});

	test("the console: an admin turns capture on and off per server, and downloads a capture (audited); a non-admin cannot", async () => {
		await t.app.admin.createUser(ADMIN_ACTOR, { username: "root", password: PASSWORD, isAdmin: true, groups: [] });
		const web = await buildWebServer(webServices(t.app));
		try {
			const admin = new Browser(web);
			await admin.follow(await admin.login("root"));
			const page = await admin.get("/admin/server?name=db2");
			assert.match(page.body, /SFTP file content/);
			assert.match(page.body, /not kept/);
			await admin.post("/admin/servers/sftp-capture", { name: "db2", capture: "on" });
			assert.equal((await t.app.stores.servers.findByName("db2"))!.capture_sftp_content, 1);
			await admin.get("/admin/server?name=db2");
			await admin.post("/admin/servers/sftp-capture", { name: "db2" });
			assert.equal((await t.app.stores.servers.findByName("db2"))!.capture_sftp_content, 0, "an unticked box turns it off");
			const changes = (await t.app.stores.audit.query({ event: "server.updated" })).map((row) => JSON.parse(String(row.detail)));
			assert.ok(changes.some((detail) => detail.server === "db2" && detail.changes.captureSftpContent === true));
			assert.ok(changes.some((detail) => detail.server === "db2" && detail.changes.captureSftpContent === false));

			// A capture from the relayed subsystem, downloaded from the recordings page.
			const data = randomBytes(90_000);
			const name = `dl-${randomBytes(4).toString("hex")}`;
			writeFileSync(join(client.dir, name), data);
			const target = join(db1.dir, name);
			const result = await client.run("sftp", ["-o", "User=alice:db1", "-P", String(gw.port), "127.0.0.1"], {
				password: PASSWORD,
				input: `put ${join(client.dir, name)} ${target}\nbye\n`,
			});
			assert.equal(result.code, 0, result.stderr);
			const [event] = await closeEvents(target, 1);
			const id = (event!.capture as { id: string }).id;
			const list = await admin.get("/admin/recordings");
			assert.ok(list.body.includes(`/admin/recordings/${id}/content`));
			const download = await admin.get(`/admin/recordings/${id}/content`);
			assert.equal(download.statusCode, 200);
			assert.equal(download.headers["x-portcullis-capture"], "complete");
			assert.ok(download.rawPayload.equals(data), "the download is the file");
			const viewed = (await t.app.stores.audit.query({ event: "ssh.recording-viewed" })).map((row) => JSON.parse(String(row.detail)));
			assert.ok(viewed.some((detail) => detail.recording === id && detail.kind === "sftp-file" && detail.path === target));
			// The negative twin: alice (no admin) gets no content.
			const alice = new Browser(web);
			await alice.follow(await alice.login("alice"));
			const refused = await alice.get(`/admin/recordings/${id}/content`);
			assert.notEqual(refused.statusCode, 200);
			assert.ok(!refused.rawPayload.includes(data.subarray(0, 64)));
		} finally {
			await web.close();
		}
	});
});
