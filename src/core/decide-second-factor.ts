/**
 * THE policy decision: does this login need a second factor, which methods may answer it, and
 * which one is offered first. Web, SSH and API all reach this function through LoginFlow; no
 * adapter decides anything about 2FA itself (docs/architecture.md).
 *
 * Pure: the caller passes plain data (user's groups, global settings, verified factors, the
 * methods this deployment can serve on the channel). No I/O, no clock, no randomness.
 *
 * Semantics are docs/product-decisions.md "Policy semantics" and Decisions 2-4:
 *   required = global force OR any group forces OR the user enrolled a factor voluntarily
 *   allowed  = globally enabled methods, narrowed by every group that restricts methods
 *   usable   = the user's verified factors whose method is allowed
 */
import { addressInCidr, parseCidr } from "./cidr.ts";
import { METHOD_INFO, METHOD_ORDER, type Channel, type MethodId } from "./method-id.ts";

export interface GlobalTwoFactorSettings {
	readonly forceTwoFactor: boolean;
	readonly enabledMethods: readonly MethodId[];
	/** Staged rollout: until this instant (epoch ms) a forced user without a factor is nudged, not stopped. Absent/null: enforce now. */
	readonly enrolmentDeadline?: number | null;
	/** SSH remember window in minutes (0 or absent: off; at most REMEMBER_MAX_MINUTES). */
	readonly rememberMinutes?: number;
}

export interface GroupTwoFactorRule {
	readonly name: string;
	readonly forceTwoFactor: boolean;
	/** null = no restriction; otherwise the group narrows the allowed methods (Decision 4). */
	readonly allowedMethods: readonly MethodId[] | null;
	/** Staged rollout for this group's force-2FA (epoch ms); absent/null: enforce now. */
	readonly enrolmentDeadline?: number | null;
	/** SSH remember window for members in minutes; absent/null: the global setting applies, 0: off. */
	readonly rememberMinutes?: number | null;
}

export interface SecondFactorPolicyInput {
	readonly channel: Channel;
	readonly settings: GlobalTwoFactorSettings;
	readonly groups: readonly GroupTwoFactorRule[];
	/** Methods of the user's *verified* factors (pending enrolments never count). */
	readonly enrolledMethods: readonly MethodId[];
	/** Method of the user's last successful web login: the SSH default (docs/product-decisions.md floor item 7). */
	readonly lastWebMethod: MethodId | null;
	/** Methods this deployment can actually run on `channel` (from the method registry). */
	readonly channelMethods: readonly MethodId[];
	// --- Per-server step-up and network rules (docs/decisions.md "Per-server step-up", "Network rules") ---
	/** The server this login names (SSH `alice+db-prod`), when it is granted to the user; its step-up rule. */
	readonly targetServer?: ServerStepUpRule | null;
	/** The client's address as the adapter saw it (a trusted proxy's forwarded address, else the peer). */
	readonly sourceAddress?: string | null;
	/** Network rules that apply to the user: the global ones and those of the user's groups. */
	readonly networkRules?: readonly NetworkRule[];
	/** Staged rollout: the current time (epoch ms) to compare enrolment deadlines with. Absent: every deadline has passed (fail closed). */
	readonly now?: number;
	/**
	 * Remember window: a grant for this user, source address (and target) is live in the shared
	 * database (unexpired, and stamped with the user's current session epoch and the current policy
	 * version). Whether it may replace the second factor is decided here, not by the caller.
	 */
	readonly rememberedGrant?: boolean;
	/**
	 * The user is a service account (docs/api.md "Service accounts"): no password, no factor, no
	 * interactive login; its tokens are minted only on the host by `portcullis token create`.
	 */
	readonly serviceAccount?: boolean;
}

/** A server's own requirement (docs/decisions.md "Per-server step-up"). */
export interface ServerStepUpRule {
	readonly server: string;
	readonly requireTwoFactor: boolean;
	/** null: any second factor proven by the connection; N: proven within the last N minutes. */
	readonly freshMinutes: number | null;
}

/**
 * What a network rule does to a client outside its trusted networks. There is deliberately no mode
 * that relaxes anything (a bypass list would be a side door: docs/decisions.md "Network rules").
 */
export type NetworkRuleMode = "deny-outside" | "require-2fa-outside";

