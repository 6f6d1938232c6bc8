/**
 * Admin settings of the methods that talk to a backend: YubiKey (Yubico OTP), Duo and RADIUS.
 *
 * Stored in the shared `settings` table, one row per method (key `method-settings:<id>`), as JSON
 * whose secret fields (Yubico API key, Duo secret key, RADIUS shared secrets) are sealed with the
 * deployment's SecretBox under the associated data `method-settings:<id>` (docs/product-decisions.md, Decision 9),
 * so a sealed value copied into another method's row does not open.
 *
 * Methods read their settings on EVERY use (no cache): several nodes share one database, and an
 * admin's change must apply at once on all of them.
 *
 * What each method's settings are (fields, validation, which are secret, how they are shown) is
 * its spec in its own folder (`<id>/settings.ts`, settings-spec.ts), looked up in METHOD_SETTINGS.
 * Every invalid combination is refused there, where it is made (docs/product-decisions.md, Decision 3):
 * malformed fields are ERR_INPUT, well-formed but unsafe or contradictory combinations are
 * ERR_POLICY_INVALID. Stored settings are validated again when read, so a corrupt or hand-edited
 * row fails closed (ERR_METHOD_UNAVAILABLE) instead of being half-used.
 */
import { PortcullisError } from "../core/errors.ts";
import type { MethodId } from "../core/method-id.ts";
import type { SecretBox } from "../crypto/secret-box.ts";
import type { SettingsStore } from "../storage/settings-store.ts";
import { duoSettings, type DuoRedacted, type DuoSettings } from "./duo/settings.ts";
import { radiusSettings, type RadiusRedacted, type RadiusSettings } from "./radius/settings.ts";
import { asObject, isJsonObject } from "./settings-fields.ts";
import type { JsonObject, MethodSettingsSpec } from "./settings-spec.ts";
import { yubikeyOtpSettings, type YubikeyOtpRedacted, type YubikeyOtpSettings } from "./yubikey-otp/settings.ts";

// Each method's settings live in its folder; re-exported so their users need not know where.
export { hasDuoWebSdk, splitDuoHost, type DuoRedacted, type DuoSettings } from "./duo/settings.ts";
export type { RadiusRedacted, RadiusServerSettings, RadiusSettings } from "./radius/settings.ts";
export type { YubikeyOtpRedacted, YubikeyOtpSettings } from "./yubikey-otp/settings.ts";

export const CONFIGURABLE_METHODS = ["yubikey-otp", "duo", "radius"] as const;
export type ConfigurableMethod = (typeof CONFIGURABLE_METHODS)[number];

export function isConfigurableMethod(method: unknown): method is ConfigurableMethod {
	return CONFIGURABLE_METHODS.some((configurable) => configurable === method);
}

export interface MethodSettingsMap {
	"yubikey-otp": YubikeyOtpSettings;
	duo: DuoSettings;
	radius: RadiusSettings;
}

/** What admins, pages and the audit log see of each method's settings (no secret, only whether it is set). */
export interface RedactedSettingsMap {
	"yubikey-otp": YubikeyOtpRedacted;
	duo: DuoRedacted;
	radius: RadiusRedacted;
}

export type RedactedSettings = RedactedSettingsMap[ConfigurableMethod];

export type SettingsSpecOf<M extends ConfigurableMethod> = MethodSettingsSpec<MethodSettingsMap[M], RedactedSettingsMap[M]>;

/**
 * Every configurable method's settings spec. A mapped type over ConfigurableMethod: a method added
 * to CONFIGURABLE_METHODS without a spec does not compile, and `METHOD_SETTINGS[method]` for a
 * generic `M` has the spec of exactly that method's settings (no switch, no cast).
 */
export const METHOD_SETTINGS: { readonly [M in ConfigurableMethod]: SettingsSpecOf<M> } = {
	"yubikey-otp": yubikeyOtpSettings,
	duo: duoSettings,
	radius: radiusSettings,
};

const settingsKey = (method: ConfigurableMethod): string => `method-settings:${method}`;
export const sealContext = (method: ConfigurableMethod): string => `method-settings:${method}`;

/**
 * Validates an admin's input (a parsed JSON object or the equivalent built from a form) and
 * returns the complete settings. Omitted secrets keep the current ones; nothing else is inherited.
 */
export function validateMethodSettings<M extends ConfigurableMethod>(method: M, input: unknown, current: MethodSettingsMap[M] | null): MethodSettingsMap[M] {
	const object = asObject(input, method);
	if (!isConfigurableMethod(method)) throw new PortcullisError("ERR_INPUT", "method: has no settings");
	const spec: SettingsSpecOf<M> = METHOD_SETTINGS[method];
	return spec.validate(object, current);
}

// ---------------------------------------------------------------------------------------------
// Storage
// ---------------------------------------------------------------------------------------------

function unavailable(method: ConfigurableMethod, message: string, cause?: unknown): PortcullisError {
	return new PortcullisError("ERR_METHOD_UNAVAILABLE", `${method}: ${message}`, cause === undefined ? undefined : { cause });
}

/** Reads the raw stored row; null when absent or cleared. No decryption. */
async function readStored(settings: SettingsStore, method: ConfigurableMethod): Promise<JsonObject | null> {
	const raw = await settings.get(settingsKey(method));
	if (raw === undefined) return null;
	let parsed: unknown;
	try {
		parsed = JSON.parse(raw);
	} catch {
		return null;
	}
	return isJsonObject(parsed) ? parsed : null;
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
		const spec: SettingsSpecOf<M> = METHOD_SETTINGS[method];
		try {
			const opened = spec.open(stored, (value) => {
				if (typeof value !== "string") throw new PortcullisError("ERR_DECRYPT");
				return this.box.open(value, sealContext(method)).toString("utf8");
			});
			return spec.validate(opened, null);
		} catch (error) {
			throw unavailable(method, "the stored settings cannot be used (wrong secret key or corrupt row); an admin must save them again", error);
		}
	}

	/** Like load, but a missing configuration is an error (methods call this on every use). */
	async require<M extends ConfigurableMethod>(method: M): Promise<MethodSettingsMap[M]> {
		const settings = await this.load(method);
		if (settings === null) throw unavailable(method, `not configured (console: Admin → Methods; CLI: portcullis method configure ${method})`);
		return settings;
	}

	/**
	 * Stores already-validated settings (see validateMethodSettings), sealing every secret. `into`:
	 * a unit of work's bound settings store, so that the save commits with its audit event.
	 */
	async save<M extends ConfigurableMethod>(method: M, settings: MethodSettingsMap[M], into: SettingsStore = this.settings): Promise<void> {
		const spec: SettingsSpecOf<M> = METHOD_SETTINGS[method];
		const sealed = spec.seal(settings, (value) => this.box.seal(value, sealContext(method)));
		await into.set(settingsKey(method), JSON.stringify({ ...sealed, v: 1 }));
	}

	async clear(method: ConfigurableMethod, into: SettingsStore = this.settings): Promise<void> {
		await into.set(settingsKey(method), "null");
	}
}
