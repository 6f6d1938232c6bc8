/**
 * Gathers the plain data the pure policy function needs from storage. The single place where
 * "what does the policy see for this user" is assembled, so web, SSH and API see the same thing.
 */
import { decideSecondFactor, rememberWindowMinutes, type SecondFactorDecision } from "../core/decide-second-factor.ts";
import { isMethodId, METHOD_INFO, type Channel, type MethodId } from "../core/method-id.ts";
import type { Clock } from "../core/clock.ts";
import type { MethodRegistry } from "../methods/method.ts";
import type { FactorStore } from "../storage/factor-store.ts";
import { groupRule, type GroupStore } from "../storage/group-store.ts";
import type { RecoveryCodeStore } from "../storage/recovery-code-store.ts";
import type { SettingsStore } from "../storage/settings-store.ts";
import type { UserRow } from "../storage/user-store.ts";

export interface PolicyStores {
	readonly settings: SettingsStore;
	readonly groups: GroupStore;
	readonly factors: FactorStore;
	readonly recoveryCodes: RecoveryCodeStore;
	readonly methods: MethodRegistry;
	/** Enrolment deadlines (staged rollout) are compared with this clock's now. */
	readonly clock: Clock;
}

/** Methods the running deployment can serve on a channel: registered AND able to use that channel. */
export function channelMethods(methods: MethodRegistry, channel: Channel): MethodId[] {
	return [...methods.keys()].filter((method) => METHOD_INFO[method].channels.includes(channel));
}

/**
 * `rememberedGrant`: a live remember-window grant was found for this login (login-flow.ts); the
 * pure function decides whether it may replace the second factor.
 */
export async function decideForUser(stores: PolicyStores, user: UserRow, channel: Channel, rememberedGrant = false): Promise<SecondFactorDecision> {
	const [settings, groups, factors, recoveryCount] = await Promise.all([
		stores.settings.getTwoFactor(),
		stores.groups.groupsOfUser(user.id),
		stores.factors.listActive(user.id),
		stores.recoveryCodes.countUnused(user.id),
	]);
	const enrolled: MethodId[] = factors.map((factor) => factor.method);
	if (recoveryCount > 0) enrolled.push("recovery-code");
	return decideSecondFactor({
		channel,
		settings,
		groups: groups.map(groupRule),
		enrolledMethods: enrolled,
		lastWebMethod: isMethodId(user.ssh_method) ? user.ssh_method : null,
		channelMethods: channelMethods(stores.methods, channel),
		now: stores.clock.now().getTime(),
		rememberedGrant,
	});
}

/** The SSH remember window (minutes, 0: off) that applies to this user now. */
export async function rememberWindowFor(stores: Pick<PolicyStores, "settings" | "groups">, userId: string): Promise<number> {
	const [settings, groups] = await Promise.all([stores.settings.getTwoFactor(), stores.groups.groupsOfUser(userId)]);
	return rememberWindowMinutes(settings, groups.map(groupRule));
}
