/**
 * Duo as a second factor through the Auth API v2 (security.md §2.5, §5.5 E2; issue 4 item 3),
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
 * Universal Prompt instead (duo-universal.ts; security.md §2.5). SSH never does: it has no browser.
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
import { isIP } from "node:net";
import type { Clock } from "../../core/clock.ts";
import { PortcullisError, isPortcullisError } from "../../core/errors.ts";
import type { FactorStore } from "../../storage/factor-store.ts";
import type {
	ChallengeRequest,
	ChallengeStart,
	EnrollmentBegin,
	EnrollmentComplete,
	EnrollmentRequest,
	FactorRecord,
	SecondFactorMethod,
	VerifyRequest,
	VerifyResult,
} from "../method.ts";
import { ENROLMENT_WITHDRAWN } from "../method.ts";
import { hasDuoWebSdk, splitDuoHost, type DuoSettings, type MethodSettingsStore } from "../method-settings.ts";
import { DuoAuthClient, sanitizeDuoText, type DuoDecision, type DuoDevice } from "./duo-auth-client.ts";
import { decideUniversalResult, decidePreauth, isDuoAllow } from "./duo-policy.ts";
import { DUO_UNIVERSAL_PROMPT, callbackUrl, classifyTokenError, isUniversalState, parseUniversalAnswer, sameState, universalClient, type UniversalState } from "./duo-universal.ts";
import { hasUnsafe } from "../../core/untrusted-text.ts";

/** Duo itself times a push out after about 60 s. */
export const DUO_PUSH_MAX_WAIT_MS = 60_000;
export const DUO_POLL_INTERVAL_MS = 1_000;
const MAX_OPTIONS = 9;
const MAX_PROMPT = 190;
const DEVICE_ID = /^[A-Za-z0-9_-]{1,64}$/;
const PASSCODE = /^[\x21-\x7e]{2,64}$/;

export interface DuoMethodEvent {
	readonly event: string;
	readonly outcome: "success" | "failure" | "info";
	readonly userId: string;
	readonly username: string;
	readonly source: string | null;
	readonly detail: Record<string, unknown>;
}

export interface DuoMethodDeps {
	readonly settings: MethodSettingsStore;
	readonly factors: FactorStore;
	readonly clock: Clock;
	/** Between auth_status polls; injected by tests so a fake clock moves. */
	readonly sleep?: (ms: number) => Promise<void>;
	readonly pushMaxWaitMs?: number;
	readonly pollIntervalMs?: number;
	/** Audit sink (bypass logins, refused callbacks, outages); awaited, so the event is written before the outcome returns. */
	readonly onEvent?: (event: DuoMethodEvent) => void | Promise<void>;
	/** The console's public URL: Duo's Universal Prompt redirects the browser back under it. */
	readonly consoleUrl?: string;
}

/** The Duo method, plus what the web layer needs to choose between the two web prompts. */
export interface DuoMethod extends SecondFactorMethod {
	readonly id: "duo";
	/** Which prompt the web shows now: Duo's Universal Prompt (Web SDK configured) or the typed Auth API prompt. */
	webPrompt(): Promise<"universal" | "auth-api">;
}

export function isDuoMethod(method: SecondFactorMethod | undefined): method is DuoMethod {
	return method !== undefined && method.id === "duo" && "webPrompt" in method;
}

const CODE = /^[\x21-\x7e]{1,1024}$/;

interface DuoOption {
	readonly f: "push" | "phone";
	readonly d: string;
}

function unavailable(message: string, cause?: unknown): PortcullisError {
	return new PortcullisError("ERR_METHOD_UNAVAILABLE", `Duo: ${message}`, cause === undefined ? undefined : { cause });
}

/** Any failure inside a Duo exchange fails closed as ERR_METHOD_UNAVAILABLE (Decision 10). */
async function closed<T>(what: string, run: () => Promise<T>): Promise<T> {
	try {
		return await run();
	} catch (error) {
		if (isPortcullisError(error, "ERR_METHOD_UNAVAILABLE") || isPortcullisError(error, "ERR_METHOD_REFUSED")) throw error;
		throw unavailable(`${what} failed`, error);
	}
}

