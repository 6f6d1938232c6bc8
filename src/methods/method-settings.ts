/**
 * Admin settings of the methods that talk to a backend: YubiKey (Yubico OTP), Duo and RADIUS.
 *
 * Stored in the shared `settings` table, one row per method (key `method-settings:<id>`), as JSON
 * whose secret fields (Yubico API key, Duo secret key, RADIUS shared secrets) are sealed with the
 * deployment's SecretBox under the associated data `method-settings:<id>` (docs/product.md Decision 9),
 * so a sealed value copied into another method's row does not open.
 *
 * Methods read their settings on EVERY use (no cache): several nodes share one database, and an
 * admin's change must apply at once on all of them.
 *
 * Every invalid combination is refused here, where it is made (docs/product.md Decision 3):
 * malformed fields are ERR_INPUT, well-formed but unsafe or contradictory combinations are
 * ERR_POLICY_INVALID. Stored settings are validated again when read, so a corrupt or hand-edited
 * row fails closed (ERR_METHOD_UNAVAILABLE) instead of being half-used.
 */
import { isIP } from "node:net";
import { PortcullisError } from "../core/errors.ts";
import type { MethodId } from "../core/method-id.ts";
import type { SecretBox } from "../crypto/secret-box.ts";
import type { SettingsStore } from "../storage/settings-store.ts";
import { decodeStrictBase64 } from "./yubikey-otp/wsapi-signature.ts";

export const CONFIGURABLE_METHODS = ["yubikey-otp", "duo", "radius"] as const;
export type ConfigurableMethod = (typeof CONFIGURABLE_METHODS)[number];

export function isConfigurableMethod(method: unknown): method is ConfigurableMethod {
	return typeof method === "string" && (CONFIGURABLE_METHODS as readonly string[]).includes(method);
}

export type YubikeyOtpSettings =
	| {
			readonly mode: "cloud";
			/** Validation Protocol 2.0 verify URLs, tried in order (e.g. https://api.yubico.com/wsapi/2.0/verify). */
			readonly urls: readonly string[];
			readonly clientId: string;
			/** Base64 API key shared with the validation service (secret). */
			readonly apiKey: string;
			readonly timeoutMs: number;
			/** Private CA for a self-hosted https validation server (and tests); replaces the system roots. */
			readonly caPem?: string;
	  }
	/** Each factor carries its own AES key and private id (entered at enrolment, sealed per factor). */
	| { readonly mode: "offline" };

export interface DuoSettings {
	/** "api-xxxxxxxx.duosecurity.com"; an optional ":port" is for tests and on-premises proxies. */
	readonly apiHost: string;
	readonly integrationKey: string;
	/** Secret. */
	readonly secretKey: string;
	/** Honour a Duo-side bypass (preauth "allow", auth status "bypass"). Default false (docs/security.md, Duo). */
	readonly honourDuoBypass: boolean;
	readonly timeoutMs: number;
	/** Private CA (tests, TLS-inspecting proxies); replaces the system roots. */
	readonly caPem?: string;
	/**
	 * Optional "Web SDK" application (Duo Universal Prompt, OIDC redirect; docs/security.md, Duo) on the
	 * same API host. When both are set, web logins use the Universal Prompt; SSH always uses the
	 * Auth API above. Both or neither: a half-configured pair is refused.
	 */
	readonly webClientId?: string;
	/** Secret (the Web SDK application's client secret). */
	readonly webClientSecret?: string;
}

/** Whether the Duo settings include a complete Web SDK application (Universal Prompt on the web). */
export function hasDuoWebSdk(settings: DuoSettings): settings is DuoSettings & { webClientId: string; webClientSecret: string } {
	return settings.webClientId !== undefined && settings.webClientSecret !== undefined;
}

export interface RadiusServerSettings {
	readonly host: string;
	readonly port: number;
	/** Secret; at least 16 characters (docs/security.md, RADIUS). */
	readonly secret: string;
	/** Accept replies without Message-Authenticator (BlastRADIUS-vulnerable); shown as a downgrade. */
	readonly legacyNoMessageAuthenticator: boolean;
}

