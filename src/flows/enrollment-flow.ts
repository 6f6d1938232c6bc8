/**
 * Adding, verifying and removing a user's factors, on the forced-enrolment page and on the account
 * page alike. The flow checks that the method is allowed for this user now; methods do the
 * method-specific work; nothing half-made ever counts (pending factors are ignored by the policy).
 */
import { METHOD_INFO, type MethodId } from "../core/method-id.ts";
import type { Clock } from "../core/clock.ts";
import { sha256Hex } from "../crypto/tokens.ts";
import type { EnrollmentDisplay, MethodRegistry } from "../methods/method.ts";
import type { AuditLog } from "../storage/audit-log.ts";
import type { UserStore } from "../storage/user-store.ts";
import { decideForUser, type PolicyStores } from "./policy-inputs.ts";
import { allowedMethods, policyReasons } from "../core/decide-second-factor.ts";
import { groupRule } from "../storage/group-store.ts";

export type EnrollBeginResult =
	| { kind: "pending"; factorId: string; display: EnrollmentDisplay }
	| { kind: "active"; factorId: string; display: EnrollmentDisplay }
	| { kind: "rejected"; message: string };

export type EnrollCompleteResult = { kind: "active"; factorId: string; method: MethodId } | { kind: "invalid"; message: string } | { kind: "expired" };

export type RemoveResult = { kind: "removed" } | { kind: "refused"; message: string } | { kind: "not-found" };

export interface EnrollmentFlowDeps extends PolicyStores {
	readonly users: UserStore;
	readonly audit: AuditLog;
	readonly methods: MethodRegistry;
	readonly clock: Clock;
}

export interface EnrollContext {
	readonly channel: string;
	readonly source: string;
	/** Set when enrolling from the half-authenticated forced-enrolment page. */
	readonly duringLogin: boolean;
	/** The admin-issued one-time enrolment token, required after an admin reset (Decision 11). */
	readonly enrollToken?: string | null;
}

const MAX_FACTORS_PER_USER = 20;
const LINK_SPENT = "This enrolment link was already used to set up a factor. Log in again with that factor.";
const LABEL_MAX = 64;

export function cleanLabel(raw: unknown, fallback: string): string {
	if (typeof raw !== "string") return fallback;
	// eslint-disable-next-line no-control-regex
	const label = raw.replace(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g, "").trim().slice(0, LABEL_MAX);
	return label.length > 0 ? label : fallback;
}

export class EnrollmentFlow {
	constructor(private readonly deps: EnrollmentFlowDeps) {}

	/** Methods this user may enrol right now (allowed for them, implemented, enrollable on the web). */
	async enrollableMethods(userId: string): Promise<MethodId[]> {
		const [settings, groups] = await Promise.all([this.deps.settings.getTwoFactor(), this.deps.groups.groupsOfUser(userId)]);
		return allowedMethods(settings, groups.map(groupRule)).filter(
			(method) => METHOD_INFO[method].standalone && this.deps.methods.has(method) && METHOD_INFO[method].channels.includes("web"),
		);
	}

	async begin(userId: string, method: MethodId, rawLabel: unknown, input: Record<string, string>, context: EnrollContext): Promise<EnrollBeginResult> {
		const user = await this.deps.users.findById(userId);
		if (user === undefined || user.disabled === 1) return { kind: "rejected", message: "Your account cannot enrol factors." };
		const implementation = this.deps.methods.get(method);
		if (implementation === undefined || !(await this.enrollableMethods(userId)).includes(method)) {
			return { kind: "rejected", message: "That method is not available for your account." };
		}
		if (context.duringLogin && user.enroll_token_hash !== null) {
			const token = context.enrollToken ?? "";
			if (token.length === 0 || sha256Hex(token) !== user.enroll_token_hash || Number(user.enroll_token_expires_at ?? 0) <= this.deps.clock.now().getTime()) {
				await this.deps.audit.write({ event: "factor.enroll", outcome: "failure", userId, username: user.username, channel: context.channel, source: context.source, method, detail: { reason: "enroll-token-missing" } });
				return { kind: "rejected", message: "An administrator reset your second factors. Open the one-time enrolment link they gave you to set up a new one." };
			}
		}
		const existing = await this.deps.factors.listActive(userId);
		if (existing.length >= MAX_FACTORS_PER_USER) return { kind: "rejected", message: "You have reached the maximum number of factors." };
		const result = await implementation.beginEnrollment({ user: { id: user.id, username: user.username }, label: cleanLabel(rawLabel, METHOD_INFO[method].label), input });
		if (result.kind === "rejected") return result;
		if (result.kind === "active") {
			if (!(await this.onActivated(user.id, user.username, method, result.factorId, context))) return { kind: "rejected", message: LINK_SPENT };
		} else await this.deps.audit.write({ event: "factor.enroll.begin", outcome: "info", userId, username: user.username, channel: context.channel, source: context.source, method });
		return result;
	}

