/**
 * YubiCloud-compatible client for Yubico Validation Protocol 2.0 (yubikey-val
 * doc/ValidationProtocolV20.adoc), usable with YubiCloud or a self-hosted yubikey-val.
 *
 * Request: GET {url}?id&otp&nonce&timestamp=1[&sl][&timeout]&h, with a fresh 32-character nonce
 * (the protocol wants 16..40) and the request signed with HMAC-SHA-1 (wsapi-signature.ts).
 *
 * Response: "key=value" lines separated by CRLF. It counts as success ONLY when, all at once:
 *   - the body parses strictly (no duplicate keys, no stray bytes, no bare LF);
 *   - `h` is present, canonical base64 and matches HMAC-SHA-1 over all other parameters;
 *   - `otp` equals the OTP we sent ("to avoid cut'n'paste attacks", spec "Verification");
 *   - `nonce` equals the nonce we sent;
 *   - `status` is exactly "OK".
 * Every other answer is a denial value carrying a reason (docs/threat-model.md, Yubico OTP; docs/security-matrix.md E4).
 *
 * URLs are tried in order, one at a time. A transport failure (connection error, TLS error or the
 * per-URL deadline) moves on to the next URL; the first URL that answers with an HTTP response
 * decides, whatever the response says. If every URL fails in transport, the client cannot decide
 * and throws PortcullisError("ERR_METHOD_UNAVAILABLE") so the flow fails closed without charging
 * the user's failure counter (src/methods/method.ts).
 *
 * Binding the OTP's public id to the user (docs/threat-model.md, Yubico OTP; docs/security-matrix.md E4): pass the user's enrolled
 * public ids as `allowedPublicIds` and an OTP from any other key is denied before it is sent (so
 * it is not even spent at the server); the result always carries `publicId` as well.
 */
import { PortcullisError } from "../../core/errors.ts";
import type { Random } from "../../core/random.ts";
import { boundedHttp, type BoundedHttpOutcome } from "../../net/bounded-http.ts";
import { parseOtp } from "./otp-parse.ts";
import { combinedCounter } from "./token.ts";
import { decodeStrictBase64, wsapiSign, wsapiVerify } from "./wsapi-signature.ts";

/** Protocol statuses (ValidationProtocolV20.adoc, "Response"). Only OK is success. */
export const WSAPI_STATUSES = [
	"OK",
	"BAD_OTP",
	"REPLAYED_OTP",
	"BAD_SIGNATURE",
	"MISSING_PARAMETER",
	"NO_SUCH_CLIENT",
	"OPERATION_NOT_ALLOWED",
	"BACKEND_ERROR",
	"NOT_ENOUGH_ANSWERS",
	"REPLAYED_REQUEST",
] as const;
export type WsapiStatus = (typeof WSAPI_STATUSES)[number];

export const DEFAULT_TIMEOUT_MS = 5_000;
/** A real answer is well under 1 KiB. */
export const MAX_RESPONSE_BYTES = 16 * 1024;
export const NONCE_LENGTH = 32;

export interface YubicoCloudClientOptions {
	/** The API client id ("id" parameter). */
	readonly clientId: string;
	/** The base64 API key shared with the validation service. */
	readonly apiKey: string;
	/** Verify endpoints, e.g. "https://api.yubico.com/wsapi/2.0/verify"; tried in order. */
	readonly urls: readonly string[];
	readonly random: Random;
	/** Deadline per URL attempt, for the whole exchange. */
	readonly timeoutMs?: number;
	/** Private CA(s) for https URLs; when set it replaces the system roots (tests, private servers). */
	readonly ca?: string | Buffer | readonly (string | Buffer)[];
	/** `sl`: 0..100, "fast" or "secure"; omitted lets the server decide. */
	readonly syncLevel?: number | "fast" | "secure";
	/** `timeout`: seconds the server may wait for its sync peers; omitted lets the server decide. */
	readonly serverTimeoutSeconds?: number;
}

export type YubicoCloudDenialReason =
	/** The OTP was not sent: not 34..48 ModHex characters. */
	| "malformed-otp"
	/** The OTP was not sent: its public id is not among `allowedPublicIds`. */
	| "unknown-public-id"
	/** The server answered with a non-200 status. */
	| "http-error"
	/** More than MAX_RESPONSE_BYTES. */
	| "oversized-response"
	/** Not strictly "key=value" CRLF lines, a duplicate key, or a required key missing. */
	| "malformed-response"
	| "missing-signature"
	/** `h` present but not canonical base64, or not matching. */
	| "bad-signature"
	| "otp-mismatch"
	| "nonce-mismatch"
	/** REPLAYED_OTP or REPLAYED_REQUEST. */
	| "replayed"
	/** Any other protocol status (BAD_OTP, BAD_SIGNATURE, NO_SUCH_CLIENT, BACKEND_ERROR ...). */
	| "rejected"
	| "unknown-status";

