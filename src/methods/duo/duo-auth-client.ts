/**
 * Duo Auth API v2 client for the SSH prompt (duo.com/docs/authapi; docs/dependencies.md, Duo; docs/threat-model.md, Duo).
 *
 * Endpoints: GET /auth/v2/check, POST /auth/v2/preauth, POST /auth/v2/auth (sync or async=1),
 * GET /auth/v2/auth_status. Every request is signed (duo-signature.ts) with a Date from the
 * injected Clock.
 *
 * Fail closed: an answer is used only when it is HTTP 200, `application/json`, at most 64 KiB,
 * valid JSON with `stat: "OK"` and a `response` whose fields have exactly the documented types and
 * known enum values. Anything else — transport error, timeout, HTML, garbage, oversize, non-200,
 * `stat: "FAIL"`, an unknown `result` — throws PortcullisError("ERR_METHOD_UNAVAILABLE").
 * Expected outcomes (deny, enroll, wrong passcode, push denied or timed out) are values.
 *
 * What a preauth result *means* for a login (bypass opt-in, enroll = deny) is decided by
 * duo-policy.ts, not here.
 */
import { systemClock, type Clock } from "../../core/clock.ts";
import { PortcullisError } from "../../core/errors.ts";
import { duoAuthorizationHeader, duoCanonParams, formatDuoDate, type DuoParams } from "./duo-signature.ts";
import { duoHttps } from "./duo-https.ts";
import { hasUnsafe, stripUnsafe } from "../../core/untrusted-text.ts";

export const DEFAULT_DUO_TIMEOUT_MS = 10_000;
/** Sync push/phone /auth and /auth_status long-poll until the user acts; Duo times a push out at about 60 s. */
export const DEFAULT_DUO_LONG_POLL_TIMEOUT_MS = 75_000;
export const DEFAULT_DUO_MAX_WAIT_MS = 90_000;
export const DEFAULT_DUO_POLL_INTERVAL_MS = 1_000;
const MAX_POLLS = 1_000;

export interface DuoAuthClientOptions {
	/** Integration key ("ikey") of an Auth API application. */
	readonly integrationKey: string;
	/** Secret key ("skey"). */
	readonly secretKey: string;
	/** API hostname, e.g. "api-xxxxxxxx.duosecurity.com": used for TLS, the Host header and the signature. */
	readonly apiHost: string;
	readonly port?: number;
	/** Private CA(s); when set it replaces the system roots (tests, on-premises proxies). */
	readonly ca?: string | Buffer | readonly (string | Buffer)[];
	/** Deadline for check and preauth, passcode auth and async auth. */
	readonly timeoutMs?: number;
	/** Deadline for sync push/phone auth and each auth_status call. */
	readonly longPollTimeoutMs?: number;
	readonly clock?: Clock;
	/** Injected so polling tests need not wait. */
	readonly sleep?: (ms: number) => Promise<void>;
}

export type DuoFactor = "push" | "passcode" | "phone";

export interface DuoDevice {
	/** Device id to pass back as `device`. */
	readonly device: string;
	readonly displayName: string;
	/** e.g. "auto", "push", "sms", "phone", "mobile_otp"; unknown future values are kept. */
	readonly capabilities: readonly string[];
	readonly type: string | null;
}

export type DuoPreauthResult =
	| { readonly result: "auth"; readonly statusMsg: string; readonly devices: readonly DuoDevice[] }
	| { readonly result: "allow"; readonly statusMsg: string }
	| { readonly result: "deny"; readonly statusMsg: string }
	| { readonly result: "enroll"; readonly statusMsg: string; readonly enrollPortalUrl: string | null };

export interface DuoAuthInput {
	readonly username: string;
	readonly factor: DuoFactor;
	/** Device id from preauth, or "auto"; required for push and phone. */
	readonly device?: string;
	/** Required for passcode. */
	readonly passcode?: string;
	/** Ask for a txid and poll auth_status instead of blocking. */
	readonly async?: boolean;
	/** The SSH client's address, for Duo's network policies (docs/threat-model.md, Duo: pass ipaddr). */
	readonly ipaddr?: string;
}

export interface DuoDecision {
	readonly result: "allow" | "deny";
	/** Duo's status word ("allow", "bypass", "deny", "timeout", "fraud", ...), or one of ours for local denials. */
	readonly status: string;
	readonly statusMsg: string;
}

