/**
 * Shared set-up for the WebAuthn method tests: a real app whose console is http://localhost
 * (browsers refuse IP addresses as RP ids), webauthn enabled, and a software authenticator.
 */
import assert from "node:assert/strict";
import type { MethodId } from "../../../src/core/method-id.ts";
import { isWebauthnMethod, type WebauthnMethod } from "../../../src/methods/webauthn/webauthn-method.ts";
import { ADMIN_ACTOR, createTestApp, type Engine, type TestApp } from "../../helpers/test-app.ts";
import { SoftAuthenticator } from "./soft-authenticator.ts";

export const ORIGIN = "http://localhost:8080";
export const RP_ID = "localhost";
export const PASSWORD = "webauthn test password";
export const ENROL_CONTEXT = { channel: "web", source: "192.0.2.10", duringLogin: false } as const;

export const WEBAUTHN_CONFIG = { http: { listen: "127.0.0.1:0", public_url: ORIGIN } };

export async function webauthnApp(methods: MethodId[] = ["webauthn", "totp", "recovery-code"], engine: Engine = "sqlite"): Promise<TestApp> {
	const t = await createTestApp({ engine, config: WEBAUTHN_CONFIG });
	await t.app.admin.updateSettings(ADMIN_ACTOR, { enabledMethods: methods });
	return t;
}

export function webauthnOf(t: TestApp): WebauthnMethod {
	const method = t.app.methods.get("webauthn");
	assert.ok(isWebauthnMethod(method), "the webauthn method is registered");
	return method;
}

/** Registers a new key on `soft` for the user through the real EnrollmentFlow; returns the factor id. */
export async function registerKey(t: TestApp, userId: string, soft: SoftAuthenticator, label = "blue key"): Promise<string> {
	const user = await t.app.stores.users.findById(userId);
	assert.ok(user);
	const options = await webauthnOf(t).registrationOptions({ id: user.id, username: user.username }, null);
	assert.equal(options.kind, "options", JSON.stringify(options));
	if (options.kind !== "options") throw new Error("unreachable");
	const response = soft.register(options.options);
	const begin = await t.app.enrollment.begin(
		userId,
		"webauthn",
		label,
		{ challengeId: options.challengeId, response: JSON.stringify(response) },
		ENROL_CONTEXT,
	);
	assert.equal(begin.kind, "active", JSON.stringify(begin));
	if (begin.kind !== "active") throw new Error("unreachable");
	return begin.factorId;
}

let counter = 0;

export async function newUser(t: TestApp, prefix = "user", groups: string[] = []): Promise<{ id: string; username: string }> {
	counter += 1;
	const user = await t.app.admin.createUser(ADMIN_ACTOR, { username: `${prefix}${counter}`, password: PASSWORD, isAdmin: false, groups });
	return { id: user.id, username: user.username };
}

export function newSoft(): SoftAuthenticator {
	return new SoftAuthenticator(ORIGIN, RP_ID);
}

/** The /approve/<token> token from an SSH prompt. */
export function approvalToken(prompt: string): string {
	const match = /\/approve\/([A-Za-z0-9_-]{43})\b/.exec(prompt);
	assert.ok(match, `no approval link in ${JSON.stringify(prompt)}`);
	return match[1] as string;
}