export interface NetworkRule {
	/** null: the global rule; otherwise the group that carries it. */
	readonly group: string | null;
	readonly mode: NetworkRuleMode;
	/** CIDR blocks, IPv4 and IPv6. A block that does not parse trusts nothing (fail closed). */
	readonly trusted: readonly string[];
}

/** Why 2FA applies: shown to users and admins ("required by group ops"). */
export type PolicyReason =
	| { readonly source: "global" }
	| { readonly source: "group"; readonly group: string }
	| { readonly source: "enrolled" }
	/** The login names a server that requires 2FA for every connection. */
	| { readonly source: "server"; readonly server: string; readonly freshMinutes: number | null }
	/** The client is outside the trusted networks of a "require-2fa-outside" rule (group null: global). */
	| { readonly source: "network"; readonly group: string | null };

export type SecondFactorDecision =
	| { readonly kind: "not-required"; readonly allowedMethods: readonly MethodId[] }
	/** A "deny-outside" network rule refuses this client's address (the stricter rule wins). */
	| { readonly kind: "network-denied"; readonly group: string | null }
	| {
			/** Required, but no method is allowed at all: a configuration error; fail closed. */
			readonly kind: "misconfigured";
			readonly reasons: readonly PolicyReason[];
	  }
	| {
			/** Required and the user has no usable factor: only enrolment is offered. */
			readonly kind: "enroll";
			readonly reasons: readonly PolicyReason[];
			readonly allowedMethods: readonly MethodId[];
	  }
	| {
			/**
			 * Staged rollout: required, the user has no usable factor, but every rule that requires it
			 * carries an enrolment deadline still in the future. The login goes on without a second
			 * factor; the user is told how long is left (console banner, one SSH notice line).
			 */
			readonly kind: "enroll-nudge";
			readonly reasons: readonly PolicyReason[];
			readonly allowedMethods: readonly MethodId[];
			/** The earliest deadline of the rules that require 2FA (epoch ms). */
			readonly deadline: number;
			/** Whole days left, rounded up (1 on the last day). */
			readonly daysLeft: number;
	  }
	| {
			/** The user has usable factors, but none can be answered on this channel. */
			readonly kind: "unusable-on-channel";
			readonly reasons: readonly PolicyReason[];
			readonly usableMethods: readonly MethodId[];
	  }
	| {
			/**
			 * Remember window: the user would be challenged on SSH, but a live grant from an earlier
			 * second factor on SSH from the same source replaces it (off unless an admin allows it).
			 */
			readonly kind: "remembered";
			readonly reasons: readonly PolicyReason[];
			/** What the challenge would have offered: the grant's method must still be one of them. */
			readonly methods: readonly MethodId[];
			readonly allowedMethods: readonly MethodId[];
	  }
	| {
			readonly kind: "challenge";
			readonly reasons: readonly PolicyReason[];
			/** Methods the user may answer with on this channel, default first; recovery codes last. */
			readonly methods: readonly MethodId[];
			readonly defaultMethod: MethodId;
			/** Every method the policy allows this user (recovery codes included): what a live session may still rest on. */
			readonly allowedMethods: readonly MethodId[];
	  };

function ordered(methods: Iterable<MethodId>): MethodId[] {
	const set = new Set(methods);
	return METHOD_ORDER.filter((method) => set.has(method));
}

export function allowedMethods(settings: GlobalTwoFactorSettings, groups: readonly GroupTwoFactorRule[]): MethodId[] {
	let allowed = new Set(settings.enabledMethods);
	for (const group of groups) {
		if (group.allowedMethods === null) continue;
		const narrow = new Set(group.allowedMethods);
		allowed = new Set([...allowed].filter((method) => narrow.has(method)));
	}
	return ordered(allowed);
}

export function policyReasons(settings: GlobalTwoFactorSettings, groups: readonly GroupTwoFactorRule[]): PolicyReason[] {
	const reasons: PolicyReason[] = [];
	if (settings.forceTwoFactor) reasons.push({ source: "global" });
	for (const group of groups) {
		if (group.forceTwoFactor) reasons.push({ source: "group", group: group.name });
	}
	return reasons;
}

/** True when the address lies in one of the rule's trusted networks. */
export function insideTrustedNetworks(rule: NetworkRule, sourceAddress: string | null | undefined): boolean {
	if (sourceAddress === null || sourceAddress === undefined) return false;
	return rule.trusted.some((text) => {
		const cidr = parseCidr(text);
		return cidr !== null && addressInCidr(sourceAddress, cidr);
	});
}

