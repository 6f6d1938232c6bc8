/**
 * The last two changes that were audited apart from the change (issue 16 §2): the account page's
 * "Forget" of a remembered SSH grant (EnrollmentFlow.forgetRememberedGrant) and the recordings'
 * retention deletion (app/maintenance.ts purgeExpiredRecordings) now commit with their audit events
 * in one unit of work (storage/unit-of-work.ts). When the audit write fails, the change is rolled
 * back; when it succeeds, change and event are both there. SQLite and PostgreSQL.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { sql } from "kysely";
import { purgeExpiredRecordings } from "../../src/app/maintenance.ts";
import { ADMIN_ACTOR, createTestApp, type Engine, type TestApp } from "../helpers/test-app.ts";

const DAY = 86_400_000;
const ACCOUNT = { channel: "web", source: "192.0.2.10", duringLogin: false } as const;

/** Refuses audit inserts whose detail contains `marker` (every insert when it is ""). */
async function rejectAuditInserts(t: TestApp, engine: Engine, marker: string): Promise<void> {
	const pattern = `%${marker}%`;
	if (engine === "sqlite") {
		await sql
			.raw(
				`CREATE TRIGGER audit_reject BEFORE INSERT ON audit_events WHEN coalesce(NEW.detail, '') LIKE '${pattern}' BEGIN SELECT RAISE(ABORT, 'audit refused by test'); END`,
			)
			.execute(t.app.db);
	} else {
		await sql
			.raw(
				`CREATE FUNCTION audit_reject() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF coalesce(NEW.detail::text, '') LIKE '${pattern}' THEN RAISE EXCEPTION 'audit refused by test'; END IF; RETURN NEW; END $$`,
			)
			.execute(t.app.db);
		await sql`CREATE TRIGGER audit_reject BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION audit_reject()`.execute(t.app.db);
	}
}

async function acceptAuditInserts(t: TestApp, engine: Engine): Promise<void> {
	if (engine === "sqlite") await sql`DROP TRIGGER audit_reject`.execute(t.app.db);
	else {
		await sql`DROP TRIGGER audit_reject ON audit_events`.execute(t.app.db);
		await sql`DROP FUNCTION audit_reject()`.execute(t.app.db);
	}
}

async function eventIds(t: TestApp): Promise<number[]> {
	const rows = await t.app.db.selectFrom("audit_events").select("id").orderBy("chain_seq").execute();
	return rows.map((row) => Number(row.id));
}

const refused = (error: unknown) => /audit refused by test/.test(`${String(error)} ${String((error as { cause?: unknown }).cause)}`);

for (const engine of ["sqlite", "postgres"] as const)
	describe(`unit of work: Forget and retention commit with their audit events (${engine})`, () => {
		let t: TestApp;
		let userId: string;

		before(async () => {
			t = await createTestApp({ engine, config: { ssh: { recording_retention_days: 30 } } });
			userId = (await t.app.admin.createUser(ADMIN_ACTOR, { username: "alice", password: "correct horse battery", isAdmin: false, groups: [] })).id;
		});
		after(async () => {
			await t?.cleanup();
		});

		const remember = (source: string) =>
			t.app.stores.rememberedGrants.remember({ userId, source, target: "", method: "totp", minutes: 60, sessionEpoch: 0, policyVersion: 0 });
		const liveGrants = async () =>
			(await t.app.db.selectFrom("remembered_grants").select("id").where("user_id", "=", userId).execute()).map((grant) => grant.id).sort();

		test("Forget: a refused audit write leaves the grant in place and no event", async () => {
			const grant = await remember("192.0.2.31");
			const before = await eventIds(t);
			await rejectAuditInserts(t, engine, "");
			try {
				await assert.rejects(t.app.enrollment.forgetRememberedGrant(userId, grant.id, ACCOUNT), refused);
			} finally {
				await acceptAuditInserts(t, engine);
			}
			assert.ok((await liveGrants()).includes(grant.id), "the grant was not forgotten without its event");
			assert.deepEqual(await eventIds(t), before);
		});

		test("Forget (positive twin): the grant goes and its event is written", async () => {
			const grant = await remember("192.0.2.32");
			assert.equal(await t.app.enrollment.forgetRememberedGrant(userId, grant.id, ACCOUNT), true);
			assert.ok(!(await liveGrants()).includes(grant.id));
			const events = await t.app.stores.audit.query({ event: "second-factor.forgotten" });
			assert.ok(events.some((event) => JSON.parse(event.detail!).grantId === grant.id));
			// Someone else's grant id, or one already forgotten: nothing to forget, nothing audited.
			assert.equal(await t.app.enrollment.forgetRememberedGrant(userId, grant.id, ACCOUNT), false);
			assert.equal((await t.app.stores.audit.query({ event: "second-factor.forgotten" })).length, events.length);
		});

		test("retention: the second event of a batch refused rolls the whole batch back (no deletion, and no event for the first)", async () => {
			const first = await t.app.stores.recordings.create({ userId, username: "alice", startedAt: t.clock.now().getTime(), header: "h\n" });
			const second = await t.app.stores.recordings.create({ userId, username: "alice", startedAt: t.clock.now().getTime() + 1, header: "h\n" });
			t.clock.advance(40 * DAY);
			const before = await eventIds(t);
			// Only the event that names the second recording is refused: written apart, the first
			// recording's event would already be in the log, describing a deletion that never happened.
			await rejectAuditInserts(t, engine, second.id);
			try {
				await assert.rejects(purgeExpiredRecordings(t.app), refused);
			} finally {
				await acceptAuditInserts(t, engine);
			}
			assert.ok(await t.app.stores.recordings.find(first.id), "first recording still there");
			assert.ok(await t.app.stores.recordings.find(second.id), "second recording still there");
			const chunks = await t.app.db.selectFrom("recording_chunks").select("recording_id").where("recording_id", "in", [first.id, second.id]).execute();
			assert.equal(chunks.length, 2, "their chunks too");
			assert.deepEqual(await eventIds(t), before, "no event without its deletion");

			// Positive twin: with the audit log writable, both go, each with its event, in a verifiable chain.
			assert.equal(await purgeExpiredRecordings(t.app), 2);
			assert.equal(await t.app.stores.recordings.find(first.id), undefined);
			assert.equal(await t.app.stores.recordings.find(second.id), undefined);
			const deleted = await t.app.stores.audit.query({ event: "recording.deleted" });
			assert.deepEqual(deleted.map((event) => JSON.parse(event.detail!).recording).sort(), [first.id, second.id].sort());
			const verified = await t.app.stores.audit.verify();
			assert.equal(verified.ok, true, JSON.stringify(verified));
		});

		test("retention: rows another node already deleted are neither deleted again nor audited twice", async () => {
			const row = await t.app.stores.recordings.create({ userId, username: "alice", startedAt: t.clock.now().getTime(), header: "h\n" });
			t.clock.advance(40 * DAY);
			const gone = await t.app.stores.work.run((work) => work.recordings.removeRows([row]));
			assert.deepEqual(
				gone.map((r) => r.id),
				[row.id],
			);
			const again = await t.app.stores.work.run((work) => work.recordings.removeRows([row]));
			assert.deepEqual(again, []);
		});
	});
