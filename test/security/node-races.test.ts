/**
 * Single-use state and counters raced across two real server processes on one PostgreSQL database
 * (test/helpers/race-node.ts): every guarded transition fired at its guard from both nodes at once.
 * The enrolment, reset and removal races are in enrolment-races.test.ts.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createPortcullis, type Portcullis } from "../../src/app/portcullis.ts";
import { totpCodeAt } from "../../src/methods/totp/totp-method.ts";
import { base32Decode } from "../helpers/base32.ts";
import { startRaceNode, type RaceNode } from "../helpers/race-nodes.ts";
import { ADMIN_ACTOR, createPostgresDatabase, testConfig, WEB } from "../helpers/test-app.ts";

const PASSWORD = "correct horse battery";
const ACCOUNT = { channel: "web", source: "test", duringLogin: false } as const;
const KEYWORD = "portcullis keyword";

/** An audit row's detail (stored as JSON text). */
function detailOf(event: { detail: string | null }): Record<string, unknown> {
	return event.detail === null ? {} : (JSON.parse(event.detail) as Record<string, unknown>);
}

describe("single-use state and counters across two server processes on one PostgreSQL", () => {
	let database: { url: string; drop(): Promise<void> };
	let app: Portcullis;
	let dir: string;
	let nodes: RaceNode[];
	/** Sends `count` commands alternately to node A and node B, all before awaiting any answer. */
	const fire = (count: number, make: (index: number) => Record<string, unknown>) =>
		Promise.all(Array.from({ length: count }, (_, index) => nodes[index % 2]!.send(make(index))));

	before(async () => {
		database = await createPostgresDatabase();
		dir = mkdtempSync(join(tmpdir(), "portcullis-node-races-"));
		const key = randomBytes(32);
		app = await createPortcullis(testConfig(dir), { database: { kind: "postgres", url: database.url }, secretKey: key });
		await app.admin.updateSettings(ADMIN_ACTOR, { enabledMethods: ["totp", "access-keyword", "recovery-code"] });
		nodes = await Promise.all([startRaceNode(database.url, key), startRaceNode(database.url, key)]);
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

	async function attempts(username: string, count: number, source = WEB.sourceAddress): Promise<string[]> {
		const ids: string[] = [];
		for (let n = 0; n < count; n++) {
			const step = await app.login.submitPassword({ ...WEB, sourceAddress: source }, username, PASSWORD);
			assert.equal(step.kind, "second-factor", JSON.stringify(step));
			if (step.kind === "second-factor") ids.push(step.attemptId);
		}
		return ids;
	}

	test("TOTP replay across nodes: one valid code submitted 12 times from two nodes at once logs in exactly once", async () => {
		// Attack: replay an observed code on another node before the first use is recorded (RFC 6238 §5.2;
		// Warpgate's two-node OTP login test).
		const { secret } = await userWithTotp("tia");
		const ids = await attempts("tia", 12);
		const code = totpCodeAt(secret, Date.now());
		const results = (await fire(12, (index) => ({ op: "call", target: "login.submitSecondFactor", args: [ids[index], "totp", code] }))) as { kind: string }[];
		assert.equal(results.filter((result) => result.kind === "authenticated").length, 1, JSON.stringify(results.map((result) => result.kind)));
	});

	test("recovery code double use across nodes: 10 parallel submissions of one code, one success", async () => {
		// Attack: spend one recovery code twice by racing two nodes (docs/security-matrix.md W8: parallel double-use).
		const { id } = await userWithTotp("rex");
		const issued = await app.enrollment.regenerateRecoveryCodes(id, ACCOUNT);
		assert.equal(issued.kind, "active");
		const code = issued.kind === "active" ? issued.display.codes!.split("\n")[0]! : "";
		const ids = await attempts("rex", 10);
		const results = (await fire(10, (index) => ({ op: "call", target: "login.submitSecondFactor", args: [ids[index], "recovery-code", code] }))) as {
			kind: string;
		}[];
		assert.equal(results.filter((result) => result.kind === "authenticated").length, 1, JSON.stringify(results.map((result) => result.kind)));
	});

	test("second-factor guessing across nodes: 30 parallel wrong codes from two nodes, at most the lockout limit are evaluated", async () => {
		// Attack: fire guesses in parallel on two nodes so every check passes before any failure is
		// recorded (Keycloak CVE-2024-4629).
		await userWithTotp("gus");
		const ids = await attempts("gus", 30);
		const results = (await fire(30, (index) => ({ op: "call", target: "login.submitSecondFactor", args: [ids[index], "totp", "000000"] }))) as {
			kind: string;
		}[];
		assert.equal(results.filter((result) => result.kind === "authenticated").length, 0);
		// An evaluated answer is audited with the failure count it was charged; refusals of a locked account are not evaluated.
		const evaluated = (await app.stores.audit.query({ event: "second-factor.failure", username: "gus" })).filter(
			(event) => typeof detailOf(event).failures === "number",
		);
		assert.ok(evaluated.length <= 5, `at most 5 codes evaluated: ${evaluated.length}`);
		assert.ok(Number((await app.stores.users.findByUsername("gus"))!.tfa_locked_until) > Date.now(), "the account is locked");
	});

	test("password guessing from one source across nodes: 20 parallel wrong passwords, only the free guesses are checked", async () => {
		// Attack: spread password guesses over two nodes at once to outrun the per-source delay.
		await app.admin.createUser(ADMIN_ACTOR, { username: "pam", password: PASSWORD, isAdmin: false, groups: [] });
		await fire(20, () => ({ op: "call", target: "login.submitPassword", args: [{ channel: "web", sourceAddress: "203.0.113.9" }, "pam", "wrong password!"] }));
		const checked = (await app.stores.audit.query({ event: "login.password", username: "pam" })).filter((event) => detailOf(event).reason === "wrong-password");
		assert.ok(checked.length <= 5, `wrong passwords actually checked: ${checked.length}`);
		// The owner, from elsewhere, is not affected.
		assert.equal((await app.login.submitPassword({ ...WEB, sourceAddress: "192.0.2.77" }, "pam", PASSWORD)).kind, "authenticated");
	});

	test("keyword re-roll across nodes: 20 parallel prompt displays on two nodes show one set of positions, drawn and audited once", async () => {
		// Attack: redraw keyword positions on several nodes at once until an observed answer fits
		// (docs/threat-model.md, "Access Keyword re-roll").
		const user = await app.admin.createUser(ADMIN_ACTOR, { username: "kai", password: PASSWORD, isAdmin: false, groups: [] });
		assert.equal((await app.enrollment.begin(user.id, "access-keyword", "kw", { keyword: KEYWORD, confirm: KEYWORD }, ACCOUNT)).kind, "active");
		const [attempt] = await attempts("kai", 1);
		const prompts = (await fire(20, () => ({ op: "call", target: "login.startChallenge", args: [attempt, "access-keyword"] }))) as {
			kind: string;
			prompt: string;
		}[];
		assert.deepEqual([...new Set(prompts.map((prompt) => `${prompt.kind}:${prompt.prompt}`))].length, 1, JSON.stringify(prompts));
		assert.equal((await app.stores.audit.query({ event: "second-factor.challenge-drawn", username: "kai" })).length, 1);
	});
});
