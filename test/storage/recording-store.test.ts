/**
 * RecordingStore on both engines: the hash chain (appends only at the end, chunks bound to their
 * recording), recordings written before migration 0013 still playable, retention with audited
 * deletion (and no deletion when the audit log cannot be written); and the real CLI's
 * `recording verify` naming an edited chunk with exit 1.
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { sql } from "kysely";
import { purgeExpiredRecordings } from "../../src/app/maintenance.ts";
import { isPortcullisError } from "../../src/core/errors.ts";
import { recordingsDir } from "../../src/storage/recording-files.ts";
import type { RecordingRow, RecordingStore } from "../../src/storage/recording-store.ts";
import { cliEngine, openApp, runCli } from "../cli/run-cli.ts";
import { ADMIN_ACTOR, createTestApp, type TestApp } from "../helpers/test-app.ts";

const DAY = 86_400_000;

async function readAll(store: RecordingStore, row: RecordingRow): Promise<string> {
	let text = "";
	for await (const piece of store.read(row)) text += piece;
	return text;
}

/** A chunked recording with the given pieces, written through the store. */
async function recording(t: TestApp, userId: string, pieces: readonly string[], end: boolean): Promise<RecordingRow> {
	const store = t.app.stores.recordings;
	const row = await store.create({ userId, username: "alice", startedAt: t.clock.now().getTime(), header: pieces[0]! });
	let previous = row.last_hash;
	for (const [index, piece] of pieces.slice(1).entries()) previous = await store.append(row.id, index + 1, previous, piece);
	if (end) await store.finish(row.id, t.clock.now().getTime());
	return (await store.find(row.id))!;
}