export type DuoAuthResponse = ({ readonly kind: "decided" } & DuoDecision) | { readonly kind: "pending"; readonly txid: string };

export interface DuoAuthStatus {
	readonly result: "allow" | "deny" | "waiting";
	readonly status: string;
	readonly statusMsg: string;
}

/** Details of a fail-closed answer, attached as `cause` of the thrown PortcullisError. */
export class DuoApiFailure extends Error {
	constructor(
		message: string,
		readonly httpStatus: number | null,
		readonly duoCode: number | null,
	) {
		super(message);
		this.name = "DuoApiFailure";
	}
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

function isObject(value: unknown): value is JsonObject {
	return typeof value === "object" && value !== null && !Array.isArray(value);
}

function unavailable(message: string, httpStatus: number | null = null, duoCode: number | null = null): PortcullisError {
	return new PortcullisError("ERR_METHOD_UNAVAILABLE", `Duo: ${message}`, { cause: new DuoApiFailure(message, httpStatus, duoCode) });
}

/**
 * Duo's texts end up on an SSH terminal: strip C0/C1 control characters (escape sequences could
 * rewrite the prompt) and cap the length.
 */
export function sanitizeDuoText(text: string): string {
	return stripUnsafe(text).slice(0, 512);
}

function requireString(object: JsonObject, key: string, where: string): string {
	const value = object[key];
	if (typeof value !== "string") throw unavailable(`${where}: "${key}" is not a string`);
	return value;
}

function optionalString(object: JsonObject, key: string, where: string): string | null {
	const value = object[key];
	if (value === undefined || value === null) return null;
	if (typeof value !== "string") throw unavailable(`${where}: "${key}" is not a string`);
	return value;
}

function requireOneOf<T extends string>(object: JsonObject, key: string, allowed: readonly T[], where: string): T {
	const value = requireString(object, key, where);
	if (!(allowed as readonly string[]).includes(value)) throw unavailable(`${where}: unknown ${key} "${value.slice(0, 40)}"`);
	return value as T;
}

const DEVICE_ID = /^[A-Za-z0-9_-]{1,64}$/;
// Duo passcodes are digits (Duo Mobile, SMS, bypass codes, tokens); YubiKey OTPs as Duo passcodes
// are 44 ModHex letters. Printable ASCII without spaces, 1..64, covers all without sending junk.
const PASSCODE = /^[\x21-\x7e]{1,64}$/;
const HOSTNAME = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;

function parseDevice(value: Json, where: string): DuoDevice {
	if (!isObject(value)) throw unavailable(`${where}: a device is not an object`);
	const device = requireString(value, "device", where);
	if (!DEVICE_ID.test(device)) throw unavailable(`${where}: malformed device id`);
	const capabilities = value.capabilities;
	if (!Array.isArray(capabilities) || !capabilities.every((c): c is string => typeof c === "string")) {
		throw unavailable(`${where}: device capabilities are not a list of strings`);
	}
	return {
		device,
		displayName: sanitizeDuoText(requireString(value, "display_name", where)),
		capabilities: [...capabilities],
		type: optionalString(value, "type", where),
	};
}

export class DuoAuthClient {
	readonly #ikey: string;
	readonly #skey: string;
	readonly #host: string;
	readonly #port: number;
	readonly #ca: DuoAuthClientOptions["ca"];
	readonly #timeoutMs: number;
	readonly #longPollTimeoutMs: number;
	readonly #clock: Clock;
	readonly #sleep: (ms: number) => Promise<void>;

	constructor(options: DuoAuthClientOptions) {
		if (!/^[A-Za-z0-9]{10,64}$/.test(options.integrationKey)) {
			throw new PortcullisError("ERR_CONFIG_INVALID", "Duo integration key must be 10..64 letters or digits.");
		}
		if (!/^[\x21-\x7e]{20,128}$/.test(options.secretKey)) {
			throw new PortcullisError("ERR_CONFIG_INVALID", "Duo secret key must be 20..128 printable characters.");
		}
		const host = options.apiHost.toLowerCase();
		if (!HOSTNAME.test(host)) throw new PortcullisError("ERR_CONFIG_INVALID", "Duo API host must be a bare hostname (no scheme, port or path).");
		const port = options.port ?? 443;
		if (!Number.isInteger(port) || port < 1 || port > 65535) throw new PortcullisError("ERR_CONFIG_INVALID", "Duo port must be 1..65535.");
		for (const [name, value] of [
			["timeoutMs", options.timeoutMs],
			["longPollTimeoutMs", options.longPollTimeoutMs],
		] as const) {
			if (value !== undefined && !(Number.isInteger(value) && value > 0)) {
				throw new PortcullisError("ERR_CONFIG_INVALID", `${name} must be a positive integer.`);
			}
		}
		this.#ikey = options.integrationKey;
		this.#skey = options.secretKey;
		this.#host = host;
		this.#port = port;
		this.#ca = options.ca;
		this.#timeoutMs = options.timeoutMs ?? DEFAULT_DUO_TIMEOUT_MS;
		this.#longPollTimeoutMs = options.longPollTimeoutMs ?? DEFAULT_DUO_LONG_POLL_TIMEOUT_MS;
		this.#clock = options.clock ?? systemClock;
		this.#sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
	}

