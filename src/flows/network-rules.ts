/**
 * Admin changes to the network rules of the 2FA policy (docs/decisions.md "Network rules"), for
 * the CLI (and the console, when it gets a page): validated, and audited with before and after.
 *
 * Only two modes exist, "deny-outside" and "require-2fa-outside"; both can only make a login
 * harder. Anything that would switch 2FA off for some network (a bypass or allow list) is refused
 * with ERR_POLICY_INVALID and a message saying why: a bypass list is a side door.
 */
import type { Actor } from "../core/actor.ts";
import { formatCidr, parseCidr } from "../core/cidr.ts";
import type { NetworkRuleMode } from "../core/decide-second-factor.ts";
import { PortcullisError } from "../core/errors.ts";
import { GLOBAL_SCOPE, type NetworkRuleStore, type StoredNetworkRule } from "../storage/network-rule-store.ts";
import type { UnitOfWork, Work } from "../storage/unit-of-work.ts";
import type { AdminService } from "./admin-service.ts";

export const NETWORK_RULE_MODES: readonly NetworkRuleMode[] = ["deny-outside", "require-2fa-outside"];

/** At most this many blocks per list: a rule is read on every login. */
export const MAX_TRUSTED_NETWORKS = 256;

export interface NetworkRuleServiceDeps {
	readonly store: Pick<NetworkRuleStore, "list">;
	readonly groups: Pick<AdminService, "requireGroup">;
	/** A rule change and its audit event commit in one transaction (storage/unit-of-work.ts). */
	readonly work: Pick<UnitOfWork, "run">;
}

/** Words an admin might reach for that would relax the policy: refused with the reason, never guessed at. */
const RELAXING = /bypass|allow|skip|exempt|no-?2fa|without|trust(ed)?-inside|inside/i;

export function parseNetworkRuleMode(raw: string): NetworkRuleMode {
	const mode = raw.trim().toLowerCase();
	if ((NETWORK_RULE_MODES as readonly string[]).includes(mode)) return mode as NetworkRuleMode;
	if (RELAXING.test(mode))
		throw new PortcullisError(
			"ERR_POLICY_INVALID",
			`a network rule cannot switch 2FA off or let anyone skip it (${JSON.stringify(raw.slice(0, 40))}): trusted networks only ever make a login stricter outside them. Use deny-outside or require-2fa-outside.`,
		);
	throw new PortcullisError("ERR_INPUT", `unknown network rule mode ${JSON.stringify(raw.slice(0, 40))}: use deny-outside or require-2fa-outside`);
}

export class NetworkRuleService {
	constructor(private readonly deps: NetworkRuleServiceDeps) {}

	list(): Promise<StoredNetworkRule[]> {
		return this.deps.store.list();
	}

	private async scopeOf(work: Work, group: string | null): Promise<{ scope: string; label: string }> {
		if (group === null) return { scope: GLOBAL_SCOPE, label: "global" };
		const row = await this.deps.groups.requireGroup(group, work.groups);
		return { scope: row.id, label: row.name };
	}

	/** Canonical, de-duplicated blocks; refuses malformed ones and an empty deny list (it would lock everyone out). */
	validateNetworks(mode: NetworkRuleMode, networks: readonly string[]): string[] {
		if (networks.length === 0)
			throw new PortcullisError(
				"ERR_POLICY_INVALID",
				mode === "deny-outside"
					? "a deny-outside rule without trusted networks would refuse every login: give at least one --network CIDR"
					: "a require-2fa-outside rule without trusted networks is the same as forcing 2FA: use --force-2fa instead, or give --network CIDR",
			);
		if (networks.length > MAX_TRUSTED_NETWORKS) throw new PortcullisError("ERR_INPUT", `at most ${MAX_TRUSTED_NETWORKS} networks per rule`);
		const canonical: string[] = [];
		for (const text of networks) {
			const cidr = parseCidr(text);
			if (cidr === null)
				throw new PortcullisError("ERR_INPUT", `${JSON.stringify(String(text).slice(0, 64))} is not a network: use CIDR, e.g. 192.0.2.0/24 or 2001:db8::/48`);
			const formatted = formatCidr(cidr);
			if (!canonical.includes(formatted)) canonical.push(formatted);
		}
		return canonical;
	}

	/** Sets (replaces) the trusted networks of one scope and mode. */
	async set(actor: Actor, group: string | null, rawMode: string, networks: readonly string[]): Promise<StoredNetworkRule> {
		const mode = parseNetworkRuleMode(rawMode);
		const trusted = this.validateNetworks(mode, networks);
		return this.deps.work.run(async (work) => {
			const { scope, label } = await this.scopeOf(work, group);
			const before = (await work.networkRules.list()).find((rule) => rule.scope === scope && rule.mode === mode);
			await work.networkRules.set(scope, mode, trusted);
			this.audit(work, actor, "policy.network-rule-set", { scope: label, mode, before: before?.trusted ?? null, after: trusted });
			const after = (await work.networkRules.list()).find((rule) => rule.scope === scope && rule.mode === mode);
			if (after === undefined) throw new PortcullisError("ERR_DATABASE", "the network rule was not stored");
			return after;
		});
	}

	/** Removes the list of one scope and mode; false when there was none. */
	async clear(actor: Actor, group: string | null, rawMode: string): Promise<boolean> {
		const mode = parseNetworkRuleMode(rawMode);
		return this.deps.work.run(async (work) => {
			const { scope, label } = await this.scopeOf(work, group);
			const before = (await work.networkRules.list()).find((rule) => rule.scope === scope && rule.mode === mode);
			const removed = await work.networkRules.remove(scope, mode);
			if (removed) this.audit(work, actor, "policy.network-rule-cleared", { scope: label, mode, before: before?.trusted ?? null, after: null });
			return removed;
		});
	}

	private audit(work: Pick<Work, "audit">, actor: Actor, event: string, detail: Record<string, unknown>): void {
		work.audit({ event, outcome: "success", actor: actor.name, channel: actor.channel, source: actor.source, detail });
	}
}
