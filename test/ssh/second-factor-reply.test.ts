/**
 * The one SSH mapping of the login flow's second-factor answers (issue 12 item 3).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { replyToChallenge, replyToSecondFactor } from "../../src/ssh/second-factor-reply.ts";

test("a challenge prompt is shown", () => {
	assert.deepEqual(replyToChallenge({ kind: "prompt", method: "totp", prompt: "Code", echo: false }, ["totp"], "totp"), {
		kind: "prompt",
		prompt: "Code",
		echo: false,
	});
});

test("an expired attempt starts over at the first factor", () => {
	assert.deepEqual(replyToChallenge({ kind: "denied", reason: "expired", message: "x" }, ["totp"], "totp"), { kind: "restart" });
});

test("an unavailable method falls back to the next method of the decision (policy: fallbackMethods)", () => {
	const reply = replyToChallenge({ kind: "denied", reason: "unavailable", message: "Duo is down." }, ["duo", "totp", "recovery-code"], "duo");
	assert.equal(reply.kind, "fallback");
	assert.ok(reply.kind === "fallback");
	assert.deepEqual(reply.methods, ["totp", "recovery-code"]);
	assert.equal(reply.next, "totp");
	assert.match(reply.notice, /cannot be used right now\. Duo is down\./);
});

test("an unavailable only method, or a refusal, is told and refused", () => {
	assert.deepEqual(replyToChallenge({ kind: "denied", reason: "unavailable", message: "down" }, ["radius"], "radius"), {
		kind: "refuse",
		message: "down",
		reason: "second-factor-refused",
		restart: false,
	});
	assert.deepEqual(replyToChallenge({ kind: "denied", reason: "locked", message: "locked" }, ["totp", "duo"], "totp"), {
		kind: "refuse",
		message: "locked",
		reason: "second-factor-refused",
		restart: false,
	});
});

test("second-factor results: grant, another round, wrong answer with the smaller of the two limits, cap reached, denial", () => {
	assert.deepEqual(replyToSecondFactor({ kind: "authenticated", attemptId: "a", userId: "u", username: "alice", method: "totp" }, 3), {
		kind: "grant",
		method: "totp",
	});
	assert.deepEqual(replyToSecondFactor({ kind: "continue", method: "radius", prompt: "PIN", echo: true }, 3), { kind: "prompt", prompt: "PIN", echo: true });
	assert.deepEqual(replyToSecondFactor({ kind: "invalid", attemptsLeft: 5, message: "Wrong code." }, 2), {
		kind: "retry",
		notice: "Wrong code. 2 attempts left.",
	});
	assert.deepEqual(replyToSecondFactor({ kind: "invalid", attemptsLeft: 1, message: "Wrong code." }, 2), {
		kind: "retry",
		notice: "Wrong code. 1 attempt left.",
	});
	assert.deepEqual(replyToSecondFactor({ kind: "invalid", attemptsLeft: 4, message: "Wrong code." }, 0), {
		kind: "refuse",
		message: "Wrong code. Too many wrong answers.",
		reason: "second-factor-answers",
		restart: false,
	});
	assert.deepEqual(replyToSecondFactor({ kind: "denied", reason: "expired", message: "Expired." }, 3), {
		kind: "refuse",
		message: "Expired.",
		reason: "second-factor-refused",
		restart: true,
	});
});

test("busy (answers in flight fill the account's budget): the same prompt again with the flow's text, nothing refused", () => {
	assert.deepEqual(replyToSecondFactor({ kind: "denied", reason: "busy", message: "Try again in a moment." }, 3), {
		kind: "retry",
		notice: "Try again in a moment.",
	});
});