	async complete(userId: string, factorId: string, input: Record<string, string>, context: EnrollContext): Promise<EnrollCompleteResult> {
		const user = await this.deps.users.findById(userId);
		const factor = await this.deps.factors.get(factorId);
		if (user === undefined || factor === null || factor.userId !== userId) return { kind: "expired" };
		const implementation = this.deps.methods.get(factor.method);
		if (implementation === undefined || !(await this.enrollableMethods(userId)).includes(factor.method)) return { kind: "expired" };
		const result = await implementation.completeEnrollment({ user: { id: user.id, username: user.username }, label: factor.label, input, factorId });
		if (result.kind === "invalid") {
			await this.deps.audit.write({ event: "factor.enroll", outcome: "failure", userId, username: user.username, channel: context.channel, source: context.source, method: factor.method, detail: { reason: "wrong-code" } });
			return result;
		}
		if (result.kind === "expired") return result;
		if (!(await this.onActivated(user.id, user.username, factor.method, result.factorId, context))) return { kind: "invalid", message: LINK_SPENT };
		return { kind: "active", factorId: result.factorId, method: factor.method };
	}

	/**
	 * The admin's one-time link (Decision 11) is spent by the first factor it enrols, with one
	 * conditional UPDATE. If a parallel enrolment with the same link won, this factor is withdrawn:
	 * one link, one factor. (A consumption that fails because the link was spent long before, by a
	 * factor enrolled earlier, is a stale cookie and harmless.)
	 */
	private async onActivated(userId: string, username: string, method: MethodId, factorId: string, context: EnrollContext): Promise<boolean> {
		if (context.duringLogin && context.enrollToken && factorId !== "") {
			const consumed = await this.deps.users.consumeEnrollToken(userId, sha256Hex(context.enrollToken));
			if (!consumed) {
				const mine = await this.deps.factors.get(factorId);
				const rivals = (await this.deps.factors.listActive(userId)).filter((other) => other.id !== factorId && mine !== null && (other.verifiedAt ?? 0) >= mine.createdAt);
				if (rivals.length > 0) {
					await this.deps.factors.remove(factorId, userId);
					await this.deps.audit.write({ event: "factor.enroll", outcome: "failure", userId, username, channel: context.channel, source: context.source, method, detail: { reason: "enroll-link-already-used" } });
					return false;
				}
			}
		}
		await this.deps.audit.write({ event: "factor.enrolled", outcome: "success", userId, username, channel: context.channel, source: context.source, method });
		return true;
	}

	/**
	 * Removing a factor is refused when it would leave a user whom a policy forces without a usable
	 * factor (they would be locked into enrolment). A voluntarily protected user may remove their
	 * last factor; their recovery codes go with it.
	 */
	async remove(userId: string, factorId: string, context: EnrollContext): Promise<RemoveResult> {
		const user = await this.deps.users.findById(userId);
		const factor = await this.deps.factors.get(factorId);
		if (user === undefined || factor === null || factor.userId !== userId) return { kind: "not-found" };
		const [settings, groups, active] = await Promise.all([
			this.deps.settings.getTwoFactor(),
			this.deps.groups.groupsOfUser(userId),
			this.deps.factors.listActive(userId),
		]);
		const rules = groups.map(groupRule);
		const forced = policyReasons(settings, rules);
		const allowed = allowedMethods(settings, rules);
		const remainingUsable = active.filter((other) => other.id !== factorId && allowed.includes(other.method) && METHOD_INFO[other.method].standalone);
		if (forced.length > 0 && remainingUsable.length === 0 && factor.status === "active") {
			const why = forced.map((reason) => (reason.source === "group" ? `group ${reason.group}` : "the global policy")).join(", ");
			return { kind: "refused", message: `You cannot remove your last usable second factor: two-factor authentication is required by ${why}. Add another factor first.` };
		}
		if (!(await this.deps.factors.remove(factorId, userId))) return { kind: "not-found" };
		const left = await this.deps.factors.listActive(userId);
		if (left.filter((other) => METHOD_INFO[other.method].standalone).length === 0) await this.deps.recoveryCodes.removeAll(userId);
		if (user.ssh_method === factor.method && !left.some((other) => other.method === factor.method)) await this.deps.users.setSshMethod(userId, null);
		await this.deps.audit.write({ event: "factor.removed", outcome: "success", userId, username: user.username, channel: context.channel, source: context.source, method: factor.method, detail: { label: factor.label } });
		return { kind: "removed" };
	}

	/** Issues a fresh set of recovery codes (the old set stops working). Needs a real factor first. */
	async regenerateRecoveryCodes(userId: string, context: EnrollContext): Promise<EnrollBeginResult> {
		const user = await this.deps.users.findById(userId);
		const implementation = this.deps.methods.get("recovery-code");
		if (user === undefined || implementation === undefined) return { kind: "rejected", message: "Recovery codes are not available." };
		const decision = await decideForUser(this.deps, user, "web");
		if (decision.kind !== "challenge") return { kind: "rejected", message: "Set up a second factor before creating recovery codes." };
		if (!(await this.enrollableMethodsIncludingBackup(userId)).includes("recovery-code")) return { kind: "rejected", message: "Recovery codes are disabled by your administrator." };
		const result = await implementation.beginEnrollment({ user: { id: user.id, username: user.username }, label: "Recovery codes", input: {} });
		if (result.kind !== "rejected") await this.deps.audit.write({ event: "recovery-codes.issued", outcome: "success", userId, username: user.username, channel: context.channel, source: context.source });
		return result;
	}

	private async enrollableMethodsIncludingBackup(userId: string): Promise<MethodId[]> {
		const [settings, groups] = await Promise.all([this.deps.settings.getTwoFactor(), this.deps.groups.groupsOfUser(userId)]);
		return allowedMethods(settings, groups.map(groupRule));
	}
}