export function duoClient(settings: DuoSettings, clock: Clock, extra: { sleep?: (ms: number) => Promise<void>; longPollTimeoutMs?: number } = {}): DuoAuthClient {
	const { host, port } = splitDuoHost(settings.apiHost);
	try {
		return new DuoAuthClient({
			integrationKey: settings.integrationKey,
			secretKey: settings.secretKey,
			apiHost: host,
			port,
			timeoutMs: settings.timeoutMs,
			clock,
			...(settings.caPem !== undefined ? { ca: settings.caPem } : {}),
			...(extra.sleep !== undefined ? { sleep: extra.sleep } : {}),
			...(extra.longPollTimeoutMs !== undefined ? { longPollTimeoutMs: extra.longPollTimeoutMs } : {}),
		});
	} catch (error) {
		throw unavailable("the settings are unusable", error);
	}
}

function shortName(device: DuoDevice): string {
	const name = sanitizeDuoText(device.displayName).trim() || "your device";
	return name.length > 40 ? `${name.slice(0, 39)}…` : name;
}

/** pam_duo's menu, in one line: only the capabilities the devices have, numbered 1..9, in Duo's device order. */
export function duoPrompt(devices: readonly DuoDevice[]): { prompt: string; options: DuoOption[] } {
	const options: DuoOption[] = [];
	let prompt = "Duo: enter a passcode";
	const parts: string[] = [];
	for (const device of devices) {
		for (const [factor, words] of [
			["push", "push to"],
			["phone", "phone call to"],
		] as const) {
			if (!device.capabilities.includes(factor) || !DEVICE_ID.test(device.device) || options.length >= MAX_OPTIONS) continue;
			const part = `${options.length + 1} for ${words} ${shortName(device)}`;
			if (`${prompt}, or ${[...parts, part].join(", ")}`.length > MAX_PROMPT) continue;
			parts.push(part);
			options.push({ f: factor, d: device.device });
		}
	}
	if (parts.length > 0) prompt += `, or ${parts.join(", ")}`;
	return { prompt, options };
}

type Answer = { kind: "option"; option: DuoOption } | { kind: "passcode"; passcode: string } | { kind: "malformed" };

function readAnswer(response: string, options: readonly DuoOption[]): Answer {
	const answer = response.trim();
	if (/^[1-9]$/.test(answer)) {
		const option = options[Number(answer) - 1];
		return option === undefined ? { kind: "malformed" } : { kind: "option", option };
	}
	const word = answer.toLowerCase();
	if (word === "push" || word === "phone") {
		const option = options.find((candidate) => candidate.f === word);
		return option === undefined ? { kind: "malformed" } : { kind: "option", option };
	}
	return PASSCODE.test(answer) ? { kind: "passcode", passcode: answer } : { kind: "malformed" };
}

function duoFactor(factors: readonly FactorRecord[]): FactorRecord & { publicId: string } {
	const factor = factors.find((candidate) => candidate.publicId !== null);
	if (factor === undefined) throw unavailable("no Duo username is enrolled for this user");
	return factor as FactorRecord & { publicId: string };
}

function ipaddrOf(source: string): { ipaddr?: string } {
	return isIP(source) !== 0 ? { ipaddr: source } : {};
}