export interface RadiusSettings {
	readonly servers: readonly RadiusServerSettings[];
	/** Wait per transmission. */
	readonly timeoutMs: number;
	/** Retransmissions per server after the first send. */
	readonly retries: number;
	readonly nasIdentifier: string;
}

export interface MethodSettingsMap {
	"yubikey-otp": YubikeyOtpSettings;
	duo: DuoSettings;
	radius: RadiusSettings;
}

export const YUBIKEY_DEFAULT_TIMEOUT_MS = 5_000;
export const DUO_DEFAULT_TIMEOUT_MS = 10_000;
export const RADIUS_DEFAULT_TIMEOUT_MS = 2_000;
export const RADIUS_DEFAULT_RETRIES = 2;
export const RADIUS_DEFAULT_NAS_IDENTIFIER = "portcullis";
export const RADIUS_MIN_SECRET_LENGTH = 16;
/** Worst case of one RADIUS login round (servers × transmissions × timeout): an SSH client and a web request must not wait longer. */
export const RADIUS_MAX_TOTAL_WAIT_MS = 60_000;
export const MAX_SERVERS = 5;
const MAX_CA_PEM = 16 * 1024;

const settingsKey = (method: ConfigurableMethod): string => `method-settings:${method}`;
export const sealContext = (method: ConfigurableMethod): string => `method-settings:${method}`;

// ---------------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------------

function bad(field: string, message: string): PortcullisError {
	return new PortcullisError("ERR_INPUT", `${field}: ${message}`);
}

function refused(message: string): PortcullisError {
	return new PortcullisError("ERR_POLICY_INVALID", message);
}

type Json = Record<string, unknown>;

function asObject(value: unknown, field: string): Json {
	if (typeof value !== "object" || value === null || Array.isArray(value)) throw bad(field, "must be an object");
	return value as Json;
}

function onlyKeys(object: Json, allowed: readonly string[], field: string): void {
	const extra = Object.keys(object).filter((key) => !allowed.includes(key));
	if (extra.length > 0) throw bad(field, `unknown setting ${JSON.stringify(extra[0]!.slice(0, 40))}`);
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

function text(object: Json, key: string, field: string, options: { min?: number; max: number; pattern?: RegExp; hint?: string }): string {
	const value = object[key];
	if (typeof value !== "string") throw bad(`${field}.${key}`, "is required");
	const trimmed = value.trim();
	if (trimmed.length < (options.min ?? 1)) throw bad(`${field}.${key}`, options.min !== undefined && options.min > 1 ? `must have at least ${options.min} characters` : "must not be empty");
	if (trimmed.length > options.max) throw bad(`${field}.${key}`, `must have at most ${options.max} characters`);
	if (CONTROL.test(trimmed)) throw bad(`${field}.${key}`, "must not contain control characters");
	if (options.pattern && !options.pattern.test(trimmed)) throw bad(`${field}.${key}`, options.hint ?? "is malformed");
	return trimmed;
}

/** A secret field: `undefined`/`null` keeps the stored one (forms never echo secrets); "" is refused. */
function secret(object: Json, key: string, field: string, current: string | undefined, check: (value: string) => string | null): string {
	const value = object[key];
	if (value === undefined || value === null) {
		if (current === undefined) throw bad(`${field}.${key}`, "is required");
		return current;
	}
	if (typeof value !== "string") throw bad(`${field}.${key}`, "must be a string");
	if (value.length === 0) throw bad(`${field}.${key}`, "must not be empty");
	const problem = check(value);
	if (problem !== null) throw bad(`${field}.${key}`, problem);
	return value;
}

function integer(object: Json, key: string, field: string, min: number, max: number, fallback: number): number {
	const raw = object[key];
	if (raw === undefined || raw === null || raw === "") return fallback;
	const value = typeof raw === "string" && /^[0-9]{1,9}$/.test(raw.trim()) ? Number(raw.trim()) : raw;
	if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) throw bad(`${field}.${key}`, `must be a whole number from ${min} to ${max}`);
	return value;
}

