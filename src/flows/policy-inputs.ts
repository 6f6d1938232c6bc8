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

/** What the policy reads from storage for one user (the channel-independent part). */
export interface PolicyInputs {
	readonly settings: Awaited<ReturnType<SettingsStore["getTwoFactor"]>>;
	readonly groups: Awaited<ReturnType<GroupStore["groupsOfUser"]>>;
	readonly factors: Awaited<ReturnType<FactorStore["listActive"]>>;
	readonly recoveryCount: number;
	readonly networkRules: Awaited<ReturnType<NetworkRuleStore["rulesForUser"]>>;
	readonly granted: readonly ServerRow[];
}

export async function gatherPolicyInputs(stores: PolicyStores, user: UserRow, context: PolicyContext = {}): Promise<PolicyInputs> {
	const target = context.targetServer ?? null;
	const [settings, groups, factors, recoveryCount, networkRules, granted] = await Promise.all([
		stores.settings.getTwoFactor(),
		stores.groups.groupsOfUser(user.id),
		stores.factors.listActive(user.id),
		stores.recoveryCodes.countUnused(user.id),
		context.sourceAddress === undefined ? Promise.resolve([]) : stores.networkRules.rulesForUser(user.id),
		target === null ? Promise.resolve([]) : stores.servers.listForUser(user.id),
	]);
	return { settings, groups, factors, recoveryCount, networkRules, granted };
}

/**
 * The decision from inputs already gathered (gatherPolicyInputs with the same context): the
 * account page decides for the web and for SSH from one read of the inputs.
 */
export function decideFromInputs(
	stores: Pick<PolicyStores, "methods" | "clock">,
	user: UserRow,
	channel: Channel,
	inputs: PolicyInputs,
	context: PolicyContext = {},
): SecondFactorDecision {
	const target = context.targetServer ?? null;
	const server = target === null ? undefined : inputs.granted.find((row) => row.name === target);
	const enrolled: MethodId[] = inputs.factors.map((factor) => factor.method);
	if (inputs.recoveryCount > 0) enrolled.push("recovery-code");
	return decideSecondFactor({
		channel,
		settings: inputs.settings,
		groups: inputs.groups.map(groupRule),
		enrolledMethods: enrolled,
		lastWebMethod: isMethodId(user.ssh_method) ? user.ssh_method : null,
		channelMethods: channelMethods(stores.methods, channel),
		targetServer: server === undefined ? null : serverStepUpRule(server),
		sourceAddress: context.sourceAddress ?? null,
		networkRules: inputs.networkRules,
		now: stores.clock.now().getTime(),
		rememberedGrant: context.rememberedGrant === true,
		serviceAccount: user.service_account === 1,
	});
}

export async function decideForUser(stores: PolicyStores, user: UserRow, channel: Channel, context: PolicyContext = {}): Promise<SecondFactorDecision> {
	return decideFromInputs(stores, user, channel, await gatherPolicyInputs(stores, user, context), context);
}

/** The SSH remember window (minutes, 0: off) that applies to this user now. */
export async function rememberWindowFor(stores: Pick<PolicyStores, "settings" | "groups">, userId: string): Promise<number> {
	const [settings, groups] = await Promise.all([stores.settings.getTwoFactor(), stores.groups.groupsOfUser(userId)]);
	return rememberWindowMinutes(settings, groups.map(groupRule));
}
