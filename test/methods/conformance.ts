/**
 * The shared conformance suite every second-factor method passes.
 * It drives the method through the real LoginFlow, so the flow's guarantees are checked with it:
 * bad input is a value and never a throw, a valid answer logs in once, replay fails, an expired
 * attempt fails, and (for methods with a backend) an unreachable backend denies with an audit event.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { MethodId } from "../../src/core/method-id.ts";
import { ADMIN_ACTOR, createTestApp, SSH, WEB, type TestApp } from "../helpers/test-app.ts";

export interface ConformanceHarness {
	readonly method: MethodId;
	readonly channels: readonly ("web" | "ssh")[];
	/** Configuration overrides for the test app (WebAuthn needs a console reached by name, not by IP). */
	readonly config?: Record<string, unknown>;
	/** Backend settings a method needs before it can be enabled (YubiKey, Duo, RADIUS). */
	configure?(t: TestApp): Promise<void>;
	/** Enrols the method for the user (and whatever else it needs). */
	enroll(t: TestApp, userId: string): Promise<void>;
	/** The right answer for the current challenge (prompt text as shown to the user). */
	answer(t: TestApp, prompt: string): Promise<string>;
	/** A well-formed but wrong answer. */
	wrongAnswer(prompt: string): string;
	/** "new-attempt": the same answer on a new attempt must fail (one-time values). "challenge": the challenge is single use. */
	readonly replay: "new-attempt" | "challenge";
	/** Makes the backend unreachable (methods with a backend only). */
	breakBackend?(t: TestApp): Promise<void>;
}

const PASSWORD = "conformance password";

export function methodConformance(harness: ConformanceHarness): void {
	describe(`method conformance: ${harness.method}`, () => {
		let t: TestApp;
		let counter = 0;
		before(async () => {
			t = await createTestApp(harness.config ? { config: harness.config } : {});
			await harness.configure?.(t);
			await t.app.admin.updateSettings(ADMIN_ACTOR, { enabledMethods: [...new Set<MethodId>([harness.method, "totp", "recovery-code"])] });
		});
		after(async () => t.cleanup());

		async function freshUser(): Promise<string> {
			counter += 1;
			const user = await t.app.admin.createUser(ADMIN_ACTOR, { username: `u${counter}`, password: PASSWORD, isAdmin: false, groups: [] });
			await harness.enroll(t, user.id);
			return user.username;
		}

		async function challenge(username: string, client = harness.channels.includes("ssh") ? SSH : WEB) {
			const step = await t.app.login.submitPassword(client, username, PASSWORD);
			assert.equal(step.kind, "second-factor", `second factor expected, got ${JSON.stringify(step)}`);
			if (step.kind !== "second-factor") throw new Error("unreachable");
			assert.ok(step.methods.includes(harness.method));
			const prompt = await t.app.login.startChallenge(step.attemptId, harness.method);
			assert.equal(prompt.kind, "prompt");
			if (prompt.kind !== "prompt") throw new Error("unreachable");
			assert.ok(prompt.prompt.length > 0 && prompt.prompt.length < 200);
			return { attemptId: step.attemptId, prompt: prompt.prompt };
		}

		test("a valid answer authenticates", async () => {
			const username = await freshUser();
			const { attemptId, prompt } = await challenge(username);
			const result = await t.app.login.submitSecondFactor(attemptId, harness.method, await harness.answer(t, prompt));
			assert.equal(result.kind, "authenticated");
		});

		test("a merely wrong answer is a value (invalid, attempts left), not an exception", async () => {
			const username = await freshUser();
			const { attemptId, prompt } = await challenge(username);
			const result = await t.app.login.submitSecondFactor(attemptId, harness.method, harness.wrongAnswer(prompt));
			assert.equal(result.kind, "invalid");
			assert.ok(result.kind === "invalid" && result.attemptsLeft > 0);
		});

		test("empty, oversized, binary and non-string input are refused as values", async () => {
			const username = await freshUser();
			for (const bad of ["", "x".repeat(1_000_000), "\u0000\u001b[2J", ["123456"], { code: 1 }, 123456, null]) {
				await t.app.admin.unlock(ADMIN_ACTOR, username);
				const { attemptId } = await challenge(username);
				const result = await t.app.login.submitSecondFactor(attemptId, harness.method, bad);
				assert.notEqual(result.kind, "authenticated");
			}
			await t.app.admin.unlock(ADMIN_ACTOR, username);
		});

		test(`replay is refused (${harness.replay})`, async () => {
			const username = await freshUser();
			const first = await challenge(username);
			const answer = await harness.answer(t, first.prompt);
			if (harness.replay === "new-attempt") {
				assert.equal((await t.app.login.submitSecondFactor(first.attemptId, harness.method, answer)).kind, "authenticated");
				const second = await challenge(username, WEB);
				assert.notEqual((await t.app.login.submitSecondFactor(second.attemptId, harness.method, answer)).kind, "authenticated");
			} else {
				assert.equal((await t.app.login.submitSecondFactor(first.attemptId, harness.method, harness.wrongAnswer(first.prompt))).kind, "invalid");
				// The challenge was consumed by the wrong answer: the right answer to it no longer works.
				assert.notEqual((await t.app.login.submitSecondFactor(first.attemptId, harness.method, answer)).kind, "authenticated");
			}
		});

		test("an expired attempt cannot be finished (fake clock)", async () => {
			const username = await freshUser();
			const { attemptId, prompt } = await challenge(username);
			const answer = await harness.answer(t, prompt);
			t.clock.advance(t.app.config.security.attempt_ttl_seconds * 1000 + 1);
			const result = await t.app.login.submitSecondFactor(attemptId, harness.method, answer);
			assert.equal(result.kind, "denied");
			assert.ok(result.kind === "denied" && result.reason === "expired");
		});

		if (harness.breakBackend) {
			test("an unreachable backend denies and writes an audit event", async () => {
				const username = await freshUser();
				const wrong = await challenge(username);
				assert.equal((await t.app.login.submitSecondFactor(wrong.attemptId, harness.method, harness.wrongAnswer(wrong.prompt))).kind, "invalid");
				const { attemptId, prompt } = await challenge(username);
				const answer = await harness.answer(t, prompt);
				await harness.breakBackend!(t);
				const result = await t.app.login.submitSecondFactor(attemptId, harness.method, answer);
				assert.equal(result.kind, "denied");
				assert.ok(result.kind === "denied" && result.reason === "unavailable");
				const events = await t.app.stores.audit.query({ username, event: "login.error" });
				assert.ok(events.length >= 1);
				// The outage is refunded, never used to reset the counter: earlier failures still count.
				const before = (await t.app.stores.users.findByUsername(username))!.tfa_failures;
				assert.equal(before, 1, "the earlier wrong answer is still counted");
				const again = await t.app.login.submitSecondFactor(attemptId, harness.method, answer);
				assert.equal(again.kind, "denied");
				assert.equal((await t.app.stores.users.findByUsername(username))!.tfa_failures, before);
			});
		}
	});
}
