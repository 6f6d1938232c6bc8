/**
 * The Duo method's admin settings: the Auth API application (SSH and, without a Web SDK
 * application, the web) and the optional Web SDK application for the Universal Prompt. Stored by
 * method-settings.ts with the secret key and the Web SDK client secret sealed.
 */
import { HOSTNAME, PRIVATE_CA_NOTE, bad, caPem, integer, onlyKeys, refused, secret, text } from "../settings-fields.ts";
import type { JsonObject, MethodSettingsSpec } from "../settings-spec.ts";

export interface DuoSettings {
	/** "api-xxxxxxxx.duosecurity.com"; an optional ":port" is for tests and on-premises proxies. */
	readonly apiHost: string;
	readonly integrationKey: string;
	/** Secret. */
	readonly secretKey: string;
	/** Honour a Duo-side bypass (preauth "allow", auth status "bypass"). Default false (docs/threat-model.md, Duo). */
	readonly honourDuoBypass: boolean;
	readonly timeoutMs: number;
	/** Private CA (tests, TLS-inspecting proxies); replaces the system roots. */
	readonly caPem?: string;
	/**
	 * Optional "Web SDK" application (Duo Universal Prompt, OIDC redirect; docs/threat-model.md, Duo) on the
	 * same API host. When both are set, web logins use the Universal Prompt; SSH always uses the
	 * Auth API above. Both or neither: a half-configured pair is refused.
	 */
	readonly webClientId?: string;
	/** Secret (the Web SDK application's client secret). */
	readonly webClientSecret?: string;
}

export interface DuoRedacted {
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

export const DUO_DEFAULT_TIMEOUT_MS = 10_000;

/** Whether the Duo settings include a complete Web SDK application (Universal Prompt on the web). */
export function hasDuoWebSdk(settings: DuoSettings): settings is DuoSettings & { webClientId: string; webClientSecret: string } {
	return settings.webClientId !== undefined && settings.webClientSecret !== undefined;
}

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
function duoWebSdk(
	input: JsonObject,
	current: DuoSettings | null,
	auth: { integrationKey: string; secretKey: string },
): { webClientId?: string; webClientSecret?: string } {
	const field = "duo";
	const rawId = input.webClientId;
	const rawSecret = input.webClientSecret;
	const idGiven = rawId !== undefined && rawId !== null && rawId !== "";
	const secretGiven = rawSecret !== undefined && rawSecret !== null;
	if (!idGiven) {
		if (secretGiven)
			throw refused("duo.webClientSecret: a Web SDK client secret needs its client ID (set both, or neither to use the Auth API prompt on the web)");
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
	if (webClientId === auth.integrationKey)
		throw refused('duo.webClientId: this is the Auth API integration key; the Universal Prompt needs a separate "Web SDK" application');
	if (webClientSecret === auth.secretKey)
		throw refused("duo.webClientSecret: this is the Auth API secret key; the Universal Prompt needs the Web SDK application's own secret");
	return { webClientId, webClientSecret };
}

function validate(input: JsonObject, current: DuoSettings | null): DuoSettings {
	const field = "duo";
	onlyKeys(input, ["apiHost", "integrationKey", "secretKey", "honourDuoBypass", "timeoutMs", "caPem", "webClientId", "webClientSecret"], field);
	const apiHost = text(input, "apiHost", field, { max: 260 }).toLowerCase();
	const { host, port } = splitDuoHost(apiHost);
	if (!HOSTNAME.test(host) || !/^[^:]+(:[0-9]{1,5})?$/.test(apiHost) || port < 1 || port > 65535) {
		throw bad(`${field}.apiHost`, 'must be the bare API hostname from the Duo Admin Panel, e.g. "api-xxxxxxxx.duosecurity.com" (no https://, no path)');
	}
	const integrationKey = text(input, "integrationKey", field, {
		min: 10,
		max: 64,
		pattern: /^[A-Za-z0-9]+$/,
		hint: "must be letters and digits (Duo integration keys start with DI)",
	});
	const secretKey = secret(input, "secretKey", field, current?.secretKey, (value) =>
		/^[\x21-\x7e]{20,128}$/.test(value) ? null : "must be 20 to 128 printable characters without spaces",
	);
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

export const duoSettings: MethodSettingsSpec<DuoSettings, DuoRedacted> = {
	validate,

	redact(settings) {
		return {
			apiHost: settings.apiHost,
			integrationKey: settings.integrationKey,
			secretKeySet: settings.secretKey.length > 0,
			honourDuoBypass: settings.honourDuoBypass,
			timeoutMs: settings.timeoutMs,
			caPemSet: settings.caPem !== undefined,
			webClientId: settings.webClientId ?? null,
			webClientSecretSet: settings.webClientSecret !== undefined && settings.webClientSecret.length > 0,
		};
	},

	seal(settings, seal) {
		return {
			...settings,
			secretKey: seal(settings.secretKey),
			...(settings.webClientSecret !== undefined ? { webClientSecret: seal(settings.webClientSecret) } : {}),
		};
	},

	open(stored, open) {
		return { ...stored, secretKey: open(stored.secretKey), ...(stored.webClientSecret !== undefined ? { webClientSecret: open(stored.webClientSecret) } : {}) };
	},

	downgrades(settings) {
		const notes: string[] = [];
		if (settings.honourDuoBypass)
			notes.push("Duo bypass is honoured: users whom Duo lets through without a device pass the second factor. Every such login is audited.");
		if (settings.caPem !== undefined) notes.push(PRIVATE_CA_NOTE);
		return notes;
	},

	secretsChanged(before, after) {
		const names = before?.secretKey === after.secretKey ? [] : ["secretKey"];
		if (before?.webClientSecret !== after.webClientSecret) names.push("webClientSecret");
		return names;
	},
};
