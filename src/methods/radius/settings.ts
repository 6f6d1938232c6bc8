/**
 * The RADIUS method's admin settings: the servers (tried in order) with their shared secrets, and
 * the timing of one login round. Stored by method-settings.ts with every shared secret sealed.
 */
import { hasUnsafe } from "../../core/untrusted-text.ts";
import { isIP } from "node:net";
import { HOSTNAME, MAX_SERVERS, asObject, bad, boolean, integer, onlyKeys, refused, secret, text } from "../settings-fields.ts";
import type { JsonObject, MethodSettingsSpec } from "../settings-spec.ts";

export interface RadiusServerSettings {
	readonly host: string;
	readonly port: number;
	/** Secret; at least 16 characters (docs/threat-model.md, RADIUS). */
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

export interface RadiusRedacted {
	readonly servers: readonly { readonly host: string; readonly port: number; readonly secretSet: boolean; readonly legacyNoMessageAuthenticator: boolean }[];
	readonly timeoutMs: number;
	readonly retries: number;
	readonly nasIdentifier: string;
}

export const RADIUS_DEFAULT_TIMEOUT_MS = 2_000;
export const RADIUS_DEFAULT_RETRIES = 2;
export const RADIUS_DEFAULT_NAS_IDENTIFIER = "portcullis";
export const RADIUS_MIN_SECRET_LENGTH = 16;
/** Worst case of one RADIUS login round (servers × transmissions × timeout): an SSH client and a web request must not wait longer. */
export const RADIUS_MAX_TOTAL_WAIT_MS = 60_000;

function validate(input: JsonObject, current: RadiusSettings | null): RadiusSettings {
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
		const host = text(server, "host", where, { max: 253 })
			.toLowerCase()
			.replace(/^\[|\]$/g, "");
		if (isIP(host) === 0 && !HOSTNAME.test(host)) throw bad(`${where}.host`, "must be a host name or an IP address");
		const port = integer(server, "port", where, 1, 65535, 1812);
		if (servers.some((other) => other.host === host && other.port === port)) throw refused(`${where}: ${host}:${port} is listed twice`);
		const stored = current?.servers.find((other) => other.host === host && other.port === port)?.secret;
		// RFC 2865 §3: the secret MUST NOT be empty; docs/threat-model.md, RADIUS: at least 16 random characters.
		const serverSecret = secret(server, "secret", where, stored, (value) => {
			if (Buffer.byteLength(value, "utf8") < RADIUS_MIN_SECRET_LENGTH)
				return `must have at least ${RADIUS_MIN_SECRET_LENGTH} characters; use a long random one`;
			if (Buffer.byteLength(value, "utf8") > 128) return "must have at most 128 octets";
			return hasUnsafe(value) ? "must not contain control characters" : null;
		});
		servers.push({ host, port, secret: serverSecret, legacyNoMessageAuthenticator: boolean(server, "legacyNoMessageAuthenticator", where) });
	}
	const timeoutMs = integer(input, "timeoutMs", field, 100, 10_000, RADIUS_DEFAULT_TIMEOUT_MS);
	const retries = integer(input, "retries", field, 0, 5, RADIUS_DEFAULT_RETRIES);
	const total = servers.length * (retries + 1) * timeoutMs;
	if (total > RADIUS_MAX_TOTAL_WAIT_MS) {
		throw refused(
			`radius: ${servers.length} server(s) × ${retries + 1} transmissions × ${timeoutMs} ms = ${total} ms could keep a login waiting longer than ${RADIUS_MAX_TOTAL_WAIT_MS} ms; lower the timeout or the retries`,
		);
	}
	const nasIdentifier =
		input.nasIdentifier === undefined || input.nasIdentifier === null || input.nasIdentifier === ""
			? RADIUS_DEFAULT_NAS_IDENTIFIER
			: text(input, "nasIdentifier", field, { max: 253 });
	return { servers, timeoutMs, retries, nasIdentifier };
}

export const radiusSettings: MethodSettingsSpec<RadiusSettings, RadiusRedacted> = {
	validate,

	redact(settings) {
		return {
			servers: settings.servers.map((server) => ({
				host: server.host,
				port: server.port,
				secretSet: server.secret.length > 0,
				legacyNoMessageAuthenticator: server.legacyNoMessageAuthenticator,
			})),
			timeoutMs: settings.timeoutMs,
			retries: settings.retries,
			nasIdentifier: settings.nasIdentifier,
		};
	},

	seal(settings, seal) {
		return { ...settings, servers: settings.servers.map((server) => ({ ...server, secret: seal(server.secret) })) };
	},

	open(stored, open) {
		const servers = Array.isArray(stored.servers) ? stored.servers : [];
		return { ...stored, servers: servers.map((server) => ({ ...asObject(server, "radius.server"), secret: open(asObject(server, "radius.server").secret) })) };
	},

	downgrades(settings) {
		return settings.servers
			.filter((server) => server.legacyNoMessageAuthenticator)
			.map(
				(server) =>
					`RADIUS server ${server.host}:${server.port} is marked legacy: its replies are accepted without Message-Authenticator (BlastRADIUS, CVE-2024-3596). Upgrade it and clear the flag.`,
			);
	},

	secretsChanged(before, after) {
		const previous = before?.servers ?? [];
		return after.servers
			.filter((server) => previous.find((old) => old.host === server.host && old.port === server.port)?.secret !== server.secret)
			.map((server) => `servers[${server.host}:${server.port}].secret`);
	},
};
