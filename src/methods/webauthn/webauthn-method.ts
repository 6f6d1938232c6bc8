/**
 * WebAuthn / FIDO2 security keys and passkeys as a second factor (product.md "Methods", issue 4
 * item 2; security.md §2.6), verified with @simplewebauthn/server (W3C WebAuthn L2 §7.1/§7.2).
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
 *   ssh  product.md Decision 6: startChallenge creates a one-time approval bound to this attempt
 *        (user, source address, expiry ≤ 5 min) and prints its link; the user approves on
 *        /approve/<token> with a WebAuthn assertion scoped 'ssh-approval' to that approval
 *        (approve()); verifyResponse (the user pressed Enter) consumes the approval atomically.
 *        Still pending → 'continue' (a few rounds); denied or expired → invalid. Never a fallback.
 *
 * Challenge scopes (Teleport RFD 155): every challenge names one purpose and one attempt or
 * approval, and is consumed by one conditional UPDATE; a login challenge cannot approve an SSH
 * login, register a key or step up, and the reverse.
 */
import {
	generateAuthenticationOptions,
	generateRegistrationOptions,
	verifyAuthenticationResponse,
	verifyRegistrationResponse,
	type AuthenticationResponseJSON,
	type PublicKeyCredentialCreationOptionsJSON,
	type PublicKeyCredentialRequestOptionsJSON,
	type RegistrationResponseJSON,
} from "@simplewebauthn/server";
import type { Kysely } from "kysely";
import type { Clock } from "../../core/clock.ts";
import { PortcullisError } from "../../core/errors.ts";
import type { Random } from "../../core/random.ts";
import type { SecretBox } from "../../crypto/secret-box.ts";
import type { AuditLog } from "../../storage/audit-log.ts";
import type { FactorStore } from "../../storage/factor-store.ts";
import type { Database } from "../../storage/schema.ts";
import type {
	ChallengeRequest,
	ChallengeStart,
	EnrollmentBegin,
	EnrollmentComplete,
	EnrollmentRequest,
	FactorRecord,
	MethodUser,
	SecondFactorMethod,
	VerifyRequest,
	VerifyResult,
} from "../method.ts";
import { ENROLMENT_WITHDRAWN } from "../method.ts";
import type { RelyingParty } from "./relying-party.ts";
import { WebauthnStore, type ApprovalRow, type ApprovalStatus, type ChallengeScope } from "./webauthn-store.ts";

/** COSE algorithms offered and accepted: EdDSA, ES256, RS256 (the library's classic default set). */
export const SUPPORTED_ALGORITHMS = [-8, -7, -257];
/** How long the browser may wait for the key (PublicKeyCredential*Options.timeout). */
export const CEREMONY_TIMEOUT_MS = 120_000;
/** Lifetime of a registration challenge, and the cap for login challenges and SSH approvals. */
export const CHALLENGE_TTL_MS = 5 * 60_000;
/** Decision 6: an SSH approval link lives at most this long (and never beyond its login attempt). */
export const APPROVAL_TTL_MS = 5 * 60_000;
/** Enter pressed while the approval is still pending: asked again this many times, then refused. */
export const MAX_PENDING_ROUNDS = 3;
/** Longest response JSON accepted (a registration with "none" attestation is about 1 KiB). */
export const MAX_RESPONSE_LENGTH = 8192;
/** W3C WebAuthn L2 §7.1 step 22 (w3c/webauthn index.bs): credential ids longer than 1023 bytes are refused. */
const MAX_CREDENTIAL_ID_BYTES = 1023;

export const WEB_PROMPT = "Security key: use your key in the browser";
const APPROVAL_PROMPT = "Approve this login in your browser:";

export interface WebauthnMethodDeps {
	readonly db: Kysely<Database>;
	readonly factors: FactorStore;
	readonly box: SecretBox;
	readonly clock: Clock;
	readonly random: Random;
	readonly audit: AuditLog;
	/** The relying party from configuration, or why WebAuthn cannot be used in this deployment. */
	readonly rp: RelyingParty | { readonly problem: string; readonly consoleUrl: string };
}

