/**
 * What a Duo preauth answer means for a Portcullis login (security.md §2.5, §5.5 E2):
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
