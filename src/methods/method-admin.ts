/**
 * Admin operations on the backend methods' settings, shared by the web console's
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
import { PortcullisError } from "../core/errors.ts";
import { METHOD_INFO } from "../core/method-id.ts";
import type { Random } from "../core/random.ts";
import type { Actor } from "../core/actor.ts";
import type { AuditLog } from "../storage/audit-log.ts";
import type { UnitOfWork } from "../storage/unit-of-work.ts";
import { parseAllowed, type GroupStore } from "../storage/group-store.ts";
import type { SettingsStore } from "../storage/settings-store.ts";
import { testDuoConnection } from "./duo/connection-test.ts";
import {
	CONFIGURABLE_METHODS,
	METHOD_SETTINGS,
	type MethodSettingsStore,
	isConfigurableMethod,
	validateMethodSettings,
	type ConfigurableMethod,
	type MethodSettingsMap,
	type RedactedSettingsMap,
	type SettingsSpecOf,
} from "./method-settings.ts";
import { testRadiusConnection } from "./radius/connection-test.ts";
import type { ConnectionCheck, ConnectionTest } from "./settings-spec.ts";
import { testYubikeyOtpConnection } from "./yubikey-otp/connection-test.ts";

export type { ConnectionCheck } from "./settings-spec.ts";

/** Each configurable method's connection test (a mapped type: a method without one does not compile). */
const CONNECTION_TESTS: { readonly [M in ConfigurableMethod]: ConnectionTest<MethodSettingsMap[M]> } = {
	"yubikey-otp": testYubikeyOtpConnection,
	duo: testDuoConnection,
	radius: testRadiusConnection,
};

export interface MethodAdminDeps {
	readonly settings: SettingsStore;
	readonly groups: GroupStore;
	readonly audit: AuditLog;
	/** The sealed per-method settings (built by the composition root). */
	readonly methodSettings: MethodSettingsStore;
	readonly clock: Clock;
	readonly random: Random;
	/** The console's public URL (the Duo Web SDK client needs a redirect URL even for a health check). */
	readonly consoleUrl?: string;
	/** A settings change and its audit event commit in one transaction (storage/unit-of-work.ts). */
	readonly work: Pick<UnitOfWork, "run">;
}

/** One method's settings as admins see them. */
export interface MethodSettingsViewOf<M extends ConfigurableMethod> {
	readonly method: M;
	readonly label: string;
	readonly configured: boolean;
	/** Enabled in the global settings right now. */
	readonly enabled: boolean;
	/** Redacted settings; null when not configured or unreadable. */
	readonly settings: RedactedSettingsMap[M] | null;
	/** Weaker-than-default choices, shown prominently (e.g. a RADIUS server without Message-Authenticator). */
	readonly downgrades: readonly string[];
	/** Set when stored settings exist but cannot be used (wrong secret key, corrupt row). */
	readonly problem: string | null;
}

/**
 * The view of method M; for the whole ConfigurableMethod union, the union of the methods' views,
 * discriminated by `method` (so `view.method === "duo"` narrows `view.settings`).
 */
export type MethodSettingsView<M extends ConfigurableMethod = ConfigurableMethod> = { readonly [K in M]: MethodSettingsViewOf<K> }[M];

export interface ConnectionTestResult {
	readonly method: ConfigurableMethod;
	readonly ok: boolean;
	readonly checks: readonly ConnectionCheck[];
}

export class MethodAdmin {
	readonly #store: MethodSettingsStore;

	constructor(private readonly deps: MethodAdminDeps) {
		this.#store = deps.methodSettings;
	}