export function createDuoMethod(deps: DuoMethodDeps): DuoMethod {
	const pushMaxWaitMs = deps.pushMaxWaitMs ?? DUO_PUSH_MAX_WAIT_MS;
	const pollIntervalMs = deps.pollIntervalMs ?? DUO_POLL_INTERVAL_MS;
	const client = (settings: DuoSettings): DuoAuthClient =>
		duoClient(settings, deps.clock, { ...(deps.sleep !== undefined ? { sleep: deps.sleep } : {}), longPollTimeoutMs: Math.max(settings.timeoutMs, Math.min(pushMaxWaitMs, 75_000)) });
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

	/** Where Duo sends the browser back (and the redirect_uri the token exchange must repeat). */
	function redirectUrl(): string {
		if (deps.consoleUrl === undefined) throw unavailable("the console's public URL is unknown, so Duo cannot redirect back");
		return callbackUrl(deps.consoleUrl);
	}

	/** The Universal Prompt round of a web login: health check, state, Duo's URL (duo-universal.ts). */
	async function startUniversal(settings: DuoSettings, factor: FactorRecord & { publicId: string }, request: ChallengeRequest): Promise<ChallengeStart> {
		const client = universalClient(settings, redirectUrl());
		try {
			await client.healthCheck();
		} catch (error) {
			// Fail closed (Decision 10), with the user in the audit (the flow's own event has none here).
			await emit({ event: "duo.unavailable", outcome: "failure", userId: request.user.id, username: request.user.username, source: request.sourceAddress, detail: { stage: "health-check", message: error instanceof Error ? error.message.slice(0, 200) : "failed" } });
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
		const client = universalClient(settings, redirectUrl());
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
				const started = await closed("auth", () => duo.auth({ username: factor.publicId, factor: answer.option.f, device: answer.option.d, async: true, ...ip }));
				decision = started.kind === "pending" ? await closed("auth_status", () => duo.waitForAuth(started.txid, { maxWaitMs: pushMaxWaitMs, pollIntervalMs })) : started;
			}
			if (isDuoAllow(decision, { honourDuoBypass: settings.honourDuoBypass })) {
				if (decision.status === "bypass") await emit({ event: "duo.bypass-honoured", outcome: "info", ...base, detail: { duoUser: factor.publicId } });
				return { kind: "valid", factorId: factor.id };
			}
			return { kind: "invalid", reason: decision.status === "timeout" ? "expired" : "wrong" };
		},

		async beginEnrollment(request: EnrollmentRequest): Promise<EnrollmentBegin> {
			const duoUser = (request.input.username ?? "").trim() || request.user.username;
			if (duoUser.length > 256 || hasUnsafe(duoUser)) return { kind: "rejected", message: "That is not a valid Duo username." };
			let settings: DuoSettings;
			try {
				settings = await deps.settings.require("duo");
			} catch {
				return { kind: "rejected", message: "Duo cannot be set up right now: the administrator has not finished configuring it." };
			}
			const mine = await deps.factors.listActive(request.user.id, "duo");
			if (mine.length > 0) return { kind: "rejected", message: "Duo is already set up for your account. Remove it first to use another Duo username." };
			const bound = (await deps.factors.findByPublicId("duo", duoUser)).filter((factor) => factor.status === "active" && factor.userId !== request.user.id);
			if (bound.length > 0) return { kind: "rejected", message: "That Duo username is already used by another account." };

			let answer;
			try {
				answer = await duoClient(settings, deps.clock).preauth(duoUser);
			} catch {
				return { kind: "rejected", message: "Duo cannot be reached right now. Try again later." };
			}
			const decision = decidePreauth(answer, { honourDuoBypass: settings.honourDuoBypass });
			if (decision.kind === "deny") {
				switch (decision.reason) {
					case "not-enrolled": {
						const url = answer.result === "enroll" && answer.enrollPortalUrl !== null && /^https:\/\/[\x21-\x7e]{1,500}$/.test(answer.enrollPortalUrl) ? answer.enrollPortalUrl : null;
						return { kind: "rejected", message: url ? `Your Duo account has no device yet. Enroll one at ${url} and then try again.` : "Your Duo account has no device yet. Enroll in Duo first (ask your administrator), then try again." };
					}
					case "bypass-not-allowed":
						return { kind: "rejected", message: "Duo lets this account in without a second factor (bypass), which this server does not accept. Ask your Duo administrator." };
					default:
						return { kind: "rejected", message: `Duo refuses this account: ${answer.statusMsg.slice(0, 200) || "denied"}` };
				}
			}
			const factorId = deps.factors.newFactorId();
			if ((await deps.factors.insert({ id: factorId, userId: request.user.id, method: "duo", label: request.label, status: "active", secretEnc: null, publicId: duoUser }, request.guard)) === null) {
				return { kind: "rejected", message: ENROLMENT_WITHDRAWN };
			}
			const devices = answer.result === "auth" ? answer.devices.map(shortName).join(", ") : "(Duo bypass)";
			return { kind: "active", factorId, display: { duoUsername: duoUser, devices } };
		},

		async completeEnrollment(): Promise<EnrollmentComplete> {
			// Enrolment finishes in beginEnrollment (preauth decides); there is never a pending factor.
			return { kind: "expired" };
		},
	};
}
