import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { totpCodeAt } from "../../src/methods/totp/totp-method.ts";
import { ADMIN_ACTOR, createTestApp, SSH, WEB, type TestApp } from "../helpers/test-app.ts";
import { base32Decode } from "../helpers/base32.ts";

const PASSWORD = "correct horse battery";

async function enrolTotp(t: TestApp, userId: string): Promise<Buffer> {
	const begin = await t.app.enrollment.begin(userId, "totp", "phone", {}, { channel: "web", source: "test", duringLogin: false });
	assert.equal(begin.kind, "pending");
	if (begin.kind !== "pending") throw new Error("unreachable");
	const secret = Buffer.from(base32Decode(begin.display.secret!.replace(/ /g, "")));
	const done = await t.app.enrollment.complete(
		userId,
		begin.factorId,
		{ code: totpCodeAt(secret, t.clock.now().getTime()) },
		{ channel: "web", source: "test", duringLogin: false },
	);
	assert.equal(done.kind, "active");
	return secret;
}

for (const engine of ["sqlite", "postgres"] as const)
	describe(`login flow (${engine})`, () => {
		let t: TestApp;
		before(async () => {
			t = await createTestApp({ engine });
			await t.app.admin.createGroup(ADMIN_ACTOR, { name: "ops", forceTwoFactor: true, allowedMethods: null });
			await t.app.admin.createUser(ADMIN_ACTOR, { username: "alice", password: PASSWORD, isAdmin: false, groups: ["ops"] });
			await t.app.admin.createUser(ADMIN_ACTOR, { username: "bob", password: PASSWORD, isAdmin: false, groups: [] });
		});
		after(async () => t.cleanup());

		test("wrong password and unknown user give the same generic refusal", async () => {
			const wrong = await t.app.login.submitPassword(WEB, "alice", "nope-nope-nope");
			const unknown = await t.app.login.submitPassword(WEB, "mallory", "nope-nope-nope");
			assert.equal(wrong.kind, "denied");
			assert.equal(unknown.kind, "denied");
			assert.equal(wrong.kind === "denied" && wrong.message, unknown.kind === "denied" && unknown.message);
		});

		test("bad input types are refused, not thrown", async () => {
			for (const [user, pass] of [
				[123, PASSWORD],
				["alice", null],
				["alice", { $ne: "" }],
				["a".repeat(100_000), PASSWORD],
				["alice", "x".repeat(5000)],
			] as const) {
				const step = await t.app.login.submitPassword(WEB, user, pass);
				assert.equal(step.kind, "denied");
			}
		});

		test("bob (no policy, no factor) logs in with the password alone", async () => {
			const step = await t.app.login.submitPassword(WEB, "Bob", PASSWORD);
			assert.equal(step.kind, "authenticated");
		});

		test("alice (group ops forces 2FA) must enrol on the web, and is refused on SSH with the console URL", async () => {
			const web = await t.app.login.submitPassword(WEB, "alice", PASSWORD);
			assert.equal(web.kind, "enroll");
			assert.match(web.kind === "enroll" ? web.explanation : "", /required by group ops/);
			const ssh = await t.app.login.submitPassword(SSH, "alice", PASSWORD);
			assert.equal(ssh.kind, "denied");
			assert.match(ssh.kind === "denied" ? ssh.message : "", /http:\/\/127\.0\.0\.1:8080/);
		});

		test("enrolment during login completes the attempt; the code is not reusable; SSH asks for TOTP next", async () => {
			const step = await t.app.login.submitPassword(WEB, "alice", PASSWORD);
			assert.equal(step.kind, "enroll");
			if (step.kind !== "enroll") return;
			const during = { channel: "web", source: "test", duringLogin: true, attemptId: step.attemptId } as const;
			const begin = await t.app.enrollment.begin(step.userId, "totp", "phone", {}, during);
			assert.equal(begin.kind, "pending");
			if (begin.kind !== "pending") return;
			const secret = Buffer.from(base32Decode(begin.display.secret!.replace(/ /g, "")));
			const code = totpCodeAt(secret, t.clock.now().getTime());
			const done = await t.app.enrollment.complete(step.userId, begin.factorId, { code }, during);
			assert.equal(done.kind, "active");
			const finished = await t.app.login.finishEnrollment(step.attemptId, begin.factorId);
			assert.equal(finished.kind, "authenticated");

			// Same code on SSH right away: refused (replay across channels).
			const ssh = await t.app.login.submitPassword(SSH, "alice", PASSWORD);
			assert.equal(ssh.kind, "second-factor");
			if (ssh.kind !== "second-factor") return;
			assert.equal(ssh.defaultMethod, "totp");
			const replay = await t.app.login.submitSecondFactor(ssh.attemptId, "totp", code);
			assert.equal(replay.kind, "invalid");
			t.clock.advance(30_000);
			const fresh = await t.app.login.submitSecondFactor(ssh.attemptId, "totp", totpCodeAt(secret, t.clock.now().getTime()));
			assert.equal(fresh.kind, "authenticated");
		});

		test("20 parallel submissions of one valid code: exactly one succeeds", async () => {
			const user = await t.app.admin.createUser(ADMIN_ACTOR, { username: "carol", password: PASSWORD, isAdmin: false, groups: ["ops"] });
			const secret = await enrolTotp(t, user.id);
			t.clock.advance(30_000);
			const code = totpCodeAt(secret, t.clock.now().getTime());
			const steps = await Promise.all(Array.from({ length: 20 }, () => t.app.login.submitPassword(WEB, "carol", PASSWORD)));
			const results = await Promise.all(
				steps.map((step) => (step.kind === "second-factor" ? t.app.login.submitSecondFactor(step.attemptId, "totp", code) : null)),
			);
			assert.equal(results.filter((result) => result?.kind === "authenticated").length, 1);
		});

		test("lockout: 5 wrong codes lock the account; then even a correct code is refused; admin unlock restores", async () => {
			const user = await t.app.admin.createUser(ADMIN_ACTOR, { username: "dave", password: PASSWORD, isAdmin: false, groups: ["ops"] });
			const secret = await enrolTotp(t, user.id);
			t.clock.advance(60_000);
			const step = await t.app.login.submitPassword(SSH, "dave", PASSWORD);
			assert.equal(step.kind, "second-factor");
			if (step.kind !== "second-factor") return;
			const outcomes = await Promise.all(Array.from({ length: 50 }, () => t.app.login.submitSecondFactor(step.attemptId, "totp", "000000")));
			assert.ok(outcomes.every((outcome) => outcome.kind !== "authenticated"));
			assert.ok(outcomes.filter((outcome) => outcome.kind === "invalid").length <= 4);
			const correct = await t.app.login.submitSecondFactor(step.attemptId, "totp", totpCodeAt(secret, t.clock.now().getTime()));
			assert.equal(correct.kind, "denied");
			const webTry = await t.app.login.submitPassword(WEB, "dave", PASSWORD);
			assert.equal(webTry.kind, "denied");
			await t.app.admin.unlock(ADMIN_ACTOR, "dave");
			const again = await t.app.login.submitPassword(WEB, "dave", PASSWORD);
			assert.equal(again.kind, "second-factor");
		});

		test("a login that began under 2FA is not finished under a weaker policy", async () => {
			const user = await t.app.admin.createUser(ADMIN_ACTOR, { username: "erin", password: PASSWORD, isAdmin: false, groups: ["ops"] });
			await enrolTotp(t, user.id);
			t.clock.advance(30_000);
			const step = await t.app.login.submitPassword(WEB, "erin", PASSWORD);
			assert.equal(step.kind, "second-factor");
			// Attempt cannot be completed by anything but a valid factor.
			if (step.kind !== "second-factor") return;
			const wrong = await t.app.login.submitSecondFactor(step.attemptId, "totp", "");
			assert.equal(wrong.kind, "invalid");
		});
	});

