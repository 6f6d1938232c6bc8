/**
 * Staged rollout, for admins: who the 2FA policy requires a factor of, why, and with which
 * deadline (the "Enrolment status" view and `portcullis user list --json`), and what a proposed
 * change that forces 2FA would do before it is saved (the impact preview). Every decision comes
 * from the pure decideSecondFactor with the same inputs a login would see (policy-inputs.ts);
 * a proposal only swaps the global settings or one group's rule in those inputs.
 */
import {
	decideSecondFactor,
	describeReasons,
	type GlobalTwoFactorSettings,
	type GroupTwoFactorRule,
	type SecondFactorDecision,
} from "../core/decide-second-factor.ts";
import { METHOD_INFO, type MethodId } from "../core/method-id.ts";
import type { AuditLog } from "../storage/audit-log.ts";
import { groupRule } from "../storage/group-store.ts";
import { accountDisabled, type UserStore } from "../storage/user-store.ts";
import { channelMethods, type PolicyStores } from "./policy-inputs.ts";

/** The impact preview judges no client address and no named server: network rules and step-up do not enter. */
export interface PolicyImpactDeps extends Omit<PolicyStores, "servers" | "networkRules"> {
	readonly users: Pick<UserStore, "list">;
	readonly audit: Pick<AuditLog, "webLoginUserIds">;
}

/** A change not yet saved: new global settings, or one group's new rule (by name). */
export interface ProposedPolicy {
	readonly settings?: GlobalTwoFactorSettings;
	readonly group?: GroupTwoFactorRule;
}

export interface UserPolicyStatus {
	readonly userId: string;
	readonly username: string;
	readonly admin: boolean;
	readonly disabled: boolean;
	/** The policy requires a second factor of this user (now, or from the deadline). */
	readonly required: boolean;
	/** Why, in the words users see ("Two-factor authentication is required by group ops."). */
	readonly why: string;
	/** Methods of the user's verified factors (recovery codes included). */
	readonly methods: readonly MethodId[];
	/** Required and no usable factor: must enrol (now, or by the deadline). */
	readonly notEnrolled: boolean;
	/** Staged rollout: the enrolment deadline that applies to this user (epoch ms), or null. */
	readonly deadline: number | null;
	/** Has logged in on the web console at least once (the only place to enrol). */
	readonly webLogin: boolean;
	readonly decision: SecondFactorDecision["kind"];
}

export interface PolicyImpact {
	/** Users the change newly requires a second factor of. */
	readonly gaining: readonly string[];
	/** Of those, users without a usable factor. */
	readonly noFactor: readonly string[];
	/** Of those, users who never logged in on the web (SSH-only users cannot enrol over SSH). */
	readonly neverOnWeb: readonly string[];
	/** The acting admin would be forced without a usable factor. */
	readonly selfWithoutFactor: boolean;
	/** The change sets no enrolment deadline for users without a factor: they are stopped at once. */
	readonly enforcesNow: boolean;
}

function requiredKind(decision: SecondFactorDecision): boolean {
	return decision.kind !== "not-required";
}

function notEnrolledKind(decision: SecondFactorDecision): boolean {
	return decision.kind === "enroll" || decision.kind === "enroll-nudge" || decision.kind === "misconfigured";
}

/** The status of every user under the current policy, or under `proposed`. */
export async function policyStatus(deps: PolicyImpactDeps, proposed: ProposedPolicy = {}): Promise<UserPolicyStatus[]> {
	const [users, current, webUsers] = await Promise.all([deps.users.list(), deps.settings.getTwoFactor(), deps.audit.webLoginUserIds()]);
	const settings = proposed.settings ?? current;
	const now = deps.clock.now().getTime();
	const webMethods = channelMethods(deps.methods, "web");
	const result: UserPolicyStatus[] = [];
	for (const user of users) {
		const [groupRows, factors, recovery] = await Promise.all([
			deps.groups.groupsOfUser(user.id),
			deps.factors.listActive(user.id),
			deps.recoveryCodes.countUnused(user.id),
		]);
		const groups = groupRows.map(groupRule).map((rule) => (proposed.group !== undefined && rule.name === proposed.group.name ? proposed.group : rule));
		const methods: MethodId[] = [...new Set(factors.map((factor) => factor.method))];
		if (recovery > 0) methods.push("recovery-code");
		const decision = decideSecondFactor({
			channel: "web",
			settings,
			groups,
			enrolledMethods: methods,
			lastWebMethod: null,
			channelMethods: webMethods,
			now,
		});
		result.push({
			userId: user.id,
			username: user.username,
			admin: user.is_admin === 1,
			disabled: accountDisabled(user),
			required: requiredKind(decision),
			why: describeReasons(decision.kind === "not-required" || decision.kind === "network-denied" ? [] : decision.reasons),
			methods: methods.filter((method) => METHOD_INFO[method] !== undefined),
			notEnrolled: notEnrolledKind(decision),
			deadline: decision.kind === "enroll-nudge" ? decision.deadline : null,
			webLogin: webUsers.has(user.id),
			decision: decision.kind,
		});
	}
	return result;
}

/** What saving `proposed` would change, for the confirm step (disabled accounts are left out). */
export async function previewImpact(deps: PolicyImpactDeps, proposed: ProposedPolicy, actorUsername: string | null): Promise<PolicyImpact> {
	const [before, after] = await Promise.all([policyStatus(deps), policyStatus(deps, proposed)]);
	const was = new Map(before.map((status) => [status.userId, status]));
	const gaining = after.filter((status) => !status.disabled && status.required && !(was.get(status.userId)?.required ?? false));
	const noFactor = gaining.filter((status) => status.notEnrolled);
	const self = after.find((status) => status.username === actorUsername);
	return {
		gaining: gaining.map((status) => status.username),
		noFactor: noFactor.map((status) => status.username),
		neverOnWeb: noFactor.filter((status) => !status.webLogin).map((status) => status.username),
		selfWithoutFactor: self?.required === true && self.notEnrolled,
		enforcesNow: noFactor.some((status) => status.deadline === null),
	};
}
