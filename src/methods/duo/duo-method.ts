/**
 * Duo as a second factor through the Auth API v2 (docs/threat-model.md, Duo; docs/security-matrix.md E2),
 * answered by typing, like pam_duo: a passcode, or the number of a push / phone-call option.
 *
 * Enrolment: the user names their Duo username (default: their Portcullis username); preauth
 * must answer "auth" (the user has a device). "enroll" is refused with Duo's enrolment portal
 * link, "deny" is refused, and "allow" (Duo-side bypass) only with the admin's opt-in. A Duo
 * username already bound to another Portcullis account is refused (otherwise one user's logins
 * would send pushes to another user's phone).
 *
 * Login:
 *   startChallenge → preauth (with ipaddr) → decidePreauth:
 *     "auth"  → prompt "Duo: enter a passcode, or 1 for push to <device>, 2 for phone call to …",
 *               listing only what the devices can do (duoPrompt, deterministic);
 *     "allow" → only with honourDuoBypass: prompt "press Enter";
 *     "deny", "enroll", "allow" without opt-in → throw ERR_METHOD_REFUSED: the flow denies
 *               with an audit event; "enroll" never means "no factor needed" for a forced user.
 *   verifyResponse: preauth AGAIN (no per-attempt state, so a withdrawn opt-in, a Duo account
 *     that left bypass or was disabled meanwhile, or an outage applies at once; an answer after an
 *     outage is not "used up"); the same decision table applies, and a bypass ("allow" with the
 *     opt-in) is valid whatever was typed and is audited as "duo.bypass-honoured". Otherwise
 *     "1".."9" / "push" / "phone" → /auth async=1 then a bounded auth_status wait;
 *     anything else of 2..64 printable characters → /auth factor=passcode. Only result "allow"
 *     counts ("bypass" only with the opt-in, duo-policy.ts). A denied or unanswered push is a
 *     value charged to the user's 2FA failure counter: that is what bounds push fatigue (five
 *     pushes, then the account locks), instead of letting an attacker push without limit.
 *   Every transport error, timeout, non-JSON, unknown value or bad signature from Duo throws
 *   ERR_METHOD_UNAVAILABLE (fail closed; the flow refunds the charge and audits).
 *
 * Web logins with a "Web SDK" application configured (webClientId + webClientSecret) use Duo's
 * Universal Prompt instead (duo-universal.ts; docs/threat-model.md, Duo). SSH never does: it has no browser.
 *   startChallenge (channel "web"): healthCheck (unreachable or garbage → ERR_METHOD_UNAVAILABLE,
 *     audited as "duo.unavailable"), generateState, createAuthUrl(enrolled Duo username, state);
 *     the state {duoState, url} is stored on THIS attempt by the flow (login_attempts.challenge_json)
 *     and the web layer sends the browser to the url.
 *   verifyResponse (channel "web"): the flow has consumed that state once (conditional UPDATE); the
 *     answer is the callback's {state, code}. The state must equal the stored one (constant time);
 *     the code is exchanged for the id_token with the enrolled Duo username (the SDK checks the
 *     HS512 signature, iss, aud, exp and preferred_username); only auth_result "allow" counts
 *     (a Duo-side "bypass" only with honourDuoBypass). A code Duo refuses (used, expired) or a token
 *     for another Duo user is a wrong answer (charged); transport errors, 5xx, a bad id_token or a
 *     missing auth_result fail closed (ERR_METHOD_UNAVAILABLE). A typed answer (Auth API) is not
 *     accepted on the web while the Web SDK is configured.
 *   Without a Web SDK application the web keeps the Auth API prompt above.
 */
import { PortcullisError } from "../../core/errors.ts";
import type { ChallengeRequest, ChallengeStart, EnrollmentBegin, EnrollmentComplete, EnrollmentRequest, VerifyRequest, VerifyResult } from "../method.ts";
import { hasDuoWebSdk, type DuoSettings } from "../method-settings.ts";
import type { DuoAuthClient, DuoDecision } from "./duo-auth-client.ts";
import {
	closed,
	duoClient,
	duoFactor,
	duoPrompt,
	ipaddrOf,
	readAnswer,
	unavailable,
	DUO_POLL_INTERVAL_MS,
	DUO_PUSH_MAX_WAIT_MS,
	type DuoMethod,
	type DuoMethodDeps,
	type DuoMethodEvent,
} from "./duo-common.ts";
import { decidePreauth, isDuoAllow } from "./duo-policy.ts";
import { beginDuoEnrollment } from "./duo-enrollment.ts";
import { isUniversalState } from "./duo-universal.ts";
import { createUniversalRounds } from "./duo-universal-round.ts";

export {
	DUO_POLL_INTERVAL_MS,
	DUO_PUSH_MAX_WAIT_MS,
	duoClient,
	duoPrompt,
	isDuoMethod,
	type DuoMethod,
	type DuoMethodDeps,
	type DuoMethodEvent,
} from "./duo-common.ts";