function boolean(object: Json, key: string, field: string): boolean {
	const value = object[key];
	if (value === undefined || value === null) return false;
	if (typeof value !== "boolean") throw bad(`${field}.${key}`, "must be true or false");
	return value;
}

/** Like a secret: `undefined` keeps the current CA (forms do not echo it); null or "" removes it. */
function caPem(object: Json, field: string, current: string | undefined): { caPem?: string } {
	const value = object.caPem;
	if (value === undefined) return current === undefined ? {} : { caPem: current };
	if (value === null || value === "") return {};
	if (typeof value !== "string" || value.length > MAX_CA_PEM) throw bad(`${field}.caPem`, "must be PEM certificates of at most 16 KiB");
	const pem = value.trim();
	if (!/^-----BEGIN CERTIFICATE-----[\s\S]+-----END CERTIFICATE-----$/.test(pem)) throw bad(`${field}.caPem`, "must be one or more PEM certificates");
	return { caPem: pem + "\n" };
}

export function isLoopbackHost(hostname: string): boolean {
	const host = hostname.replace(/^\[|\]$/g, "").toLowerCase();
	if (host === "localhost") return true;
	if (isIP(host) === 4) return host.startsWith("127.");
	if (isIP(host) === 6) return host === "::1";
	return false;
}

function validateYubikey(input: Json, current: YubikeyOtpSettings | null): YubikeyOtpSettings {
	const field = "yubikey-otp";
	if (input.mode === "offline") {
		onlyKeys(input, ["mode"], field);
		return { mode: "offline" };
	}
	if (input.mode !== "cloud") throw bad(`${field}.mode`, 'must be "cloud" or "offline"');
	onlyKeys(input, ["mode", "urls", "clientId", "apiKey", "timeoutMs", "caPem"], field);
	const rawUrls = input.urls;
	if (!Array.isArray(rawUrls) || rawUrls.length === 0) throw bad(`${field}.urls`, "at least one validation server URL is required");
	if (rawUrls.length > MAX_SERVERS) throw bad(`${field}.urls`, `at most ${MAX_SERVERS} URLs`);
	const urls: string[] = [];
	for (const [index, raw] of rawUrls.entries()) {
		const where = `${field}.urls[${index + 1}]`;
		if (typeof raw !== "string" || raw.trim().length === 0 || raw.length > 512) throw bad(where, "must be a URL");
		let url: URL;
		try {
			url = new URL(raw.trim());
		} catch {
			throw bad(where, "is not a URL");
		}
		if (url.protocol !== "https:" && url.protocol !== "http:") throw bad(where, "must start with https://");
		if (url.search !== "" || url.hash !== "" || url.username !== "" || url.password !== "") throw bad(where, "must not carry a query, fragment or credentials");
		// Decision (docs/methods.md): the answer is HMAC-signed and bound to our nonce, but the OTP
		// itself travels in the request; over plain http anyone on the path can read a still
		// unused OTP and race it. Plain http is therefore allowed only to this host (a local
		// yubikey-val or TLS sidecar), where no network path exists to listen on.
		if (url.protocol === "http:" && !isLoopbackHost(url.hostname)) {
			throw refused(`${where}: plain http:// is only allowed to a validation server on this host (127.0.0.1, ::1, localhost); use https:// (the OTP would travel unencrypted)`);
		}
		if (urls.includes(url.href)) throw refused(`${where}: the URL ${url.href} is listed twice`);
		urls.push(url.href);
	}
	const clientId = text(input, "clientId", field, { max: 64, pattern: /^[A-Za-z0-9_-]+$/, hint: "must be letters, digits, '_' or '-' (YubiCloud client ids are digits)" });
	const apiKey = secret(input, "apiKey", field, current?.mode === "cloud" ? current.apiKey : undefined, (value) => {
		const decoded = decodeStrictBase64(value.trim());
		if (decoded === null) return "must be the base64 API key exactly as issued";
		return decoded.length < 16 ? "is too short (at least 16 bytes of key)" : null;
	}).trim();
	return { mode: "cloud", urls, clientId, apiKey, timeoutMs: integer(input, "timeoutMs", field, 100, 30_000, YUBIKEY_DEFAULT_TIMEOUT_MS), ...caPem(input, field, current?.mode === "cloud" ? current.caPem : undefined) };
}

