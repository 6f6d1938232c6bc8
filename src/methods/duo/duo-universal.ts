/**
 * Duo's Universal Prompt for web logins (docs/threat-model.md, Duo; docs/dependencies.md, Duo), through
 * Duo's own SDK @duosecurity/duo_universal (OIDC-like browser redirect to a "Web SDK" application):
 *
 *   healthCheck → generateState → createAuthUrl(duo username, state) → browser to Duo → callback
 *   with duo_code and state → exchangeAuthorizationCodeFor2FAResult(code, duo username).
 *
 * The SDK checks the HS512 id_token (signature with the client secret, iss = the token endpoint,
 * aud = our client id, exp with 60 s leeway) and preferred_username == the Duo username we asked
 * for. We then accept only auth_result "allow" (and a Duo-side "bypass" only with the admin's
 * opt-in, as on SSH: duo-policy.ts).
 *
 * The SDK talks to Duo through an axios instance kept in a TS-private field, with Duo's pinned CAs
 * but no timeout, no size cap, redirects followed and HTTP(S)_PROXY from the environment honoured
 * (DUO-PSA-2017-002 was exactly a proxy variable making Duo unreachable). `hardenClient` sets, on
 * that instance: the admin's timeout, a 64 KiB answer cap, no redirects, no proxy, and the private
 * CA from the settings when one is configured (tests: the test CA, docs/dependencies.md, Duo). If a future SDK
 * drops that field, Duo is reported unavailable (fail closed) instead of running unbounded.
 */
import https from "node:https";
import type { Client } from "@duosecurity/duo_universal";
import { PortcullisError } from "../../core/errors.ts";
import { constantTimeEqual } from "../../crypto/tokens.ts";
import type { DuoSettings } from "../method-settings.ts";
import { MAX_DUO_RESPONSE_BYTES } from "./duo-https.ts";

type DuoSdk = typeof import("@duosecurity/duo_universal");
let sdk: DuoSdk | undefined;

/**
 * The SDK (with axios and its MIME table, the second-largest dependency tree) is loaded by the
 * first Universal Prompt round or connection test, not by every process that builds the method
 * registry: CLI commands never need it (docs/benchmarks.md, "CLI cold start").
 */
async function duoSdk(): Promise<DuoSdk> {
	sdk ??= await import("@duosecurity/duo_universal");
	return sdk;
}

/** The callback path Duo redirects the browser back to (src/web/routes/duo-universal.tsx). */
export const DUO_CALLBACK_PATH = "/login/duo/callback";

/** What the second-factor page shows instead of a code field when Duo runs in the browser. */
export const DUO_UNIVERSAL_PROMPT = "Duo: continue to Duo to approve this login in your browser.";

/** The stored per-attempt state (login_attempts.challenge_json) of a Universal Prompt round. */
export interface UniversalState {
	readonly kind: "duo-universal";
	/** Our `state` parameter (SDK generateState: 36 hex characters); compared in constant time, used once. */
	readonly duoState: string;
	/** Duo's authorize URL for this round (carries a signed request JWT with the state, 5 min). */
	readonly url: string;
}

export function isUniversalState(value: unknown): value is UniversalState {
	if (typeof value !== "object" || value === null) return false;
	const state = value as Record<string, unknown>;
	return (
		state.kind === "duo-universal" &&
		typeof state.duoState === "string" &&
		/^[0-9a-f]{22,128}$/.test(state.duoState) &&
		typeof state.url === "string" &&
		state.url.startsWith("https://")
	);
}

/** The answer the web callback submits through LoginFlow: what Duo put in the redirect. */
export interface UniversalAnswer {
	readonly state: string;
	/** duo_code; "" when Duo sent none (an error redirect). */
	readonly code: string;
	/** Duo's `error` parameter, when it redirected with one. */
	readonly error?: string;
}

export const MAX_UNIVERSAL_ANSWER = 4096;

export function parseUniversalAnswer(response: string): UniversalAnswer | null {
	if (response.length === 0 || response.length > MAX_UNIVERSAL_ANSWER) return null;
	let parsed: unknown;
	try {
		parsed = JSON.parse(response);
	} catch {
		return null;
	}
	if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return null;
	const { state, code, error } = parsed as Record<string, unknown>;
	if (typeof state !== "string" || typeof code !== "string" || (error !== undefined && typeof error !== "string")) return null;
	return { state, code, ...(typeof error === "string" ? { error } : {}) };
}

/** The few axios settings we change (the instance itself is axios, a dependency of the SDK). */
interface AxiosDefaults {
	timeout?: number;
	maxContentLength?: number;
	maxBodyLength?: number;
	maxRedirects?: number;
	proxy?: false | object;
	httpsAgent?: unknown;
}

