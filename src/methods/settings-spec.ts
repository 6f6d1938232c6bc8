/**
 * What a method with admin settings (a backend: YubiKey validation server, Duo, RADIUS) declares
 * about them, in its own folder (`src/methods/<id>/settings.ts`). method-settings.ts (storage) and
 * method-admin.ts (the console's and the CLI's admin operations) look the spec up in one record
 * keyed by method id (METHOD_SETTINGS), so neither has a `switch` over methods nor a cast.
 *
 * The connection test is not part of this spec but `src/methods/<id>/connection-test.ts`: it needs
 * the method's network client from `<id>-method.ts`, which itself imports this folder's settings
 * types and helpers; keeping the spec free of clients avoids an import cycle and keeps the settings
 * store (used by AdminService's cheap "is it configured?") free of network code.
 */
import type { Clock } from "../core/clock.ts";
import type { Random } from "../core/random.ts";

/** A parsed JSON object (admin input, a stored row). */
export type JsonObject = Record<string, unknown>;

export interface MethodSettingsSpec<Settings, Redacted> {
	/**
	 * Validates an admin's input (a parsed JSON object or the equivalent built from a form) and
	 * returns the complete settings with defaults filled in. Omitted secrets keep the ones in
	 * `current`; nothing else is inherited. Malformed fields throw ERR_INPUT, unsafe or
	 * contradictory combinations ERR_POLICY_INVALID (docs/product-decisions.md, Decision 3).
	 */
	validate(input: JsonObject, current: Settings | null): Settings;
	/** The settings without any secret (only whether one is set): for pages, JSON and the audit log. */
	redact(settings: Settings): Redacted;
	/** The stored JSON: the settings with every secret replaced by `seal(secret)`. */
	seal(settings: Settings, seal: (secret: string) => string): JsonObject;
	/** The inverse of seal on a stored row (not yet validated): every sealed field replaced by `open(field)`. */
	open(stored: JsonObject, open: (sealed: unknown) => string): JsonObject;
	/** Weaker-than-default choices an admin must see (e.g. a RADIUS server without Message-Authenticator). */
	downgrades(settings: Settings): string[];
	/** Names of the secret fields whose value changed (for the audit log; never the values). */
	secretsChanged(before: Settings | null, after: Settings): string[];
}

export interface ConnectionCheck {
	readonly target: string;
	readonly ok: boolean;
	readonly message: string;
}

export interface ConnectionTestDeps {
	readonly clock: Clock;
	readonly random: Random;
	/** The console's public URL (the Duo Web SDK client needs a redirect URL even for a health check). */
	readonly consoleUrl?: string;
}

/** Contacts the configured backend(s) without a real user; reports problems as failed checks. */
export type ConnectionTest<Settings> = (settings: Settings, deps: ConnectionTestDeps) => Promise<ConnectionCheck[]>;
