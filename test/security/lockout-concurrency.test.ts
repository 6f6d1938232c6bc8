/**
 * Lockout accounting under concurrency (docs/decisions.md "Lockout accounting"), on SQLite and on
 * PostgreSQL: an answer in flight is not a failure. Parallel right answers never lock anyone and
 * leave nothing in flight; parallel wrong answers still have at most the limit evaluated and lock
 * once; a reservation a crashed node never settled stops counting after the lease; a busy
 * counter is retried with the injected sleep and then answered "busy", never with a lock.
 * The two-node PostgreSQL races are in lockout-node-races.test.ts.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { ClientInfo } from "../../src/flows/login-flow.ts";
import { totpCodeAt } from "../../src/methods/totp/totp-method.ts";
import { base32Decode } from "../helpers/base32.ts";
import { ADMIN_ACTOR, createTestApp, type Engine, type TestApp } from "../helpers/test-app.ts";

const PASSWORD = "correct horse battery";
const ACCOUNT = { channel: "web", source: "test", duringLogin: false } as const;
/** A loaded CI box must not turn slow checks into "busy": the tests that expect success wait long (bounded by retries, not by a timer). */
const PATIENT = { security: { busy_wait_ms: 30_000 } };

/** An audit row's detail (stored as JSON text). */
function detailOf(event: { detail: string | null }): Record<string, unknown> {
	return event.detail === null ? {} : (JSON.parse(event.detail) as Record<string, unknown>);
}

/** 100 clients: web and SSH alternately, from `sources` addresses. */
function client(index: number, sources: number): ClientInfo {
	return { channel: index % 2 === 0 ? "web" : "ssh", sourceAddress: `198.51.100.${1 + (index % sources)}` };
}

async function userWithTotp(t: TestApp, username: string): Promise<{ id: string; secret: Buffer }> {
	const user = await t.app.admin.createUser(ADMIN_ACTOR, { username, password: PASSWORD, isAdmin: false, groups: [] });
	const begin = await t.app.enrollment.begin(user.id, "totp", "phone", {}, ACCOUNT);
	if (begin.kind !== "pending") throw new Error(`enrolment: ${begin.kind}`);
	const secret = base32Decode(begin.display.secret!.replace(/ /g, ""));
	assert.equal((await t.app.enrollment.complete(user.id, begin.factorId, { code: totpCodeAt(secret, t.clock.now().getTime()) }, ACCOUNT)).kind, "active");
	// The enrolment spent this time step; log in with the next one.
	t.clock.advance(30_000);
	return { id: user.id, secret };
}

async function secondFactorAttempt(t: TestApp, username: string, from: ClientInfo = client(0, 1)): Promise<string> {
	const step = await t.app.login.submitPassword(from, username, PASSWORD);
	assert.equal(step.kind, "second-factor", JSON.stringify(step));
	return step.kind === "second-factor" ? step.attemptId : "";
}

async function counters(t: TestApp, username: string) {
	const user = (await t.app.stores.users.findByUsername(username))!;
	return {
		tfaFailures: Number(user.tfa_failures),
		tfaInflight: Number(user.tfa_inflight),
		tfaLockedUntil: Number(user.tfa_locked_until),
		pwFailures: Number(user.pw_failures),
		pwInflight: Number(user.pw_inflight),
		pwLockedUntil: Number(user.pw_locked_until),
	};
}