export interface YubicoCloudValid {
	readonly kind: "valid";
	/** Lower-case public id of the key that produced the OTP: compare it with the user's enrolled ids. */
	readonly publicId: string;
	readonly url: string;
	/** From the signed answer (timestamp=1): usage counter, session counter and their combination, when present. */
	readonly useCounter: number | null;
	readonly sessionCounter: number | null;
	readonly counter: number | null;
}

export interface YubicoCloudDenial {
	readonly kind: "invalid";
	readonly reason: YubicoCloudDenialReason;
	/** The `status` the server sent, when there was a parseable one. */
	readonly status: string | null;
	readonly url: string | null;
	readonly httpStatus: number | null;
}

export type YubicoCloudResult = YubicoCloudValid | YubicoCloudDenial;

const CLIENT_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
const RESPONSE_KEY = /^[A-Za-z0-9_]{1,64}$/;
// Printable ASCII only in values; CR, LF and NUL can never appear inside a value.
const RESPONSE_VALUE = /^[\x20-\x7e]*$/;
const MAX_RESPONSE_LINES = 32;

/**
 * Strict parser for a verify answer. Returns null for anything but CRLF-separated "key=value"
 * lines, optionally followed by empty lines at the very end (yubikey-val ends with "\r\n\r\n").
 */
