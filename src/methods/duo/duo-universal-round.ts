/**
 * The Universal Prompt round of a Duo web login (Duo Web SDK v4, OIDC): health check, state and
 * Duo's URL, then the callback's {state, code} exchanged for the 2FA result. Split out of
 * createDuoMethod; the client side is duo-universal.ts.
 */
import type { ChallengeRequest, ChallengeStart, FactorRecord, VerifyRequest, VerifyResult } from "../method.ts";
import type { DuoSettings } from "../method-settings.ts";
import { closed, CODE, unavailable, type DuoMethodDeps, type DuoMethodEvent } from "./duo-common.ts";
import { decideUniversalResult } from "./duo-policy.ts";
import {
	DUO_UNIVERSAL_PROMPT,
	callbackUrl,
	classifyTokenError,
	isUniversalState,
	parseUniversalAnswer,
	sameState,
	universalClient,
	type UniversalState,
} from "./duo-universal.ts";

export function createUniversalRounds(deps: Pick<DuoMethodDeps, "consoleUrl">, emit: (event: DuoMethodEvent) => Promise<void>) {
	/** Where Duo sends the browser back (and the redirect_uri the token exchange must repeat). */
	function redirectUrl(): string {
		if (deps.consoleUrl === undefined) throw unavailable("the console's public URL is unknown, so Duo cannot redirect back");
		return callbackUrl(deps.consoleUrl);
	}

	/** The Universal Prompt round of a web login: health check, state, Duo's URL (duo-universal.ts). */
	async function startUniversal(settings: DuoSettings, factor: FactorRecord & { publicId: string }, request: ChallengeRequest): Promise<ChallengeStart> {
		const client = await universalClient(settings, redirectUrl());
		try {
			await client.healthCheck();
		} catch (error) {
			// Fail closed (Decision 10), with the user in the audit (the flow's own event has none here).
			await emit({
				event: "duo.unavailable",
				outcome: "failure",
				userId: request.user.id,
				username: request.user.username,
				source: request.sourceAddress,
				detail: { stage: "health-check", message: error instanceof Error ? error.message.slice(0, 200) : "failed" },
			});
			throw unavailable("the Universal Prompt health check failed", error);
		}
		const duoState = client.generateState();
		const url = await closed("createAuthUrl", () => client.createAuthUrl(factor.publicId, duoState));
		if (!url.startsWith("https://")) throw unavailable("createAuthUrl returned a non-https URL");
		const state: UniversalState = { kind: "duo-universal", duoState, url };
		return { prompt: DUO_UNIVERSAL_PROMPT, echo: false, state: { ...state } };
	}

	/** The callback's {state, code} against the round the flow consumed for this attempt. */
	async function verifyUniversal(settings: DuoSettings, factor: FactorRecord & { publicId: string }, request: VerifyRequest): Promise<VerifyResult> {
		const base = { userId: request.user.id, username: request.user.username, source: request.sourceAddress };
		// No waiting round (a typed answer, or "Continue to Duo" was never pressed): nothing to compare with.
		if (!isUniversalState(request.state)) return { kind: "invalid", reason: "malformed" };
		const answer = parseUniversalAnswer(request.response);
		if (answer === null) return { kind: "invalid", reason: "malformed" };
		if (!sameState(answer.state, request.state.duoState)) {
			await emit({ event: "duo.universal-refused", outcome: "failure", ...base, detail: { reason: "state-mismatch" } });
			return { kind: "invalid", reason: "malformed" };
		}
		// Duo sent the browser back without a code (an error redirect): the login did not succeed at Duo.
		if (answer.code === "") return { kind: "invalid", reason: "wrong" };
		if (!CODE.test(answer.code)) return { kind: "invalid", reason: "malformed" };
		const client = await universalClient(settings, redirectUrl());
		let token: Awaited<ReturnType<typeof client.exchangeAuthorizationCodeFor2FAResult>>;
		try {
			token = await client.exchangeAuthorizationCodeFor2FAResult(answer.code, factor.publicId);
		} catch (error) {
			const failure = classifyTokenError(error);
			if (failure.kind === "other-user") {
				await emit({ event: "duo.universal-refused", outcome: "failure", ...base, detail: { reason: "other-duo-user", duoUser: factor.publicId } });
				return { kind: "invalid", reason: "wrong" };
			}
			if (failure.kind === "code-refused") {
				await emit({ event: "duo.universal-refused", outcome: "failure", ...base, detail: { reason: "code-refused", message: failure.detail } });
				return { kind: "invalid", reason: "wrong" };
			}
			throw unavailable(`the token exchange failed (${failure.detail})`, error);
		}
		// The SDK compared preferred_username already; checked again so a changed SDK cannot widen it.
		if (token.preferred_username !== factor.publicId) {
			await emit({ event: "duo.universal-refused", outcome: "failure", ...base, detail: { reason: "other-duo-user", duoUser: factor.publicId } });
			return { kind: "invalid", reason: "wrong" };
		}
		const decision = decideUniversalResult(token.auth_result, { honourDuoBypass: settings.honourDuoBypass });
		if (decision.kind === "malformed") throw unavailable("the id_token carries no usable auth_result");
		if (decision.kind === "deny") return { kind: "invalid", reason: "wrong" };
		if (decision.bypass) await emit({ event: "duo.bypass-honoured", outcome: "info", ...base, detail: { duoUser: factor.publicId, prompt: "universal" } });
		return { kind: "valid", factorId: factor.id };
	}

	return { startUniversal, verifyUniversal };
}