	/** Callers typed with ConfigurableMethod may still pass anything at run time (JSON, tests). */
	#require<M extends ConfigurableMethod>(method: M): M {
		if (!isConfigurableMethod(method))
			throw new PortcullisError("ERR_INPUT", `${String(method).slice(0, 40)} has no settings (only ${CONFIGURABLE_METHODS.join(", ")})`);
		return method;
	}

	async get<M extends ConfigurableMethod>(rawMethod: M): Promise<MethodSettingsView<M>> {
		const method = this.#require(rawMethod);
		const spec: SettingsSpecOf<M> = METHOD_SETTINGS[method];
		const configured = await this.#store.isConfigured(method);
		const enabled = (await this.deps.settings.getTwoFactor()).enabledMethods.includes(method);
		const base = { method, label: METHOD_INFO[method].label, configured, enabled };
		if (!configured) return { ...base, settings: null, downgrades: [], problem: null };
		try {
			const settings = await this.#store.require(method);
			return { ...base, settings: spec.redact(settings), downgrades: spec.downgrades(settings), problem: null };
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
	async update<M extends ConfigurableMethod>(actor: Actor, rawMethod: M, input: unknown): Promise<MethodSettingsView<M>> {
		const method = this.#require(rawMethod);
		const spec: SettingsSpecOf<M> = METHOD_SETTINGS[method];
		let current: MethodSettingsMap[M] | null;
		try {
			current = await this.#store.load(method);
		} catch {
			// Unreadable (e.g. the secret key changed): the admin re-enters everything, secrets included.
			current = null;
		}
		const next = validateMethodSettings(method, input, current);
		await this.deps.work.run(async (work) => {
			await this.#store.save(method, next, work.settings);
			work.audit({
				event: "method.settings-changed",
				outcome: "success",
				actor: actor.name,
				channel: actor.channel,
				source: actor.source,
				method,
				detail: {
					method,
					before: current === null ? null : spec.redact(current),
					after: spec.redact(next),
					secretsChanged: spec.secretsChanged(current, next),
				},
			});
		});
		return this.get(method);
	}

	/** Removes the settings; refused while the method is enabled or listed by a group (it would fail every login). */
	async clear(actor: Actor, rawMethod: ConfigurableMethod): Promise<void> {
		const method = this.#require(rawMethod);
		// The guard (not enabled, not listed by a group) is read in the transaction that clears.
		await this.deps.work.run(async (work) => {
			if ((await work.settings.getTwoFactor()).enabledMethods.includes(method)) {
				throw new PortcullisError("ERR_POLICY_INVALID", `${method} is enabled: disable it before removing its settings`);
			}
			const groups = (await work.groups.list()).filter((group) => parseAllowed(group.allowed_methods)?.includes(method));
			if (groups.length > 0) {
				throw new PortcullisError(
					"ERR_POLICY_INVALID",
					`${method} is listed by group(s) ${groups.map((group) => group.name).join(", ")}: remove it there first`,
				);
			}
			await this.#store.clear(method, work.settings);
			work.audit({
				event: "method.settings-changed",
				outcome: "success",
				actor: actor.name,
				channel: actor.channel,
				source: actor.source,
				method,
				detail: { method, before: "configured", after: null, secretsChanged: [] },
			});
		});
	}

	/** Contacts the configured backend(s) without a real user; never throws for network problems. */
	async testConnection<M extends ConfigurableMethod>(actor: Actor, rawMethod: M): Promise<ConnectionTestResult> {
		const method = this.#require(rawMethod);
		const test: ConnectionTest<MethodSettingsMap[M]> = CONNECTION_TESTS[method];
		let checks: ConnectionCheck[];
		try {
			const settings = await this.#store.load(method);
			checks = settings === null ? [{ target: method, ok: false, message: "not configured" }] : await test(settings, this.deps);
		} catch (error) {
			checks = [{ target: method, ok: false, message: error instanceof Error ? error.message.slice(0, 300) : "failed" }];
		}
		const result: ConnectionTestResult = { method, ok: checks.length > 0 && checks.every((check) => check.ok), checks };
		await this.deps.audit.write({
			event: "method.connection-tested",
			outcome: result.ok ? "success" : "failure",
			actor: actor.name,
			channel: actor.channel,
			source: actor.source,
			method,
			detail: { method, checks },
		});
		return result;
	}
}

/** The MethodAdmin the composition root built (tests and scripts take it from the app). */
export function createMethodAdmin(app: { readonly methodAdmin: MethodAdmin }): MethodAdmin {
	return app.methodAdmin;
}
