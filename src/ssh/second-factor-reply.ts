/**
 * The one place the SSH adapter maps the login flow's second-factor answers onto what the
 * keyboard-interactive exchange does next. Pure: no I/O, no decisions about
 * the policy (LoginFlow and decideSecondFactor made those), only the SSH wording and flow.
 */
import { fallbackMethods } from "../core/decide-second-factor.ts";
import { METHOD_INFO, type MethodId } from "../core/method-id.ts";
import type { ChallengeResult, SecondFactorResult } from "../flows/login-flow.ts";

export type SshSecondFactorReply =
	/** Full authentication: the caller accepts (authenticate.ts#grant). */
	| { readonly kind: "grant"; readonly method: MethodId | null }
	/** Show this prompt (a challenge, or another round of the same method: not charged). */
	| { readonly kind: "prompt"; readonly prompt: string; readonly echo: boolean }
	/** Ask again with this notice (a wrong answer, already charged by the flow). */
	| { readonly kind: "retry"; readonly notice: string }
	/** The method cannot be used right now: go on with the remaining methods. */
	| { readonly kind: "fallback"; readonly methods: MethodId[]; readonly next: MethodId; readonly notice: string }
	/** The attempt is gone (expired, or finished by an aborted exchange): start over silently. */
	| { readonly kind: "restart" }
	/** Tell the user and refuse; `restart`: the attempt is gone, a new first factor starts over. */
	| { readonly kind: "refuse"; readonly message: string; readonly reason: string; readonly restart: boolean };

/** The answer to LoginFlow.startChallenge for `method`, among the `methods` still offered. */
export function replyToChallenge(
	challenge: ChallengeResult,
	methods: readonly MethodId[],
	method: MethodId,
): Extract<SshSecondFactorReply, { kind: "prompt" | "fallback" | "restart" | "refuse" }> {
	if (challenge.kind === "prompt") return { kind: "prompt", prompt: challenge.prompt, echo: challenge.echo };
	if (challenge.reason === "expired") return { kind: "restart" };
	const fallback = challenge.reason === "unavailable" || challenge.reason === "misconfigured" ? fallbackMethods(methods, method) : null;
	if (fallback !== null) return { kind: "fallback", ...fallback, notice: `${METHOD_INFO[method].label} cannot be used right now. ${challenge.message}` };
	return { kind: "refuse", message: challenge.message, reason: "second-factor-refused", restart: false };
}

/**
 * The answer to LoginFlow.submitSecondFactor. `connectionAnswersLeft`: wrong answers this
 * connection may still give after this one (the per-connection cap, limits.ts).
 */
export function replyToSecondFactor(
	result: SecondFactorResult,
	connectionAnswersLeft: number,
): Extract<SshSecondFactorReply, { kind: "grant" | "prompt" | "retry" | "refuse" }> {
	switch (result.kind) {
		case "authenticated":
			return { kind: "grant", method: result.method };
		case "continue":
			return { kind: "prompt", prompt: result.prompt, echo: result.echo };
		case "invalid": {
			if (connectionAnswersLeft <= 0)
				return { kind: "refuse", message: `${result.message} Too many wrong answers.`, reason: "second-factor-answers", restart: false };
			const left = Math.min(result.attemptsLeft, connectionAnswersLeft);
			return { kind: "retry", notice: `${result.message} ${left} ${left === 1 ? "attempt" : "attempts"} left.` };
		}
		case "denied":
			// Busy: nothing was checked or counted; the same prompt again with the flow's "try again" text.
			if (result.reason === "busy") return { kind: "retry", notice: result.message };
			return { kind: "refuse", message: result.message, reason: "second-factor-refused", restart: result.reason === "expired" };
	}
}