for (const engine of ["sqlite", "postgres"] as const) {
	describe(`recording store (${engine})`, () => {
		test("the chain grows only at its end, once per position; chunks are bound to their recording", async () => {
			const t = await createTestApp({ engine });
			try {
				const store = t.app.stores.recordings;
				await t.app.admin.createUser(ADMIN_ACTOR, { username: "alice", password: "correct horse battery", isAdmin: false, groups: [] });
				const alice = await t.app.admin.requireUser("alice");
				const row = await recording(t, alice.id, ['{"version":2}\n', '[0.1,"o","a"]\n'], false);
				assert.equal(row.chunks, 2);
				const h1 = row.last_hash!;
				for (const [seq, previous] of [
					[1, null],
					[3, h1],
				] as const) {
					await assert.rejects(store.append(row.id, seq, previous, "forked"), (error) => isPortcullisError(error, "ERR_CONFLICT"), `seq ${seq}`);
				}
				// Two writers racing for the same position: exactly one wins.
				const raced = await Promise.allSettled([store.append(row.id, 2, h1, "x\n"), store.append(row.id, 2, h1, "y\n")]);
				assert.deepEqual(raced.map((result) => result.status).sort(), ["fulfilled", "rejected"]);
				assert.deepEqual(await store.verify(row.id), { id: row.id, status: "ok", chunks: 3 });
				assert.match(await readAll(store, (await store.find(row.id))!), /^\{"version":2\}\n\[0\.1,"o","a"\]\n(x|y)\n$/);

				// A chunk copied from another recording (same position, valid there) breaks this one's chain.
				const other = await recording(t, alice.id, ['{"version":2}\n', '[0.2,"o","b"]\n'], true);
				const copied = await t.app.db
					.selectFrom("recording_chunks")
					.selectAll()
					.where("recording_id", "=", other.id)
					.where("seq", "=", 0)
					.executeTakeFirstOrThrow();
				await t.app.db
					.updateTable("recording_chunks")
					.set({ data: copied.data, hash: copied.hash })
					.where("recording_id", "=", row.id)
					.where("seq", "=", 0)
					.execute();
				const broken = await store.verify(row.id);
				assert.equal(broken.status === "broken" && broken.chunk, 0, JSON.stringify(broken));
				await assert.rejects(store.verify("0".repeat(32)), (error) => isPortcullisError(error, "ERR_NOT_FOUND"));
			} finally {
				await t.cleanup();
			}
		});

		test("a recording written as a file before migration 0013 is still played (and has no chain to verify)", async () => {
			const t = await createTestApp({ engine });
			try {
				const file = "2026-01-02/0123456789abcdef01234567.cast";
				const full = join(recordingsDir(t.app.config), file);
				mkdirSync(join(recordingsDir(t.app.config), "2026-01-02"), { recursive: true });
				const text = '{"version":2,"width":80,"height":24}\n[0.5,"o","old file\\r\\n"]\n';
				writeFileSync(full, text);
				const id = "a".repeat(32);
				await t.app.db
					.insertInto("recordings")
					.values({
						id,
						user_id: null,
						server_id: null,
						username: "bob",
						servers: "[]",
						started_at: 1,
						ended_at: 2,
						file,
						bytes: text.length,
						storage: "file",
						chunks: 0,
						last_hash: null,
						last_at: null,
					})
					.execute();
				const row = (await t.app.stores.recordings.find(id))!;
				assert.equal(await readAll(t.app.stores.recordings, row), text);
				assert.deepEqual(await t.app.stores.recordings.verify(id), { id, status: "unchained" });
			} finally {
				await t.cleanup();
			}
		});

		test("retention: recordings idle for longer than the retention are deleted, each deletion audited first", async () => {
			const t = await createTestApp({ engine, config: { ssh: { recording_retention_days: 30 } } });
			try {
				await t.app.admin.createUser(ADMIN_ACTOR, { username: "alice", password: "correct horse battery", isAdmin: false, groups: [] });
				const alice = await t.app.admin.requireUser("alice");
				const ended = await recording(t, alice.id, ["h\n", "old\n"], true);
				const cutOff = await recording(t, alice.id, ["h\n", "node died\n"], false);
				t.clock.advance(25 * DAY);
				const recent = await recording(t, alice.id, ["h\n", "recent\n"], true);
				t.clock.advance(10 * DAY);
				assert.equal(await purgeExpiredRecordings(t.app), 2);
				assert.equal(await t.app.stores.recordings.find(ended.id), undefined);
				assert.equal(await t.app.stores.recordings.find(cutOff.id), undefined, "a recording that never ended expires from its last chunk");
				assert.ok(await t.app.stores.recordings.find(recent.id));
				const left = await t.app.db.selectFrom("recording_chunks").select("recording_id").distinct().execute();
				assert.deepEqual(
					left.map((chunk) => chunk.recording_id),
					[recent.id],
				);
				const deleted = await t.app.stores.audit.query({ event: "recording.deleted" });
				assert.deepEqual(deleted.map((event) => JSON.parse(event.detail!).recording).sort(), [ended.id, cutOff.id].sort());
				assert.ok(deleted.every((event) => event.actor === "retention" && event.username === "alice"));
				assert.equal(JSON.parse(deleted.find((event) => JSON.parse(event.detail!).recording === ended.id)!.detail!).lastHash, ended.last_hash);
				assert.equal(await purgeExpiredRecordings(t.app), 0, "idempotent");

				// No audit log, no deletion: the audit table refuses writes, the recording stays.
				t.clock.advance(40 * DAY);
				await sql`DROP TABLE audit_events`.execute(t.app.db);
				await assert.rejects(purgeExpiredRecordings(t.app));
				assert.ok(await t.app.stores.recordings.find(recent.id), "not deleted without its audit event");
			} finally {
				await t.cleanup();
			}
		});

		test("retention 0 (the default) keeps everything", async () => {
			const t = await createTestApp({ engine });
			try {
				await t.app.admin.createUser(ADMIN_ACTOR, { username: "alice", password: "correct horse battery", isAdmin: false, groups: [] });
				const alice = await t.app.admin.requireUser("alice");
				const row = await recording(t, alice.id, ["h\n"], true);
				t.clock.advance(3650 * DAY);
				assert.equal(await purgeExpiredRecordings(t.app), 0);
				assert.ok(await t.app.stores.recordings.find(row.id));
			} finally {
				await t.cleanup();
			}
		});
	});
}

