/**
 * Adding, verifying and removing a user's factors, on the forced-enrolment page and on the account
 * page alike. The flow checks that the method is allowed for this user now; methods do the
 * method-specific work; nothing half-made ever counts (pending factors are ignored by the policy).
 */
import { METHOD_INFO, type MethodId } from "../core/method-id.ts";
import type { Clock } from "../core/clock.ts";
import { sha256Hex } from "../crypto/tokens.ts";
import type { EnrollmentDisplay, MethodRegistry } from "../methods/method.ts";
import type { AttemptStore } from "../storage/attempt-store.ts";
import type { AuditEvent, AuditLog } from "../storage/audit-log.ts";
import type { EnrolmentGuard } from "../storage/factor-store.ts";
import { accountDisabled, type CounterPolicy, type UserRow, type UserStore } from "../storage/user-store.ts";
import type { RememberedGrantStore } from "../storage/remembered-grant-store.ts";
import type { UnitOfWork } from "../storage/unit-of-work.ts";
import type { UserTransactions } from "../storage/user-transaction.ts";
import { channelMethods, decideForUser, type PolicyStores } from "./policy-inputs.ts";
import { allowedMethods, enrollableMethods, policyReasons } from "../core/decide-second-factor.ts";
import { groupRule } from "../storage/group-store.ts";
import { stripUnsafe } from "../core/untrusted-text.ts";

export type EnrollBeginResult =
	| { kind: "pending"; factorId: string; display: EnrollmentDisplay }
	| { kind: "active"; factorId: string; display: EnrollmentDisplay }
	| { kind: "rejected"; message: string };

export type EnrollCompleteResult = { kind: "active"; factorId: string; method: MethodId } | { kind: "invalid"; message: string } | { kind: "expired" };

export type RemoveResult = { kind: "removed" } | { kind: "refused"; message: string } | { kind: "not-found" };

export interface EnrollmentFlowDeps extends PolicyStores {
	readonly users: UserStore;
	readonly transactions: UserTransactions;
	readonly attempts: AttemptStore;
	/** The 2FA failure counter's policy: a refused forced-enrolment start is charged to it. */
	readonly secondFactorLockout: CounterPolicy;
	readonly audit: AuditLog;
	readonly methods: MethodRegistry;
	readonly clock: Clock;
	/** The SSH remember window's grants: the account page lists them (and forgets them through `work`). */
	readonly rememberedGrants: Pick<RememberedGrantStore, "listLive">;
	/** A change and its audit event in one transaction (storage/unit-of-work.ts). */
	readonly work: Pick<UnitOfWork, "run">;
}

export interface EnrollContext {
	readonly channel: string;
	readonly source: string;
	/** Set when enrolling from the half-authenticated forced-enrolment page. */
	readonly duringLogin: boolean;
	/** The login attempt a forced enrolment belongs to (required when duringLogin): the factor is bound to it. */
	readonly attemptId?: string | null;
	/** The web session (SHA-256 of its id) an account-page enrolment belongs to; absent for in-process callers. */
	readonly sessionIdHash?: string | null;
	/** The admin-issued one-time enrolment token, required after an admin reset (Decision 11). */
	readonly enrollToken?: string | null;
}

const MAX_FACTORS_PER_USER = 20;
const LINK_SPENT = "This enrolment link was already used to set up a factor. Log in again with that factor.";
const LINK_MISSING = "An administrator reset your second factors. Open the one-time enrolment link they gave you to set up a new one.";
const LABEL_MAX = 64;

export function cleanLabel(raw: unknown, fallback: string): string {
	if (typeof raw !== "string") return fallback;
	const label = stripUnsafe(raw).trim().slice(0, LABEL_MAX);
	return label.length > 0 ? label : fallback;
}

/** Where an enrolment comes from: the factor is bound to it and can only be finished from it. */
export function enrolmentOrigin(context: EnrollContext): string | null {
	if (context.duringLogin) return typeof context.attemptId === "string" && context.attemptId.length > 0 ? `attempt:${context.attemptId}` : "attempt:";
	return typeof context.sessionIdHash === "string" && context.sessionIdHash.length > 0 ? `session:${context.sessionIdHash}` : null;
}

export class EnrollmentFlow {
	constructor(private readonly deps: EnrollmentFlowDeps) {}

	/** One audit event about a user's factors, with the channel and source of the request. */
	private async record(
		user: { readonly id: string; readonly username: string | null },
		context: EnrollContext,
		event: string,
		outcome: "success" | "failure" | "info",
		method: string | null,
		detail?: Record<string, unknown>,
	): Promise<void> {
		await this.deps.audit.write(this.event(user, context, event, outcome, method, detail));
	}