const HOSTNAME = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;

/** Splits "host[:port]" (Duo API host). */
export function splitDuoHost(apiHost: string): { host: string; port: number } {
	const match = /^([^:]+)(?::([0-9]{1,5}))?$/.exec(apiHost);
	const port = match?.[2] === undefined ? 443 : Number(match[2]);
	return { host: (match?.[1] ?? "").toLowerCase(), port };
}

/** Duo Web SDK client ids and secrets have exactly these lengths (the SDK refuses anything else). */
export const DUO_WEB_CLIENT_ID_LENGTH = 20;
export const DUO_WEB_CLIENT_SECRET_LENGTH = 40;

/**
 * The optional Web SDK pair. The client id is not inherited (omitting it removes the Web SDK);
 * the secret, like every secret, is kept when omitted, but only for the SAME client id (a new
 * application always comes with its own secret).
 */
function duoWebSdk(input: Json, current: DuoSettings | null, auth: { integrationKey: string; secretKey: string }): { webClientId?: string; webClientSecret?: string } {
	const field = "duo";
	const rawId = input.webClientId;
	const rawSecret = input.webClientSecret;
	const idGiven = rawId !== undefined && rawId !== null && rawId !== "";
	const secretGiven = rawSecret !== undefined && rawSecret !== null;
	if (!idGiven) {
		if (secretGiven) throw refused("duo.webClientSecret: a Web SDK client secret needs its client ID (set both, or neither to use the Auth API prompt on the web)");
		return {};
	}
	const webClientId = text(input, "webClientId", field, {
		min: DUO_WEB_CLIENT_ID_LENGTH,
		max: DUO_WEB_CLIENT_ID_LENGTH,
		pattern: /^[A-Za-z0-9]+$/,
		hint: `must be the ${DUO_WEB_CLIENT_ID_LENGTH}-character client ID of a Duo "Web SDK" application`,
	});
	const stored = current?.webClientId === webClientId ? current.webClientSecret : undefined;
	if (!secretGiven && stored === undefined) {
		throw refused("duo.webClientSecret: this Web SDK client ID needs its client secret (set both, or neither to use the Auth API prompt on the web)");
	}
	const webClientSecret = secret(input, "webClientSecret", field, stored, (value) =>
		/^[\x21-\x7e]{40}$/.test(value) ? null : `must be the ${DUO_WEB_CLIENT_SECRET_LENGTH}-character client secret of the Web SDK application`,
	);
	if (webClientId === auth.integrationKey) throw refused('duo.webClientId: this is the Auth API integration key; the Universal Prompt needs a separate "Web SDK" application');
	if (webClientSecret === auth.secretKey) throw refused("duo.webClientSecret: this is the Auth API secret key; the Universal Prompt needs the Web SDK application's own secret");
	return { webClientId, webClientSecret };
}

function validateDuo(input: Json, current: DuoSettings | null): DuoSettings {
	const field = "duo";
	onlyKeys(input, ["apiHost", "integrationKey", "secretKey", "honourDuoBypass", "timeoutMs", "caPem", "webClientId", "webClientSecret"], field);
	const apiHost = text(input, "apiHost", field, { max: 260 }).toLowerCase();
	const { host, port } = splitDuoHost(apiHost);
	if (!HOSTNAME.test(host) || !/^[^:]+(:[0-9]{1,5})?$/.test(apiHost) || port < 1 || port > 65535) {
		throw bad(`${field}.apiHost`, 'must be the bare API hostname from the Duo Admin Panel, e.g. "api-xxxxxxxx.duosecurity.com" (no https://, no path)');
	}
	const integrationKey = text(input, "integrationKey", field, { min: 10, max: 64, pattern: /^[A-Za-z0-9]+$/, hint: "must be letters and digits (Duo integration keys start with DI)" });
	const secretKey = secret(input, "secretKey", field, current?.secretKey, (value) => (/^[\x21-\x7e]{20,128}$/.test(value) ? null : "must be 20 to 128 printable characters without spaces"));
	if (secretKey === integrationKey) throw refused("duo.secretKey: the secret key must not equal the integration key");
	const honour = input.honourDuoBypass;
	if (honour !== undefined && honour !== null && typeof honour !== "boolean") throw bad(`${field}.honourDuoBypass`, "must be true or false");
	return {
		apiHost,
		integrationKey,
		secretKey,
		honourDuoBypass: honour === true,
		timeoutMs: integer(input, "timeoutMs", field, 100, 30_000, DUO_DEFAULT_TIMEOUT_MS),
		...caPem(input, field, current?.caPem),
		...duoWebSdk(input, current, { integrationKey, secretKey }),
	};
}

