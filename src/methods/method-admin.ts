/**
 * Admin operations on the backend methods' settings (issue 4 item 5), shared by the web console's
 * /admin/methods page and any CLI command, in the style of AdminService:
 *   - get: the settings with every secret redacted (only whether it is set), plus the downgrades
 *     an admin must see (a legacy RADIUS server, plain http, Duo bypass honoured);
 *   - update: validates (every invalid combination refused, method-settings.ts), stores with the
 *     secrets sealed, and audits "method.settings-changed" with the acting admin and the redacted
 *     before/after — never a secret, only the NAMES of secrets that changed;
 *   - clear: refused while the method is enabled globally or listed by a group;
 *   - testConnection: RADIUS (a dummy Access-Request to each server: answered and signed?),
 *     Duo (/auth/v2/check: keys, signature, clock; with a Web SDK application also the Universal
 *     Prompt's /oauth/v1/health_check with its client id and secret), Yubico (a syntactically valid dummy OTP to
 *     each URL: a signed BAD_OTP/REPLAYED answer means reachable and signed with our API key).
 */
import type { Clock } from "../core/clock.ts";
import { PortcullisError, isPortcullisError } from "../core/errors.ts";
import { METHOD_INFO } from "../core/method-id.ts";
import type { Random } from "../core/random.ts";
import type { SecretBox } from "../crypto/secret-box.ts";
import type { Actor } from "../core/actor.ts";
import type { AuditLog } from "../storage/audit-log.ts";
import { parseAllowed, type GroupStore } from "../storage/group-store.ts";
import type { SettingsStore } from "../storage/settings-store.ts";
import { duoClient } from "./duo/duo-method.ts";
import { callbackUrl, universalClient } from "./duo/duo-universal.ts";
import {
	CONFIGURABLE_METHODS,
	MethodSettingsStore,
	isConfigurableMethod,
	redactSettings,
	validateMethodSettings,
	type ConfigurableMethod,
	type DuoSettings,
	type MethodSettingsMap,
	type RadiusSettings,
	type RedactedSettings,
	type YubikeyOtpSettings,
} from "./method-settings.ts";
import { radiusClient } from "./radius/radius-method.ts";
import { cloudClient } from "./yubikey-otp/yubikey-otp-method.ts";
import { MODHEX_ALPHABET } from "./yubikey-otp/modhex.ts";

export interface MethodAdminDeps {
	readonly settings: SettingsStore;
	readonly groups: GroupStore;
	readonly audit: AuditLog;
	readonly box: SecretBox;
	readonly clock: Clock;
	readonly random: Random;
	/** The console's public URL (the Duo Web SDK client needs a redirect URL even for a health check). */
	readonly consoleUrl?: string;
}

export interface MethodSettingsView {
	readonly method: ConfigurableMethod;
	readonly label: string;
	readonly configured: boolean;
	/** Enabled in the global settings right now. */
	readonly enabled: boolean;
	/** Redacted settings; null when not configured or unreadable. */
	readonly settings: RedactedSettings | null;
	/** Weaker-than-default choices, shown prominently (e.g. a RADIUS server without Message-Authenticator). */
	readonly downgrades: readonly string[];
	/** Set when stored settings exist but cannot be used (wrong secret key, corrupt row). */
	readonly problem: string | null;
}

export interface ConnectionCheck {
	readonly target: string;
	readonly ok: boolean;
	readonly message: string;
}

export interface ConnectionTestResult {
	readonly method: ConfigurableMethod;
	readonly ok: boolean;
	readonly checks: readonly ConnectionCheck[];
}

