/**
 * The console's hot path (issue 10 §2; docs/benchmarks.md "Console hot path"), measured in
 * database statements so the figures cannot drift back unnoticed: a full session's request costs
 * ONE read while nothing changed (session + user + policy version), the full re-decision runs at
 * the first request after a change (and only then), `last_seen_at` is written at most once a
 * minute, the account page reads its policy inputs once, and the admin user list does not grow
 * a query per user. Statements are counted where better-sqlite3 runs them (SQLite, in-process).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import BetterSqlite3 from "better-sqlite3";
import { sql } from "kysely";
import type { UserRow } from "../../src/storage/user-store.ts";
import { ADMIN_ACTOR } from "../helpers/test-app.ts";
import { createWebTest, PASSWORD, type WebTest } from "./helpers.ts";

let statements: string[] = [];
const probe = new BetterSqlite3(":memory:");
const statementProto = Object.getPrototypeOf(probe.prepare("select 1")) as Record<"all" | "run" | "get", (...args: unknown[]) => unknown>;
probe.close();
for (const name of ["all", "run", "get"] as const) {
	const original = statementProto[name];
	statementProto[name] = function (this: { source: string }, ...args: unknown[]) {
		statements.push(this.source);
		return original.apply(this, args);
	};
}

describe("console hot path (SQLite, statements counted)", () => {
	let w: WebTest;
	let user: UserRow;
	let admin: UserRow;

	before(async () => {
		w = await createWebTest();
		user = await w.app.admin.createUser(ADMIN_ACTOR, { username: "hot", password: PASSWORD, isAdmin: false, groups: [] });
		admin = await w.app.admin.createUser(ADMIN_ACTOR, { username: "boss", password: PASSWORD, isAdmin: true, groups: [] });
	});
	after(async () => w?.close());

	async function sessionOf(row: UserRow): Promise<string> {
		const { token } = await w.app.stores.sessions.create({
			userId: row.id,
			attemptId: null,
			state: "full",
			secondFactorMethod: null,
			stepUpAt: w.app.clock.now().getTime(),
			sessionEpoch: Number(row.session_epoch),
			source: "test",
			ttlMs: 3_600_000,
		});
		return token;
	}

	async function get(token: string, url: string): Promise<{ status: number; statements: string[] }> {
		statements = [];
		const response = await w.server.inject({ method: "GET", url, headers: { cookie: `pc_session=${token}; pc_pre=${"p".repeat(43)}` } });
		return { status: response.statusCode, statements: [...statements] };
	}

	test("nothing changed: one read per request; a policy change: the next request re-decides and stamps, the one after is one read again", async () => {
		const token = await sessionOf(user);
		// First request of a session: never checked (version 0), so the full check runs and stamps.
		const first = await get(token, "/no-such-page");
		assert.equal(first.status, 404);
		assert.ok(first.statements.length > 2, first.statements.join("\n"));
		const fast = await get(token, "/no-such-page");
		assert.deepEqual(fast.statements.length, 1, fast.statements.join("\n"));
		assert.match(fast.statements[0] ?? "", /from "web_sessions" left join "users".*inner join "policy_version"/);

		await w.app.admin.createGroup(ADMIN_ACTOR, { name: "unrelated", forceTwoFactor: false, allowedMethods: null });
		const recheck = await get(token, "/no-such-page");
		assert.equal(recheck.status, 404);
		assert.ok(
			recheck.statements.some((text) => text.includes('from "groups"')),
			`the full check reads the groups:\n${recheck.statements.join("\n")}`,
		);
		assert.ok(
			recheck.statements.some((text) => text.startsWith('update "web_sessions"')),
			"the new version is stamped on the session",
		);
		const version = Number((await sql<{ version: number }>`select version from policy_version where id = 1`.execute(w.app.db)).rows[0]?.version);
		const stamped = await w.app.stores.sessions.find(token);
		assert.equal(Number(stamped?.policy_version), version);
		assert.equal((await get(token, "/no-such-page")).statements.length, 1);
	});

	test("last_seen_at is written at most once a minute (idle timeout errs early, never late)", async () => {
		const token = await sessionOf(user);
		await get(token, "/no-such-page");
		const seen = Number((await w.app.stores.sessions.find(token))?.last_seen_at);
		w.clock.advance(30_000);
		const within = await get(token, "/no-such-page");
		assert.equal(within.statements.length, 1, "no write within the minute");
		assert.equal(Number((await w.app.stores.sessions.find(token))?.last_seen_at), seen);
		w.clock.advance(31_000);
		const later = await get(token, "/no-such-page");
		assert.equal(later.statements.length, 2, later.statements.join("\n"));
		assert.equal(Number((await w.app.stores.sessions.find(token))?.last_seen_at), w.app.clock.now().getTime());
	});

	test("a static asset reads no session at all; a page does", async () => {
		const token = await sessionOf(user);
		assert.equal((await get(token, "/static/app.css")).statements.length, 0);
		assert.ok((await get(token, "/login")).statements.length >= 1);
	});

	test("the account page reads the policy inputs once (7 statements in all)", async () => {
		const token = await sessionOf(user);
		await get(token, "/account");
		const page = await get(token, "/account");
		assert.equal(page.status, 200);
		assert.equal(page.statements.length, 7, page.statements.join("\n"));
		assert.equal(page.statements.filter((text) => text.includes('from "settings"')).length, 1);
	});

	test("the admin user list costs the same number of statements for 2 users and for 22", async () => {
		const token = await sessionOf(admin);
		await get(token, "/admin/users");
		const few = await get(token, "/admin/users");
		assert.equal(few.status, 200);
		for (let i = 0; i < 20; i++) await w.app.stores.users.create({ username: `bulk${i}`, passwordHash: null, isAdmin: false, mustChangePassword: false });
		await get(token, "/admin/users");
		const many = await get(token, "/admin/users");
		assert.equal(many.status, 200);
		assert.match((await w.server.inject({ method: "GET", url: "/admin/users", headers: { cookie: `pc_session=${token}` } })).body, /bulk19/);
		assert.equal(many.statements.length, few.statements.length, many.statements.join("\n"));
	});

	test("a user's groups are found through the group_members(user_id) index, not a scan (migration 0021)", async () => {
		const plan = await sql<{
			detail: string;
		}>`explain query plan select "groups".* from "groups" inner join "group_members" on "group_members"."group_id" = "groups"."id" where "group_members"."user_id" = ${"x"} order by "groups"."name"`.execute(
			w.app.db,
		);
		const details = plan.rows.map((row) => row.detail);
		assert.ok(
			details.some((detail) => detail.includes("group_members_user")),
			details.join("\n"),
		);
		assert.ok(!details.some((detail) => detail.startsWith("SCAN group_members")), details.join("\n"));
	});

	test("the account page's own-events query is served by the (username, id) index (migration 0021)", async () => {
		const plan = await sql<{ detail: string }>`explain query plan select * from audit_events where username = ${"hot"} order by id desc limit 10`.execute(
			w.app.db,
		);
		assert.ok(
			plan.rows.some((row) => row.detail.includes("audit_events_username_id")),
			plan.rows.map((row) => row.detail).join("\n"),
		);
	});
});