function validateRadius(input: Json, current: RadiusSettings | null): RadiusSettings {
	const field = "radius";
	onlyKeys(input, ["servers", "timeoutMs", "retries", "nasIdentifier"], field);
	const rawServers = input.servers;
	if (!Array.isArray(rawServers) || rawServers.length === 0) throw bad(`${field}.servers`, "at least one RADIUS server is required");
	if (rawServers.length > MAX_SERVERS) throw bad(`${field}.servers`, `at most ${MAX_SERVERS} servers`);
	const servers: RadiusServerSettings[] = [];
	for (const [index, raw] of rawServers.entries()) {
		const where = `${field}.servers[${index + 1}]`;
		const server = asObject(raw, where);
		onlyKeys(server, ["host", "port", "secret", "legacyNoMessageAuthenticator"], where);
		const host = text(server, "host", where, { max: 253 }).toLowerCase().replace(/^\[|\]$/g, "");
		if (isIP(host) === 0 && !HOSTNAME.test(host)) throw bad(`${where}.host`, "must be a host name or an IP address");
		const port = integer(server, "port", where, 1, 65535, 1812);
		if (servers.some((other) => other.host === host && other.port === port)) throw refused(`${where}: ${host}:${port} is listed twice`);
		const stored = current?.servers.find((other) => other.host === host && other.port === port)?.secret;
		// RFC 2865 §3: the secret MUST NOT be empty; docs/security.md, RADIUS: at least 16 random characters.
		const serverSecret = secret(server, "secret", where, stored, (value) => {
			if (Buffer.byteLength(value, "utf8") < RADIUS_MIN_SECRET_LENGTH) return `must have at least ${RADIUS_MIN_SECRET_LENGTH} characters (docs/security.md, RADIUS; use a random one)`;
			if (Buffer.byteLength(value, "utf8") > 128) return "must have at most 128 octets";
			return CONTROL.test(value) ? "must not contain control characters" : null;
		});
		servers.push({ host, port, secret: serverSecret, legacyNoMessageAuthenticator: boolean(server, "legacyNoMessageAuthenticator", where) });
	}
	const timeoutMs = integer(input, "timeoutMs", field, 100, 10_000, RADIUS_DEFAULT_TIMEOUT_MS);
	const retries = integer(input, "retries", field, 0, 5, RADIUS_DEFAULT_RETRIES);
	const total = servers.length * (retries + 1) * timeoutMs;
	if (total > RADIUS_MAX_TOTAL_WAIT_MS) {
		throw refused(`radius: ${servers.length} server(s) × ${retries + 1} transmissions × ${timeoutMs} ms = ${total} ms could keep a login waiting longer than ${RADIUS_MAX_TOTAL_WAIT_MS} ms; lower the timeout or the retries`);
	}
	const nasIdentifier = input.nasIdentifier === undefined || input.nasIdentifier === null || input.nasIdentifier === "" ? RADIUS_DEFAULT_NAS_IDENTIFIER : text(input, "nasIdentifier", field, { max: 253 });
	return { servers, timeoutMs, retries, nasIdentifier };
}

/**
 * Validates an admin's input (a parsed JSON object or the equivalent built from a form) and
 * returns the complete settings. Omitted secrets keep the current ones; nothing else is inherited.
 */