function downgradesOf(method: ConfigurableMethod, settings: MethodSettingsMap[ConfigurableMethod]): string[] {
	const notes: string[] = [];
	if (method === "radius") {
		for (const server of (settings as RadiusSettings).servers) {
			if (server.legacyNoMessageAuthenticator) {
				notes.push(`RADIUS server ${server.host}:${server.port} is marked legacy: its replies are accepted without Message-Authenticator (BlastRADIUS, CVE-2024-3596). Upgrade it and clear the flag.`);
			}
		}
	}
	if (method === "yubikey-otp") {
		const yubikey = settings as YubikeyOtpSettings;
		if (yubikey.mode === "cloud" && yubikey.urls.some((url) => url.startsWith("http:"))) notes.push("A validation URL uses plain http (allowed only to this host).");
	}
	if (method === "duo" && (settings as DuoSettings).honourDuoBypass) {
		notes.push("Duo bypass is honoured: users whom Duo lets through without a device pass the second factor. Every such login is audited.");
	}
	if ((method === "duo" || method === "yubikey-otp") && (settings as { caPem?: string }).caPem !== undefined) {
		notes.push("A private CA replaces the system certificate roots for this method.");
	}
	return notes;
}

/** Names of secret fields whose value changed (for the audit log; never the values). */
function changedSecrets(method: ConfigurableMethod, before: MethodSettingsMap[ConfigurableMethod] | null, after: MethodSettingsMap[ConfigurableMethod]): string[] {
	switch (method) {
		case "yubikey-otp": {
			const next = after as YubikeyOtpSettings;
			const previous = before as YubikeyOtpSettings | null;
			if (next.mode !== "cloud") return [];
			return previous?.mode === "cloud" && previous.apiKey === next.apiKey ? [] : ["apiKey"];
		}
		case "duo": {
			const previous = before as DuoSettings | null;
			const next = after as DuoSettings;
			const names = previous?.secretKey === next.secretKey ? [] : ["secretKey"];
			if (previous?.webClientSecret !== next.webClientSecret) names.push("webClientSecret");
			return names;
		}
		case "radius": {
			const previous = (before as RadiusSettings | null)?.servers ?? [];
			return (after as RadiusSettings).servers
				.filter((server) => previous.find((old) => old.host === server.host && old.port === server.port)?.secret !== server.secret)
				.map((server) => `servers[${server.host}:${server.port}].secret`);
		}
	}
}

/** A random, syntactically valid Yubico OTP (12-character public id + 32 ModHex): no key produced it. */
export function dummyOtp(random: Random): string {
	let otp = "";
	for (let index = 0; index < 44; index++) otp += MODHEX_ALPHABET[random.int(0, 16)];
	return otp;
}

export class MethodAdmin {
	readonly #store: MethodSettingsStore;

	constructor(private readonly deps: MethodAdminDeps) {
		this.#store = new MethodSettingsStore(deps.settings, deps.box);
	}