describe("live session check", () => {
	test("a session proven with the last recovery code is not stepped up; one with a disallowed method is", async () => {
		const t = await createTestApp();
		try {
			const user = await t.app.admin.createUser(ADMIN_ACTOR, { username: "rita", password: PASSWORD, isAdmin: false, groups: [] });
			await enrolTotp(t, user.id);
			const row = (await t.app.stores.users.findById(user.id))!;
			const check = (method: string | null) =>
				t.app.login.checkSession({ userId: user.id, sessionEpoch: row.session_epoch, secondFactorMethod: method, channel: "web" });
			assert.equal(await check("recovery-code"), "ok");
			assert.equal(await check("totp"), "ok");
			assert.equal(await check(null), "step-up");
			assert.equal(await check("access-keyword"), "step-up");
			await t.app.admin.setDisabled(ADMIN_ACTOR, "rita", true);
			assert.equal(await check("totp"), "revoked");
		} finally {
			await t.cleanup();
		}
	});
});

describe("backend outage mid-challenge", () => {
	test("a challenge whose check failed for an outage is given back, and the charge refunded", async () => {
		const { PortcullisError } = await import("../../src/core/errors.ts");
		const t = await createTestApp();
		try {
			const keyword = "Outage-Keyword-9";
			await t.app.admin.updateSettings(ADMIN_ACTOR, { enabledMethods: ["totp", "access-keyword", "recovery-code"] });
			const user = await t.app.admin.createUser(ADMIN_ACTOR, { username: "otto", password: PASSWORD, isAdmin: false, groups: [] });
			const enrolled = await t.app.enrollment.begin(
				user.id,
				"access-keyword",
				"kw",
				{ keyword, confirm: keyword },
				{ channel: "web", source: "t", duringLogin: false },
			);
			assert.equal(enrolled.kind, "active");
			const step = await t.app.login.submitPassword(SSH, "otto", PASSWORD);
			assert.equal(step.kind, "second-factor");
			if (step.kind !== "second-factor") return;
			const prompt = await t.app.login.startChallenge(step.attemptId, "access-keyword");
			assert.equal(prompt.kind, "prompt");
			const positions = (prompt.kind === "prompt" ? prompt.prompt : "").match(/\d+/g)!.map(Number);
			const answer = positions.map((position) => Array.from(keyword)[position - 1]).join("");
			const registry = t.app.methods as Map<string, import("../../src/methods/method.ts").SecondFactorMethod>;
			const real = registry.get("access-keyword")!;
			registry.set("access-keyword", {
				...real,
				verifyResponse: async () => {
					throw new PortcullisError("ERR_METHOD_UNAVAILABLE", "down (test)");
				},
			});
			const down = await t.app.login.submitSecondFactor(step.attemptId, "access-keyword", answer);
			assert.ok(down.kind === "denied" && down.reason === "unavailable");
			assert.equal((await t.app.stores.users.findById(user.id))!.tfa_failures, 0);
			registry.set("access-keyword", real);
			const back = await t.app.login.submitSecondFactor(step.attemptId, "access-keyword", answer);
			assert.equal(back.kind, "authenticated");
		} finally {
			await t.cleanup();
		}
	});
});