for (const engine of ["sqlite", "postgres"] as Engine[]) {
	describe(`lockout accounting under concurrency (${engine})`, () => {
		test("100 parallel right passwords (web and SSH, 4 sources) all log in and leave no lock, no failure and nothing in flight", async () => {
			// Regression: 12 parallel SSH logins with the right password used to lock the account for 15 minutes.
			const t = await createTestApp({ engine, config: PATIENT });
			try {
				const user = await t.app.admin.createUser(ADMIN_ACTOR, { username: "dora", password: PASSWORD, isAdmin: false, groups: [] });
				const started = performance.now();
				const steps = await Promise.all(Array.from({ length: 100 }, (_, index) => t.app.login.submitPassword(client(index, 4), "dora", PASSWORD)));
				t.app.logger.info({ ms: Math.round(performance.now() - started) }, "100 parallel right passwords");
				assert.deepEqual(
					steps.map((step) => step.kind),
					Array(100).fill("authenticated"),
				);
				assert.deepEqual(await counters(t, "dora"), { tfaFailures: 0, tfaInflight: 0, tfaLockedUntil: 0, pwFailures: 0, pwInflight: 0, pwLockedUntil: 0 });
				const pairs = await t.app.db.selectFrom("password_throttle").selectAll().where("user_id", "=", user.id).execute();
				assert.deepEqual(
					pairs.filter((pair) => Number(pair.inflight) !== 0 || Number(pair.failures) !== 0 || Number(pair.blocked_until) !== 0),
					[],
					"no source is blocked or left in flight",
				);
				assert.equal((await t.app.stores.audit.query({ event: "account.locked", username: "dora" })).length, 0);
			} finally {
				await t.cleanup();
			}
		});

		test("10 parallel right second-factor answers (more than the limit of 5) all log in; no lock, nothing in flight", async () => {
			const t = await createTestApp({ engine, config: PATIENT });
			try {
				const { id } = await userWithTotp(t, "rita");
				const issued = await t.app.enrollment.regenerateRecoveryCodes(id, ACCOUNT);
				assert.equal(issued.kind, "active");
				const codes = issued.kind === "active" ? issued.display.codes!.split("\n").filter(Boolean) : [];
				assert.ok(codes.length >= 10);
				const attempts = [];
				for (let n = 0; n < 10; n++) attempts.push(await secondFactorAttempt(t, "rita", client(n, 10)));
				const results = await Promise.all(attempts.map((attempt, n) => t.app.login.submitSecondFactor(attempt, "recovery-code", codes[n])));
				assert.deepEqual(
					results.map((result) => result.kind),
					Array(10).fill("authenticated"),
				);
				const state = await counters(t, "rita");
				assert.deepEqual([state.tfaFailures, state.tfaInflight, state.tfaLockedUntil], [0, 0, 0]);
			} finally {
				await t.cleanup();
			}
		});

		test("100 parallel wrong second-factor answers: exactly the limit evaluated, one lock (audited once, sessions ended); a right answer right after is refused; after the lock it works", async () => {
			// Attack: fire guesses in parallel so every check passes before any failure is recorded (Keycloak CVE-2024-4629).
			const t = await createTestApp({ engine, config: PATIENT });
			try {
				const { id, secret } = await userWithTotp(t, "gary");
				const attempt = await secondFactorAttempt(t, "gary");
				const epochBefore = Number((await t.app.stores.users.findById(id))!.session_epoch);
				const results = await Promise.all(Array.from({ length: 100 }, () => t.app.login.submitSecondFactor(attempt, "totp", "000000")));
				assert.equal(results.filter((result) => result.kind === "authenticated").length, 0);
				const evaluated = (await t.app.stores.audit.query({ event: "second-factor.failure", username: "gary" })).filter(
					(event) => typeof detailOf(event).failures === "number",
				);
				assert.equal(evaluated.length, 5, "exactly the limit is evaluated");
				assert.equal((await t.app.stores.audit.query({ event: "account.locked", username: "gary" })).length, 1);
				const state = await counters(t, "gary");
				assert.ok(state.tfaLockedUntil > t.clock.now().getTime(), "locked");
				assert.equal(state.tfaInflight, 0, "nothing left in flight");
				assert.equal(Number((await t.app.stores.users.findById(id))!.session_epoch), epochBefore + 1, "the lock ended the user's sessions");
				assert.deepEqual(
					[...new Set(results.map((result) => (result.kind === "denied" ? result.reason : result.kind)))].sort(),
					["invalid", "locked"],
					"the rest are refused as locked, never evaluated",
				);
				// A right answer right after: still locked (the lock rules hold).
				const right = await t.app.login.submitSecondFactor(attempt, "totp", totpCodeAt(secret, t.clock.now().getTime()));
				assert.equal(right.kind === "denied" && right.reason, "locked");
				// Once the lock (15 min) and its window are over, the owner logs in and the counter starts afresh.
				t.clock.advance(t.app.config.security.lockout_seconds * 1000 + 1);
				const again = await secondFactorAttempt(t, "gary");
				const done = await t.app.login.submitSecondFactor(again, "totp", totpCodeAt(secret, t.clock.now().getTime()));
				assert.equal(done.kind, "authenticated", JSON.stringify(done));
				const after = await counters(t, "gary");
				assert.deepEqual([after.tfaFailures, after.tfaInflight], [0, 0]);
			} finally {
				await t.cleanup();
			}
		});

		test("100 parallel wrong passwords from 100 sources: at most the account ceiling is evaluated, one lock; the right password right after is refused", async () => {
			const t = await createTestApp({ engine, config: { security: { password_max_failures: 10, busy_wait_ms: 30_000 } } });
			try {
				await t.app.admin.createUser(ADMIN_ACTOR, { username: "walt", password: PASSWORD, isAdmin: false, groups: [] });
				const steps = await Promise.all(
					Array.from({ length: 100 }, (_, index) =>
						t.app.login.submitPassword({ channel: "web", sourceAddress: `203.0.113.${index + 1}` }, "walt", "wrong password!"),
					),
				);
				assert.equal(steps.filter((step) => step.kind !== "denied").length, 0);
				const checked = (await t.app.stores.audit.query({ event: "login.password", username: "walt" })).filter(
					(event) => detailOf(event).reason === "wrong-password",
				);
				assert.equal(checked.length, 10, "exactly the ceiling is evaluated");
				assert.equal((await t.app.stores.audit.query({ event: "account.locked", username: "walt" })).length, 1);
				const state = await counters(t, "walt");
				assert.ok(state.pwLockedUntil > t.clock.now().getTime());
				assert.equal(state.pwInflight, 0);
				const right = await t.app.login.submitPassword({ channel: "web", sourceAddress: "192.0.2.200" }, "walt", PASSWORD);
				assert.equal(right.kind, "denied", "the lock holds against the right password too");
			} finally {
				await t.cleanup();
			}
		});

		test("a reservation never settled (a crashed node) makes the counter busy, never locked, and stops counting after the lease", async () => {
			const slept: number[] = [];
			const t = await createTestApp({
				engine,
				config: { security: { busy_wait_ms: 200, busy_retry_ms: 25 } },
				sleep: async (ms) => {
					slept.push(ms);
				},
			});
			try {
				const { id, secret } = await userWithTotp(t, "cora");
				const policy = {
					maxFailures: 5,
					windowMs: 900_000,
					lockMs: 900_000,
					maxLockMs: 86_400_000,
					leaseMs: t.app.config.security.inflight_lease_seconds * 1000,
				};
				// A node reserved the whole budget and died.
				for (let n = 0; n < 5; n++) assert.equal((await t.app.stores.users.reserveAttempt(id, "tfa", policy)).kind, "ok");
				const attempt = await secondFactorAttempt(t, "cora");
				const busy = await t.app.login.submitSecondFactor(attempt, "totp", totpCodeAt(secret, t.clock.now().getTime()));
				assert.deepEqual(busy.kind === "denied" && busy.reason, "busy");
				// It waited with the injected sleep (doubling from busy_retry_ms, 200 ms in all), then answered busy.
				assert.deepEqual(slept, [25, 50, 100, 25]);
				assert.equal((await counters(t, "cora")).tfaLockedUntil, 0, "busy is never a lock");
				assert.equal((await t.app.stores.audit.query({ event: "second-factor.busy", username: "cora" })).length, 1);
				// One second before the lease ends the dead reservations still count; after it they do not.
				t.clock.advance(policy.leaseMs - 1000);
				const stillBusy = await t.app.login.submitSecondFactor(attempt, "totp", totpCodeAt(secret, t.clock.now().getTime()));
				assert.equal(stillBusy.kind === "denied" && stillBusy.reason, "busy");
				t.clock.advance(1000);
				const fresh = await secondFactorAttempt(t, "cora");
				const done = await t.app.login.submitSecondFactor(fresh, "totp", totpCodeAt(secret, t.clock.now().getTime()));
				assert.equal(done.kind, "authenticated", JSON.stringify(done));
				assert.equal((await counters(t, "cora")).tfaInflight, 0, "the dead reservations were forgotten and the live one given back");
			} finally {
				await t.cleanup();
			}
		});

		test("busy is retried with the injected sleep: a reservation given back while waiting lets the answer through", async () => {
			const held: { userId: string; counter: "tfa" | "pw"; reservedAt: number }[] = [];
			let t: TestApp | undefined;
			const policy = () => ({ maxFailures: 5, windowMs: 900_000, lockMs: 900_000, maxLockMs: 86_400_000, leaseMs: 300_000 });
			t = await createTestApp({
				engine,
				config: { security: { busy_wait_ms: 10_000, busy_retry_ms: 10 } },
				// The third pause: one of the answers in flight finishes.
				sleep: async () => {
					const reservation = held.length === 5 ? held.pop() : undefined;
					if (reservation !== undefined && t !== undefined) await t.app.stores.users.releaseAttempt(reservation, policy());
				},
			});
			try {
				const { id, secret } = await userWithTotp(t, "bea");
				for (let n = 0; n < 5; n++) {
					const reserved = await t.app.stores.users.reserveAttempt(id, "tfa", policy());
					assert.equal(reserved.kind, "ok");
					if (reserved.kind === "ok") held.push(reserved.reservation);
				}
				const attempt = await secondFactorAttempt(t, "bea");
				const done = await t.app.login.submitSecondFactor(attempt, "totp", totpCodeAt(secret, t.clock.now().getTime()));
				assert.equal(done.kind, "authenticated", JSON.stringify(done));
				assert.equal(held.length, 4);
			} finally {
				await t.cleanup();
			}
		});

		test("the (account, source) pair: a never-settled password check counts until the lease, then the source logs in", async () => {
			const t = await createTestApp({ engine, config: { security: { busy_wait_ms: 0 } } });
			try {
				const user = await t.app.admin.createUser(ADMIN_ACTOR, { username: "pia", password: PASSWORD, isAdmin: false, groups: [] });
				const pair = { freeFailures: 5, maxDelayMs: 900_000, resetMs: 86_400_000, leaseMs: t.app.config.security.inflight_lease_seconds * 1000 };
				for (let n = 0; n < 5; n++) assert.equal((await t.app.stores.passwordThrottle.reserve(user.id, "198.51.100.9", pair)).kind, "ok");
				assert.equal((await t.app.stores.passwordThrottle.reserve(user.id, "198.51.100.9", pair)).kind, "busy");
				const busy = await t.app.login.submitPassword({ channel: "ssh", sourceAddress: "198.51.100.9" }, "pia", PASSWORD);
				assert.equal(busy.kind, "denied", "busy before the first factor is answered like every refusal there");
				const reasons = (await t.app.stores.audit.query({ event: "login.password", username: "pia" })).map((event) => detailOf(event).reason);
				assert.deepEqual(reasons, ["busy"], "the audit log names it");
				const row = await t.app.db.selectFrom("password_throttle").selectAll().where("user_id", "=", user.id).executeTakeFirstOrThrow();
				assert.deepEqual([Number(row.failures), Number(row.blocked_until)], [0, 0], "in flight is not a failure: the source is not blocked");
				t.clock.advance(pair.leaseMs);
				assert.equal((await t.app.login.submitPassword({ channel: "ssh", sourceAddress: "198.51.100.9" }, "pia", PASSWORD)).kind, "authenticated");
			} finally {
				await t.cleanup();
			}
		});
	});
}