describe("portcullis recording (the real CLI)", () => {
	test("list, verify (exit 1 naming the edited chunk), mode (validated and audited)", async () => {
		const dir = mkdtempSync(join(tmpdir(), "portcullis-cli-rec-"));
		const engine = await cliEngine("sqlite");
		try {
			const app = await openApp(dir);
			let id: string;
			try {
				await app.admin.createUser(ADMIN_ACTOR, { username: "alice", password: "correct horse battery", isAdmin: false, groups: [] });
				const alice = await app.admin.requireUser("alice");
				const row = await app.stores.recordings.create({ userId: alice.id, username: "alice", startedAt: Date.now(), header: '{"version":2}\n' });
				id = row.id;
				let previous = row.last_hash;
				for (const [index, piece] of ['[0.1,"o","one"]\n', '[0.2,"o","two"]\n'].entries())
					previous = await app.stores.recordings.append(id, index + 1, previous, piece);
			} finally {
				await app.close();
			}
			const cli = (args: readonly string[]) => runCli([...args, "--data", dir], { env: engine.env });
			const list = await cli(["recording", "list"]);
			assert.equal(list.code, 0, list.stderr);
			assert.match(list.stdout, new RegExp(`${id}\\s+alice`));
			const ok = await cli(["recording", "verify", id]);
			assert.equal(ok.code, 0, ok.stderr);
			assert.match(ok.stdout, /ok \(3 chunks\)/);

			const edit = await openApp(dir);
			try {
				await edit.db.updateTable("recording_chunks").set({ data: '[0.1,"o","ONE"]\n' }).where("recording_id", "=", id).where("seq", "=", 1).execute();
			} finally {
				await edit.close();
			}
			for (const args of [
				["recording", "verify", id],
				["recording", "verify"],
			]) {
				const broken = await cli(args);
				assert.equal(broken.code, 1, args.join(" "));
				assert.match(broken.stdout, new RegExp(`${id} BROKEN at chunk 1`));
				assert.match(broken.stderr, /^portcullis: 1 recording failed verification; first: [0-9a-f]{32}: chunk 1 does not match its hash\n$/);
			}
			const bad = await cli(["recording", "mode", "sometimes"]);
			assert.equal(bad.code, 2);
			assert.match(bad.stderr, /strict or best-effort/);
			const set = await cli(["recording", "mode", "best-effort"]);
			assert.equal(set.code, 0, set.stderr);
			assert.equal(set.stdout, "recording mode: best-effort\n");
			const server = await cli(["server", "add", "db1", "--host", "10.0.0.1", "--recording-mode", "never"]);
			assert.equal(server.code, 2);
			const added = await cli(["server", "add", "db1", "--host", "10.0.0.1", "--recording-mode", "strict"]);
			assert.equal(added.code, 0, added.stderr);
			const updated = await cli(["server", "update", "db1", "--recording-mode", "default"]);
			assert.equal(updated.code, 0, updated.stderr);
			const audit = await openApp(dir);
			try {
				const changed = await audit.stores.audit.query({ event: "recording.mode-changed" });
				assert.equal(changed.length, 1);
				assert.deepEqual(JSON.parse(changed[0]!.detail!), { scope: "global", before: "strict", after: "best-effort" });
				const server = await audit.servers.requireServer("db1");
				assert.equal(server.recording_mode, null);
				const updates = await audit.stores.audit.query({ event: "server.updated" });
				assert.equal(JSON.parse(updates[0]!.detail!).changes.recording_mode, "default");
			} finally {
				await audit.close();
			}
			assert.ok(existsSync(dir));
		} finally {
			await engine.drop();
			rmSync(dir, { recursive: true, force: true });
		}
	});
});
