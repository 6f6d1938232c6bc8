/**
 * Lockout accounting raced across two real server processes on one PostgreSQL database
 * (test/helpers/race-node.ts; docs/decisions.md "Lockout accounting"): parallel right answers
 * from both nodes never lock and leave nothing in flight; parallel wrong answers from both nodes
 * have at most the limit evaluated and lock exactly once.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createPortcullis, type Portcullis } from "../../src/app/portcullis.ts";
import { totpCodeAt } from "../../src/methods/totp/totp-method.ts";
import { base32Decode } from "../helpers/base32.ts";
import { type RaceNode, startRaceNode } from "../helpers/race-nodes.ts";
import { ADMIN_ACTOR, createPostgresDatabase, testConfig, WEB } from "../helpers/test-app.ts";

const PASSWORD = "correct horse battery";
const ACCOUNT = { channel: "web", source: "test", duringLogin: false } as const;
/** Both nodes: a patient busy wait (a loaded box must not turn slow checks into "busy") and a low password ceiling. */
const NODE_CONFIG = { security: { busy_wait_ms: 30_000, password_max_failures: 10 } };

function detailOf(event: { detail: string | null }): Record<string, unknown> {
	return event.detail === null ? {} : (JSON.parse(event.detail) as Record<string, unknown>);
}

