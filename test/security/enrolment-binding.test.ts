/**
 * A pending factor is bound to the reset generation and the login attempt that began it, and dies
 * with them (docs/threat-model.md, "Enrolment outliving its login": "a factor begun in an earlier attempt can be
 * finished in a later one"). Sequential twins of the races in enrolment-races.test.ts, on both engines.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { totpCodeAt } from "../../src/methods/totp/totp-method.ts";
import { base32Decode } from "../helpers/base32.ts";
import { ADMIN_ACTOR, createTestApp, WEB, type Engine } from "../helpers/test-app.ts";

const PASSWORD = "correct horse battery";

for (const engine of ["sqlite", "postgres"] as Engine[]) {
	describe(`enrolment binding (${engine})`, () => {
		test("a factor begun before an admin reset never activates after it, even from a trusted caller", async () => {
			// Attack: begin an enrolment, wait for the admin's reset, then confirm the old pending factor.
			const t = await createTestApp({ engine });
			try {
				const user = await t.app.admin.createUser(ADMIN_ACTOR, { username: "ada", password: PASSWORD, isAdmin: false, groups: [] });
				const open = { origin: null, generation: 0, linkHash: null };
				const pending = (await t.app.stores.factors.insert({ userId: user.id, method: "totp", label: "old", status: "pending", secretEnc: null }, open))!;
				await t.app.admin.resetTwoFactor(ADMIN_ACTOR, "ada", "next-login");
				// The reset deleted it; a row that slipped in after the delete (the race) keeps generation 0.
				const slipped = (await t.app.stores.factors.insert({ userId: user.id, method: "totp", label: "late", status: "pending", secretEnc: null }, open))!;
				assert.equal(await t.app.stores.factors.activate(pending, user.id, 1, open), false, "deleted by the reset");
				assert.equal(await t.app.stores.factors.activate(slipped, user.id, 1, open), false, "old generation (guard's)");
				assert.equal(await t.app.stores.factors.activate(slipped, user.id, 1, { ...open, generation: 1 }), false, "old generation (row's)");
				assert.deepEqual(await t.app.stores.factors.listActive(user.id), []);
			} finally {
				await t.cleanup();
			}
		});

		test("a factor enrolled during one login attempt cannot finish another attempt", async () => {
			// Attack: confirm, in a later login, a pending factor begun (and verified) in an earlier one.
			const t = await createTestApp({ engine });
			try {
				await t.app.admin.createGroup(ADMIN_ACTOR, { name: "sec", forceTwoFactor: true, allowedMethods: null });
				await t.app.admin.createUser(ADMIN_ACTOR, { username: "bo", password: PASSWORD, isAdmin: false, groups: ["sec"] });
				const first = await t.app.login.submitPassword(WEB, "bo", PASSWORD);
				const second = await t.app.login.submitPassword(WEB, "bo", PASSWORD);
				assert.ok(first.kind === "enroll" && second.kind === "enroll");
				if (first.kind !== "enroll" || second.kind !== "enroll") return;
				const during = { channel: "web", source: "test", duringLogin: true, attemptId: first.attemptId } as const;
				const begin = await t.app.enrollment.begin(first.userId, "totp", "phone", {}, during);
				assert.equal(begin.kind, "pending");
				if (begin.kind !== "pending") return;
				const code = totpCodeAt(base32Decode(begin.display.secret!.replace(/ /g, "")), t.clock.now().getTime());
				// Completing it from the other attempt is refused (and audited); from its own attempt it works.
				assert.equal((await t.app.enrollment.complete(first.userId, begin.factorId, { code }, { ...during, attemptId: second.attemptId })).kind, "expired");
				assert.equal((await t.app.enrollment.complete(first.userId, begin.factorId, { code }, during)).kind, "active");
				assert.equal((await t.app.login.finishEnrollment(second.attemptId, begin.factorId)).kind, "denied", "another attempt cannot be finished with it");
				assert.equal((await t.app.login.finishEnrollment(first.attemptId, begin.factorId)).kind, "authenticated");
				const refused = await t.app.stores.audit.query({ event: "factor.enroll", username: "bo" });
				assert.ok(
					refused.some((event) => event.outcome === "failure"),
					"the refused completion is audited",
				);
			} finally {
				await t.cleanup();
			}
		});

		test("a pending factor dies with the login attempt that began it", async () => {
			// Attack: begin a forced enrolment, let that login end, and confirm the factor afterwards.
			const t = await createTestApp({ engine });
			try {
				await t.app.admin.createGroup(ADMIN_ACTOR, { name: "sec", forceTwoFactor: true, allowedMethods: null });
				await t.app.admin.createUser(ADMIN_ACTOR, { username: "dee", password: PASSWORD, isAdmin: false, groups: ["sec"] });
				const step = await t.app.login.submitPassword(WEB, "dee", PASSWORD);
				assert.equal(step.kind, "enroll");
				if (step.kind !== "enroll") return;
				const during = { channel: "web", source: "test", duringLogin: true, attemptId: step.attemptId } as const;
				const begin = await t.app.enrollment.begin(step.userId, "totp", "phone", {}, during);
				assert.equal(begin.kind, "pending");
				if (begin.kind !== "pending") return;
				await t.app.login.abandon(step.attemptId);
				const code = totpCodeAt(base32Decode(begin.display.secret!.replace(/ /g, "")), t.clock.now().getTime());
				assert.equal((await t.app.enrollment.complete(step.userId, begin.factorId, { code }, during)).kind, "expired");
				assert.deepEqual(await t.app.stores.factors.listActive(step.userId), []);
			} finally {
				await t.cleanup();
			}
		});

		test("a forced-enrolment start from an attempt that is not at the enrolment step is refused, audited and charged", async () => {
			// Attack: a user who has a factor (the attacker has only the password) posts the enrolment start anyway.
			const t = await createTestApp({ engine });
			try {
				await t.app.admin.createGroup(ADMIN_ACTOR, { name: "sec", forceTwoFactor: true, allowedMethods: null });
				const user = await t.app.admin.createUser(ADMIN_ACTOR, { username: "cy", password: PASSWORD, isAdmin: false, groups: ["sec"] });
				const account = { channel: "web", source: "t", duringLogin: false } as const;
				const phone = await t.app.enrollment.begin(user.id, "totp", "phone", {}, account);
				assert.equal(phone.kind, "pending");
				if (phone.kind !== "pending") return;
				const code = totpCodeAt(base32Decode(phone.display.secret!.replace(/ /g, "")), t.clock.now().getTime());
				assert.equal((await t.app.enrollment.complete(user.id, phone.factorId, { code }, account)).kind, "active");
				const step = await t.app.login.submitPassword(WEB, "cy", PASSWORD);
				assert.equal(step.kind, "second-factor");
				if (step.kind !== "second-factor") return;
				const before = (await t.app.stores.users.findById(user.id))!.tfa_failures;
				const refused = await t.app.enrollment.begin(user.id, "totp", "x", {}, { channel: "web", source: "t", duringLogin: true, attemptId: step.attemptId });
				assert.equal(refused.kind, "rejected");
				assert.equal((await t.app.stores.users.findById(user.id))!.tfa_failures, before + 1, "charged to the 2FA counter");
				const events = await t.app.stores.audit.query({ event: "factor.enroll", username: "cy" });
				assert.ok(events.some((event) => event.outcome === "failure"));
			} finally {
				await t.cleanup();
			}
		});
	});
}