/**
 * Network rules: the first "deny-outside" rule the client is outside of refuses the login; every
 * "require-2fa-outside" rule it is outside of adds a reason. Nothing here can remove a reason.
 */
function networkOutcome(input: SecondFactorPolicyInput): { denied: NetworkRule | null; reasons: PolicyReason[] } {
	const reasons: PolicyReason[] = [];
	for (const rule of input.networkRules ?? []) {
		if (insideTrustedNetworks(rule, input.sourceAddress)) continue;
		if (rule.mode === "deny-outside") return { denied: rule, reasons };
		if (!reasons.some((reason) => reason.source === "network" && reason.group === rule.group)) reasons.push({ source: "network", group: rule.group });
	}
	return { denied: null, reasons };
}

const DAY_MS = 86_400_000;

/** The longest remember window an admin may set: 12 hours. */
export const REMEMBER_MAX_MINUTES = 720;

/**
 * The SSH remember window for a user, in minutes (0: off). A group that sets its own window
 * overrides the global one for its members (so a group can allow it while the global setting is
 * off, or forbid it while it is on); where several of the user's groups set one, the shortest wins.
 */
export function rememberWindowMinutes(settings: GlobalTwoFactorSettings, groups: readonly GroupTwoFactorRule[]): number {
	const own = groups.map((group) => group.rememberMinutes).filter((value): value is number => typeof value === "number");
	const minutes = own.length > 0 ? Math.min(...own) : (settings.rememberMinutes ?? 0);
	if (!Number.isFinite(minutes) || minutes <= 0) return 0;
	return Math.min(Math.floor(minutes), REMEMBER_MAX_MINUTES);
}

/**
 * Staged rollout: the deadline until which a user without a usable factor is nudged instead of
 * stopped, or null (enforce now). Every rule that requires 2FA must carry a future deadline: one
 * rule without a deadline (or a voluntary enrolment, Decision 2) enforces at once; the earliest
 * deadline wins, so the stricter rule applies.
 */
function enrolmentGrace(input: SecondFactorPolicyInput, reasons: readonly PolicyReason[]): number | null {
	if (input.now === undefined) return null;
	let earliest = Number.POSITIVE_INFINITY;
	for (const reason of reasons) {
		let deadline: number | null | undefined;
		if (reason.source === "global") deadline = input.settings.enrolmentDeadline;
		else if (reason.source === "group") deadline = input.groups.find((group) => group.name === reason.group && group.forceTwoFactor)?.enrolmentDeadline;
		else return null;
		if (deadline === null || deadline === undefined || !Number.isFinite(deadline)) return null;
		earliest = Math.min(earliest, deadline);
	}
	return earliest > input.now && Number.isFinite(earliest) ? earliest : null;
}

