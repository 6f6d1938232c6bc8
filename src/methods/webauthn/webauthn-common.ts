/**
 * Constants, public types and wire helpers shared by the WebAuthn method's parts
 * (webauthn-method.ts, webauthn-assertion.ts, webauthn-ssh-approval.ts); split out of
 * createWebauthnMethod.
 */
import type { UserStore } from "../../storage/user-store.ts";
import type {
	AuthenticationResponseJSON,
	PublicKeyCredentialCreationOptionsJSON,
	PublicKeyCredentialRequestOptionsJSON,
	RegistrationResponseJSON,
} from "@simplewebauthn/server";
import type { Clock } from "../../core/clock.ts";
import { PortcullisError } from "../../core/errors.ts";
import type { Random } from "../../core/random.ts";
import type { SecretBox } from "../../crypto/secret-box.ts";
import type { AuditLog } from "../../storage/audit-log.ts";
import type { FactorStore } from "../../storage/factor-store.ts";
import type { MethodUser, SecondFactorMethod } from "../method.ts";
import type { RelyingParty } from "./relying-party.ts";

/**
 * @simplewebauthn/server (with its X.509 and ASN.1 parsers, the largest dependency tree of any
 * method), loaded on the first ceremony rather than when the method registry is built: every
 * process builds the registry, CLI commands included, and most never run a WebAuthn ceremony
 * (docs/benchmarks.md, "CLI cold start").
 */
export const webauthnLibrary = () => import("@simplewebauthn/server");
import type { ApprovalRow, ApprovalStatus, WebauthnStore } from "../../storage/webauthn-store.ts";

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
export const MAX_CREDENTIAL_ID_BYTES = 1023;

export const WEB_PROMPT = "Security key: use your key in the browser";
export const APPROVAL_PROMPT = "Approve this login in your browser:";

export interface WebauthnMethodDeps {
	/** Only for the approver's username on the approval page and its audit events. */
	readonly users: Pick<UserStore, "findById">;
	/** Challenges and approvals (built by the composition root). */
	readonly store: WebauthnStore;
	readonly factors: FactorStore;
	readonly box: SecretBox;
	readonly clock: Clock;
	readonly random: Random;
	readonly audit: AuditLog;
	/** The relying party from configuration, or why WebAuthn cannot be used in this deployment. */
	readonly rp: RelyingParty | { readonly problem: string; readonly consoleUrl: string };
}

/** What is sealed in factors.secret_enc (context "webauthn:<factor id>"). */
export interface StoredCredential {
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

export function unavailable(message: string): PortcullisError {
	return new PortcullisError("ERR_METHOD_UNAVAILABLE", `WebAuthn: ${message}`);
}

export const factorContext = (factorId: string): string => `webauthn:${factorId}`;
export const linkContext = (approvalId: string): string => `webauthn-approval:${approvalId}`;
const B64URL = /^[A-Za-z0-9_-]*$/;

export function isObject(value: unknown): value is Record<string, unknown> {
	return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function isB64url(value: unknown, max = MAX_RESPONSE_LENGTH): value is string {
	return typeof value === "string" && value.length <= max && B64URL.test(value);
}

/**
 * Shape check before anything is decoded: a malformed answer is a value, never an exception.
 * Both ceremonies share the envelope (type, id == rawId, base64url fields, bounded lengths).
 */
export function parseCredentialEnvelope(text: string): { value: Record<string, unknown>; response: Record<string, unknown> } | null {
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

export function parseAssertion(text: string): AuthenticationResponseJSON | null {
	const envelope = parseCredentialEnvelope(text);
	if (envelope === null) return null;
	const { value, response } = envelope;
	if (!isB64url(response.authenticatorData) || !isB64url(response.signature)) return null;
	if (response.userHandle !== undefined && response.userHandle !== null && !isB64url(response.userHandle, 200)) return null;
	return value as unknown as AuthenticationResponseJSON;
}

export function parseRegistration(text: string): RegistrationResponseJSON | null {
	const envelope = parseCredentialEnvelope(text);
	if (envelope === null) return null;
	const { value, response } = envelope;
	if (!isB64url(response.attestationObject)) return null;
	if (
		response.transports !== undefined &&
		!(Array.isArray(response.transports) && response.transports.every((transport) => typeof transport === "string" && transport.length < 32))
	)
		return null;
	return value as unknown as RegistrationResponseJSON;
}

/**
 * W3C WebAuthn L2 §5.8.1 crossOrigin: the console is never framed (CSP frame-ancestors 'none'),
 * so a ceremony run inside another site's iframe is refused outright (the library would accept
 * crossOrigin=true when no topOrigin is sent). Undecodable client data counts as cross-origin.
 */
export function crossOrigin(clientDataJSON: string): boolean {
	try {
		const data: unknown = JSON.parse(Buffer.from(clientDataJSON, "base64url").toString("utf8"));
		return !isObject(data) || (data.crossOrigin !== undefined && data.crossOrigin !== false);
	} catch {
		return true;
	}
}

export function bytes(base64url: string): Uint8Array<ArrayBuffer> {
	return new Uint8Array(Buffer.from(base64url, "base64url"));
}

export function details(row: ApprovalRow, now: number): ApprovalDetails {
	const status: ApprovalStatus = row.status === "pending" && row.expiresAt <= now ? "expired" : row.status;
	return { source: row.source, createdAt: row.createdAt, expiresAt: row.expiresAt, status };
}

export function approvalPrompt(link: string): string {
	// ASCII only: OpenSSH escapes non-ASCII prompt bytes in a non-UTF-8 locale.
	return `${APPROVAL_PROMPT} ${link} - then press Enter`;
}

/** What the method's parts share: its dependencies, store, clock and relying party. */
export interface WebauthnContext {
	readonly deps: WebauthnMethodDeps;
	readonly store: WebauthnStore;
	now(): number;
	relyingParty(): RelyingParty;
	audit(
		event: string,
		outcome: "success" | "failure" | "info",
		user: MethodUser | { id: string; username: string | null },
		detail: Record<string, unknown>,
		channel: string | null,
		source: string | null,
	): Promise<void>;
}