export function validateMethodSettings<M extends ConfigurableMethod>(method: M, input: unknown, current: MethodSettingsMap[M] | null): MethodSettingsMap[M] {
	const object = asObject(input, method);
	switch (method) {
		case "yubikey-otp":
			return validateYubikey(object, current as YubikeyOtpSettings | null) as MethodSettingsMap[M];
		case "duo":
			return validateDuo(object, current as DuoSettings | null) as MethodSettingsMap[M];
		case "radius":
			return validateRadius(object, current as RadiusSettings | null) as MethodSettingsMap[M];
		default:
			throw bad("method", "has no settings");
	}
}

// ---------------------------------------------------------------------------------------------
// Redaction (what admins, pages and the audit log see)
// ---------------------------------------------------------------------------------------------

export type RedactedSettings =
	| { readonly mode: "cloud"; readonly urls: readonly string[]; readonly clientId: string; readonly apiKeySet: boolean; readonly timeoutMs: number; readonly caPemSet: boolean; readonly insecureHttp: boolean }
	| { readonly mode: "offline" }
	| {
			readonly apiHost: string;
			readonly integrationKey: string;
			readonly secretKeySet: boolean;
			readonly honourDuoBypass: boolean;
			readonly timeoutMs: number;
			readonly caPemSet: boolean;
			/** The Web SDK client ID (not a secret), or null when the web uses the Auth API prompt. */
			readonly webClientId: string | null;
			readonly webClientSecretSet: boolean;
	  }
	| {
			readonly servers: readonly { readonly host: string; readonly port: number; readonly secretSet: boolean; readonly legacyNoMessageAuthenticator: boolean }[];
			readonly timeoutMs: number;
			readonly retries: number;
			readonly nasIdentifier: string;
	  };

/** The settings without any secret (only whether one is set). Safe for pages, JSON and the audit log. */
export function redactSettings(method: ConfigurableMethod, settings: MethodSettingsMap[ConfigurableMethod]): RedactedSettings {
	switch (method) {
		case "yubikey-otp": {
			const yubikey = settings as YubikeyOtpSettings;
			if (yubikey.mode === "offline") return { mode: "offline" };
			return {
				mode: "cloud",
				urls: [...yubikey.urls],
				clientId: yubikey.clientId,
				apiKeySet: yubikey.apiKey.length > 0,
				timeoutMs: yubikey.timeoutMs,
				caPemSet: yubikey.caPem !== undefined,
				insecureHttp: yubikey.urls.some((url) => url.startsWith("http:")),
			};
		}
		case "duo": {
			const duo = settings as DuoSettings;
			return {
				apiHost: duo.apiHost,
				integrationKey: duo.integrationKey,
				secretKeySet: duo.secretKey.length > 0,
				honourDuoBypass: duo.honourDuoBypass,
				timeoutMs: duo.timeoutMs,
				caPemSet: duo.caPem !== undefined,
				webClientId: duo.webClientId ?? null,
				webClientSecretSet: duo.webClientSecret !== undefined && duo.webClientSecret.length > 0,
			};
		}
		case "radius": {
			const radius = settings as RadiusSettings;
			return {
				servers: radius.servers.map((server) => ({ host: server.host, port: server.port, secretSet: server.secret.length > 0, legacyNoMessageAuthenticator: server.legacyNoMessageAuthenticator })),
				timeoutMs: radius.timeoutMs,
				retries: radius.retries,
				nasIdentifier: radius.nasIdentifier,
			};
		}
	}
}

// ---------------------------------------------------------------------------------------------
// Storage
// ---------------------------------------------------------------------------------------------

function sealSecrets(method: ConfigurableMethod, settings: MethodSettingsMap[ConfigurableMethod], seal: (value: string) => string): unknown {
	switch (method) {
		case "yubikey-otp": {
			const yubikey = settings as YubikeyOtpSettings;
			return yubikey.mode === "cloud" ? { ...yubikey, apiKey: seal(yubikey.apiKey) } : yubikey;
		}
		case "duo": {
			const duo = settings as DuoSettings;
			return { ...duo, secretKey: seal(duo.secretKey), ...(duo.webClientSecret !== undefined ? { webClientSecret: seal(duo.webClientSecret) } : {}) };
		}
		case "radius": {
			const radius = settings as RadiusSettings;
			return { ...radius, servers: radius.servers.map((server) => ({ ...server, secret: seal(server.secret) })) };
		}
	}
}