describe("lockout accounting across two server processes on one PostgreSQL", () => {
	let database: { url: string; drop(): Promise<void> };
	let app: Portcullis;
	let dir: string;
	let nodes: RaceNode[];
	/** Sends `count` commands alternately to node A and node B, all before awaiting any answer. */
	const fire = (count: number, make: (index: number) => Record<string, unknown>) =>
		Promise.all(Array.from({ length: count }, (_, index) => nodes[index % 2]!.send(make(index))));

	before(async () => {
		database = await createPostgresDatabase();
		dir = mkdtempSync(join(tmpdir(), "portcullis-lockout-races-"));
		const key = randomBytes(32);
		app = await createPortcullis(testConfig(dir), { database: { kind: "postgres", url: database.url }, secretKey: key });
		nodes = await Promise.all([startRaceNode(database.url, key, NODE_CONFIG), startRaceNode(database.url, key, NODE_CONFIG)]);
	});

	after(async () => {
		await Promise.all((nodes ?? []).map((node) => node.stop()));
		await app?.close();
		await database?.drop();
		rmSync(dir, { recursive: true, force: true });
	});

	async function userWithTotp(username: string): Promise<{ id: string; secret: Buffer }> {
		const user = await app.admin.createUser(ADMIN_ACTOR, { username, password: PASSWORD, isAdmin: false, groups: [] });
		const begin = await app.enrollment.begin(user.id, "totp", "phone", {}, ACCOUNT);
		if (begin.kind !== "pending") throw new Error(`enrolment: ${begin.kind}`);
		const secret = base32Decode(begin.display.secret!.replace(/ /g, ""));
		// Enrolment spends the current step; log in with the next one.
		assert.equal((await app.enrollment.complete(user.id, begin.factorId, { code: totpCodeAt(secret, Date.now() - 30_000) }, ACCOUNT)).kind, "active");
		return { id: user.id, secret };
	}

	async function attempt(username: string, source: string): Promise<string> {
		const step = await app.login.submitPassword({ ...WEB, sourceAddress: source }, username, PASSWORD);
		assert.equal(step.kind, "second-factor", JSON.stringify(step));
		return step.kind === "second-factor" ? step.attemptId : "";
	}

	async function row(username: string) {
		return (await app.stores.users.findByUsername(username))!;
	}

	test("100 parallel right passwords from two nodes (web and SSH, 4 sources) all log in; no lock, no failure, nothing in flight", async () => {
		// Regression: a deploy tool with 20 forks locked its account after 10 logins, forever.
		const user = await app.admin.createUser(ADMIN_ACTOR, { username: "dexter", password: PASSWORD, isAdmin: false, groups: [] });
		const results = (await fire(100, (index) => ({
			op: "call",
			target: "login.submitPassword",
			args: [{ channel: index % 4 < 2 ? "web" : "ssh", sourceAddress: `198.51.100.${1 + (index % 4)}` }, "dexter", PASSWORD],
		}))) as { kind: string }[];
		assert.deepEqual(
			results.map((result) => result.kind),
			Array(100).fill("authenticated"),
		);
		const after = await row("dexter");
		assert.deepEqual([after.pw_failures, after.pw_inflight, after.pw_locked_until, after.tfa_locked_until].map(Number), [0, 0, 0, 0]);
		const pairs = await app.db.selectFrom("password_throttle").selectAll().where("user_id", "=", user.id).execute();
		assert.deepEqual(
			pairs.filter((pair) => Number(pair.inflight) !== 0 || Number(pair.failures) !== 0 || Number(pair.blocked_until) !== 0),
			[],
		);
	});

	test("10 parallel right recovery codes from two nodes (twice the limit) all log in; no lock, nothing in flight", async () => {
		const { id } = await userWithTotp("rhea");
		const issued = await app.enrollment.regenerateRecoveryCodes(id, ACCOUNT);
		const codes = issued.kind === "active" ? issued.display.codes!.split("\n").filter(Boolean) : [];
		assert.ok(codes.length >= 10);
		const ids: string[] = [];
		for (let n = 0; n < 10; n++) ids.push(await attempt("rhea", `198.51.100.${20 + n}`));
		const results = (await fire(10, (index) => ({ op: "call", target: "login.submitSecondFactor", args: [ids[index], "recovery-code", codes[index]] }))) as {
			kind: string;
		}[];
		assert.deepEqual(
			results.map((result) => result.kind),
			Array(10).fill("authenticated"),
		);
		const after = await row("rhea");
		assert.deepEqual([after.tfa_failures, after.tfa_inflight, after.tfa_locked_until].map(Number), [0, 0, 0]);
	});

	test("100 parallel wrong codes from two nodes: exactly the limit evaluated, one lock; a right code right after is refused", async () => {
		// Attack: Keycloak CVE-2024-4629 across nodes.
		const { secret } = await userWithTotp("gil");
		const id = await attempt("gil", "198.51.100.40");
		const results = (await fire(100, () => ({ op: "call", target: "login.submitSecondFactor", args: [id, "totp", "000000"] }))) as {
			kind: string;
			reason?: string;
		}[];
		assert.equal(results.filter((result) => result.kind === "authenticated").length, 0);
		const evaluated = (await app.stores.audit.query({ event: "second-factor.failure", username: "gil" })).filter(
			(event) => typeof detailOf(event).failures === "number",
		);
		assert.equal(evaluated.length, 5);
		assert.equal((await app.stores.audit.query({ event: "account.locked", username: "gil" })).length, 1);
		const after = await row("gil");
		assert.ok(Number(after.tfa_locked_until) > Date.now());
		assert.equal(Number(after.tfa_inflight), 0);
		const right = (await nodes[0]!.call("login.submitSecondFactor", id, "totp", totpCodeAt(secret, Date.now()))) as { kind: string; reason?: string };
		assert.deepEqual([right.kind, right.reason], ["denied", "locked"]);
	});

	test("100 parallel wrong passwords from 100 sources on two nodes: exactly the ceiling (10) evaluated, one lock; the right password right after is refused", async () => {
		await app.admin.createUser(ADMIN_ACTOR, { username: "wes", password: PASSWORD, isAdmin: false, groups: [] });
		await fire(100, (index) => ({
			op: "call",
			target: "login.submitPassword",
			args: [{ channel: index % 2 === 0 ? "web" : "ssh", sourceAddress: `203.0.113.${1 + index}` }, "wes", "wrong password!"],
		}));
		const checked = (await app.stores.audit.query({ event: "login.password", username: "wes" })).filter((event) => detailOf(event).reason === "wrong-password");
		assert.equal(checked.length, 10);
		assert.equal((await app.stores.audit.query({ event: "account.locked", username: "wes" })).length, 1);
		assert.equal(Number((await row("wes")).pw_inflight), 0);
		const right = (await nodes[1]!.call("login.submitPassword", { channel: "ssh", sourceAddress: "192.0.2.99" }, "wes", PASSWORD)) as { kind: string };
		assert.equal(right.kind, "denied");
	});
});