function unavailable(message: string, cause?: unknown): PortcullisError {
	return new PortcullisError("ERR_METHOD_UNAVAILABLE", `Duo Universal Prompt: ${message}`, cause === undefined ? undefined : { cause });
}

/** Bounds the SDK's HTTP client (see the file comment). Throws ERR_METHOD_UNAVAILABLE if it cannot. */
export function hardenClient(client: Client, settings: Pick<DuoSettings, "timeoutMs" | "caPem">): Client {
	// The field is TS-private in the SDK; reaching it is the documented way to point it at a test CA (docs/dependencies.md, Duo).
	const instance = (client as unknown as { axios?: { defaults?: AxiosDefaults } }).axios;
	const defaults = instance?.defaults;
	if (defaults === undefined || defaults === null || typeof defaults !== "object")
		throw unavailable("the SDK's HTTP client cannot be configured (SDK changed?)");
	defaults.timeout = settings.timeoutMs;
	defaults.maxContentLength = MAX_DUO_RESPONSE_BYTES;
	defaults.maxBodyLength = MAX_DUO_RESPONSE_BYTES;
	defaults.maxRedirects = 0;
	defaults.proxy = false;
	if (settings.caPem !== undefined) {
		defaults.httpsAgent = new https.Agent({ ca: settings.caPem, rejectUnauthorized: true, minVersion: "TLSv1.2" });
	}
	return client;
}

/** A hardened SDK client for the settings' Web SDK application, redirecting back to `redirectUrl`. */
export async function universalClient(settings: DuoSettings, redirectUrl: string): Promise<Client> {
	if (settings.webClientId === undefined || settings.webClientSecret === undefined) throw unavailable("no Web SDK application is configured");
	const { Client } = await duoSdk();
	let client: Client;
	try {
		client = new Client({ clientId: settings.webClientId, clientSecret: settings.webClientSecret, apiHost: settings.apiHost, redirectUrl });
	} catch (error) {
		throw unavailable("the Web SDK settings are unusable", error);
	}
	return hardenClient(client, settings);
}

export type TokenFailure =
	/** Duo answered and refused the code (used, expired, unknown: OAuth invalid_grant, 4xx). */
	| { readonly kind: "code-refused"; readonly detail: string }
	/** The id_token names another Duo user than the one enrolled (SDK USERNAME_ERROR). */
	| { readonly kind: "other-user" }
	/** Anything else: transport, timeout, 5xx, garbage, a bad id_token signature. Fail closed. */
	| { readonly kind: "unavailable"; readonly detail: string };

/** Sorts an SDK exception from the token exchange (messages and inner errors: duo_universal 3.0.0). */
export function classifyTokenError(error: unknown): TokenFailure {
	// An SDK exception exists only once the SDK is loaded (by the client that threw it).
	if (sdk !== undefined && error instanceof sdk.DuoException) {
		if (error.message === sdk.constants.USERNAME_ERROR) return { kind: "other-user" };
		const inner = error.inner as { response?: { status?: unknown } } | undefined;
		const status = typeof inner?.response?.status === "number" ? inner.response.status : null;
		if (status !== null && status >= 400 && status < 500 && status !== 401 && status !== 408 && status !== 429) {
			return { kind: "code-refused", detail: `HTTP ${status}: ${error.message.slice(0, 160)}` };
		}
		return { kind: "unavailable", detail: error.message.slice(0, 200) };
	}
	return { kind: "unavailable", detail: error instanceof Error ? error.message.slice(0, 200) : "unknown error" };
}

/** Constant-time equality of two state strings (the state's length is fixed and public). */
export function sameState(a: string, b: string): boolean {
	return constantTimeEqual(a, b);
}

/** The redirect URL Duo sends the browser back to, from the console's public URL. */
export function callbackUrl(consoleUrl: string): string {
	return `${consoleUrl.replace(/\/+$/, "")}${DUO_CALLBACK_PATH}`;
}

/**
 * The Universal round waiting on this attempt (started by "Continue to Duo", not yet answered), or
 * null. Read-only: the web callback peeks with it so that a forged or stale callback is refused
 * without consuming the round or charging the user (the flow's consumeChallenge is what counts).
 */
export function waitingUniversalState(
	attempt:
		| { readonly user_id: string; readonly challenge_method: string | null; readonly challenge_json: string | null; readonly challenge_used: number | string }
		| undefined,
	userId: string,
): UniversalState | null {
	if (
		attempt === undefined ||
		attempt.user_id !== userId ||
		attempt.challenge_method !== "duo" ||
		Number(attempt.challenge_used) !== 0 ||
		attempt.challenge_json === null
	)
		return null;
	let parsed: unknown;
	try {
		parsed = JSON.parse(attempt.challenge_json);
	} catch {
		return null;
	}
	return isUniversalState(parsed) ? parsed : null;
}
