/**
 * Recordings in the shared database, end to end with the REAL OpenSSH client (tmux for a real
 * terminal) through the gateway to a REAL sshd, on SQLite and on PostgreSQL:
 * - written while the session runs (readable from the other node before the session ends),
 *   played back and downloaded from the other node's console, chain verified;
 * - one chunk edited in the database: verify names it;
 * - recording impossible (a store that refuses writes): strict refuses new sessions with one line
 *   and ends open ones with a notice; best effort goes on; both audit `recording.failed` and log.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { FastifyInstance } from "fastify";
import { sql } from "kysely";
import { webServices } from "../../src/app/web-services.ts";
import { PortcullisError } from "../../src/core/errors.ts";
import { loadOrCreateGatewayKey } from "../../src/servers/gateway-key.ts";
import { startSshGateway, type SshGateway } from "../../src/ssh/gateway.ts";
import { parseCast } from "../../src/ssh/recording.ts";
import type { SshServices } from "../../src/ssh/ssh-services.ts";
import type { RecordingRow } from "../../src/storage/recording-store.ts";
import { buildWebServer } from "../../src/web/server.ts";
import { createRecordingNodes, type RecordingNodes } from "../helpers/recording-nodes.ts";
import { createOpenSshClient, type OpenSshClient } from "../helpers/relay-openssh.ts";
import { sshdSkipReason, startSshd, type Sshd } from "../helpers/sshd-target.ts";
import { ADMIN_ACTOR } from "../helpers/test-app.ts";
import { Browser, PASSWORD } from "../web/helpers.ts";

const skip = sshdSkipReason(["tmux"]);

async function eventually<T>(probe: () => Promise<T | undefined | null | false>, what: string, timeoutMs = 60_000): Promise<T> {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		const value = await probe();
		if (value) return value;
		if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
		await new Promise((resolveWait) => setTimeout(resolveWait, 50));
	}
}

for (const engine of ["sqlite", "postgres"] as const) {
	describe(`recordings in the database (${engine}, OpenSSH → gateway → sshd)`, { skip }, () => {
		let nodes: RecordingNodes;
		let client: OpenSshClient;
		let db1: Sshd;
		let gw: SshGateway;
		let web: FastifyInstance;
		let admin: Browser;
		/** Injected failures of the recordings store the gateway writes through. */
		const fault = { create: false, append: false };
		const injected = () => new PortcullisError("ERR_DATABASE", "injected: the database refuses the recording");

		const text = async (row: RecordingRow) => {
			let all = "";
			for await (const piece of nodes.b.stores.recordings.read(row)) all += piece;
			return all;
		};
		const failures = async () =>
			(await nodes.b.stores.audit.query({ event: "recording.failed" })).map((row) => JSON.parse(row.detail!) as Record<string, unknown>);
		const sshTerminal = (args: readonly string[]) =>
			client.terminal(["ssh", "-F", client.configFile, "-p", String(gw.address.port), ...args], { cols: 100, rows: 30, password: PASSWORD });

		before(async () => {
			nodes = await createRecordingNodes(engine, { ssh: { recording_flush_ms: 200 } });
			const { a, b } = nodes;
			client = await createOpenSshClient();
			db1 = await startSshd({ authorizedKeys: [loadOrCreateGatewayKey(a.config).publicKey] });
			await a.admin.createGroup(ADMIN_ACTOR, { name: "ops", forceTwoFactor: false, allowedMethods: null });
			await a.admin.createUser(ADMIN_ACTOR, { username: "alice", password: PASSWORD, isAdmin: false, groups: ["ops"] });
			await a.admin.createUser(ADMIN_ACTOR, { username: "root", password: PASSWORD, isAdmin: true, groups: [] });
			await a.servers.add(ADMIN_ACTOR, { name: "db1", host: db1.host, port: db1.port, loginUser: db1.user, description: "primary", groups: ["ops"] });
			const store = a.stores.recordings;
			const recordings: SshServices["recordings"] = {
				create: (input) => (fault.create ? Promise.reject(injected()) : store.create(input)),
				append: (id, seq, previous, data) => (fault.append ? Promise.reject(injected()) : store.append(id, seq, previous, data)),
				setServers: (id, serverId, servers) => store.setServers(id, serverId, servers),
				finish: (id, endedAt) => store.finish(id, endedAt),
				createCapture: (input) => store.createCapture(input),
			};
			gw = await startSshGateway({ ...a.ssh, recordings }, { listen: "127.0.0.1:0" });
			// The other node's console: same database, its own data directory.
			web = await buildWebServer(webServices(b));
			await web.ready();
			admin = new Browser(web);
			await admin.follow(await admin.login("root"));
		});

		after(async () => {
			await client?.cleanup();
			await gw?.close();
			await web?.close();
			await db1?.stop();
			await nodes?.cleanup();
		});

		test("a menu session is in the database while it runs, and the other node plays and verifies it", async () => {
			const term = await sshTerminal(["alice@127.0.0.1"]);
			let row: RecordingRow;
			try {
				await term.waitFor(/Filter:/);
				await term.type("1\r");
				await term.waitFor(/Connecting to db1/);
				await term.type("echo rec-$((6*7))-marker\r");
				await term.waitFor(/rec-42-marker/);
				// Still connected: the other node already has the output (flushed within recording_flush_ms).
				row = await eventually(async () => {
					for (const candidate of await nodes.b.stores.recordings.list({ username: "alice" }))
						if (candidate.ended_at === null && (await text(candidate)).includes("rec-42-marker")) return candidate;
					return null;
				}, "the running session's output in the database");
				assert.equal(row.storage, "db");
				await term.type("exit\r");
				await term.waitFor(/Connection to db1 closed/);
				await term.type("q");
				await eventually(() => term.exited(), "ssh to exit after q");
			} finally {
				await term.close();
			}
			const done = await eventually(async () => {
				const found = await nodes.b.stores.recordings.find(row.id);
				return found?.ended_at !== null ? found : null;
			}, "the recording to be finished");
			assert.deepEqual(JSON.parse(done!.servers), ["db1"]);
			const verified = await nodes.b.stores.recordings.verify(row.id);
			assert.equal(verified.status, "ok");
			assert.ok(done!.chunks >= 2, `several chunks, not one write at the end (${done!.chunks})`);
			const finished = await eventually(async () => {
				const events = await nodes.b.stores.audit.query({ event: "ssh.recording-finished" });
				return events.find((event) => JSON.parse(event.detail!).recording === row.id);
			}, "ssh.recording-finished");
			assert.equal(JSON.parse(finished.detail!).lastHash, done!.last_hash, "the chain's end is in the audit log");

			// Node B's console: the list, the player page and the download, streamed from the database.
			const list = await admin.get("/admin/recordings");
			assert.equal(list.statusCode, 200);
			assert.ok(list.body.includes(`href="/admin/recordings/${row.id}"`));
			assert.equal((await admin.get(`/admin/recordings/${row.id}`)).statusCode, 200);
			const cast = await admin.get(`/admin/recordings/${row.id}/cast`);
			assert.equal(cast.statusCode, 200);
			assert.match(String(cast.headers["content-type"]), /application\/x-asciicast/);
			const parsed = parseCast(cast.body);
			assert.equal(parsed.header.width, 100);
			const output = parsed.events
				.filter((event) => event[1] === "o")
				.map((event) => event[2])
				.join("");
			assert.match(output, /servers for alice/);
			assert.match(output, /rec-42-marker/);
			assert.equal(Buffer.byteLength(cast.body), Number(done!.bytes));
			const viewed = await nodes.b.stores.audit.query({ event: "ssh.recording-viewed" });
			assert.ok(viewed.some((event) => JSON.parse(event.detail!).recording === row.id));
		});

		test("tamper evidence: one chunk edited in the database is named by verify; a removed last chunk too", async () => {
			const [row] = await nodes.b.stores.recordings.list({ username: "alice", limit: 1 });
			assert.ok(row && row.chunks >= 2);
			const { db } = nodes.b;
			const original = await db.selectFrom("recording_chunks").selectAll().where("recording_id", "=", row.id).where("seq", "=", 1).executeTakeFirstOrThrow();
			await db
				.updateTable("recording_chunks")
				.set({ data: `${original.data}[0.5, "o", "rm -rf / # never typed"]\n` })
				.where("recording_id", "=", row.id)
				.where("seq", "=", 1)
				.execute();
			const edited = await nodes.b.stores.recordings.verify(row.id);
			assert.equal(edited.status, "broken");
			assert.equal(edited.status === "broken" && edited.chunk, 1, JSON.stringify(edited));
			await db.updateTable("recording_chunks").set({ data: original.data }).where("recording_id", "=", row.id).where("seq", "=", 1).execute();
			assert.equal((await nodes.b.stores.recordings.verify(row.id)).status, "ok", "restored");
			const last = Number(row.chunks) - 1;
			await db.deleteFrom("recording_chunks").where("recording_id", "=", row.id).where("seq", "=", last).execute();
			const truncated = await nodes.b.stores.recordings.verify(row.id);
			assert.equal(truncated.status === "broken" && truncated.chunk, last, JSON.stringify(truncated));
		});

		test("strict (the default): a session that cannot be recorded is refused with one line; nothing reaches the server", async () => {
			const startsBefore = (await nodes.b.stores.audit.query({ event: "ssh.session-start" })).length;
			fault.create = true;
			try {
				for (const args of [
					["-tt", "alice@127.0.0.1", "db1", "--", "echo never-$((1+1))"],
					["-tt", "alice@127.0.0.1"],
				]) {
					const result = await client.run("ssh", ["-p", String(gw.address.port), ...args], { password: PASSWORD });
					assert.equal(result.code, 1, result.stderr);
					assert.match(`${result.stderr}${result.stdout}`, /this session cannot be recorded right now, so it was refused/);
					assert.doesNotMatch(result.stdout.toString(), /never-2|servers for alice/);
				}
			} finally {
				fault.create = false;
			}
			assert.equal((await nodes.b.stores.audit.query({ event: "ssh.session-start" })).length, startsBefore, "no session reached db1");
			const strict = (await failures()).filter((detail) => detail.stage === "start" && detail.mode === "strict" && /injected/.test(String(detail.error)));
			assert.equal(strict.length, 2);
			assert.ok(nodes.logA.some((line) => line.level === "error" && line.message === "session recording failed" && line.fields.mode === "strict"));
		});

		test("the database itself refuses the chunks (a trigger that raises): strict refuses, and no half-made recording is left", async () => {
			const { db } = nodes.b;
			if (engine === "sqlite") {
				await sql`CREATE TRIGGER refuse_chunks BEFORE INSERT ON recording_chunks BEGIN SELECT RAISE(ABORT, 'injected: disk full'); END`.execute(db);
			} else {
				await sql`CREATE FUNCTION refuse_chunks() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'injected: disk full'; END $$`.execute(db);
				await sql`CREATE TRIGGER refuse_chunks BEFORE INSERT ON recording_chunks FOR EACH ROW EXECUTE FUNCTION refuse_chunks()`.execute(db);
			}
			const before = (await nodes.b.stores.recordings.list({ limit: 5000 })).length;
			try {
				const result = await client.run("ssh", ["-p", String(gw.address.port), "-tt", "alice@127.0.0.1", "db1", "--", "echo never-$((4+4))"], {
					password: PASSWORD,
				});
				assert.equal(result.code, 1, result.stderr);
				assert.match(`${result.stderr}${result.stdout}`, /this session cannot be recorded right now, so it was refused/);
				assert.doesNotMatch(result.stdout.toString(), /never-8/);
			} finally {
				await sql`DROP TRIGGER refuse_chunks${sql.raw(engine === "postgres" ? " ON recording_chunks" : "")}`.execute(db);
				if (engine === "postgres") await sql`DROP FUNCTION refuse_chunks()`.execute(db);
			}
			assert.equal((await nodes.b.stores.recordings.list({ limit: 5000 })).length, before, "the row went with its header (one transaction)");
			const failed = (await failures()).filter((detail) => detail.stage === "start" && /disk full/.test(String(detail.error)));
			assert.equal(failed.length, 1);
		});

		test("best effort (global or per server): the session goes on unrecorded, audited and logged; a strict server still refuses", async () => {
			await nodes.a.servers.setGlobalRecordingMode(ADMIN_ACTOR, "best-effort");
			fault.create = true;
			try {
				const goes = await client.run("ssh", ["-p", String(gw.address.port), "-tt", "alice@127.0.0.1", "db1", "--", "echo goes-$((2+3))"], {
					password: PASSWORD,
				});
				assert.equal(goes.code, 0, goes.stderr);
				assert.match(goes.stdout.toString(), /goes-5/);
				const failed = (await failures()).filter((detail) => detail.mode === "best-effort");
				assert.equal(failed.length, 1);
				assert.equal(failed[0]!.server, "db1");
				// The server's own setting wins over the global one.
				await nodes.a.servers.update(ADMIN_ACTOR, "db1", { recordingMode: "strict" });
				const refused = await client.run("ssh", ["-p", String(gw.address.port), "-tt", "alice@127.0.0.1", "db1", "--", "echo no-$((2+3))"], {
					password: PASSWORD,
				});
				assert.equal(refused.code, 1);
				assert.doesNotMatch(refused.stdout.toString(), /no-5/);
			} finally {
				fault.create = false;
				await nodes.a.servers.update(ADMIN_ACTOR, "db1", { recordingMode: "default" });
				await nodes.a.servers.setGlobalRecordingMode(ADMIN_ACTOR, "strict");
			}
			const changes = await nodes.b.stores.audit.query({ event: "recording.mode-changed" });
			assert.equal(changes.length, 2, "both global changes are audited");
		});

		test("a write failing mid-session: strict ends the open session with a notice, best effort goes on", async () => {
			for (const mode of ["strict", "best-effort"] as const) {
				await nodes.a.servers.setGlobalRecordingMode(ADMIN_ACTOR, mode);
				const term = await sshTerminal(["-t", "alice@127.0.0.1", "db1"]);
				try {
					await term.type("echo before-$((8*8))\r");
					await term.waitFor(/before-64/);
					fault.append = true;
					await term.type("echo after-$((9*9))\r");
					if (mode === "strict") {
						// The echo of the typed characters is output too: the failing write may come from it, so
						// the session may end before the command's own output (after-81) is shown. Only the notice is certain.
						await term.waitFor(/the session recording failed, so this session is being closed/);
						await eventually(() => term.exited(), "the strict session to end");
					} else {
						await term.waitFor(/after-81/);
						await eventually(async () => (await failures()).some((detail) => detail.stage === "write" && detail.mode === "best-effort"), "recording.failed");
						await term.type("echo still-$((3+4))\r");
						await term.waitFor(/still-7/);
						assert.equal(await term.exited(), false);
						await term.type("exit\r");
						await eventually(() => term.exited(), "ssh to exit");
					}
				} finally {
					fault.append = false;
					await term.close();
				}
				const written = await eventually(
					async () => (await failures()).find((detail) => detail.stage === "write" && detail.mode === mode),
					`recording.failed (${mode})`,
				);
				assert.equal(written.server, "db1");
				assert.ok(nodes.logA.some((line) => line.message === "session recording failed" && line.fields.stage === "write" && line.fields.mode === mode));
			}
			await nodes.a.servers.setGlobalRecordingMode(ADMIN_ACTOR, "strict");
		});

		test("strict, in the server menu: a failed write ends the menu session with the notice", async () => {
			const term = await sshTerminal(["alice@127.0.0.1"]);
			try {
				await term.waitFor(/Filter:/);
				fault.append = true;
				await term.type("pri");
				await term.waitFor(/the session recording failed, so this session is being closed/);
				await eventually(() => term.exited(), "the menu session to end");
			} finally {
				fault.append = false;
				await term.close();
			}
			await eventually(
				async () => (await failures()).filter((detail) => detail.stage === "write" && detail.mode === "strict" && detail.server === null).length === 1,
				"recording.failed for the menu",
			);
		});
	});
}