/** What is sealed in factors.secret_enc (context "webauthn:<factor id>"). */
interface StoredCredential {
	readonly v: 1;
	/** COSE_Key, base64url. */
	readonly publicKey: string;
	readonly transports: readonly string[];
	/** base64url of the user.id bytes given at registration (checked against userHandle). */
	readonly userHandle: string;
	/** W3C WebAuthn L2 §6.1 flags BE/BS: a synced passkey (multi-device) or a single-device key. */
	readonly deviceType: string;
	readonly backedUp: boolean;
	readonly aaguid: string;
}

export type RegistrationOptionsResult =
	| { readonly kind: "options"; readonly challengeId: string; readonly options: PublicKeyCredentialCreationOptionsJSON }
	| { readonly kind: "rejected"; readonly message: string };

export interface ApprovalDetails {
	readonly source: string;
	readonly createdAt: number;
	readonly expiresAt: number;
	readonly status: ApprovalStatus;
}

export type ApprovalView =
	| { readonly kind: "not-found" }
	| { readonly kind: "other-user" }
	| { readonly kind: "pending"; readonly details: ApprovalDetails; readonly challengeId: string; readonly options: PublicKeyCredentialRequestOptionsJSON }
	| { readonly kind: "closed"; readonly details: ApprovalDetails };

export type ApprovalOutcome =
	| { readonly kind: "not-found" }
	| { readonly kind: "other-user" }
	| { readonly kind: "approved"; readonly details: ApprovalDetails }
	| { readonly kind: "denied"; readonly details: ApprovalDetails }
	| { readonly kind: "closed"; readonly details: ApprovalDetails }
	| { readonly kind: "invalid"; readonly message: string };

export interface WebauthnMethod extends SecondFactorMethod {
	readonly id: "webauthn";
	readonly interaction: "browser";
	/** Options for navigator.credentials.create(), with a fresh 'register' challenge for this user. */
	registrationOptions(user: MethodUser, attemptId: string | null): Promise<RegistrationOptionsResult>;
	/** Options for the web login / step-up challenge that startChallenge stored for this attempt. */
	assertionOptionsForAttempt(attemptId: string, userId: string): Promise<PublicKeyCredentialRequestOptionsJSON | null>;
	/** The approval page: details, and (while pending) options with a fresh 'ssh-approval' challenge. */
	viewApproval(token: string, userId: string): Promise<ApprovalView>;
	/** The user approved on the page with their key: verify, then pending → approved. */
	approve(token: string, userId: string, challengeId: string, response: string, from: string): Promise<ApprovalOutcome>;
	/** "This was not me": pending → denied; the SSH login then fails. */
	deny(token: string, userId: string, from: string): Promise<ApprovalOutcome>;
}

export function isWebauthnMethod(method: SecondFactorMethod | undefined): method is WebauthnMethod {
	return method !== undefined && method.id === "webauthn" && "registrationOptions" in method;
}

function unavailable(message: string): PortcullisError {
	return new PortcullisError("ERR_METHOD_UNAVAILABLE", `WebAuthn: ${message}`);
}

const factorContext = (factorId: string): string => `webauthn:${factorId}`;
const linkContext = (approvalId: string): string => `webauthn-approval:${approvalId}`;
const B64URL = /^[A-Za-z0-9_-]*$/;