function openSecrets(method: ConfigurableMethod, stored: Json, open: (value: unknown) => string): Json {
	switch (method) {
		case "yubikey-otp":
			return stored.mode === "cloud" ? { ...stored, apiKey: open(stored.apiKey) } : stored;
		case "duo":
			return { ...stored, secretKey: open(stored.secretKey), ...(stored.webClientSecret !== undefined ? { webClientSecret: open(stored.webClientSecret) } : {}) };
		case "radius": {
			const servers = Array.isArray(stored.servers) ? stored.servers : [];
			return { ...stored, servers: servers.map((server) => ({ ...asObject(server, "radius.server"), secret: open(asObject(server, "radius.server").secret) })) };
		}
	}
}

function unavailable(method: ConfigurableMethod, message: string, cause?: unknown): PortcullisError {
	return new PortcullisError("ERR_METHOD_UNAVAILABLE", `${method}: ${message}`, cause === undefined ? undefined : { cause });
}

/** Reads the raw stored row; null when absent or cleared. No decryption. */
async function readStored(settings: SettingsStore, method: ConfigurableMethod): Promise<Json | null> {
	const raw = await settings.get(settingsKey(method));
	if (raw === undefined) return null;
	let parsed: unknown;
	try {
		parsed = JSON.parse(raw);
	} catch {
		return null;
	}
	if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return null;
	return parsed as Json;
}

/**
 * Whether a method may be enabled: methods without settings always; Yubico OTP, Duo and RADIUS
 * only once an admin has saved settings for them. Cheap (no decryption): used by AdminService.
 */
export async function isMethodConfigured(settings: SettingsStore, method: MethodId): Promise<boolean> {
	if (!isConfigurableMethod(method)) return true;
	return (await readStored(settings, method)) !== null;
}

export class MethodSettingsStore {
	constructor(
		private readonly settings: SettingsStore,
		private readonly box: SecretBox,
	) {}

	isConfigured(method: MethodId): Promise<boolean> {
		return isMethodConfigured(this.settings, method);
	}

	/**
	 * The current settings with secrets opened, or null when the method is not configured. A row
	 * that does not open or validate throws ERR_METHOD_UNAVAILABLE (fail closed, never half-used).
	 */
	async load<M extends ConfigurableMethod>(method: M): Promise<MethodSettingsMap[M] | null> {
		const row = await readStored(this.settings, method);
		if (row === null) return null;
		const { v: _version, ...stored } = row;
		try {
			const opened = openSecrets(method, stored, (value) => {
				if (typeof value !== "string") throw new PortcullisError("ERR_DECRYPT");
				return this.box.open(value, sealContext(method)).toString("utf8");
			});
			return validateMethodSettings(method, opened, null);
		} catch (error) {
			throw unavailable(method, "the stored settings cannot be used (wrong secret key or corrupt row); an admin must save them again", error);
		}
	}

	/** Like load, but a missing configuration is an error (methods call this on every use). */
	async require<M extends ConfigurableMethod>(method: M): Promise<MethodSettingsMap[M]> {
		const settings = await this.load(method);
		if (settings === null) throw unavailable(method, "not configured (Admin → Methods)");
		return settings;
	}

	/** Stores already-validated settings (see validateMethodSettings), sealing every secret. */
	async save<M extends ConfigurableMethod>(method: M, settings: MethodSettingsMap[M]): Promise<void> {
		const sealed = sealSecrets(method, settings, (value) => this.box.seal(value, sealContext(method)));
		await this.settings.set(settingsKey(method), JSON.stringify({ ...(sealed as Json), v: 1 }));
	}

	async clear(method: ConfigurableMethod): Promise<void> {
		await this.settings.set(settingsKey(method), "null");
	}
}