	private event(
		user: { readonly id: string; readonly username: string | null },
		context: EnrollContext,
		event: string,
		outcome: "success" | "failure" | "info",
		method: string | null,
		detail?: Record<string, unknown>,
	): AuditEvent {
		return {
			event,
			outcome,
			userId: user.id,
			username: user.username,
			channel: context.channel,
			source: context.source,
			method,
			...(detail ? { detail } : {}),
		};
	}

	/**
	 * The guard an enrolment runs under. With `method`, it also carries the `factor.enrolled` event,
	 * which FactorStore writes inside the activation's transaction: the factor and its event commit together.
	 */
	private guardFor(user: UserRow, context: EnrollContext, method?: MethodId): EnrolmentGuard {
		const token = context.duringLogin && typeof context.enrollToken === "string" && context.enrollToken.length > 0 ? context.enrollToken : null;
		const guard = { origin: enrolmentOrigin(context), generation: Number(user.tfa_generation), linkHash: token === null ? null : sha256Hex(token) };
		if (method === undefined) return guard;
		const activated: AuditEvent = {
			event: "factor.enrolled",
			outcome: "success",
			userId: user.id,
			username: user.username,
			channel: context.channel,
			source: context.source,
			method,
			...(context.duringLogin ? { detail: { duringLogin: true } } : {}),
		};
		return { ...guard, activated };
	}

	/**
	 * A forced-enrolment start that is refused (no or wrong one-time link after a reset, or the user
	 * already has a factor) is audited and charged to the 2FA failure counter like a wrong code: it
	 * is a guess at a state the attacker should not reach, and repeated guesses lock the account.
	 */
	async refuseDuringLogin(userId: string, method: string | null, reason: string, context: EnrollContext): Promise<void> {
		const user = await this.deps.users.findById(userId);
		// A completed failure at once (nothing is evaluated later), locking in the same UPDATE when it reaches the limit.
		const failure = await this.deps.users.settleWrong(userId, "tfa", null, this.deps.secondFactorLockout);
		await this.record({ id: userId, username: user?.username ?? null }, context, "factor.enroll", "failure", method, { reason, duringLogin: true });
		if (failure.lockedNow)
			await this.record({ id: userId, username: user?.username ?? null }, context, "account.locked", "info", null, { counter: "second-factor" });
	}

	/** Methods this user may enrol right now (allowed for them, implemented, enrollable on the web). */
	async enrollableMethods(userId: string): Promise<MethodId[]> {
		const [settings, groups] = await Promise.all([this.deps.settings.getTwoFactor(), this.deps.groups.groupsOfUser(userId)]);
		return enrollableMethods(allowedMethods(settings, groups.map(groupRule)), channelMethods(this.deps.methods, "web"));
	}

	/** A live login attempt of this user, on the web, whose policy decision now is "enroll". */
	private async attemptNeedsEnrolment(user: UserRow, context: EnrollContext): Promise<boolean> {
		const attempt = typeof context.attemptId === "string" ? await this.deps.attempts.getLive(context.attemptId) : undefined;
		if (attempt === undefined || attempt.user_id !== user.id || attempt.channel !== "web") return false;
		return (await decideForUser(this.deps, user, "web", { sourceAddress: attempt.source })).kind === "enroll";
	}

	async begin(userId: string, method: MethodId, rawLabel: unknown, input: Record<string, string>, context: EnrollContext): Promise<EnrollBeginResult> {
		const user = await this.deps.users.findById(userId);
		if (user === undefined || accountDisabled(user)) return { kind: "rejected", message: "Your account cannot enrol factors." };
		const implementation = this.deps.methods.get(method);
		if (implementation === undefined || !(await this.enrollableMethods(userId)).includes(method)) {
			return { kind: "rejected", message: "That method is not available for your account." };
		}
		const guard = this.guardFor(user, context, method);
		if (context.duringLogin && !(await this.attemptNeedsEnrolment(user, context))) {
			// W3(d): only a live login attempt of this user whose policy step is "enrol" may enrol half-authenticated.
			await this.refuseDuringLogin(userId, method, "not-enrolment-step", context);
			return { kind: "rejected", message: "You already have a second factor. Use it to finish logging in." };
		}
		if (context.duringLogin && user.enroll_token_hash !== null) {
			// Checked here for a clear message; FactorStore enforces it again inside the activation's transaction.
			if (
				guard.linkHash === null ||
				guard.linkHash !== user.enroll_token_hash ||
				Number(user.enroll_token_expires_at ?? 0) <= this.deps.clock.now().getTime()
			) {
				await this.refuseDuringLogin(userId, method, "enroll-token-missing", context);
				return { kind: "rejected", message: LINK_MISSING };
			}
		}
		if (context.duringLogin && guard.linkHash !== null && user.enroll_token_hash === null) return { kind: "rejected", message: LINK_SPENT };
		const existing = await this.deps.factors.listActive(userId);
		if (existing.length >= MAX_FACTORS_PER_USER) return { kind: "rejected", message: "You have reached the maximum number of factors." };
		const result = await implementation.beginEnrollment({
			user: { id: user.id, username: user.username },
			label: cleanLabel(rawLabel, METHOD_INFO[method].label),
			input,
			guard,
		});
		if (result.kind === "rejected") {
			await this.record({ id: userId, username: user.username }, context, "factor.enroll", "failure", method, { reason: "rejected" });
			return result;
		}
		// An active result was audited (factor.enrolled) in its activation's transaction (guardFor).
		if (result.kind !== "active") await this.record({ id: userId, username: user.username }, context, "factor.enroll.begin", "info", method);
		return result;
	}