	#require(method: unknown): ConfigurableMethod {
		if (!isConfigurableMethod(method)) throw new PortcullisError("ERR_INPUT", `${String(method).slice(0, 40)} has no settings (only ${CONFIGURABLE_METHODS.join(", ")})`);
		return method;
	}

	async get(rawMethod: ConfigurableMethod): Promise<MethodSettingsView> {
		const method = this.#require(rawMethod);
		const configured = await this.#store.isConfigured(method);
		const enabled = (await this.deps.settings.getTwoFactor()).enabledMethods.includes(method);
		const base = { method, label: METHOD_INFO[method].label, configured, enabled };
		if (!configured) return { ...base, settings: null, downgrades: [], problem: null };
		try {
			const settings = await this.#store.require(method);
			return { ...base, settings: redactSettings(method, settings), downgrades: downgradesOf(method, settings), problem: null };
		} catch (error) {
			return { ...base, settings: null, downgrades: [], problem: error instanceof Error ? error.message : "the stored settings cannot be read" };
		}
	}

	async list(): Promise<MethodSettingsView[]> {
		const views: MethodSettingsView[] = [];
		for (const method of CONFIGURABLE_METHODS) views.push(await this.get(method));
		return views;
	}

	/**
	 * Validates and stores new settings. Omitted (or null) secret fields keep the stored secret, so
	 * a form never has to show one; "" is refused. Throws ERR_INPUT / ERR_POLICY_INVALID.
	 */
	async update(actor: Actor, rawMethod: ConfigurableMethod, input: unknown): Promise<MethodSettingsView> {
		const method = this.#require(rawMethod);
		let current: MethodSettingsMap[ConfigurableMethod] | null;
		try {
			current = await this.#store.load(method);
		} catch {
			// Unreadable (e.g. the secret key changed): the admin re-enters everything, secrets included.
			current = null;
		}
		const next = validateMethodSettings(method, input, current as never);
		await this.#store.save(method, next);
		await this.deps.audit.write({
			event: "method.settings-changed",
			outcome: "success",
			actor: actor.name,
			channel: actor.channel,
			source: actor.source,
			method,
			detail: {
				method,
				before: current === null ? null : redactSettings(method, current),
				after: redactSettings(method, next),
				secretsChanged: changedSecrets(method, current, next),
			},
		});
		return this.get(method);
	}

	/** Removes the settings; refused while the method is enabled or listed by a group (it would fail every login). */
	async clear(actor: Actor, rawMethod: ConfigurableMethod): Promise<void> {
		const method = this.#require(rawMethod);
		if ((await this.deps.settings.getTwoFactor()).enabledMethods.includes(method)) {
			throw new PortcullisError("ERR_POLICY_INVALID", `${method} is enabled: disable it before removing its settings`);
		}
		const groups = (await this.deps.groups.list()).filter((group) => parseAllowed(group.allowed_methods)?.includes(method));
		if (groups.length > 0) {
			throw new PortcullisError("ERR_POLICY_INVALID", `${method} is listed by group(s) ${groups.map((group) => group.name).join(", ")}: remove it there first`);
		}
		await this.#store.clear(method);
		await this.deps.audit.write({ event: "method.settings-changed", outcome: "success", actor: actor.name, channel: actor.channel, source: actor.source, method, detail: { method, before: "configured", after: null, secretsChanged: [] } });
	}

	/** Contacts the configured backend(s) without a real user; never throws for network problems. */
	async testConnection(actor: Actor, rawMethod: ConfigurableMethod): Promise<ConnectionTestResult> {
		const method = this.#require(rawMethod);
		let checks: ConnectionCheck[];
		try {
			const settings = await this.#store.load(method);
			if (settings === null) checks = [{ target: method, ok: false, message: "not configured" }];
			else if (method === "radius") checks = await this.#testRadius(settings as RadiusSettings);
			else if (method === "duo") checks = await this.#testDuo(settings as DuoSettings);
			else checks = await this.#testYubico(settings as YubikeyOtpSettings);
		} catch (error) {
			checks = [{ target: method, ok: false, message: error instanceof Error ? error.message.slice(0, 300) : "failed" }];
		}
		const result: ConnectionTestResult = { method, ok: checks.length > 0 && checks.every((check) => check.ok), checks };
		await this.deps.audit.write({ event: "method.connection-tested", outcome: result.ok ? "success" : "failure", actor: actor.name, channel: actor.channel, source: actor.source, method, detail: { method, checks } });
		return result;
	}

	async #testRadius(settings: RadiusSettings): Promise<ConnectionCheck[]> {
		const probes = await radiusClient(settings, { random: this.deps.random, clock: this.deps.clock }).testConnection();
		return probes.map((probe) => {
			const ok = probe.verified && probe.outcome !== "accept";
			const status = probe.verified ? `answered ${probe.outcome} in ${probe.roundTripMs ?? "?"} ms, reply verified` : "no verified reply";
			return { target: `radius ${probe.server}`, ok, message: probe.problem === null ? status : `${status}: ${probe.problem}` };
		});
	}

	async #testDuo(settings: DuoSettings): Promise<ConnectionCheck[]> {
		const checks = [await this.#testDuoAuthApi(settings)];
		if (settings.webClientId !== undefined) checks.push(await this.#testDuoWebSdk(settings));
		return checks;
	}

	async #testDuoAuthApi(settings: DuoSettings): Promise<ConnectionCheck> {
		const target = `duo ${settings.apiHost} (Auth API, SSH)`;
		try {
			const { time } = await duoClient(settings, this.deps.clock).check();
			const skew = Math.round(time - this.deps.clock.now().getTime() / 1000);
			// Duo refuses requests whose Date is too far off; warn well before that.
			if (Math.abs(skew) > 60) return { target, ok: false, message: `keys and signature accepted, but this server's clock is off by ${skew} s: fix NTP` };
			return { target, ok: true, message: `keys and signature accepted (clock skew ${skew} s)` };
		} catch (error) {
			return { target, ok: false, message: isPortcullisError(error) ? error.message.slice(0, 300) : "check failed" };
		}
	}

	/** The Universal Prompt's health check: a client_assertion JWT signed with the Web SDK secret. */
	async #testDuoWebSdk(settings: DuoSettings): Promise<ConnectionCheck> {
		const target = `duo ${settings.apiHost} (Web SDK, Universal Prompt)`;
		try {
			await universalClient(settings, callbackUrl(this.deps.consoleUrl ?? "https://portcullis.invalid")).healthCheck();
			return { target, ok: true, message: "health check answered OK for this client ID and secret" };
		} catch (error) {
			return { target, ok: false, message: error instanceof Error ? error.message.slice(0, 300) : "health check failed" };
		}
	}

	async #testYubico(settings: YubikeyOtpSettings): Promise<ConnectionCheck[]> {
		if (settings.mode === "offline") return [{ target: "yubikey-otp offline", ok: true, message: "offline mode: each key is checked with its own AES secret; there is no server to contact" }];
		const checks: ConnectionCheck[] = [];
		for (const url of settings.urls) {
			const target = `yubico ${url}`;
			try {
				const result = await cloudClient(settings, this.deps.random, [url]).verify(dummyOtp(this.deps.random));
				if (result.kind === "valid") {
					checks.push({ target, ok: false, message: "the server ACCEPTED a random OTP: it is not a trustworthy validation server" });
				} else if ((result.reason === "rejected" && result.status === "BAD_OTP") || result.reason === "replayed") {
					checks.push({ target, ok: true, message: `reachable; answered ${result.status} for a dummy OTP, signed with our API key` });
				} else if (result.reason === "rejected" && result.status === "NO_SUCH_CLIENT") {
					checks.push({ target, ok: false, message: "the server does not know this client id" });
				} else if (result.reason === "rejected" && result.status === "BAD_SIGNATURE") {
					checks.push({ target, ok: false, message: "the server says our request signature is wrong: check the API key" });
				} else if (result.reason === "missing-signature" || result.reason === "bad-signature") {
					checks.push({ target, ok: false, message: `the answer is ${result.reason === "missing-signature" ? "unsigned" : "not signed with our API key"}: check the API key (answers are never trusted unsigned)` });
				} else {
					checks.push({ target, ok: false, message: `unexpected answer (${result.reason}${result.status ? `, status ${result.status}` : ""}${result.httpStatus ? `, HTTP ${result.httpStatus}` : ""})` });
				}
			} catch (error) {
				checks.push({ target, ok: false, message: `unreachable: ${error instanceof Error ? error.message.slice(0, 240) : "failed"}` });
			}
		}
		return checks;
	}
}

/** The MethodAdmin of an app (web routes and the CLI build it from the composition root's parts). */
export function createMethodAdmin(app: {
	readonly stores: { readonly settings: SettingsStore; readonly groups: GroupStore; readonly audit: AuditLog };
	readonly box: SecretBox;
	readonly clock: Clock;
	readonly random: Random;
	readonly consoleUrl?: string;
}): MethodAdmin {
	return new MethodAdmin({
		settings: app.stores.settings,
		groups: app.stores.groups,
		audit: app.stores.audit,
		box: app.box,
		clock: app.clock,
		random: app.random,
		...(app.consoleUrl !== undefined ? { consoleUrl: app.consoleUrl } : {}),
	});
}