function isObject(value: unknown): value is Record<string, unknown> {
	return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isB64url(value: unknown, max = MAX_RESPONSE_LENGTH): value is string {
	return typeof value === "string" && value.length <= max && B64URL.test(value);
}

/**
 * Shape check before anything is decoded: a malformed answer is a value, never an exception.
 * Both ceremonies share the envelope (type, id == rawId, base64url fields, bounded lengths).
 */
function parseCredentialEnvelope(text: string): { value: Record<string, unknown>; response: Record<string, unknown> } | null {
	if (typeof text !== "string" || text.length === 0 || text.length > MAX_RESPONSE_LENGTH) return null;
	let value: unknown;
	try {
		value = JSON.parse(text);
	} catch {
		return null;
	}
	if (!isObject(value) || value.type !== "public-key" || !isB64url(value.id, 1400) || value.id.length === 0 || value.rawId !== value.id) return null;
	const response = value.response;
	if (!isObject(response) || !isB64url(response.clientDataJSON)) return null;
	return { value, response };
}

function parseAssertion(text: string): AuthenticationResponseJSON | null {
	const envelope = parseCredentialEnvelope(text);
	if (envelope === null) return null;
	const { value, response } = envelope;
	if (!isB64url(response.authenticatorData) || !isB64url(response.signature)) return null;
	if (response.userHandle !== undefined && response.userHandle !== null && !isB64url(response.userHandle, 200)) return null;
	return value as unknown as AuthenticationResponseJSON;
}

function parseRegistration(text: string): RegistrationResponseJSON | null {
	const envelope = parseCredentialEnvelope(text);
	if (envelope === null) return null;
	const { value, response } = envelope;
	if (!isB64url(response.attestationObject)) return null;
	if (response.transports !== undefined && !(Array.isArray(response.transports) && response.transports.every((transport) => typeof transport === "string" && transport.length < 32))) return null;
	return value as unknown as RegistrationResponseJSON;
}

/**
 * W3C WebAuthn L2 §5.8.1 crossOrigin: the console is never framed (CSP frame-ancestors 'none'),
 * so a ceremony run inside another site's iframe is refused outright (the library would accept
 * crossOrigin=true when no topOrigin is sent). Undecodable client data counts as cross-origin.
 */
function crossOrigin(clientDataJSON: string): boolean {
	try {
		const data: unknown = JSON.parse(Buffer.from(clientDataJSON, "base64url").toString("utf8"));
		return !isObject(data) || (data.crossOrigin !== undefined && data.crossOrigin !== false);
	} catch {
		return true;
	}
}

function bytes(base64url: string): Uint8Array<ArrayBuffer> {
	return new Uint8Array(Buffer.from(base64url, "base64url"));
}

function details(row: ApprovalRow, now: number): ApprovalDetails {
	const status: ApprovalStatus = row.status === "pending" && row.expiresAt <= now ? "expired" : row.status;
	return { source: row.source, createdAt: row.createdAt, expiresAt: row.expiresAt, status };
}

export function createWebauthnMethod(deps: WebauthnMethodDeps): WebauthnMethod {
	const store = new WebauthnStore(deps.db, deps.clock, deps.random);
	const now = () => deps.clock.now().getTime();

	function relyingParty(): RelyingParty {
		if ("problem" in deps.rp) throw unavailable(deps.rp.problem);
		return deps.rp;
	}

	function openCredential(factor: FactorRecord): StoredCredential | null {
		if (factor.secretEnc === null) return null;
		const stored = JSON.parse(deps.box.open(factor.secretEnc, factorContext(factor.id)).toString("utf8")) as StoredCredential;
		return stored.v === 1 && typeof stored.publicKey === "string" ? stored : null;
	}

	function allowCredentials(factors: readonly FactorRecord[]): { id: string; transports?: string[] }[] {
		const list: { id: string; transports?: string[] }[] = [];
		for (const factor of factors) {
			if (factor.method !== "webauthn" || factor.publicId === null) continue;
			const stored = openCredential(factor);
			list.push(stored !== null && stored.transports.length > 0 ? { id: factor.publicId, transports: [...stored.transports] } : { id: factor.publicId });
		}
		return list;
	}

	async function requestOptions(challenge: string, factors: readonly FactorRecord[]): Promise<PublicKeyCredentialRequestOptionsJSON> {
		const rp = relyingParty();
		return generateAuthenticationOptions({
			rpID: rp.id,
			allowCredentials: allowCredentials(factors),
			challenge: bytes(challenge),
			timeout: CEREMONY_TIMEOUT_MS,
			// A second factor after the password: possession (UP) is what counts; no PIN prompt (UV).
			userVerification: "discouraged",
		});
	}

	type AssertionCheck = { kind: "valid"; factorId: string } | { kind: "invalid"; reason: "wrong" | "replayed" | "malformed" };

	async function audit(event: string, outcome: "success" | "failure" | "info", user: MethodUser | { id: string; username: string | null }, detail: Record<string, unknown>, channel: string | null, source: string | null): Promise<void> {
		await deps.audit.record({ event, outcome, userId: user.id, username: user.username, channel, source, method: "webauthn", detail });
	}

	/**
	 * W3C WebAuthn L2 §7.2 for one assertion against one expected challenge: the credential must be
	 * one of THIS user's keys (allowCredentials), userHandle (when sent) must be this user's,
	 * type/challenge/origin/rpIdHash/UP/signature are checked by verifyAuthenticationResponse, and
	 * the signature counter must rise (or stay 0 for keys without a counter), stored with
	 * compare-and-set. A regression is refused and audited (possible cloned key).
	 */
	async function checkAssertion(
		user: MethodUser,
		factors: readonly FactorRecord[],
		text: string,
		expectedChallenge: string,
		where: { channel: string; source: string; scope: ChallengeScope },
	): Promise<AssertionCheck> {
		const rp = relyingParty();
		const response = parseAssertion(text);
		if (response === null) return { kind: "invalid", reason: "malformed" };
		if (crossOrigin(response.response.clientDataJSON)) {
			await audit("webauthn.assertion-refused", "failure", user, { scope: where.scope, reason: "made in a cross-origin frame" }, where.channel, where.source);
			return { kind: "invalid", reason: "wrong" };
		}
		const factor = factors.find((candidate) => candidate.method === "webauthn" && candidate.status === "active" && candidate.userId === user.id && candidate.publicId === response.id);
		if (factor === undefined) return { kind: "invalid", reason: "wrong" };
		const stored = openCredential(factor);
		if (stored === null) return { kind: "invalid", reason: "wrong" };
		const userHandle = response.response.userHandle;
		if (typeof userHandle === "string" && userHandle !== "" && userHandle !== stored.userHandle) {
			await audit("webauthn.assertion-refused", "failure", user, { factorId: factor.id, scope: where.scope, reason: "user handle of another account" }, where.channel, where.source);
			return { kind: "invalid", reason: "wrong" };
		}
		let result;
		try {
			result = await verifyAuthenticationResponse({
				response,
				expectedChallenge,
				expectedOrigin: rp.origin,
				expectedRPID: rp.id,
				expectedType: "webauthn.get",
				// Counter 0 here: the library would judge the counter before the signature; we judge it
				// below, only for a verified signature, so a forgery cannot raise a false clone alarm.
				credential: { id: factor.publicId ?? "", publicKey: bytes(stored.publicKey), counter: 0, transports: [...stored.transports] },
				requireUserVerification: false,
			});
		} catch (error) {
			await audit("webauthn.assertion-refused", "failure", user, { factorId: factor.id, scope: where.scope, reason: error instanceof Error ? error.message.slice(0, 200) : "unverifiable" }, where.channel, where.source);
			return { kind: "invalid", reason: "wrong" };
		}
		if (!result.verified) {
			await audit("webauthn.assertion-refused", "failure", user, { factorId: factor.id, scope: where.scope, reason: "bad signature" }, where.channel, where.source);
			return { kind: "invalid", reason: "wrong" };
		}
		const next = result.authenticationInfo.newCounter;
		if (await store.advanceSignCount(factor.id, next)) return { kind: "valid", factorId: factor.id };
		// Refused by the conditional UPDATE: a count at or below the stored one (possible clone, or a
		// parallel login with the same count won), or the key was removed meanwhile.
		const current = await store.currentCounter(factor.id);
		if (current === undefined) return { kind: "invalid", reason: "wrong" };
		await audit("webauthn.sign-count-regression", "failure", user, { factorId: factor.id, label: factor.label, storedCounter: current ?? 0, receivedCounter: next, scope: where.scope }, where.channel, where.source);
		return { kind: "invalid", reason: "replayed" };
	}

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

	async function startSsh(request: ChallengeRequest): Promise<ChallengeStart> {
		const rp = relyingParty();
		const attempt = await store.attemptInfo(request.attemptId);
		if (attempt === null || attempt.userId !== request.user.id) throw unavailable("the login attempt is unknown");
		const expiresAt = Math.min(now() + APPROVAL_TTL_MS, attempt.expiresAt);
		if (expiresAt <= now()) throw unavailable("the login attempt has expired");
		const approval = await store.createApproval({ userId: request.user.id, attemptId: request.attemptId, source: request.sourceAddress, expiresAt });
		const link = `${rp.consoleUrl}/approve/${approval.token}`;
		// Only the token's hash is in webauthn_approvals; the link itself rides in the attempt's
		// challenge state (to repeat the prompt), sealed like every other secret at rest.
		return {
			prompt: approvalPrompt(link),
			echo: true,
			state: { approvalId: approval.id, rounds: 0, link: deps.box.seal(link, linkContext(approval.id)) },
		};
	}

	async function verifySsh(request: VerifyRequest): Promise<VerifyResult> {
		const state = request.state;
		const approvalId = typeof state?.approvalId === "string" ? state.approvalId : null;
		const sealedLink = typeof state?.link === "string" ? state.link : null;
		const rounds = typeof state?.rounds === "number" && Number.isInteger(state.rounds) ? state.rounds : MAX_PENDING_ROUNDS;
		if (approvalId === null || sealedLink === null) return { kind: "invalid", reason: "expired" };
		// The prompt asks for Enter only; typed text (a TOTP code out of habit) is not an approval.
		if (request.response.trim() !== "") return { kind: "invalid", reason: "malformed" };
		const factorId = await store.consumeApproval(approvalId, request.attemptId, request.user.id);
		if (factorId !== null) {
			// The approving key must still be one of the user's active keys.
			if (!request.factors.some((factor) => factor.id === factorId)) return { kind: "invalid", reason: "wrong" };
			return { kind: "valid", factorId };
		}
		const row = await store.getApproval(approvalId);
		if (row === null || row.attemptId !== request.attemptId || row.userId !== request.user.id) return { kind: "invalid", reason: "expired" };
		if (row.status === "denied") return { kind: "invalid", reason: "wrong" };
		if (row.status === "pending" && row.expiresAt > now()) {
			if (rounds + 1 > MAX_PENDING_ROUNDS) {
				await store.markExpired(row.id);
				return { kind: "invalid", reason: "expired" };
			}
			const link = deps.box.open(sealedLink, linkContext(row.id)).toString("utf8");
			return { kind: "continue", prompt: `Not approved yet. ${approvalPrompt(link)}`, echo: true, state: { approvalId: row.id, rounds: rounds + 1, link: sealedLink } };
		}
		await store.markExpired(row.id);
		return { kind: "invalid", reason: "expired" };
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
		const checked = await checkAssertion(request.user, request.factors, request.response, expected, { channel: request.channel, source: request.sourceAddress, scope });
		return checked.kind === "valid" ? { kind: "valid", factorId: checked.factorId } : checked;
	}

	/** The approval behind a token, if it belongs to this user (never reveals another user's). */
	async function approvalFor(token: string, userId: string): Promise<ApprovalRow | { kind: "not-found" } | { kind: "other-user" }> {
		const row = await store.findApprovalByToken(token);
		if (row === null) return { kind: "not-found" };
		if (row.userId !== userId) return { kind: "other-user" };
		return row;
	}

	async function stillPending(row: ApprovalRow): Promise<boolean> {
		if (row.status !== "pending" || row.expiresAt <= now()) return false;
		const attempt = await store.attemptInfo(row.attemptId);
		if (attempt === null || !attempt.live) {
			await store.markExpired(row.id);
			return false;
		}
		return true;
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
				return { kind: "rejected", message: `Security keys cannot be used with this console's address. ${error instanceof Error ? error.message : ""} Ask an administrator.` };
			}
			const challengeId = request.input.challengeId ?? "";
			const expected = await store.consumeChallenge(challengeId, { userId: request.user.id, scope: "register" });
			if (expected === null) return { kind: "rejected", message: "This registration has expired. Register the key again." };
			const response = parseRegistration(request.input.response ?? "");
			if (response === null || crossOrigin(response.response.clientDataJSON)) return { kind: "rejected", message: "The browser did not send a usable answer from the security key. Try again." };
			let verified;
			try {
				verified = await verifyRegistrationResponse({
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
				await audit("webauthn.registration-refused", "failure", request.user, { reason: error instanceof Error ? error.message.slice(0, 200) : "unverifiable" }, "web", null);
				return { kind: "rejected", message: "The security key's answer could not be verified. Try again." };
			}
			if (!verified.verified) return { kind: "rejected", message: "The security key's answer could not be verified. Try again." };
			const info = verified.registrationInfo;
			const credentialId = info.credential.id;
			if (!isB64url(credentialId, 1400) || Buffer.from(credentialId, "base64url").length > MAX_CREDENTIAL_ID_BYTES) {
				return { kind: "rejected", message: "This security key's credential id is too long." };
			}
			const existing = await deps.factors.findByPublicId("webauthn", credentialId);
			if (existing.some((factor) => factor.userId === request.user.id)) return { kind: "rejected", message: "This security key is already registered for your account." };
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
				return { kind: "rejected", message: `Security keys cannot be used with this console's address. ${error instanceof Error ? error.message : ""} Ask an administrator.` };
			}
			const existing = await deps.factors.listActive(user.id, "webauthn");
			const challenge = await store.createChallenge({ userId: user.id, scope: "register", attemptId }, CHALLENGE_TTL_MS);
			const options = await generateRegistrationOptions({
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
			if (attempt === null || !attempt.live || attempt.userId !== userId || attempt.challengeMethod !== "webauthn" || attempt.challengeUsed || attempt.challengeJson === null) return null;
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

		async viewApproval(token: string, userId: string): Promise<ApprovalView> {
			const row = await approvalFor(token, userId);
			if ("kind" in row) return row;
			if (!(await stillPending(row))) {
				return { kind: "closed", details: details((await store.getApproval(row.id)) ?? row, now()) };
			}
			const factors = await deps.factors.listActive(userId, "webauthn");
			const challenge = await store.createChallenge({ userId, scope: "ssh-approval", attemptId: row.attemptId, approvalId: row.id }, row.expiresAt - now());
			return { kind: "pending", details: details(row, now()), challengeId: challenge.id, options: await requestOptions(challenge.challenge, factors) };
		},

		async approve(token: string, userId: string, challengeId: string, response: string, from: string): Promise<ApprovalOutcome> {
			const row = await approvalFor(token, userId);
			if ("kind" in row) return row;
			const user = { id: userId, username: null as string | null };
			if (!(await stillPending(row))) return { kind: "closed", details: details((await store.getApproval(row.id)) ?? row, now()) };
			const expected = await store.consumeChallenge(challengeId, { userId, scope: "ssh-approval", attemptId: row.attemptId, approvalId: row.id });
			if (expected === null) return { kind: "invalid", message: "This page has expired. Reload it and approve again." };
			const factors = await deps.factors.listActive(userId, "webauthn");
			const username = (await deps.db.selectFrom("users").select("username").where("id", "=", userId).executeTakeFirst())?.username ?? null;
			user.username = username;
			const checked = await checkAssertion({ id: userId, username: username ?? "" }, factors, response, expected, { channel: "web", source: from, scope: "ssh-approval" });
			if (checked.kind === "invalid") {
				await audit("webauthn.ssh-approval", "failure", user, { approvalId: row.id, sshSource: row.source, reason: checked.reason }, "web", from);
				return { kind: "invalid", message: checked.reason === "replayed" ? "This security key was refused (its signature counter went backwards). Ask an administrator." : "The security key's answer was not accepted. Try again." };
			}
			if (!(await store.markApproved(row.id, userId, checked.factorId, from))) {
				return { kind: "closed", details: details((await store.getApproval(row.id)) ?? row, now()) };
			}
			await audit("webauthn.ssh-approval", "success", user, { approvalId: row.id, sshSource: row.source, factorId: checked.factorId }, "web", from);
			return { kind: "approved", details: details({ ...row, status: "approved" }, now()) };
		},

		async deny(token: string, userId: string, from: string): Promise<ApprovalOutcome> {
			const row = await approvalFor(token, userId);
			if ("kind" in row) return row;
			if (!(await store.markDenied(row.id, userId, from))) return { kind: "closed", details: details((await store.getApproval(row.id)) ?? row, now()) };
			const username = (await deps.db.selectFrom("users").select("username").where("id", "=", userId).executeTakeFirst())?.username ?? null;
			await audit("webauthn.ssh-denied", "info", { id: userId, username }, { approvalId: row.id, sshSource: row.source }, "web", from);
			return { kind: "denied", details: details({ ...row, status: "denied" }, now()) };
		},
	};
}

function approvalPrompt(link: string): string {
	// ASCII only: OpenSSH escapes non-ASCII prompt bytes in a non-UTF-8 locale.
	return `${APPROVAL_PROMPT} ${link} - then press Enter`;
}