export function decideSecondFactor(input: SecondFactorPolicyInput): SecondFactorDecision {
	const network = networkOutcome(input);
	if (network.denied !== null) return { kind: "network-denied", group: network.denied.group };
	// A service account's token was minted on the host (root of the machine the database lives on):
	// that issuance stands in for the second factor, on the API only. Network rules above still
	// apply; every other channel refuses a service account before deciding (login-flow.ts).
	if (input.serviceAccount === true && input.channel === "api") return { kind: "not-required", allowedMethods: allowedMethods(input.settings, input.groups) };
	const reasons = policyReasons(input.settings, input.groups);
	const server = input.targetServer;
	if (server?.requireTwoFactor === true) reasons.push({ source: "server", server: server.server, freshMinutes: server.freshMinutes });
	reasons.push(...network.reasons);
	// Recovery codes are a backup: they never make 2FA "required" and never satisfy enrolment.
	const enrolledStandalone = ordered(input.enrolledMethods.filter((method) => METHOD_INFO[method].standalone));
	// Decision 2: an enrolled factor is always asked for, even if its method was disabled since.
	if (enrolledStandalone.length > 0 && reasons.length === 0) reasons.push({ source: "enrolled" });

	const allowed = allowedMethods(input.settings, input.groups);
	const allowedStandalone = allowed.filter((method) => METHOD_INFO[method].standalone);

	if (reasons.length === 0) return { kind: "not-required", allowedMethods: allowed };
	if (allowedStandalone.length === 0) return { kind: "misconfigured", reasons };

	const usable = enrolledStandalone.filter((method) => allowedStandalone.includes(method));
	if (usable.length === 0) {
		const deadline = enrolmentGrace(input, reasons);
		if (deadline !== null) {
			const daysLeft = Math.max(1, Math.ceil((deadline - (input.now as number)) / DAY_MS));
			return { kind: "enroll-nudge", reasons, allowedMethods: allowedStandalone, deadline, daysLeft };
		}
		return { kind: "enroll", reasons, allowedMethods: allowedStandalone };
	}

	const onChannel = usable.filter((method) => input.channelMethods.includes(method));
	if (onChannel.length === 0) return { kind: "unusable-on-channel", reasons, usableMethods: usable };

	const last = input.lastWebMethod;
	const defaultMethod = last !== null && onChannel.includes(last) ? last : (onChannel[0] as MethodId);
	const methods: MethodId[] = [defaultMethod, ...onChannel.filter((method) => method !== defaultMethod)];
	const recoveryUsable = input.enrolledMethods.includes("recovery-code") && allowed.includes("recovery-code") && input.channelMethods.includes("recovery-code");
	if (recoveryUsable) methods.push("recovery-code");
	// Remember window: SSH only (never the console), only where a challenge would be asked, and only
	// while the window that applies to this user is open (a grant outliving a window set to 0 is dead).
	// Never when a step-up server or a network rule asks: those ask every time (stricter wins).
	const everyTime = reasons.some((reason) => reason.source === "server" || reason.source === "network");
	if (input.rememberedGrant === true && input.channel === "ssh" && !everyTime && rememberWindowMinutes(input.settings, input.groups) > 0) {
		return { kind: "remembered", reasons, methods, allowedMethods: allowed };
	}
	return { kind: "challenge", reasons, methods, defaultMethod, allowedMethods: allowed };
}

/**
 * Enrolment happens in the console: a user may enrol the allowed standalone methods this
 * deployment can run on the web (`webMethods`). Recovery codes are a backup, set up separately.
 */
export function enrollableMethods(allowed: readonly MethodId[], webMethods: readonly MethodId[]): MethodId[] {
	return ordered(allowed.filter((method) => METHOD_INFO[method].standalone && webMethods.includes(method)));
}

/**
 * Live policy (docs/product-decisions.md "Policy changes bite at once"): may a session proven with
 * `provenMethod` (null: no second factor) continue under the policy as it is now? The caller has
 * already refused revoked sessions (disabled, locked, epoch changed); false means "step up".
 */
export function sessionSatisfies(decision: SecondFactorDecision, provenMethod: string | null): boolean {
	// Before the enrolment deadline a session may rest on no second factor (staged rollout).
	if (decision.kind === "not-required" || decision.kind === "enroll-nudge") return true;
	if ((decision.kind !== "challenge" && decision.kind !== "remembered") || provenMethod === null) return false;
	if ((decision.methods as readonly string[]).includes(provenMethod)) return true;
	// A session proven with the user's last recovery code stays valid (the code is spent, not
	// disallowed), but only while recovery codes are still an allowed method: removing them from
	// the allowed methods steps such sessions up like any other method (docs/threat-model.md, Attacks found by review).
	return provenMethod === "recovery-code" && decision.allowedMethods.includes("recovery-code");
}

/**
 * The method being asked cannot be used right now (its backend is down or misconfigured): the
 * user may go on with the remaining methods of the challenge, in the decision's order (default
 * first, recovery codes last). Null when none is left: the login is refused.
 */
export function fallbackMethods(methods: readonly MethodId[], failed: MethodId): { readonly methods: MethodId[]; readonly next: MethodId } | null {
	const rest = methods.filter((method) => method !== failed);
	return rest.length === 0 ? null : { methods: rest, next: rest[0] as MethodId };
}

/** Human explanation used by the web console and SSH messages. */
export function describeReasons(reasons: readonly PolicyReason[]): string {
	if (reasons.length === 0) return "Two-factor authentication is optional for your account.";
	const parts = reasons.map((reason) => {
		switch (reason.source) {
			case "global":
				return "required for everyone";
			case "group":
				return `required by group ${reason.group}`;
			case "enrolled":
				return "required because you have set up a second factor";
			case "server":
				return `required by server ${reason.server} for every connection${reason.freshMinutes === null ? "" : ` (a code from the last ${reason.freshMinutes} minutes)`}`;
			case "network":
				return `required from outside the trusted networks${reason.group === null ? "" : ` of group ${reason.group}`}`;
		}
		return reason satisfies never;
	});
	return `Two-factor authentication is ${parts.join(", ")}.`;
}

