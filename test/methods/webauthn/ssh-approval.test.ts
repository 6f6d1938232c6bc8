/**
 * docs/product-decisions.md Decision 6 at the flow level: WebAuthn on SSH is a one-time browser approval bound to
 * the login attempt (user, source address, expiry). Pending → asked again a few times, then
 * refused; denied or expired → refused; an approval completes only its own attempt, once.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { APPROVAL_TTL_MS, MAX_PENDING_ROUNDS } from "../../../src/methods/webauthn/webauthn-method.ts";
import { ADMIN_ACTOR, SSH, type TestApp } from "../../helpers/test-app.ts";
import { approvalToken, newSoft, newUser, ORIGIN, PASSWORD, registerKey, webauthnApp, webauthnOf } from "./helpers.ts";
import type { SoftAuthenticator } from "./soft-authenticator.ts";

for (const engine of ["sqlite", "postgres"] as const) {
	describe(`WebAuthn over SSH: browser approval (${engine})`, () => {
		let t: TestApp;
		before(async () => {
			t = await webauthnApp(undefined, engine);
		});
		after(async () => t.cleanup());

		async function sshLogin(username: string, source = SSH.sourceAddress): Promise<{ attemptId: string; prompt: string; token: string }> {
			const step = await t.app.login.submitPassword({ channel: "ssh", sourceAddress: source }, username, PASSWORD);
			assert.equal(step.kind, "second-factor", JSON.stringify(step));
			if (step.kind !== "second-factor") throw new Error("unreachable");
			assert.equal(step.defaultMethod, "webauthn");
			const challenge = await t.app.login.startChallenge(step.attemptId, "webauthn");
			assert.equal(challenge.kind, "prompt");
			if (challenge.kind !== "prompt") throw new Error("unreachable");
			assert.equal(challenge.echo, true);
			return { attemptId: step.attemptId, prompt: challenge.prompt, token: approvalToken(challenge.prompt) };
		}

		async function approve(userId: string, token: string, soft: SoftAuthenticator) {
			const method = webauthnOf(t);
			const view = await method.viewApproval(token, userId);
			assert.equal(view.kind, "pending", JSON.stringify(view));
			if (view.kind !== "pending") throw new Error("unreachable");
			return method.approve(token, userId, view.challengeId, JSON.stringify(soft.assert(view.options)), "192.0.2.99");
		}

		test("the prompt carries a one-time link to the console; the page shows source and expiry; approve, then Enter logs in", async () => {
			const user = await newUser(t, "alice");
			const soft = newSoft();
			await registerKey(t, user.id, soft);
			const { attemptId, prompt, token } = await sshLogin(user.username);
			assert.equal(prompt, `Approve this login in your browser: ${ORIGIN}/approve/${token} - then press Enter`);
			const view = await webauthnOf(t).viewApproval(token, user.id);
			assert.equal(view.kind, "pending");
			if (view.kind !== "pending") return;
			assert.equal(view.details.source, "192.0.2.20");
			assert.equal(view.details.createdAt, t.clock.now().getTime());
			assert.ok(view.details.expiresAt <= t.clock.now().getTime() + APPROVAL_TTL_MS);
			assert.equal(view.options.rpId, "localhost");
			assert.equal((await approve(user.id, token, soft)).kind, "approved");
			const result = await t.app.login.submitSecondFactor(attemptId, "webauthn", "");
			assert.equal(result.kind, "authenticated", JSON.stringify(result));
			assert.equal(result.kind === "authenticated" && result.method, "webauthn");
			// Used: the link is closed now, and shows why.
			const after = await webauthnOf(t).viewApproval(token, user.id);
			assert.ok(after.kind === "closed" && after.details.status === "consumed");
			const approvals = await t.app.stores.audit.query({ event: "webauthn.ssh-approval" });
			assert.ok(approvals.some((event) => event.outcome === "success" && event.source === "192.0.2.99" && /192\.0\.2\.20/.test(event.detail ?? "")));
		});

		test(`Enter before approval: asked again (same link) ${MAX_PENDING_ROUNDS} times, then refused; never a pass`, async () => {
			const user = await newUser(t);
			await registerKey(t, user.id, newSoft());
			const { attemptId, token } = await sshLogin(user.username);
			for (let round = 1; round <= MAX_PENDING_ROUNDS; round++) {
				const result = await t.app.login.submitSecondFactor(attemptId, "webauthn", "");
				assert.equal(result.kind, "continue", `round ${round}`);
				if (result.kind !== "continue") return;
				assert.equal(approvalToken(result.prompt), token, "the same link");
				assert.match(result.prompt, /^Not approved yet\. Approve this login in your browser:/);
			}
			const last = await t.app.login.submitSecondFactor(attemptId, "webauthn", "");
			assert.equal(last.kind, "invalid");
			// The abandoned link cannot be approved later.
			const view = await webauthnOf(t).viewApproval(token, user.id);
			assert.ok(view.kind === "closed" && view.details.status === "expired");
			// Waiting rounds cost nothing on the failure counter; the final refusal costs one.
			assert.equal((await t.app.stores.users.findById(user.id))?.tfa_failures, 1);
		});

		test("denied in the browser → the SSH login fails", async () => {
			const user = await newUser(t);
			await registerKey(t, user.id, newSoft());
			const { attemptId, token } = await sshLogin(user.username);
			assert.equal((await webauthnOf(t).deny(token, user.id, "192.0.2.99")).kind, "denied");
			assert.equal((await t.app.login.submitSecondFactor(attemptId, "webauthn", "")).kind, "invalid");
			assert.equal((await t.app.stores.audit.query({ event: "webauthn.ssh-denied", username: user.username })).length, 1);
		});

		test("expired link (fake clock): cannot be approved, and the SSH login fails", async () => {
			const user = await newUser(t);
			const soft = newSoft();
			await registerKey(t, user.id, soft);
			const { attemptId, token } = await sshLogin(user.username);
			const method = webauthnOf(t);
			const view = await method.viewApproval(token, user.id);
			assert.equal(view.kind, "pending");
			if (view.kind !== "pending") return;
			t.clock.advance(APPROVAL_TTL_MS);
			const late = await method.approve(token, user.id, view.challengeId, JSON.stringify(soft.assert(view.options)), "192.0.2.99");
			assert.equal(late.kind, "closed");
			const result = await t.app.login.submitSecondFactor(attemptId, "webauthn", "");
			assert.notEqual(result.kind, "authenticated");
		});

		test("an approval is bound to its user and its attempt: another user cannot see or approve it; it cannot finish another connection", async () => {
			const alice = await newUser(t, "alice");
			const mallory = await newUser(t, "mallory");
			const aliceKey = newSoft();
			const malloryKey = newSoft();
			await registerKey(t, alice.id, aliceKey);
			await registerKey(t, mallory.id, malloryKey);
			const first = await sshLogin(alice.username);
			const method = webauthnOf(t);
			assert.equal((await method.viewApproval(first.token, mallory.id)).kind, "other-user");
			assert.equal((await method.deny(first.token, mallory.id, "x")).kind, "other-user");
			// Mallory signs with her own key on the page of alice's link: refused (other user).
			const view = await method.viewApproval(first.token, alice.id);
			assert.ok(view.kind === "pending");
			if (view.kind !== "pending") return;
			assert.equal(
				(await method.approve(first.token, mallory.id, view.challengeId, JSON.stringify(malloryKey.assert({ ...view.options, allowCredentials: [] })), "x"))
					.kind,
				"other-user",
			);
			// Alice's page, Mallory's key: not one of alice's credentials.
			assert.equal(
				(await method.approve(first.token, alice.id, view.challengeId, JSON.stringify(malloryKey.assert({ ...view.options, allowCredentials: [] })), "x")).kind,
				"invalid",
			);
			// A second connection of alice: approving the first link does not let the second in.
			const second = await sshLogin(alice.username, "198.51.100.7");
			assert.equal((await approve(alice.id, first.token, aliceKey)).kind, "approved");
			assert.equal((await t.app.login.submitSecondFactor(second.attemptId, "webauthn", "")).kind, "continue");
			assert.equal((await t.app.login.submitSecondFactor(first.attemptId, "webauthn", "")).kind, "authenticated");
			assert.equal((await approve(alice.id, second.token, aliceKey)).kind, "approved");
			assert.equal((await t.app.login.submitSecondFactor(second.attemptId, "webauthn", "")).kind, "authenticated");
			const secondView = await method.viewApproval(second.token, alice.id);
			assert.ok(secondView.kind === "closed" && secondView.details.source === "198.51.100.7");
		});

		test("a new prompt on the same connection supersedes the old link", async () => {
			const user = await newUser(t);
			const soft = newSoft();
			await registerKey(t, user.id, soft);
			const first = await sshLogin(user.username);
			const again = await t.app.login.startChallenge(first.attemptId, "webauthn");
			assert.equal(again.kind, "prompt");
			if (again.kind !== "prompt") return;
			const newer = approvalToken(again.prompt);
			assert.notEqual(newer, first.token);
			const old = await webauthnOf(t).viewApproval(first.token, user.id);
			assert.ok(old.kind === "closed" && old.details.status === "superseded");
			assert.equal((await approve(user.id, newer, soft)).kind, "approved");
			assert.equal((await t.app.login.submitSecondFactor(first.attemptId, "webauthn", "")).kind, "authenticated");
		});

		test("unknown and malformed tokens show nothing", async () => {
			const user = await newUser(t);
			const method = webauthnOf(t);
			for (const token of ["", "x", "A".repeat(43), "../../etc/passwd", "A".repeat(5000)]) {
				assert.equal((await method.viewApproval(token, user.id)).kind, "not-found");
				assert.equal((await method.approve(token, user.id, "c", "{}", "x")).kind, "not-found");
			}
		});

		test("a locked account: the approval cannot help (the flow refuses even an approved link)", async () => {
			const user = await newUser(t);
			const soft = newSoft();
			await registerKey(t, user.id, soft);
			const { attemptId, token } = await sshLogin(user.username);
			assert.equal((await approve(user.id, token, soft)).kind, "approved");
			await t.app.stores.users.lock(user.id, "tfa", { maxFailures: 1, windowMs: 60_000, lockMs: 60_000, maxLockMs: 60_000 });
			const result = await t.app.login.submitSecondFactor(attemptId, "webauthn", "");
			assert.ok(result.kind === "denied" && result.reason === "locked");
			await t.app.admin.unlock(ADMIN_ACTOR, user.username);
		});
	});
}
