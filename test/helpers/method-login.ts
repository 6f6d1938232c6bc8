/** Small drivers for method tests: a user with a password, and one second-factor round through LoginFlow. */
import assert from "node:assert/strict";
import type { MethodId } from "../../src/core/method-id.ts";
import type { SecondFactorResult } from "../../src/flows/login-flow.ts";
import { ADMIN_ACTOR, SSH, type TestApp } from "./test-app.ts";

export const PASSWORD = "method test password";
export const ENROL = { channel: "web", source: "test", duringLogin: false } as const;

export async function makeUser(t: TestApp, username: string, groups: string[] = []): Promise<string> {
	const user = await t.app.admin.createUser(ADMIN_ACTOR, { username, password: PASSWORD, isAdmin: false, groups });
	return user.id;
}

/** Password, then startChallenge for `method`; returns the attempt and the prompt (or the denial). */
export async function challenge(t: TestApp, username: string, method: MethodId, client: { channel: "web" | "ssh"; sourceAddress: string } = SSH) {
	const step = await t.app.login.submitPassword(client, username, PASSWORD);
	assert.equal(step.kind, "second-factor", JSON.stringify(step));
	if (step.kind !== "second-factor") throw new Error("unreachable");
	const prompt = await t.app.login.startChallenge(step.attemptId, method);
	return { attemptId: step.attemptId, prompt };
}

/** One full login answering the prompt with `answer`. */
export async function loginWith(
	t: TestApp,
	username: string,
	method: MethodId,
	answer: string,
	client?: { channel: "web" | "ssh"; sourceAddress: string },
): Promise<SecondFactorResult> {
	const { attemptId, prompt } = await challenge(t, username, method, client);
	assert.equal(prompt.kind, "prompt", JSON.stringify(prompt));
	return t.app.login.submitSecondFactor(attemptId, method, answer);
}

/** The `detail` of the newest audit event of that name for the user. */
export async function lastAudit(t: TestApp, username: string, event: string): Promise<Record<string, unknown> | null> {
	const [row] = await t.app.stores.audit.query({ username, event, limit: 1 });
	return row === undefined ? null : (JSON.parse(row.detail ?? "{}") as Record<string, unknown>);
}
