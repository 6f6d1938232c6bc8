/**
 * The shared method conformance suite for WebAuthn, twice:
 *  - on the web, answered by a software authenticator (an assertion over the attempt's challenge);
 *  - on SSH, answered by Enter after the approval link was approved with the key (Decision 6).
 */
import assert from "node:assert/strict";
import { methodConformance } from "../conformance.ts";
import type { TestApp } from "../../helpers/test-app.ts";
import { approvalToken, newSoft, registerKey, WEBAUTHN_CONFIG, webauthnOf } from "./helpers.ts";
import type { SoftAuthenticator } from "./soft-authenticator.ts";

/** A well-formed assertion from a key nobody registered. */
const FOREIGN_ASSERTION = JSON.stringify({
	id: "AAECAwQFBgcICQoLDA0ODw",
	rawId: "AAECAwQFBgcICQoLDA0ODw",
	type: "public-key",
	response: {
		clientDataJSON: Buffer.from('{"type":"webauthn.get","challenge":"AAAA","origin":"http://localhost:8080"}').toString("base64url"),
		authenticatorData: "AAAA",
		signature: "AAAA",
	},
	clientExtensionResults: {},
});

function keys() {
	const softs = new Map<string, SoftAuthenticator>();
	let current = "";
	return {
		async enroll(t: TestApp, userId: string): Promise<void> {
			const soft = newSoft();
			softs.set(userId, soft);
			current = userId;
			await registerKey(t, userId, soft);
		},
		soft(): SoftAuthenticator {
			const soft = softs.get(current);
			assert.ok(soft);
			return soft;
		},
		get userId(): string {
			return current;
		},
	};
}

const web = keys();
methodConformance({
	method: "webauthn",
	channels: ["web"],
	config: WEBAUTHN_CONFIG,
	enroll: (t, userId) => web.enroll(t, userId),
	async answer(t) {
		// The user's one live attempt with an unused WebAuthn challenge: sign its options.
		const attempts = await t.app.db
			.selectFrom("login_attempts")
			.select("id")
			.where("user_id", "=", web.userId)
			.where("status", "=", "pending")
			.where("challenge_method", "=", "webauthn")
			.where("challenge_used", "=", 0)
			.execute();
		assert.equal(attempts.length, 1);
		const options = await webauthnOf(t).assertionOptionsForAttempt(attempts[0]!.id, web.userId);
		assert.ok(options);
		return JSON.stringify(web.soft().assert(options));
	},
	wrongAnswer: () => FOREIGN_ASSERTION,
	replay: "new-attempt",
});

const ssh = keys();
methodConformance({
	method: "webauthn",
	channels: ["ssh"],
	config: WEBAUTHN_CONFIG,
	enroll: (t, userId) => ssh.enroll(t, userId),
	async answer(t, prompt) {
		// The user opens the link, approves with the key, then presses Enter in the terminal.
		const token = approvalToken(prompt);
		const method = webauthnOf(t);
		const view = await method.viewApproval(token, ssh.userId);
		assert.equal(view.kind, "pending");
		if (view.kind !== "pending") throw new Error("unreachable");
		const approved = await method.approve(token, ssh.userId, view.challengeId, JSON.stringify(ssh.soft().assert(view.options)), "192.0.2.10");
		assert.equal(approved.kind, "approved", JSON.stringify(approved));
		return "";
	},
	// Typed text is never an approval (the prompt asks for Enter).
	wrongAnswer: () => "123456",
	replay: "challenge",
});
