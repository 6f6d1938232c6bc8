import type { Kysely } from "kysely";
import type { GlobalTwoFactorSettings } from "../core/decide-second-factor.ts";
import { isMethodId, type MethodId } from "../core/method-id.ts";
import type { Database } from "./schema.ts";

const TWO_FACTOR_KEY = "two_factor";

/**
 * Defaults on a fresh install: nothing forced, TOTP and recovery codes enabled. The Access Keyword
 * is a knowledge factor like the password (OWASP MFA cheat sheet), so it is off until an admin
 * enables it (docs/decisions.md); installations from before that choice keep it (migration 0005).
 */
export const DEFAULT_TWO_FACTOR: GlobalTwoFactorSettings = {
	forceTwoFactor: false,
	enabledMethods: ["totp", "recovery-code"],
};

export class SettingsStore {
	constructor(private readonly db: Kysely<Database>) {}

	async getTwoFactor(): Promise<GlobalTwoFactorSettings> {
		const row = await this.db.selectFrom("settings").select("value").where("key", "=", TWO_FACTOR_KEY).executeTakeFirst();
		if (row === undefined) return DEFAULT_TWO_FACTOR;
		const parsed = JSON.parse(row.value) as { forceTwoFactor?: unknown; enabledMethods?: unknown; enrolmentDeadline?: unknown; rememberMinutes?: unknown };
		// A corrupt row must not weaken the policy: force stays on unless it is literally false, and a
		// deadline that is not a number means "no grace" (enforce now).
		const enabled = Array.isArray(parsed.enabledMethods) ? parsed.enabledMethods.filter(isMethodId) : [];
		const deadline = typeof parsed.enrolmentDeadline === "number" && Number.isFinite(parsed.enrolmentDeadline) ? parsed.enrolmentDeadline : null;
		// The remember window is off unless it is a sane number (a corrupt value must not open it).
		const remember =
			typeof parsed.rememberMinutes === "number" && Number.isInteger(parsed.rememberMinutes) && parsed.rememberMinutes > 0 ? parsed.rememberMinutes : 0;
		return { forceTwoFactor: parsed.forceTwoFactor !== false, enabledMethods: enabled as MethodId[], enrolmentDeadline: deadline, rememberMinutes: remember };
	}

	async setTwoFactor(settings: GlobalTwoFactorSettings): Promise<void> {
		const value = JSON.stringify({
			forceTwoFactor: settings.forceTwoFactor,
			enabledMethods: settings.enabledMethods,
			enrolmentDeadline: settings.enrolmentDeadline ?? null,
			rememberMinutes: settings.rememberMinutes ?? 0,
		});
		const updated = await this.db.updateTable("settings").set({ value }).where("key", "=", TWO_FACTOR_KEY).executeTakeFirst();
		if (Number(updated.numUpdatedRows) === 0) {
			await this.db.insertInto("settings").values({ key: TWO_FACTOR_KEY, value }).execute();
		}
	}

	async get(key: string): Promise<string | undefined> {
		const row = await this.db.selectFrom("settings").select("value").where("key", "=", key).executeTakeFirst();
		return row?.value;
	}

	async set(key: string, value: string): Promise<void> {
		const updated = await this.db.updateTable("settings").set({ value }).where("key", "=", key).executeTakeFirst();
		if (Number(updated.numUpdatedRows) === 0) await this.db.insertInto("settings").values({ key, value }).execute();
	}

	/** Stores `value` unless the key exists (concurrent first writers on two nodes: the first wins); returns the stored value. */
	async putIfAbsent(key: string, value: string): Promise<string | undefined> {
		await this.db
			.insertInto("settings")
			.values({ key, value })
			.onConflict((conflict) => conflict.column("key").doNothing())
			.execute();
		return this.get(key);
	}
}