describe("password lockout", () => {
	test("the account-wide ceiling (here 10) locks password logins (a correct one too, answered like any failure), on every channel and for a password change; the lock does not grow", async () => {
		const t = await createTestApp({ config: { security: { password_max_failures: 10 } } });
		try {
			const user = await t.app.admin.createUser(ADMIN_ACTOR, { username: "pam", password: PASSWORD, isAdmin: false, groups: [] });
			// 30 parallel guesses from 10 sources, each within its free per-source guesses.
			const results = await Promise.all(
				Array.from({ length: 30 }, (_, index) =>
					t.app.login.submitPassword({ channel: "web", sourceAddress: `198.51.100.${index % 10}` }, "pam", "not the password"),
				),
			);
			assert.ok(results.every((result) => result.kind === "denied"));
			const locked = await t.app.login.submitPassword(SSH, "pam", PASSWORD);
			// Before the first factor a lock is not revealed (docs/decisions.md "Password throttling").
			assert.deepEqual(locked, { kind: "denied", reason: "invalid-credentials", message: "Invalid username or password." });
			const change = await t.app.login.changeOwnPassword(WEB, user.id, PASSWORD, "a brand new password");
			assert.equal(change.kind, "invalid");
			const row = (await t.app.stores.users.findById(user.id))!;
			assert.equal(Number(row.pw_locked_until) - t.clock.now().getTime(), t.app.config.security.lockout_seconds * 1000);
			t.clock.advance(t.app.config.security.lockout_seconds * 1000 + 1);
			assert.equal((await t.app.login.submitPassword(WEB, "pam", PASSWORD)).kind, "authenticated");
			assert.ok((await t.app.stores.audit.query({ username: "pam", event: "account.locked" })).length >= 1);
		} finally {
			await t.cleanup();
		}
	});
});