export function parseWsapiResponse(body: Buffer): Map<string, string> | null {
	const text = body.toString("latin1");
	if (!/^[\x20-\x7e\r\n]*$/.test(text)) return null;
	const lines = text.split("\r\n");
	if (lines.some((line) => line.includes("\r") || line.includes("\n"))) return null;
	while (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
	if (lines.length === 0 || lines.length > MAX_RESPONSE_LINES) return null;
	const params = new Map<string, string>();
	for (const line of lines) {
		const eq = line.indexOf("=");
		if (eq <= 0) return null;
		const key = line.slice(0, eq);
		const value = line.slice(eq + 1);
		if (!RESPONSE_KEY.test(key) || !RESPONSE_VALUE.test(value)) return null;
		if (params.has(key)) return null;
		params.set(key, value);
	}
	return params;
}

function optionalCounter(value: string | undefined, max: number): number | null {
	if (value === undefined || !/^[0-9]{1,6}$/.test(value)) return null;
	const number = Number(value);
	return number <= max ? number : null;
}

export class YubicoCloudClient {
	readonly #clientId: string;
	readonly #apiKey: Buffer;
	readonly #urls: readonly URL[];
	readonly #random: Random;
	readonly #timeoutMs: number;
	readonly #ca: YubicoCloudClientOptions["ca"];
	readonly #syncLevel: string | undefined;
	readonly #serverTimeout: string | undefined;

	constructor(options: YubicoCloudClientOptions) {
		if (!CLIENT_ID_PATTERN.test(options.clientId)) {
			throw new PortcullisError("ERR_CONFIG_INVALID", "Yubico client id must be 1..64 letters, digits, '_' or '-'.");
		}
		const apiKey = decodeStrictBase64(options.apiKey);
		if (apiKey === null) throw new PortcullisError("ERR_CONFIG_INVALID", "Yubico API key must be canonical base64.");
		if (options.urls.length === 0) throw new PortcullisError("ERR_CONFIG_INVALID", "At least one Yubico validation URL is needed.");
		const urls = options.urls.map((text) => {
			let url: URL;
			try {
				url = new URL(text);
			} catch {
				throw new PortcullisError("ERR_CONFIG_INVALID", `Not a URL: ${text}`);
			}
			if (url.protocol !== "https:" && url.protocol !== "http:") {
				throw new PortcullisError("ERR_CONFIG_INVALID", `Validation URL must be http or https: ${text}`);
			}
			if (url.search !== "" || url.hash !== "" || url.username !== "" || url.password !== "") {
				throw new PortcullisError("ERR_CONFIG_INVALID", `Validation URL must not carry a query, fragment or credentials: ${text}`);
			}
			return url;
		});
		const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
		if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) throw new PortcullisError("ERR_CONFIG_INVALID", "timeoutMs must be a positive integer.");
		const sl = options.syncLevel;
		if (sl !== undefined && sl !== "fast" && sl !== "secure" && !(Number.isInteger(sl) && sl >= 0 && sl <= 100)) {
			throw new PortcullisError("ERR_CONFIG_INVALID", 'syncLevel must be 0..100, "fast" or "secure".');
		}
		const serverTimeout = options.serverTimeoutSeconds;
		if (serverTimeout !== undefined && !(Number.isInteger(serverTimeout) && serverTimeout > 0 && serverTimeout <= 3600)) {
			throw new PortcullisError("ERR_CONFIG_INVALID", "serverTimeoutSeconds must be 1..3600.");
		}
		this.#clientId = options.clientId;
		this.#apiKey = apiKey;
		this.#urls = urls;
		this.#random = options.random;
		this.#timeoutMs = timeoutMs;
		this.#ca = options.ca;
		this.#syncLevel = sl === undefined ? undefined : String(sl);
		this.#serverTimeout = serverTimeout === undefined ? undefined : String(serverTimeout);
	}

	/** 32 hex characters from the injected Random (within the protocol's 16..40). */
	#nonce(): string {
		return this.#random.bytes(NONCE_LENGTH / 2).toString("hex");
	}

	/** The signed query parameters for one attempt (exposed for tests). */
	buildRequestParams(otp: string, nonce: string): Map<string, string> {
		const params = new Map<string, string>([
			["id", this.#clientId],
			["otp", otp],
			["nonce", nonce],
			["timestamp", "1"],
		]);
		if (this.#syncLevel !== undefined) params.set("sl", this.#syncLevel);
		if (this.#serverTimeout !== undefined) params.set("timeout", this.#serverTimeout);
		params.set("h", wsapiSign(params, this.#apiKey));
		return params;
	}

	async verify(otpInput: unknown, options: { readonly allowedPublicIds?: readonly string[] } = {}): Promise<YubicoCloudResult> {
		const parsed = parseOtp(otpInput);
		if (!parsed.ok) return { kind: "invalid", reason: "malformed-otp", status: null, url: null, httpStatus: null };
		if (options.allowedPublicIds !== undefined && !options.allowedPublicIds.some((id) => id.toLowerCase() === parsed.publicId)) {
			return { kind: "invalid", reason: "unknown-public-id", status: null, url: null, httpStatus: null };
		}

		const failures: string[] = [];
		for (const base of this.#urls) {
			// A fresh nonce per attempt: a server that saw the first one must not answer REPLAYED_REQUEST.
			const nonce = this.#nonce();
			const url = new URL(base.href);
			for (const [key, value] of this.buildRequestParams(parsed.otp, nonce)) url.searchParams.set(key, value);
			const outcome = await boundedHttp({
				protocol: url.protocol === "http:" ? "http:" : "https:",
				// URL keeps an IPv6 literal's brackets; a request option wants the bare address.
				hostname: url.hostname.replace(/^\[(.*)\]$/, "$1"),
				port: url.port === "" ? (url.protocol === "http:" ? 80 : 443) : Number(url.port),
				path: `${url.pathname}${url.search}`,
				method: "GET",
				headers: { accept: "text/plain", "user-agent": "portcullis" },
				timeoutMs: this.#timeoutMs,
				maxBytes: MAX_RESPONSE_BYTES,
				ca: this.#ca,
			});
			if (outcome.kind === "failure") {
				failures.push(`${base.href}: ${outcome.reason} (${outcome.message})`);
				continue;
			}
			return this.#judge(outcome, base.href, parsed.otp, parsed.publicId, nonce);
		}
		throw new PortcullisError("ERR_METHOD_UNAVAILABLE", `No Yubico validation server answered: ${failures.join("; ")}`);
	}

	#judge(outcome: Exclude<BoundedHttpOutcome, { kind: "failure" }>, url: string, otp: string, publicId: string, nonce: string): YubicoCloudResult {
		const deny = (reason: YubicoCloudDenialReason, status: string | null = null): YubicoCloudDenial => ({
			kind: "invalid",
			reason,
			status,
			url,
			httpStatus: outcome.status,
		});
		if (outcome.kind === "oversized") return deny("oversized-response");
		if (outcome.status !== 200) return deny("http-error");
		const params = parseWsapiResponse(outcome.body);
		if (params === null) return deny("malformed-response");
		// Nothing in an unauthenticated answer is believed, not even its status.
		if (!params.has("h")) return deny("missing-signature");
		if (!wsapiVerify(params, this.#apiKey)) return deny("bad-signature");
		const status = params.get("status");
		if (status === undefined || !params.has("otp") || !params.has("nonce")) return deny("malformed-response", status ?? null);
		if (params.get("otp") !== otp) return deny("otp-mismatch", status);
		if (params.get("nonce") !== nonce) return deny("nonce-mismatch", status);
		if (!(WSAPI_STATUSES as readonly string[]).includes(status)) return deny("unknown-status", status);
		if (status === "REPLAYED_OTP" || status === "REPLAYED_REQUEST") return deny("replayed", status);
		if (status !== "OK") return deny("rejected", status);

		const useCounter = optionalCounter(params.get("sessioncounter"), 0x7fff);
		const sessionCounter = optionalCounter(params.get("sessionuse"), 0xff);
		return {
			kind: "valid",
			publicId,
			url,
			useCounter,
			sessionCounter,
			counter: useCounter !== null && sessionCounter !== null ? combinedCounter(useCounter, sessionCounter) : null,
		};
	}
}
