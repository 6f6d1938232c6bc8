/**
 * WebAuthn / FIDO2 security keys and passkeys as a second factor (docs/product-decisions.md, floor item 6;
 * docs/threat-model.md, WebAuthn), verified with @simplewebauthn/server (W3C WebAuthn L2 §7.1/§7.2).
 *
 * Credentials are factor rows: public_id = the credential id (base64url; one account only, unique
 * index in migration 0004), secret_enc = the credential's COSE public key, transports, user handle
 * and backup flags, sealed with the deployment key (so a database writer cannot swap in their own
 * public key), last_used_counter = the signature counter.
 *
 * Channels:
 *   web  startChallenge creates a challenge scoped 'login' or 'step-up' (from the attempt's purpose)
 *        and bound to the attempt; the page fetches its options (assertionOptionsForAttempt), the
 *        browser signs, verifyResponse consumes the challenge once and checks the assertion.
 *   ssh  docs/product-decisions.md Decision 6: startChallenge creates a one-time approval bound to this attempt
 *        (user, source address, expiry ≤ 5 min) and prints its link; the user approves on
 *        /approve/<token> with a WebAuthn assertion scoped 'ssh-approval' to that approval
 *        (approve()); verifyResponse (the user pressed Enter) consumes the approval atomically.
 *        Still pending → 'continue' (a few rounds); denied or expired → invalid. Never a fallback.
 *
 * Challenge scopes (Teleport RFD 155): every challenge names one purpose and one attempt or
 * approval, and is consumed by one conditional UPDATE; a login challenge cannot approve an SSH
 * login, register a key or step up, and the reverse.
 */
import type { PublicKeyCredentialRequestOptionsJSON } from "@simplewebauthn/server";
import type {
	ChallengeRequest,
	ChallengeStart,
	EnrollmentBegin,
	EnrollmentComplete,
	EnrollmentRequest,
	MethodUser,
	VerifyRequest,
	VerifyResult,
} from "../method.ts";
import { ENROLMENT_WITHDRAWN } from "../method.ts";
import type { RelyingParty } from "./relying-party.ts";
import { createAssertions } from "./webauthn-assertion.ts";
import {
	bytes,
	CEREMONY_TIMEOUT_MS,
	CHALLENGE_TTL_MS,
	crossOrigin,
	factorContext,
	isB64url,
	isObject,
	MAX_CREDENTIAL_ID_BYTES,
	parseRegistration,
	SUPPORTED_ALGORITHMS,
	unavailable,
	WEB_PROMPT,
	type RegistrationOptionsResult,
	type StoredCredential,
	type WebauthnContext,
	type WebauthnMethod,
	type WebauthnMethodDeps,
	webauthnLibrary,
} from "./webauthn-common.ts";
import { createSshApproval } from "./webauthn-ssh-approval.ts";
import type { ChallengeScope } from "../../storage/webauthn-store.ts";

export {
	APPROVAL_TTL_MS,
	CEREMONY_TIMEOUT_MS,
	CHALLENGE_TTL_MS,
	isWebauthnMethod,
	MAX_PENDING_ROUNDS,
	MAX_RESPONSE_LENGTH,
	SUPPORTED_ALGORITHMS,
	WEB_PROMPT,
	type ApprovalDetails,
	type ApprovalOutcome,
	type ApprovalView,
	type RegistrationOptionsResult,
	type WebauthnMethod,
	type WebauthnMethodDeps,
} from "./webauthn-common.ts";