describe("admin reset link is single use", () => {
	test("two parallel enrolments with one link: exactly one factor survives", async () => {
		const t = await createTestApp();
		try {
			await t.app.admin.createGroup(ADMIN_ACTOR, { name: "sec", forceTwoFactor: true, allowedMethods: null });
			const user = await t.app.admin.createUser(ADMIN_ACTOR, { username: "lena", password: PASSWORD, isAdmin: false, groups: ["sec"] });
			const { link } = await t.app.admin.resetTwoFactor(ADMIN_ACTOR, "lena", "link");
			const token = link!.slice(link!.lastIndexOf("/") + 1);
			const step = await t.app.login.submitPassword(WEB, "lena", PASSWORD);
			assert.equal(step.kind, "enroll");
			const context = { channel: "web", source: "t", duringLogin: true, enrollToken: token, attemptId: step.kind === "enroll" ? step.attemptId : "" } as const;
			assert.equal((await t.app.enrollment.begin(user.id, "totp", "x", {}, { ...context, enrollToken: "wrong" })).kind, "rejected");
			const [a, b] = await Promise.all([t.app.enrollment.begin(user.id, "totp", "a", {}, context), t.app.enrollment.begin(user.id, "totp", "b", {}, context)]);
			assert.ok(a.kind === "pending" && b.kind === "pending");
			if (a.kind !== "pending" || b.kind !== "pending") return;
			const now = t.clock.now().getTime();
			const [doneA, doneB] = await Promise.all([
				t.app.enrollment.complete(user.id, a.factorId, { code: totpCodeAt(Buffer.from(base32Decode(a.display.secret!.replace(/ /g, ""))), now) }, context),
				t.app.enrollment.complete(user.id, b.factorId, { code: totpCodeAt(Buffer.from(base32Decode(b.display.secret!.replace(/ /g, ""))), now) }, context),
			]);
			assert.equal([doneA, doneB].filter((done) => done.kind === "active").length, 1);
			assert.equal((await t.app.stores.factors.listActive(user.id)).length, 1);
		} finally {
			await t.cleanup();
		}
	});
});

describe("must change password", () => {
	test("an admin-set password opens the web (to change it) but never SSH", async () => {
		const t = await createTestApp();
		try {
			await t.app.admin.createUser(ADMIN_ACTOR, { username: "nora", password: PASSWORD, isAdmin: true, groups: [], mustChangePassword: true });
			const ssh = await t.app.login.submitPassword(SSH, "nora", PASSWORD);
			assert.ok(ssh.kind === "denied" && ssh.reason === "password-change", JSON.stringify(ssh));
			assert.match(ssh.kind === "denied" ? ssh.message : "", /127\.0\.0\.1:8080/);
			assert.equal((await t.app.login.submitPassword(WEB, "nora", PASSWORD)).kind, "authenticated");
		} finally {
			await t.cleanup();
		}
	});
});
