/**
 * The YubiKey (Yubico OTP) method's admin settings: a Validation Protocol 2.0 server ("cloud") or
 * offline validation with each key's own AES secret. Stored by method-settings.ts with the API
 * key sealed.
 */
import { MAX_SERVERS, PRIVATE_CA_NOTE, bad, caPem, integer, isLoopbackHost, onlyKeys, refused, secret, text } from "../settings-fields.ts";
import type { JsonObject, MethodSettingsSpec } from "../settings-spec.ts";
import { decodeStrictBase64 } from "./wsapi-signature.ts";

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

export type YubikeyOtpRedacted =
	| {
			readonly mode: "cloud";
			readonly urls: readonly string[];
			readonly clientId: string;
			readonly apiKeySet: boolean;
			readonly timeoutMs: number;
			readonly caPemSet: boolean;
			readonly insecureHttp: boolean;
	  }
	| { readonly mode: "offline" };

export const YUBIKEY_DEFAULT_TIMEOUT_MS = 5_000;

function validate(input: JsonObject, current: YubikeyOtpSettings | null): YubikeyOtpSettings {
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
			throw refused(
				`${where}: plain http:// is only allowed to a validation server on this host (127.0.0.1, ::1, localhost); use https:// (the OTP would travel unencrypted)`,
			);
		}
		if (urls.includes(url.href)) throw refused(`${where}: the URL ${url.href} is listed twice`);
		urls.push(url.href);
	}
	const clientId = text(input, "clientId", field, {
		max: 64,
		pattern: /^[A-Za-z0-9_-]+$/,
		hint: "must be letters, digits, '_' or '-' (YubiCloud client ids are digits)",
	});
	const apiKey = secret(input, "apiKey", field, current?.mode === "cloud" ? current.apiKey : undefined, (value) => {
		const decoded = decodeStrictBase64(value.trim());
		if (decoded === null) return "must be the base64 API key exactly as issued";
		return decoded.length < 16 ? "is too short (at least 16 bytes of key)" : null;
	}).trim();
	return {
		mode: "cloud",
		urls,
		clientId,
		apiKey,
		timeoutMs: integer(input, "timeoutMs", field, 100, 30_000, YUBIKEY_DEFAULT_TIMEOUT_MS),
		...caPem(input, field, current?.mode === "cloud" ? current.caPem : undefined),
	};
}

export const yubikeyOtpSettings: MethodSettingsSpec<YubikeyOtpSettings, YubikeyOtpRedacted> = {
	validate,

	redact(settings) {
		if (settings.mode === "offline") return { mode: "offline" };
		return {
			mode: "cloud",
			urls: [...settings.urls],
			clientId: settings.clientId,
			apiKeySet: settings.apiKey.length > 0,
			timeoutMs: settings.timeoutMs,
			caPemSet: settings.caPem !== undefined,
			insecureHttp: settings.urls.some((url) => url.startsWith("http:")),
		};
	},

	seal(settings, seal) {
		return settings.mode === "cloud" ? { ...settings, apiKey: seal(settings.apiKey) } : settings;
	},

	open(stored, open) {
		return stored.mode === "cloud" ? { ...stored, apiKey: open(stored.apiKey) } : stored;
	},

	downgrades(settings) {
		if (settings.mode !== "cloud") return [];
		const notes: string[] = [];
		if (settings.urls.some((url) => url.startsWith("http:"))) notes.push("A validation URL uses plain http (allowed only to this host).");
		if (settings.caPem !== undefined) notes.push(PRIVATE_CA_NOTE);
		return notes;
	},

	secretsChanged(before, after) {
		if (after.mode !== "cloud") return [];
		return before?.mode === "cloud" && before.apiKey === after.apiKey ? [] : ["apiKey"];
	},
};