// --- Per-server step-up at channel open (docs/decisions.md "Per-server step-up") ---

export interface ServerAccessInput {
	readonly server: ServerStepUpRule;
	/** The second factor the connection's own authentication proved (null: none). */
	readonly provenMethod: string | null;
	/** When it was proven (epoch ms), null when none was. */
	readonly provenAt: number | null;
	/** Now (epoch ms), from the caller's injected clock: this function reads no clock. */
	readonly now: number;
	/** A relay already open (live re-check): freshness applied when it opened; only "required" is re-checked. */
	readonly continuing?: boolean;
}

export type ServerAccessDecision =
	| { readonly kind: "allowed" }
	| {
			readonly kind: "step-up-required";
			readonly reason: Extract<PolicyReason, { source: "server" }>;
			/** "none": the connection proved no second factor; "stale": it did, longer ago than freshMinutes. */
			readonly problem: "none" | "stale";
	  };

/**
 * May a connection that is already authenticated open a relay to `server`? Only when the server
 * requires nothing, or the connection's own authentication included a second factor (within the
 * server's freshness window, when it has one). Evaluated at every channel open, menu choice, exec
 * and ProxyJump; the caller tells the user how to reconnect so the factor is asked.
 */
export function decideServerAccess(input: ServerAccessInput): ServerAccessDecision {
	const { server } = input;
	if (!server.requireTwoFactor) return { kind: "allowed" };
	const reason = { source: "server", server: server.server, freshMinutes: server.freshMinutes } as const;
	if (input.provenMethod === null || input.provenAt === null) return { kind: "step-up-required", reason, problem: "none" };
	// A clock that went backwards (provenAt in the future) is not "fresh": fail closed.
	if (input.continuing !== true && server.freshMinutes !== null && (input.now - input.provenAt > server.freshMinutes * 60_000 || input.provenAt > input.now)) {
		return { kind: "step-up-required", reason, problem: "stale" };
	}
	return { kind: "allowed" };
}

/** Shown on SSH when decideServerAccess refuses: why, and how to reconnect so the factor is asked. */
export function describeServerStepUp(decision: Extract<ServerAccessDecision, { kind: "step-up-required" }>, username: string): string {
	const { server, freshMinutes } = decision.reason;
	const why =
		decision.problem === "none"
			? "this connection logged in without one"
			: `this connection's second factor is older than ${freshMinutes} minute${freshMinutes === 1 ? "" : "s"}`;
	return (
		`server ${server} requires two-factor authentication for every connection${freshMinutes === null ? "" : ` (within ${freshMinutes} minutes)`}, and ${why}. ` +
		`Reconnect as ${username}+${server} to be asked for it, e.g. ssh -J ${username}+${server}@GATEWAY ... or ssh ${username}+${server}@GATEWAY ${server}`
	);
}

/** The web terminal's wording of the same refusal: the same reason, and the remedy is a fresh factor in the console. */
export function describeWebServerStepUp(decision: Extract<ServerAccessDecision, { kind: "step-up-required" }>): string {
	const { server, freshMinutes } = decision.reason;
	const why =
		decision.problem === "none"
			? "this session logged in without one"
			: `this session's second factor is older than ${freshMinutes} minute${freshMinutes === 1 ? "" : "s"}`;
	return `Server ${server} requires two-factor authentication for every connection${freshMinutes === null ? "" : ` (within ${freshMinutes} minutes)`}, and ${why}.`;
}

/** The staged-rollout nudge shown on every console page and as one SSH notice line. */
export function describeNudge(decision: Extract<SecondFactorDecision, { kind: "enroll-nudge" }>, setupUrl: string): string {
	const date = new Date(decision.deadline).toISOString().slice(0, 10);
	const days = decision.daysLeft === 1 ? "1 day" : `${decision.daysLeft} days`;
	return `${describeReasons(decision.reasons)} Set up a second factor at ${setupUrl} within ${days} (by ${date}); after that you cannot log in without one.`;
}
