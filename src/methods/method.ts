/**
 * The contract every second-factor method implements. Methods never see HTTP or SSH objects;
 * LoginFlow and EnrollmentFlow call them, and adapters only render what the flows return.
 *
 * Expected outcomes are values (VerifyResult); a method throws PortcullisError
 * ("ERR_METHOD_UNAVAILABLE") only when it cannot decide (backend down, timeout), and the flow
 * then fails closed without charging the user's failure counter.
 */
import type { Channel, MethodId } from "../core/method-id.ts";
import type { EnrolmentGuard, FactorRecord } from "../storage/factor-store.ts";

/** A stored factor; defined by the store that reads it (storage sits below methods). */
export type { FactorRecord };

export interface MethodUser {
	readonly id: string;
	readonly username: string;
}

/** JSON-serialisable per-attempt challenge state, stored in the login_attempts row. */
export type ChallengeState = Record<string, unknown> | null;

export interface ChallengeRequest {
	readonly user: MethodUser;
	readonly channel: Channel;
	/** The user's active factors of this method. */
	readonly factors: readonly FactorRecord[];
	readonly attemptId: string;
	readonly sourceAddress: string;
}

export interface ChallengeStart {
	/** Text to show: "TOTP code", "Access keyword: characters 2, 5 and 9". */
	readonly prompt: string;
	/** Whether the answer may be echoed while typed (SSH keyboard-interactive echo flag). */
	readonly echo: boolean;
	readonly state: ChallengeState;
}

export interface VerifyRequest extends ChallengeRequest {
	readonly response: string;
	readonly state: ChallengeState;
}

export type VerifyResult =
	| { readonly kind: "valid"; readonly factorId: string | null }
	| { readonly kind: "invalid"; readonly reason: "wrong" | "replayed" | "malformed" | "expired" }
	/**
	 * Not finished: ask again with this prompt (RADIUS Access-Challenge, a Duo device choice, a
	 * browser approval still pending). The new state replaces the old one; no failure is charged.
	 */
	| { readonly kind: "continue"; readonly prompt: string; readonly echo: boolean; readonly state: ChallengeState };

export interface EnrollmentRequest {
	readonly user: MethodUser;
	readonly label: string;
	/** Method-specific form fields (already size-limited strings). */
	readonly input: Readonly<Record<string, string>>;
	/** Made by EnrollmentFlow; passed untouched to FactorStore.insert/activate, which enforce it. */
	readonly guard: EnrolmentGuard;
}

/** Shown when the enrolment guard refused an activation (FactorStore.insert returned null). */
export const ENROLMENT_WITHDRAWN =
	"This enrolment can no longer complete: it was begun in another login, your factors were reset, or the enrolment link was already used. Start again.";

/** What the enrolment page shows for a pending factor (e.g. TOTP: key, URI, QR code). */
export type EnrollmentDisplay = Readonly<Record<string, string>>;

export type EnrollmentBegin =
	| { readonly kind: "rejected"; readonly message: string }
	| { readonly kind: "pending"; readonly factorId: string; readonly display: EnrollmentDisplay }
	| { readonly kind: "active"; readonly factorId: string; readonly display: EnrollmentDisplay };

export type EnrollmentComplete =
	| { readonly kind: "active"; readonly factorId: string }
	| { readonly kind: "invalid"; readonly message: string }
	| { readonly kind: "expired" };

export interface SecondFactorMethod {
	readonly id: MethodId;
	/** How adapters prompt: a typed code, an out-of-band push, or a browser ceremony. */
	readonly interaction: "code" | "push" | "browser";
	startChallenge(request: ChallengeRequest): Promise<ChallengeStart>;
	/** Verifies and, when valid, consumes the one-time value atomically in the database. */
	verifyResponse(request: VerifyRequest): Promise<VerifyResult>;
	beginEnrollment(request: EnrollmentRequest): Promise<EnrollmentBegin>;
	completeEnrollment(request: EnrollmentRequest & { readonly factorId: string }): Promise<EnrollmentComplete>;
	/**
	 * What the setup page shows for a pending factor of this method, again (a reload, a wrong code),
	 * or null. Only for methods whose setup shows something (TOTP's key and QR code); EnrollmentFlow
	 * has checked the factor is the user's, pending, live and begun by the same login or session.
	 */
	showPending?(factor: { readonly id: string; readonly secretEnc: string | null }, user: MethodUser): Promise<EnrollmentDisplay | null>;
}

export type MethodRegistry = ReadonlyMap<MethodId, SecondFactorMethod>;
