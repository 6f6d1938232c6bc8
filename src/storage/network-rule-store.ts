/**
 * Trusted networks of the 2FA policy (docs/decisions.md "Network rules"): per scope (global, or a
 * group) and mode, one list of CIDR blocks. The table type is added to the shared `Database`
 * interface by module augmentation, like the servers' tables.
 */
import type { Kysely } from "kysely";
import type { Clock } from "../core/clock.ts";
import type { NetworkRule, NetworkRuleMode } from "../core/decide-second-factor.ts";
import type { Database } from "./schema.ts";

export interface NetworkRulesTable {
	/** '' for the global rules, else the id of the group that carries the rule. */
	scope: string;
	mode: string;
	/** JSON array of CIDR texts, validated and canonical when written. */
	trusted: string;
	updated_at: number;
}

declare module "./schema.ts" {
	interface Database {
		network_rules: NetworkRulesTable;
	}
}

export const GLOBAL_SCOPE = "";

/** A stored list that does not parse trusts nothing: every client is "outside" (fail closed). */
function parseTrusted(text: string): string[] {
	try {
		const parsed: unknown = JSON.parse(text);
		return Array.isArray(parsed) ? parsed.filter((entry): entry is string => typeof entry === "string") : [];
	} catch {
		return [];
	}
}

/** An unknown stored mode is read as the strictest one. */
function parseMode(text: string): NetworkRuleMode {
	return text === "require-2fa-outside" ? "require-2fa-outside" : "deny-outside";
}

export interface StoredNetworkRule {
	readonly scope: string;
	/** null for the global rules. */
	readonly group: string | null;
	readonly mode: NetworkRuleMode;
	readonly trusted: readonly string[];
	readonly updatedAt: number;
}

export class NetworkRuleStore {
	constructor(
		private readonly db: Kysely<Database>,
		private readonly clock: Clock,
	) {}

	/** Replaces the list of (scope, mode) in one statement. */
	async set(scope: string, mode: NetworkRuleMode, trusted: readonly string[]): Promise<void> {
		const row = { scope, mode, trusted: JSON.stringify(trusted), updated_at: this.clock.now().getTime() };
		await this.db
			.insertInto("network_rules")
			.values(row)
			.onConflict((conflict) => conflict.columns(["scope", "mode"]).doUpdateSet({ trusted: row.trusted, updated_at: row.updated_at }))
			.execute();
	}

	async remove(scope: string, mode: NetworkRuleMode): Promise<boolean> {
		const result = await this.db.deleteFrom("network_rules").where("scope", "=", scope).where("mode", "=", mode).executeTakeFirst();
		return Number(result.numDeletedRows) > 0;
	}

	/** Every rule, with the group's name (rules of deleted groups are left out). */
	async list(): Promise<StoredNetworkRule[]> {
		const rows = await this.db
			.selectFrom("network_rules")
			.leftJoin("groups", "groups.id", "network_rules.scope")
			.select(["network_rules.scope", "network_rules.mode", "network_rules.trusted", "network_rules.updated_at", "groups.name as groupName"])
			.orderBy("network_rules.scope")
			.orderBy("network_rules.mode")
			.execute();
		return rows
			.filter((row) => row.scope === GLOBAL_SCOPE || row.groupName !== null)
			.map((row) => ({
				scope: row.scope,
				group: row.scope === GLOBAL_SCOPE ? null : (row.groupName as string),
				mode: parseMode(row.mode),
				trusted: parseTrusted(row.trusted),
				updatedAt: Number(row.updated_at),
			}));
	}

	/** The rules that apply to a user: the global ones and those of the user's groups. */
	async rulesForUser(userId: string): Promise<NetworkRule[]> {
		const rows = await this.db
			.selectFrom("network_rules")
			.leftJoin("groups", "groups.id", "network_rules.scope")
			.select(["network_rules.scope", "network_rules.mode", "network_rules.trusted", "groups.name as groupName"])
			.where((eb) =>
				eb.or([
					eb("network_rules.scope", "=", GLOBAL_SCOPE),
					eb("network_rules.scope", "in", eb.selectFrom("group_members").select("group_members.group_id").where("group_members.user_id", "=", userId)),
				]),
			)
			.orderBy("network_rules.scope")
			.orderBy("network_rules.mode")
			.execute();
		return rows.map((row) => ({
			group: row.scope === GLOBAL_SCOPE ? null : (row.groupName ?? row.scope),
			mode: parseMode(row.mode),
			trusted: parseTrusted(row.trusted),
		}));
	}
}