export function createWebauthnMethod(deps: WebauthnMethodDeps): WebauthnMethod {
	const store = deps.store;
	const now = () => deps.clock.now().getTime();

	function relyingParty(): RelyingParty {
		if ("problem" in deps.rp) throw unavailable(deps.rp.problem);
		return deps.rp;
	}

	const ctx: WebauthnContext = {
		deps,
		store,
		now,
		relyingParty,
		async audit(event, outcome, user, detail, channel, source) {
			await deps.audit.record({ event, outcome, userId: user.id, username: user.username, channel, source, method: "webauthn", detail });
		},
	};
	const { audit } = ctx;
	const { allowCredentials, requestOptions, checkAssertion } = createAssertions(ctx);
	const approval = createSshApproval(ctx, { checkAssertion, requestOptions });
	const { startSsh, verifySsh } = approval;

	function scopeOf(purpose: string): ChallengeScope {
		return purpose === "step-up" ? "step-up" : "login";
	}

	async function startWeb(request: ChallengeRequest): Promise<ChallengeStart> {
		relyingParty();
		const attempt = await store.attemptInfo(request.attemptId);
		if (attempt === null || attempt.userId !== request.user.id) throw unavailable("the login attempt is unknown");
		const ttl = Math.min(CHALLENGE_TTL_MS, attempt.expiresAt - now());
		if (ttl <= 0) throw unavailable("the login attempt has expired");
		const scope = scopeOf(attempt.purpose);
		const challenge = await store.createChallenge({ userId: request.user.id, scope, attemptId: request.attemptId }, ttl);
		return { prompt: WEB_PROMPT, echo: false, state: { challengeId: challenge.id } };
	}

	async function verifyWeb(request: VerifyRequest): Promise<VerifyResult> {
		const challengeId = typeof request.state?.challengeId === "string" ? request.state.challengeId : null;
		if (challengeId === null) return { kind: "invalid", reason: "expired" };
		const attempt = await store.attemptInfo(request.attemptId);
		if (attempt === null) return { kind: "invalid", reason: "expired" };
		const scope = scopeOf(attempt.purpose);
		// Single use: any answer, right or wrong, spends the challenge.
		const expected = await store.consumeChallenge(challengeId, { userId: request.user.id, scope, attemptId: request.attemptId });
		if (expected === null) return { kind: "invalid", reason: "expired" };
		const checked = await checkAssertion(request.user, request.factors, request.response, expected, {
			channel: request.channel,
			source: request.sourceAddress,
			scope,
		});
		return checked.kind === "valid" ? { kind: "valid", factorId: checked.factorId } : checked;
	}

	return {
		id: "webauthn",
		interaction: "browser",

		async startChallenge(request: ChallengeRequest): Promise<ChallengeStart> {
			return request.channel === "ssh" ? startSsh(request) : startWeb(request);
		},

		async verifyResponse(request: VerifyRequest): Promise<VerifyResult> {
			return request.channel === "ssh" ? verifySsh(request) : verifyWeb(request);
		},

		async beginEnrollment(request: EnrollmentRequest): Promise<EnrollmentBegin> {
			let rp: RelyingParty;
			try {
				rp = relyingParty();
			} catch (error) {
				return {
					kind: "rejected",
					message: `Security keys cannot be used with this console's address. ${error instanceof Error ? error.message : ""} Ask an administrator.`,
				};
			}
			const challengeId = request.input.challengeId ?? "";
			const expected = await store.consumeChallenge(challengeId, { userId: request.user.id, scope: "register" });
			if (expected === null) return { kind: "rejected", message: "This registration has expired. Register the key again." };
			const response = parseRegistration(request.input.response ?? "");
			if (response === null || crossOrigin(response.response.clientDataJSON))
				return { kind: "rejected", message: "The browser did not send a usable answer from the security key. Try again." };
			let verified;
			try {
				verified = await (await webauthnLibrary()).verifyRegistrationResponse({
					response,
					expectedChallenge: expected,
					expectedOrigin: rp.origin,
					expectedRPID: rp.id,
					expectedType: "webauthn.create",
					requireUserPresence: true,
					requireUserVerification: false,
					supportedAlgorithmIDs: SUPPORTED_ALGORITHMS,
				});
			} catch (error) {
				await audit(
					"webauthn.registration-refused",
					"failure",
					request.user,
					{ reason: error instanceof Error ? error.message.slice(0, 200) : "unverifiable" },
					"web",
					null,
				);
				return { kind: "rejected", message: "The security key's answer could not be verified. Try again." };
			}
			if (!verified.verified) return { kind: "rejected", message: "The security key's answer could not be verified. Try again." };
			const info = verified.registrationInfo;
			const credentialId = info.credential.id;
			if (!isB64url(credentialId, 1400) || Buffer.from(credentialId, "base64url").length > MAX_CREDENTIAL_ID_BYTES) {
				return { kind: "rejected", message: "This security key's credential id is too long." };
			}
			const existing = await deps.factors.findByPublicId("webauthn", credentialId);
			if (existing.some((factor) => factor.userId === request.user.id))
				return { kind: "rejected", message: "This security key is already registered for your account." };
			if (existing.length > 0) return { kind: "rejected", message: "This security key is already registered to another account." };
			const factorId = deps.factors.newFactorId();
			const record: StoredCredential = {
				v: 1,
				publicKey: Buffer.from(info.credential.publicKey).toString("base64url"),
				transports: (response.response.transports ?? []).filter((transport) => /^[a-z-]{1,20}$/.test(transport)).slice(0, 8),
				userHandle: Buffer.from(request.user.id, "utf8").toString("base64url"),
				deviceType: info.credentialDeviceType,
				backedUp: info.credentialBackedUp,
				aaguid: info.aaguid,
			};
			try {
				const inserted = await deps.factors.insert(
					{
						id: factorId,
						userId: request.user.id,
						method: "webauthn",
						label: request.label,
						status: "active",
						secretEnc: deps.box.seal(JSON.stringify(record), factorContext(factorId)),
						publicId: credentialId,
						lastUsedCounter: info.credential.counter,
					},
					request.guard,
				);
				if (inserted === null) return { kind: "rejected", message: ENROLMENT_WITHDRAWN };
			} catch {
				// The unique index (0004-webauthn): a parallel registration of the same key won.
				return { kind: "rejected", message: "This security key is already registered." };
			}
			return { kind: "active", factorId, display: { credentialId, deviceType: info.credentialDeviceType, backedUp: String(info.credentialBackedUp) } };
		},

		async completeEnrollment(): Promise<EnrollmentComplete> {
			// Registration finishes in beginEnrollment (one ceremony); there is never a pending factor.
			return { kind: "expired" };
		},

		async registrationOptions(user: MethodUser, attemptId: string | null): Promise<RegistrationOptionsResult> {
			let rp: RelyingParty;
			try {
				rp = relyingParty();
			} catch (error) {
				return {
					kind: "rejected",
					message: `Security keys cannot be used with this console's address. ${error instanceof Error ? error.message : ""} Ask an administrator.`,
				};
			}
			const existing = await deps.factors.listActive(user.id, "webauthn");
			const challenge = await store.createChallenge({ userId: user.id, scope: "register", attemptId }, CHALLENGE_TTL_MS);
			const options = await (await webauthnLibrary()).generateRegistrationOptions({
				rpName: rp.name,
				rpID: rp.id,
				userName: user.username,
				userDisplayName: user.username,
				// The user handle: our random user id, no personal data (W3C WebAuthn L2 §14.6.1).
				userID: new Uint8Array(Buffer.from(user.id, "utf8")),
				challenge: bytes(challenge.challenge),
				timeout: CEREMONY_TIMEOUT_MS,
				attestationType: "none",
				// The user's other keys: the browser refuses to register one of them twice.
				excludeCredentials: allowCredentials(existing),
				authenticatorSelection: { residentKey: "discouraged", userVerification: "discouraged" },
				supportedAlgorithmIDs: SUPPORTED_ALGORITHMS,
			});
			return { kind: "options", challengeId: challenge.id, options };
		},

		async assertionOptionsForAttempt(attemptId: string, userId: string): Promise<PublicKeyCredentialRequestOptionsJSON | null> {
			const attempt = await store.attemptInfo(attemptId);
			if (
				attempt === null ||
				!attempt.live ||
				attempt.userId !== userId ||
				attempt.challengeMethod !== "webauthn" ||
				attempt.challengeUsed ||
				attempt.challengeJson === null
			)
				return null;
			let state: unknown;
			try {
				state = JSON.parse(attempt.challengeJson);
			} catch {
				return null;
			}
			const challengeId = isObject(state) && typeof state.challengeId === "string" ? state.challengeId : null;
			if (challengeId === null) return null;
			const found = await store.peekChallenge(challengeId, { userId, scope: scopeOf(attempt.purpose), attemptId });
			if (found === null) return null;
			return requestOptions(found.challenge, await deps.factors.listActive(userId, "webauthn"));
		},

		viewApproval: approval.viewApproval,
		approve: approval.approve,
		deny: approval.deny,
	};
}