	/**
	 * A setup page shown again (a reload or a revisit of its address, a wrong code): the pending
	 * factor this same login attempt or web session began (`factorId`, or else its newest one of
	 * `method`), while it is live, with what the method shows for it (TOTP: key and QR code). Null
	 * when there is none: the page then starts over. Never another origin's factor (W3).
	 */
	async pendingSetup(
		userId: string,
		method: MethodId,
		context: EnrollContext,
		factorId?: string,
	): Promise<{ factorId: string; display: EnrollmentDisplay } | null> {
		const user = await this.deps.users.findById(userId);
		const origin = enrolmentOrigin(context);
		const implementation = this.deps.methods.get(method);
		if (user === undefined || accountDisabled(user) || origin === null || implementation?.showPending === undefined) return null;
		const now = this.deps.clock.now().getTime();
		let factor = factorId === undefined ? await this.deps.factors.latestPending(userId, method, origin, now) : await this.deps.factors.get(factorId);
		if (factor !== null && factorId !== undefined) {
			const expiresAt = await this.deps.factors.pendingExpiresAt(factor.id);
			if (expiresAt === null || expiresAt <= now) factor = null;
		}
		if (factor === null || factor.userId !== userId || factor.method !== method || factor.status !== "pending" || factor.origin !== origin) return null;
		const display = await implementation.showPending(factor, { id: user.id, username: user.username });
		return display === null ? null : { factorId: factor.id, display };
	}

	async complete(userId: string, factorId: string, input: Record<string, string>, context: EnrollContext): Promise<EnrollCompleteResult> {
		const user = await this.deps.users.findById(userId);
		const factor = await this.deps.factors.get(factorId);
		if (user === undefined || factor === null || factor.userId !== userId) return { kind: "expired" };
		const guard = this.guardFor(user, context, factor.method);
		if (factor.status !== "pending" || factor.origin !== guard.origin) {
			// A factor begun in another login attempt or session (or before a reset) is never finished here.
			await this.record({ id: userId, username: user.username }, context, "factor.enroll", "failure", factor.method, { reason: "other-origin" });
			return { kind: "expired" };
		}
		const implementation = this.deps.methods.get(factor.method);
		if (implementation === undefined || !(await this.enrollableMethods(userId)).includes(factor.method)) return { kind: "expired" };
		const result = await implementation.completeEnrollment({ user: { id: user.id, username: user.username }, label: factor.label, input, factorId, guard });
		if (result.kind === "invalid") {
			await this.record({ id: userId, username: user.username }, context, "factor.enroll", "failure", factor.method, { reason: "wrong-code" });
			return result;
		}
		if (result.kind === "expired") {
			await this.record({ id: userId, username: user.username }, context, "factor.enroll", "failure", factor.method, { reason: "guard-refused-or-expired" });
			return guard.linkHash !== null ? { kind: "invalid", message: LINK_SPENT } : result;
		}
		// The factor is active and `factor.enrolled` was written in the same transaction (guardFor). The
		// admin's one-time link (Decision 11), if one was presented, was consumed there too: one link, one factor.
		return { kind: "active", factorId: result.factorId, method: factor.method };
	}

