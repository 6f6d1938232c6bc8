/**
 * What a Duo preauth answer means for a Portcullis login (docs/threat-model.md, Duo; docs/security-matrix.md E2):
 *   - "auth"   -> challenge the user with one of the listed devices;
 *   - "allow"  -> Duo-side bypass: honoured ONLY if an admin opted in (default: deny);
 *   - "enroll" -> deny: for a user who must use 2FA it never means "no factor needed";
 *   - "deny"   -> deny.
 * A /auth or /auth_status answer is accepted only when result is exactly "allow"; an "allow"
 * whose status is "bypass" (the user is in Duo bypass mode) needs the same admin opt-in, so
 * calling /auth without preauth cannot smuggle a bypass in.
 */
import type { DuoDecision, DuoPreauthResult } from "./duo-auth-client.ts";

export interface DuoPolicyOptions {
	/** Admin opt-in to honour Duo "bypass" (preauth result "allow"). Default false. */
	readonly honourDuoBypass: boolean;
}

export type DuoPreauthDecision =
	| { readonly kind: "challenge" }
	| { readonly kind: "allow"; readonly reason: "duo-bypass" }
	| { readonly kind: "deny"; readonly reason: "duo-deny" | "not-enrolled" | "bypass-not-allowed" };

export function decidePreauth(preauth: DuoPreauthResult, options: DuoPolicyOptions): DuoPreauthDecision {
	switch (preauth.result) {
		case "auth":
			return { kind: "challenge" };
		case "allow":
			return options.honourDuoBypass ? { kind: "allow", reason: "duo-bypass" } : { kind: "deny", reason: "bypass-not-allowed" };
		case "enroll":
			return { kind: "deny", reason: "not-enrolled" };
		case "deny":
			return { kind: "deny", reason: "duo-deny" };
		default:
			// Unreachable with the client's validation; kept so a new value can never mean "allow".
			return { kind: "deny", reason: "duo-deny" };
	}
}

/** Only an explicit "allow" from /auth or /auth_status lets the user in ("bypass" only with the opt-in). */
export function isDuoAllow(decision: Pick<DuoDecision, "result" | "status">, options: DuoPolicyOptions): boolean {
	if (decision.result !== "allow") return false;
	return decision.status !== "bypass" || options.honourDuoBypass;
}

/**
 * The Universal Prompt's answer (id_token auth_result, docs/threat-model.md, Duo): only result
 * "allow" with status "allow" lets the user in; status "bypass" (Duo let the user through without
 * a device) only with the admin's opt-in, as on SSH. Any other status, even with result "allow",
 * is a denial: a value Duo may add later must never mean "allow". A missing or ill-typed
 * auth_result is "malformed" (the caller fails closed: Duo's answer is unusable, not the user's guess).
 */
export type UniversalDecision =
	| { readonly kind: "allow"; readonly bypass: boolean }
	| { readonly kind: "deny"; readonly status: string }
	| { readonly kind: "malformed" };

export function decideUniversalResult(authResult: unknown, options: DuoPolicyOptions): UniversalDecision {
	if (typeof authResult !== "object" || authResult === null) return { kind: "malformed" };
	const { result, status } = authResult as Record<string, unknown>;
	if (typeof result !== "string" || typeof status !== "string") return { kind: "malformed" };
	if (result !== "allow") return { kind: "deny", status: status.slice(0, 40) };
	if (status === "allow") return { kind: "allow", bypass: false };
	if (status === "bypass") return options.honourDuoBypass ? { kind: "allow", bypass: true } : { kind: "deny", status: "bypass-not-allowed" };
	return { kind: "deny", status: status.slice(0, 40) };
}