	/** Signed call; returns the `response` member of a fully valid `stat: "OK"` answer. */
	async #call(method: "GET" | "POST", path: string, params: DuoParams, timeoutMs: number): Promise<Json> {
		const date = formatDuoDate(this.#clock.now());
		const canon = duoCanonParams(params);
		const headers: Record<string, string> = {
			Date: date,
			Authorization: duoAuthorizationHeader(this.#ikey, this.#skey, { date, method, host: this.#host, path, params }),
			Accept: "application/json",
			"User-Agent": "portcullis",
		};
		let body: string | undefined;
		if (method === "POST") {
			body = canon;
			headers["Content-Type"] = "application/x-www-form-urlencoded";
			headers["Content-Length"] = String(Buffer.byteLength(body));
		}
		const answer = await duoHttps({
			host: this.#host,
			port: this.#port,
			method,
			path: method === "GET" && canon !== "" ? `${path}?${canon}` : path,
			headers,
			body,
			timeoutMs,
			ca: this.#ca,
		});

		const isJson = /^application\/json\s*(;|$)/i.test(answer.contentType);
		let parsed: unknown;
		if (isJson) {
			try {
				parsed = JSON.parse(answer.body.toString("utf8"));
			} catch {
				parsed = undefined;
			}
		}
		if (answer.status !== 200) {
			const code = isObject(parsed) && typeof parsed.code === "number" ? parsed.code : null;
			const message = isObject(parsed) && typeof parsed.message === "string" ? `: ${sanitizeDuoText(parsed.message).slice(0, 120)}` : "";
			throw unavailable(`HTTP ${answer.status} on ${path}${code === null ? "" : ` (code ${code})`}${message}`, answer.status, code);
		}
		if (!isJson) throw unavailable(`${path} answered with content type "${answer.contentType.slice(0, 60)}"`, 200);
		if (!isObject(parsed)) throw unavailable(`${path} answered with malformed JSON`, 200);
		if (parsed.stat !== "OK") {
			const code = typeof parsed.code === "number" ? parsed.code : null;
			throw unavailable(`${path} answered stat=${JSON.stringify(parsed.stat)?.slice(0, 20)}`, 200, code);
		}
		if (!("response" in parsed)) throw unavailable(`${path} answered without a response`, 200);
		return parsed.response as Json;
	}

	/** Verifies keys, signature and clock (GET /auth/v2/check). Returns Duo's time (UNIX seconds). */
	async check(): Promise<{ readonly time: number }> {
		const response = await this.#call("GET", "/auth/v2/check", {}, this.#timeoutMs);
		if (!isObject(response) || !Number.isSafeInteger(response.time)) throw unavailable("check: malformed response");
		return { time: response.time as number };
	}

	/** POST /auth/v2/preauth: may this user log in, and with which devices? */
	async preauth(username: string, ipaddr?: string): Promise<DuoPreauthResult> {
		const params: Record<string, string> = { username: this.#username(username) };
		if (ipaddr !== undefined) params.ipaddr = ipaddr;
		const response = await this.#call("POST", "/auth/v2/preauth", params, this.#timeoutMs);
		const where = "preauth";
		if (!isObject(response)) throw unavailable(`${where}: response is not an object`);
		const result = requireOneOf(response, "result", ["auth", "allow", "deny", "enroll"] as const, where);
		const statusMsg = sanitizeDuoText(requireString(response, "status_msg", where));
		switch (result) {
			case "auth": {
				const devices = response.devices;
				if (!Array.isArray(devices)) throw unavailable(`${where}: devices is not a list`);
				return { result, statusMsg, devices: devices.map((device) => parseDevice(device, where)) };
			}
			case "enroll":
				return { result, statusMsg, enrollPortalUrl: optionalString(response, "enroll_portal_url", where) };
			default:
				return { result, statusMsg };
		}
	}

	/** POST /auth/v2/auth. A malformed passcode is denied locally, without a request. */
	async auth(input: DuoAuthInput): Promise<DuoAuthResponse> {
		const params: Record<string, string> = { username: this.#username(input.username), factor: input.factor };
		if (input.ipaddr !== undefined) params.ipaddr = input.ipaddr;
		switch (input.factor) {
			case "push":
			case "phone":
				if (input.device === undefined || (input.device !== "auto" && !DEVICE_ID.test(input.device))) {
					throw new PortcullisError("ERR_INPUT", `Duo ${input.factor} needs a device id from preauth or "auto".`);
				}
				params.device = input.device;
				break;
			case "passcode":
				if (typeof input.passcode !== "string" || !PASSCODE.test(input.passcode)) {
					return { kind: "decided", result: "deny", status: "malformed-passcode", statusMsg: "That is not a Duo passcode." };
				}
				params.passcode = input.passcode;
				break;
			default:
				throw new PortcullisError("ERR_INPUT", "Unknown Duo factor.");
		}
		if (input.async === true) params.async = "1";
		// A synchronous push or call blocks until the user answers.
		const blocking = input.async !== true && input.factor !== "passcode";
		const response = await this.#call("POST", "/auth/v2/auth", params, blocking ? this.#longPollTimeoutMs : this.#timeoutMs);
		const where = "auth";
		if (!isObject(response)) throw unavailable(`${where}: response is not an object`);
		if (input.async === true) {
			const txid = requireString(response, "txid", where);
			if (!/^[A-Za-z0-9_-]{1,128}$/.test(txid)) throw unavailable(`${where}: malformed txid`);
			return { kind: "pending", txid };
		}
		return {
			kind: "decided",
			result: requireOneOf(response, "result", ["allow", "deny"] as const, where),
			status: requireString(response, "status", where),
			statusMsg: sanitizeDuoText(requireString(response, "status_msg", where)),
		};
	}

	/** GET /auth/v2/auth_status (long-polls on Duo's side until the status changes). */
	async authStatus(txid: string): Promise<DuoAuthStatus> {
		if (!/^[A-Za-z0-9_-]{1,128}$/.test(txid)) throw new PortcullisError("ERR_INPUT", "Malformed Duo txid.");
		const response = await this.#call("GET", "/auth/v2/auth_status", { txid }, this.#longPollTimeoutMs);
		const where = "auth_status";
		if (!isObject(response)) throw unavailable(`${where}: response is not an object`);
		return {
			result: requireOneOf(response, "result", ["allow", "deny", "waiting"] as const, where),
			status: requireString(response, "status", where),
			statusMsg: sanitizeDuoText(requireString(response, "status_msg", where)),
		};
	}

	/**
	 * Polls auth_status until Duo decides or `maxWaitMs` (injected clock) has passed; running out
	 * of time is a deny value with status "timeout". `onWaiting` lets the SSH prompt show
	 * "Pushed a login request to your device...".
	 */
	async waitForAuth(
		txid: string,
		options: { maxWaitMs?: number; pollIntervalMs?: number; onWaiting?: (status: DuoAuthStatus) => void } = {},
	): Promise<DuoDecision> {
		const maxWaitMs = options.maxWaitMs ?? DEFAULT_DUO_MAX_WAIT_MS;
		const interval = options.pollIntervalMs ?? DEFAULT_DUO_POLL_INTERVAL_MS;
		const deadline = this.#clock.now().getTime() + maxWaitMs;
		for (let poll = 0; poll < MAX_POLLS; poll++) {
			const status = await this.authStatus(txid);
			if (status.result !== "waiting") return { result: status.result, status: status.status, statusMsg: status.statusMsg };
			options.onWaiting?.(status);
			if (this.#clock.now().getTime() + interval > deadline) break;
			await this.#sleep(interval);
		}
		return { result: "deny", status: "timeout", statusMsg: "No answer from Duo in time." };
	}

	#username(username: string): string {
		if (typeof username !== "string" || username.length === 0 || username.length > 256 || hasUnsafe(username)) {
			throw new PortcullisError("ERR_INPUT", "Malformed username for Duo.");
		}
		return username;
	}
}
