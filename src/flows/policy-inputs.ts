/**
 * Gathers the plain data the pure policy function needs from storage. The single place where
 * "what does the policy see for this user" is assembled, so web, SSH and API see the same thing.
 */
import { decideSecondFactor, rememberWindowMinutes, type SecondFactorDecision, type ServerStepUpRule } from "../core/decide-second-factor.ts";
import { isMethodId, METHOD_INFO, type Channel, type MethodId } from "../core/method-id.ts";
import type { Clock } from "../core/clock.ts";
import type { MethodRegistry } from "../methods/method.ts";
import type { FactorStore } from "../storage/factor-store.ts";
import { groupRule, type GroupStore } from "../storage/group-store.ts";
import type { NetworkRuleStore } from "../storage/network-rule-store.ts";
import type { RecoveryCodeStore } from "../storage/recovery-code-store.ts";
import type { ServerRow, ServerStore } from "../storage/server-store.ts";
import type { SettingsStore } from "../storage/settings-store.ts";
import type { UserRow } from "../storage/user-store.ts";

export interface PolicyStores {
	readonly settings: SettingsStore;
	readonly groups: GroupStore;
	readonly factors: FactorStore;
	readonly recoveryCodes: RecoveryCodeStore;
	readonly methods: MethodRegistry;
	/** Servers granted to the user: a login that names one gets its step-up rule. */
	readonly servers: Pick<ServerStore, "listForUser">;
	readonly networkRules: Pick<NetworkRuleStore, "rulesForUser">;
	/** Enrolment deadlines (staged rollout) are compared with this clock's now. */
	readonly clock: Clock;
}

/** Where the login comes from and what it names; both optional (the account page knows neither). */
export interface PolicyContext {
	/**
	 * The client's address as the adapter saw it: network rules apply to it. Omitted (the account
	 * page, enrolment bookkeeping: no client address in hand), network rules are left out; given
	 * as null (an address the adapter could not read), the client is outside every trusted network.
	 */
	readonly sourceAddress?: string | null;
	/** The server named by the login (SSH `alice+db-prod`); ignored unless granted to the user. */
	readonly targetServer?: string | null;
	/**
	 * Remember window: a live grant was found for this login (login-flow.ts); the pure function
	 * decides whether it may replace the second factor.
	 */
	readonly rememberedGrant?: boolean;
}

/** The step-up rule of a server row, as the pure policy reads it. */
export function serverStepUpRule(server: Pick<ServerRow, "name" | "require_2fa" | "fresh_minutes">): ServerStepUpRule {
	return { server: server.name, requireTwoFactor: server.require_2fa === 1, freshMinutes: server.fresh_minutes };
}

/** Methods the running deployment can serve on a channel: registered AND able to use that channel. */
export function channelMethods(methods: MethodRegistry, channel: Channel): MethodId[] {
	return [...methods.keys()].filter((method) => METHOD_INFO[method].channels.includes(channel));
}

export async function decideForUser(stores: PolicyStores, user: UserRow, channel: Channel, context: PolicyContext = {}): Promise<SecondFactorDecision> {
	const target = context.targetServer ?? null;
	const [settings, groups, factors, recoveryCount, networkRules, granted] = await Promise.all([
		stores.settings.getTwoFactor(),
		stores.groups.groupsOfUser(user.id),
		stores.factors.listActive(user.id),
		stores.recoveryCodes.countUnused(user.id),
		context.sourceAddress === undefined ? Promise.resolve([]) : stores.networkRules.rulesForUser(user.id),
		target === null ? Promise.resolve([]) : stores.servers.listForUser(user.id),
	]);
	const server = target === null ? undefined : granted.find((row) => row.name === target);
	const enrolled: MethodId[] = factors.map((factor) => factor.method);
	if (recoveryCount > 0) enrolled.push("recovery-code");
	return decideSecondFactor({
		channel,
		settings,
		groups: groups.map(groupRule),
		enrolledMethods: enrolled,
		lastWebMethod: isMethodId(user.ssh_method) ? user.ssh_method : null,
		channelMethods: channelMethods(stores.methods, channel),
		targetServer: server === undefined ? null : serverStepUpRule(server),
		sourceAddress: context.sourceAddress ?? null,
		networkRules,
		now: stores.clock.now().getTime(),
		rememberedGrant: context.rememberedGrant === true,
		serviceAccount: user.service_account === 1,
	});
}

/** The SSH remember window (minutes, 0: off) that applies to this user now. */
export async function rememberWindowFor(stores: Pick<PolicyStores, "settings" | "groups">, userId: string): Promise<number> {
	const [settings, groups] = await Promise.all([stores.settings.getTwoFactor(), stores.groups.groupsOfUser(userId)]);
	return rememberWindowMinutes(settings, groups.map(groupRule));
}