export function createDuoMethod(deps: DuoMethodDeps): DuoMethod {
	const pushMaxWaitMs = deps.pushMaxWaitMs ?? DUO_PUSH_MAX_WAIT_MS;
	const pollIntervalMs = deps.pollIntervalMs ?? DUO_POLL_INTERVAL_MS;
	const client = (settings: DuoSettings): DuoAuthClient =>
		duoClient(settings, deps.clock, {
			...(deps.sleep !== undefined ? { sleep: deps.sleep } : {}),
			longPollTimeoutMs: Math.max(settings.timeoutMs, Math.min(pushMaxWaitMs, 75_000)),
		});
	const emit = async (event: DuoMethodEvent): Promise<void> => {
		try {
			await deps.onEvent?.(event);
		} catch {
			// An audit sink failure must not change the outcome.
		}
	};

	/** Preauth now, with the admin's CURRENT opt-in: challenge, bypass, or a thrown denial. */
	async function preauth(settings: DuoSettings, duoUser: string, source: string) {
		const answer = await closed("preauth", () => client(settings).preauth(duoUser, ipaddrOf(source).ipaddr));
		const decision = decidePreauth(answer, { honourDuoBypass: settings.honourDuoBypass });
		if (decision.kind === "deny") {
			// Duo decided "no" (or a bypass we do not honour): deny with an audit event, never "no factor needed".
			throw new PortcullisError("ERR_METHOD_REFUSED", `Duo: preauth refused the login (${decision.reason}: ${answer.statusMsg.slice(0, 120)})`);
		}
		return { answer, decision };
	}

	const { startUniversal, verifyUniversal } = createUniversalRounds(deps, emit);

	return {
		id: "duo",
		interaction: "code",

		async webPrompt(): Promise<"universal" | "auth-api"> {
			try {
				const settings = await deps.settings.load("duo");
				return settings !== null && hasDuoWebSdk(settings) ? "universal" : "auth-api";
			} catch {
				// Unreadable settings: the Auth API path reports it (ERR_METHOD_UNAVAILABLE) when the challenge starts.
				return "auth-api";
			}
		},

		async startChallenge(request: ChallengeRequest): Promise<ChallengeStart> {
			const settings = await deps.settings.require("duo");
			const factor = duoFactor(request.factors);
			if (request.channel === "web" && hasDuoWebSdk(settings)) return startUniversal(settings, factor, request);
			const { answer, decision } = await preauth(settings, factor.publicId, request.sourceAddress);
			if (decision.kind === "allow") return { prompt: "Duo: your Duo account is in bypass mode; press Enter to continue", echo: true, state: null };
			// Not echoed: the answer may be a Duo passcode (a secret while valid), not only "1" for push.
			return { prompt: duoPrompt(answer.result === "auth" ? answer.devices : []).prompt, echo: false, state: null };
		},

		async verifyResponse(request: VerifyRequest): Promise<VerifyResult> {
			const settings = await deps.settings.require("duo");
			const factor = duoFactor(request.factors);
			const base = { userId: request.user.id, username: request.user.username, source: request.sourceAddress };
			if (request.channel === "web" && hasDuoWebSdk(settings)) return verifyUniversal(settings, factor, request);
			// A Universal round whose Web SDK was removed meanwhile: not the user's fault, nothing to check.
			if (isUniversalState(request.state)) throw unavailable("the Web SDK application was removed while the login was at Duo; start again");
			// No per-attempt state: Duo is asked again now, with today's settings. A withdrawn bypass
			// opt-in, or a Duo account that left bypass mode or was disabled since the prompt was
			// shown, applies at once; the option numbers come from the same deterministic menu.
			const { answer: preauthAnswer, decision: preauthDecision } = await preauth(settings, factor.publicId, request.sourceAddress);
			if (preauthDecision.kind === "allow") {
				await emit({ event: "duo.bypass-honoured", outcome: "info", ...base, detail: { duoUser: factor.publicId } });
				return { kind: "valid", factorId: factor.id };
			}
			if (request.response.length > 256) return { kind: "invalid", reason: "malformed" };
			const { options } = duoPrompt(preauthAnswer.result === "auth" ? preauthAnswer.devices : []);
			const answer = readAnswer(request.response, options);
			if (answer.kind === "malformed") return { kind: "invalid", reason: "malformed" };
			const duo = client(settings);
			const ip = ipaddrOf(request.sourceAddress);
			let decision: DuoDecision;
			if (answer.kind === "passcode") {
				const result = await closed("auth", () => duo.auth({ username: factor.publicId, factor: "passcode", passcode: answer.passcode, ...ip }));
				if (result.kind !== "decided") throw unavailable("auth answered a passcode with a transaction");
				decision = result;
			} else {
				const started = await closed("auth", () =>
					duo.auth({ username: factor.publicId, factor: answer.option.f, device: answer.option.d, async: true, ...ip }),
				);
				decision =
					started.kind === "pending" ? await closed("auth_status", () => duo.waitForAuth(started.txid, { maxWaitMs: pushMaxWaitMs, pollIntervalMs })) : started;
			}
			if (isDuoAllow(decision, { honourDuoBypass: settings.honourDuoBypass })) {
				if (decision.status === "bypass") await emit({ event: "duo.bypass-honoured", outcome: "info", ...base, detail: { duoUser: factor.publicId } });
				return { kind: "valid", factorId: factor.id };
			}
			return { kind: "invalid", reason: decision.status === "timeout" ? "expired" : "wrong" };
		},

		beginEnrollment(request: EnrollmentRequest): Promise<EnrollmentBegin> {
			return beginDuoEnrollment(deps, request);
		},

		async completeEnrollment(): Promise<EnrollmentComplete> {
			// Enrolment finishes in beginEnrollment (preauth decides); there is never a pending factor.
			return { kind: "expired" };
		},
	};
}