	/**
	 * Removing a factor is refused when it would leave a user whom a policy forces without a usable
	 * factor (they would be locked into enrolment). A voluntarily protected user may remove their
	 * last factor; their recovery codes go with it.
	 */
	async remove(userId: string, factorId: string, context: EnrollContext): Promise<RemoveResult> {
		// The last-factor rule is read and applied inside one transaction holding the user's row lock:
		// two parallel removals (on one node or two) serialise, and the second sees the first's result.
		const outcome = await this.deps.transactions.withUserLocked(userId, async ({ user, settings, groups, factors, recoveryCodes, users, audit }) => {
			const factor = await factors.get(factorId);
			if (factor === null || factor.userId !== userId) return { kind: "not-found" } as const;
			const [global, memberOf, active] = [await settings.getTwoFactor(), await groups.groupsOfUser(userId), await factors.listActive(userId)];
			const rules = memberOf.map(groupRule);
			const forced = policyReasons(global, rules);
			const allowed = allowedMethods(global, rules);
			const remainingUsable = active.filter((other) => other.id !== factorId && allowed.includes(other.method) && METHOD_INFO[other.method].standalone);
			if (forced.length > 0 && remainingUsable.length === 0 && factor.status === "active") {
				const why = forced.map((reason) => (reason.source === "group" ? `group ${reason.group}` : "the global policy")).join(", ");
				return {
					kind: "refused",
					username: user.username,
					message: `You cannot remove your last usable second factor: two-factor authentication is required by ${why}. Add another factor first.`,
				} as const;
			}
			if (!(await factors.remove(factorId, userId))) return { kind: "not-found" } as const;
			const left = active.filter((other) => other.id !== factorId);
			if (left.filter((other) => METHOD_INFO[other.method].standalone).length === 0) await recoveryCodes.removeAll(userId);
			if (user.ssh_method === factor.method && !left.some((other) => other.method === factor.method)) {
				await users.setSshMethod(userId, null);
			}
			// Audited in this transaction: the removal and its event commit together.
			audit(this.event({ id: userId, username: user.username }, context, "factor.removed", "success", factor.method, { label: factor.label }));
			return { kind: "removed" } as const;
		});
		if (outcome === undefined) return { kind: "not-found" };
		if (outcome.kind !== "removed") {
			if (outcome.kind === "refused") {
				await this.record({ id: userId, username: outcome.username }, context, "factor.remove", "failure", null, { reason: "last-usable-factor" });
				return { kind: "refused", message: outcome.message };
			}
			return outcome;
		}
		return { kind: "removed" };
	}

	/** Issues a fresh set of recovery codes (the old set stops working). Needs a real factor first. */
	/** The user's live remember-window grants (the account page), newest first. */
	async rememberedGrants(userId: string): Promise<{ id: string; source: string; method: string; createdAt: number; expiresAt: number }[]> {
		const rows = await this.deps.rememberedGrants.listLive(userId);
		return rows.map((row) => ({ id: row.id, source: row.source, method: row.method, createdAt: Number(row.created_at), expiresAt: Number(row.expires_at) }));
	}

	/** "Forget": the user ends one of their own remembered grants at once; the deletion and its event commit together. */
	async forgetRememberedGrant(userId: string, grantId: string, context?: EnrollContext): Promise<boolean> {
		return this.deps.work.run(async (work) => {
			const forgotten = await work.rememberedGrants.forget(userId, grantId);
			if (forgotten)
				work.audit({
					event: "second-factor.forgotten",
					outcome: "info",
					userId,
					channel: context?.channel ?? null,
					source: context?.source ?? null,
					detail: { grantId },
				});
			return forgotten;
		});
	}

	async regenerateRecoveryCodes(userId: string, context: EnrollContext): Promise<EnrollBeginResult> {
		const user = await this.deps.users.findById(userId);
		const implementation = this.deps.methods.get("recovery-code");
		if (user === undefined || implementation === undefined) return { kind: "rejected", message: "Recovery codes are not available." };
		const decision = await decideForUser(this.deps, user, "web");
		if (decision.kind !== "challenge") return { kind: "rejected", message: "Set up a second factor before creating recovery codes." };
		if (!(await this.enrollableMethodsIncludingBackup(userId)).includes("recovery-code"))
			return { kind: "rejected", message: "Recovery codes are disabled by your administrator." };
		const result = await implementation.beginEnrollment({
			user: { id: user.id, username: user.username },
			label: "Recovery codes",
			input: {},
			// The new set and its event commit in one transaction (RecoveryCodeStore.replace).
			guard: {
				...this.guardFor(user, context),
				activated: this.event({ id: userId, username: user.username }, context, "recovery-codes.issued", "success", null),
			},
		});
		return result;
	}

	private async enrollableMethodsIncludingBackup(userId: string): Promise<MethodId[]> {
		const [settings, groups] = await Promise.all([this.deps.settings.getTwoFactor(), this.deps.groups.groupsOfUser(userId)]);
		return allowedMethods(settings, groups.map(groupRule));
	}
}
