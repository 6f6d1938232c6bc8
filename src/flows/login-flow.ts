/**
 * The one login flow for every channel (web console, SSH gateway, API):
 *
 *   first factor (password, or a public key whose signature the SSH adapter verified)
 *     → decideSecondFactor (pure)            → not required: authenticated
 *     → second factor (challenge / verify)   → authenticated
 *     → or forced enrolment (web only)       → authenticated once a new factor is verified
 *
 * The attempt lives in the database, frozen to one user, and every transition is a conditional
 * UPDATE, so a login can start on one node and finish on another and nothing is decided twice.
 * Adapters render LoginStep values; they never decide.
 */
import type { Metrics } from "../core/metrics.ts";
import type { PolicyReason, SecondFactorDecision } from "../core/decide-second-factor.ts";
import { allowedMethods, describeNudge, describeReasons, enrollableMethods } from "../core/decide-second-factor.ts";
import type { Clock } from "../core/clock.ts";
import { isPortcullisError } from "../core/errors.ts";
import { errorFields, type Logger } from "../core/logger.ts";
import type { Channel, MethodId } from "../core/method-id.ts";
import { canonicalUsername } from "../core/username.ts";
import { verifyAgainstDummy } from "../crypto/password-hash.ts";
import type { MethodRegistry } from "../methods/method.ts";
import type { AttemptRow, AttemptStore } from "../storage/attempt-store.ts";
import type { AuditLog } from "../storage/audit-log.ts";
import type { UnitOfWork } from "../storage/unit-of-work.ts";
import type { FactorStore } from "../storage/factor-store.ts";
import type { SshKeyStore } from "../storage/ssh-key-store.ts";
import type { Sleep } from "../core/sleep.ts";
import type { PolicyVersionStore } from "../storage/policy-version-store.ts";
import type { RememberedGrantRow, RememberedGrantStore } from "../storage/remembered-grant-store.ts";
import type { PairPolicy, PasswordThrottleStore } from "../storage/password-throttle-store.ts";
import { accountDisabled, type CounterPolicy, type Reservation, type UserRow, type UserStore } from "../storage/user-store.ts";
import { type BusyWaitPolicy, retryWhileBusy } from "./busy-wait.ts";
import { BUSY_MESSAGE, denied, DIRECTORY_UNAVAILABLE, GENERIC_LOGIN_FAILED, LOCKED_MESSAGE, WRONG_CODE } from "./login-messages.ts";
import { changeOwnPassword } from "./password-change.ts";
import type { DirectoryAccounts } from "./directory-accounts.ts";
import { checkPasswordCharged } from "./password-stage.ts";
import {
	channelMethods,
	decideForUser,
	decideFromInputs,
	gatherPolicyInputs,
	rememberWindowFor,
	type PolicyInputs,
	type PolicyStores,
} from "./policy-inputs.ts";
import { groupRule } from "../storage/group-store.ts";
import { auditRolloutNotifier, type RolloutNotifier } from "./rollout-notifier.ts";
import { checkServerAccess, type ConnectionProof, type ServerAccess } from "./server-step-up.ts";
import { checkSession, revocationMessage } from "./session-check.ts";
import { confirmPassword } from "./step-up-flow.ts";

export interface ClientInfo {
	readonly channel: Channel;
	/** The peer address as seen by the adapter (never a client-supplied header unless from a trusted proxy). */
	readonly sourceAddress: string;
	/** The server the login names (SSH `alice+db-prod`): its step-up rule joins the decision. */
	readonly targetServer?: string | null;
}

export type DenyReason =
	| "invalid-credentials"
	| "locked"
	| "disabled"
	| "misconfigured"
	| "enroll-on-web"
	| "unusable-on-channel"
	| "expired"
	| "unavailable"
	/** Answers still being checked fill the account's in-flight budget: nothing was checked or counted; try again shortly. */
	| "busy"
	/** The method's backend refused this user outright (Duo deny/enroll): not a guess, not an outage. */
	| "refused"
	/** A one-time or admin-set password must first be changed in the console. */
	| "password-change"
	/** A "deny-outside" network rule refuses the client's address. */
	| "network";

export type LoginStep =
	| { readonly kind: "denied"; readonly reason: DenyReason; readonly message: string }
	| {
			readonly kind: "authenticated";
			readonly attemptId: string;
			readonly userId: string;
			readonly username: string;
			readonly method: MethodId | null;
			/** Staged rollout: 2FA is required from a deadline and this user has no factor yet; shown on SSH as one notice line. */
			readonly nudge?: string;
			/**
			 * A remember-window grant stood in for the second factor: `method` is the grant's (the live
			 * policy checks it), but this connection proved nothing itself, so per-server step-up refuses it.
			 */
			readonly remembered?: true;
	  }
	| {
			readonly kind: "second-factor";
			readonly attemptId: string;
			readonly userId: string;
			readonly username: string;
			readonly methods: readonly MethodId[];
			readonly defaultMethod: MethodId;
			readonly reasons: readonly PolicyReason[];
			readonly explanation: string;
	  }
	| {
			readonly kind: "enroll";
			readonly attemptId: string;
			readonly userId: string;
			readonly username: string;
			readonly methods: readonly MethodId[];
			readonly reasons: readonly PolicyReason[];
			readonly explanation: string;
			/** After an admin reset (Decision 11) enrolment needs the one-time link. */
			readonly tokenRequired: boolean;
	  }
	| {
			/** Step-up for a user with no second factor: confirm the password again. */
			readonly kind: "password-confirm";
			readonly attemptId: string;
			readonly userId: string;
			readonly username: string;
	  };

export type ChallengeResult =
	| { readonly kind: "prompt"; readonly method: MethodId; readonly prompt: string; readonly echo: boolean }
	| { readonly kind: "denied"; readonly reason: DenyReason; readonly message: string };

export type SecondFactorResult =
	| Extract<LoginStep, { kind: "authenticated" }>
	/** The method needs another round (e.g. RADIUS Access-Challenge): show the prompt, submit again. */
	| { readonly kind: "continue"; readonly method: MethodId; readonly prompt: string; readonly echo: boolean }
	| { readonly kind: "invalid"; readonly attemptsLeft: number; readonly message: string }
	| { readonly kind: "denied"; readonly reason: DenyReason; readonly message: string };

/** A password step-up: never a remaining-attempt count (the password stage shows none). */
export type PasswordConfirmResult =
	| Extract<SecondFactorResult, { kind: "authenticated" | "denied" }>
	| { readonly kind: "wrong-password"; readonly message: string };

export type SessionCheck = "ok" | "revoked" | "step-up";

/** Staged rollout: what a user without a factor is told before the enrolment deadline. */
export interface RolloutNudge {
	readonly deadline: number;
	readonly daysLeft: number;
	readonly message: string;
}

export interface LoginFlowConfig {
	readonly attemptTtlMs: number;
	readonly secondFactorLockout: CounterPolicy;
	/** The account-wide password ceiling (high: NIST SP 800-63B §5.2.2 allows up to 100). */
	readonly passwordLockout: CounterPolicy;
	/** The growing delay per (account, source) on the password stage. */
	readonly passwordThrottle: PairPolicy;
	/** How long a reservation refused as busy is retried before the answer is "busy". */
	readonly busyWait: BusyWaitPolicy;
	readonly consoleUrl: string;
}

export interface LoginFlowDeps extends PolicyStores {
	readonly users: UserStore;
	readonly passwordThrottle: PasswordThrottleStore;
	/** Only to check that a live SSH session's public key still belongs to its user. */
	readonly sshKeys: Pick<SshKeyStore, "hasKey">;
	readonly attempts: AttemptStore;
	readonly factors: FactorStore;
	readonly audit: AuditLog;
	/** The SSH remember window: grants, and the policy version they are stamped with. */
	readonly rememberedGrants: RememberedGrantStore;
	readonly policyVersion: Pick<PolicyVersionStore, "current">;
	/** Staged rollout reminders; absent: the built-in one (an audit event the user sees). */
	readonly rolloutNotifier?: RolloutNotifier;
	readonly methods: MethodRegistry;
	readonly clock: Clock;
	/** The pause between busy retries (injected: tests with a fake clock shorten or record it). */
	readonly sleep: Sleep;
	readonly config: LoginFlowConfig;
	/** Cleanup that fails on the way to a denial is logged here, not thrown. */
	readonly logger: Logger;
	/** A user's own password change and its audit event commit together (storage/unit-of-work.ts). */
	readonly work: Pick<UnitOfWork, "run">;
	/** Policy decisions by kind (core/metrics.ts); absent: not counted. */
	readonly metrics?: Pick<Metrics, "policyDecision">;
	/** LDAP / Active Directory (docs/identity.md): absent when no directory is configured. */
	readonly directory?: Pick<DirectoryAccounts, "verify" | "provision">;
}

/** A second factor must be proven now (before an enrolment deadline, a user without one is only nudged). */
function factorRequiredNow(decision: SecondFactorDecision): boolean {
	return decision.kind !== "not-required" && decision.kind !== "enroll-nudge";
}

export class LoginFlow {
	constructor(private readonly deps: LoginFlowDeps) {}

	/** First factor: a password. Same generic refusal for unknown users, wrong passwords and bad input. */
	async submitPassword(client: ClientInfo, rawUsername: unknown, password: unknown): Promise<LoginStep> {
		const { users, audit } = this.deps;
		const username = typeof rawUsername === "string" ? canonicalUsername(rawUsername) : null;
		if (typeof password !== "string" || password.length === 0 || password.length > 1024 || username === null) {
			if (typeof password === "string" && password.length <= 1024) await verifyAgainstDummy(password);
			await audit.write({
				event: "login.password",
				outcome: "failure",
				username: typeof rawUsername === "string" ? rawUsername : null,
				channel: client.channel,
				source: client.sourceAddress,
				detail: { reason: "malformed" },
			});
			return denied("invalid-credentials", GENERIC_LOGIN_FAILED);
		}
		let user = await users.findByUsername(username);
		if (user === undefined && this.deps.directory !== undefined) {
			// Not known here: a directory user's first login creates the account (just in time, marked "ldap").
			const provisioned = await this.deps.directory.provision(username);
			if (provisioned.kind === "unavailable") {
				await verifyAgainstDummy(password);
				await audit.write({
					event: "login.password",
					outcome: "failure",
					username,
					channel: client.channel,
					source: client.sourceAddress,
					detail: { reason: "directory-unavailable", error: provisioned.reason },
				});
				return denied("unavailable", DIRECTORY_UNAVAILABLE);
			}
			if (provisioned.kind === "user") user = provisioned.user;
		}
		if (user === undefined || (user.password_hash === null && user.source !== "ldap")) {
			await verifyAgainstDummy(password);
			await audit.write({
				event: "login.password",
				outcome: "failure",
				username,
				channel: client.channel,
				source: client.sourceAddress,
				detail: { reason: "unknown-user" },
			});
			return denied("invalid-credentials", GENERIC_LOGIN_FAILED);
		}
		const checked = await checkPasswordCharged(this.deps, user, password, { event: "login.password", channel: client.channel, source: client.sourceAddress });
		// Before the first factor is proven, a throttled source, a locked account, an unknown user
		// and a wrong password get one answer (no enumeration, no remaining-attempt count): the
		// adapters then render them alike (same status, text, SSH methods and partial flag). "busy"
		// too: answering it differently would tell a prober that the account exists and is in use.
		if (checked === "unavailable") return denied("unavailable", DIRECTORY_UNAVAILABLE);
		if (checked !== "ok") return denied("invalid-credentials", GENERIC_LOGIN_FAILED);
		// A directory login just applied the directory's groups and disabled state: decide on them.
		const current = user.source === "ldap" ? await users.findById(user.id) : user;
		if (current === undefined) return denied("invalid-credentials", GENERIC_LOGIN_FAILED);
		return this.afterFirstFactor(client, current, "password", "login");
	}

	/**
	 * First factor proven another way (the SSH adapter verified a public-key signature). The caller
	 * passes the user it verified; this flow takes it from there exactly as after a password.
	 */
	async afterVerifiedFirstFactor(client: ClientInfo, userId: string, factor: "publickey"): Promise<LoginStep> {
		const user = await this.deps.users.findById(userId);
		if (user === undefined) return denied("invalid-credentials", GENERIC_LOGIN_FAILED);
		return this.afterFirstFactor(client, user, factor, "login");
	}

	/** Step-up for sensitive account actions: a fresh second factor (or password when the user has none). */
	async beginStepUp(client: ClientInfo, userId: string): Promise<LoginStep> {
		const user = await this.deps.users.findById(userId);
		if (user === undefined) return denied("invalid-credentials", GENERIC_LOGIN_FAILED);
		const step = await this.afterFirstFactor(client, user, "session", "step-up");
		if (step.kind === "authenticated") {
			// Nothing to step up with: confirm the password instead; never a free pass.
			return { kind: "password-confirm", attemptId: step.attemptId, userId: user.id, username: user.username };
		}
		return step;
	}

	/**
	 * Step-up by password for users without a second factor: charged like a login (same pair and
	 * ceiling); see step-up-flow.ts.
	 */
	confirmPassword(attemptId: string, password: unknown): Promise<PasswordConfirmResult> {
		return confirmPassword(this.deps, attemptId, password);
	}

	/**
	 * What the account page shows (no decision of its own in the web layer): why 2FA applies to this
	 * user now, and what the SSH gateway will ask for (the SSH decision's default method).
	 */
	/**
	 * What the account page explains: why a second factor is asked on the web, what SSH asks, and
	 * (from the same read of the policy inputs, docs/benchmarks.md "Console hot path") the user's
	 * active factors, unused recovery codes and the methods they may enrol. `user`: the row the web
	 * guard read with the session in this request (read again when absent).
	 */
	async accountSummary(
		userId: string,
		user?: UserRow | null,
	): Promise<{
		reasons: readonly PolicyReason[];
		explanation: string;
		ssh: { kind: SecondFactorDecision["kind"]; method: MethodId | null };
		factors: PolicyInputs["factors"];
		recoveryCodesLeft: number;
		enrollable: MethodId[];
	} | null> {
		const row = user !== undefined && user !== null && user.id === userId ? user : await this.deps.users.findById(userId);
		if (row === undefined) return null;
		const inputs = await gatherPolicyInputs(this.deps, row);
		const web = decideFromInputs(this.deps, row, "web", inputs);
		const ssh = decideFromInputs(this.deps, row, "ssh", inputs);
		const reasons = web.kind === "not-required" || web.kind === "network-denied" ? [] : web.reasons;
		return {
			reasons,
			explanation: describeReasons(reasons),
			ssh: { kind: ssh.kind, method: ssh.kind === "challenge" ? ssh.defaultMethod : null },
			factors: inputs.factors,
			recoveryCodesLeft: inputs.recoveryCount,
			// The same rule as EnrollmentFlow.enrollableMethods, on the inputs already read.
			enrollable: enrollableMethods(allowedMethods(inputs.settings, inputs.groups.map(groupRule)), channelMethods(this.deps.methods, "web")),
		};
	}

	/** A user changes their own password (password-change.ts); on success every session is revoked. */
	changeOwnPassword(client: ClientInfo, userId: string, current: unknown, next: unknown): Promise<{ kind: "changed" } | { kind: "invalid"; message: string }> {
		return changeOwnPassword(this.deps, client, userId, current, next);
	}

	private async afterFirstFactor(client: ClientInfo, user: UserRow, firstFactor: string, purpose: "login" | "step-up"): Promise<LoginStep> {
		const { audit, attempts, config } = this.deps;
		const base = { userId: user.id, username: user.username, channel: client.channel, source: client.sourceAddress };
		if (accountDisabled(user)) {
			await audit.write({ event: "login.denied", outcome: "failure", ...base, detail: { reason: "disabled" } });
			return denied("disabled", GENERIC_LOGIN_FAILED);
		}
		if (user.service_account === 1) {
			// Service accounts act through API tokens only, never an interactive login (docs/api.md).
			await audit.write({ event: "login.denied", outcome: "failure", ...base, detail: { reason: "service-account" } });
			return denied("disabled", GENERIC_LOGIN_FAILED);
		}
		if (Number(user.tfa_locked_until) > this.deps.clock.now().getTime()) {
			await audit.write({ event: "login.denied", outcome: "failure", ...base, detail: { reason: "locked" } });
			return denied("locked", LOCKED_MESSAGE);
		}
		if (user.must_change_password === 1 && client.channel !== "web" && purpose === "login") {
			// A one-time password (initial admin, admin-set password) opens the console's change-password
			// page and nothing else: never a shell or an API session.
			await audit.write({ event: "login.denied", outcome: "failure", ...base, detail: { reason: "must-change-password" } });
			return denied("password-change", `You must change your password at ${config.consoleUrl} before logging in here.`);
		}
		let decision: SecondFactorDecision;
		let grant: RememberedGrantRow | undefined;
		try {
			const context = { sourceAddress: client.sourceAddress, targetServer: client.targetServer ?? null };
			// Remember window: only SSH logins look for a grant of this user from this source.
			if (client.channel === "ssh" && purpose === "login") grant = await this.deps.rememberedGrants.findLive(user.id, client.sourceAddress, "");
			decision = await decideForUser(this.deps, user, client.channel, { ...context, rememberedGrant: grant !== undefined });
			// A grant proven with a method the policy no longer offers does not count.
			if (decision.kind === "remembered" && (grant === undefined || !(decision.methods as readonly string[]).includes(grant.method))) {
				grant = undefined;
				decision = await decideForUser(this.deps, user, client.channel, context);
			}
		} catch (error) {
			await this.auditError(base, error);
			return denied("unavailable", "Login is not possible right now.");
		}
		this.deps.metrics?.policyDecision(client.channel, decision.kind);
		const required = factorRequiredNow(decision);
		const attempt = await attempts.create({
			userId: user.id,
			channel: client.channel,
			purpose,
			source: client.sourceAddress,
			ttlMs: config.attemptTtlMs,
			required,
			targetServer: client.targetServer ?? null,
		});
		switch (decision.kind) {
			case "not-required":
				// A step-up attempt stays pending: beginStepUp turns it into a password confirmation,
				// which confirmPassword completes (it only accepts a live attempt).
				if (purpose === "login") await attempts.complete(attempt.id, null);
				if (purpose === "login")
					await audit.write({ event: "login.success", outcome: "success", ...base, detail: { firstFactor, secondFactor: "not-required" } });
				return { kind: "authenticated", attemptId: attempt.id, userId: user.id, username: user.username, method: null };
			case "network-denied":
				await attempts.fail(attempt.id);
				await audit.write({ event: "login.denied", outcome: "failure", ...base, detail: { reason: "network", group: decision.group } });
				return denied("network", "Logins from your network are not allowed for your account. Connect from a trusted network (office or VPN).");
			case "enroll-nudge": {
				// Staged rollout: before the enrolment deadline the login goes on without a second factor,
				// with a nudge. A step-up stays pending like "not-required" (password confirmation).
				if (purpose === "login") await attempts.complete(attempt.id, null);
				if (purpose === "login")
					await audit.write({
						event: "login.success",
						outcome: "success",
						...base,
						detail: { firstFactor, secondFactor: "enrolment-pending", deadline: new Date(decision.deadline).toISOString(), daysLeft: decision.daysLeft },
					});
				const nudge = describeNudge(decision, `${config.consoleUrl}/account`);
				if (purpose === "login") {
					const notifier = this.deps.rolloutNotifier ?? auditRolloutNotifier(audit);
					await notifier.remind({ ...base, deadline: decision.deadline, daysLeft: decision.daysLeft, message: nudge });
				}
				return { kind: "authenticated", attemptId: attempt.id, userId: user.id, username: user.username, method: null, nudge };
			}
			case "misconfigured":
				await attempts.fail(attempt.id);
				await audit.write({ event: "policy.misconfigured", outcome: "failure", ...base, detail: { problem: "no method allowed for this user" } });
				return denied(
					"misconfigured",
					"Two-factor authentication is required, but no method is allowed for your account. Ask an administrator to fix the policy.",
				);
			case "unusable-on-channel":
				await attempts.fail(attempt.id);
				await audit.write({ event: "login.denied", outcome: "failure", ...base, detail: { reason: "no-method-on-channel", usable: decision.usableMethods } });
				return denied("unusable-on-channel", `None of your second factors can be used here. Set one up at ${config.consoleUrl}/account.`);
			case "enroll":
				if (client.channel !== "web") {
					await attempts.fail(attempt.id);
					await audit.write({ event: "login.denied", outcome: "failure", ...base, detail: { reason: "must-enroll" } });
					return denied(
						"enroll-on-web",
						`${describeReasons(decision.reasons)} You have not set up a second factor yet. Log in to ${config.consoleUrl} to set one up, then try again.`,
					);
				}
				await audit.write({ event: "login.enroll-required", outcome: "info", ...base, detail: { firstFactor } });
				return this.enrollStep(attempt, user, decision);
			case "remembered": {
				const remembered = grant as RememberedGrantRow;
				const method = remembered.method as MethodId;
				if (!(await attempts.complete(attempt.id, method))) return denied("expired", "This login has expired. Please start again.");
				// Each skip is audited: "second factor remembered from <time>, <source>".
				await audit.write({
					event: "login.success",
					outcome: "success",
					...base,
					method,
					detail: {
						firstFactor,
						secondFactor: "remembered",
						rememberedMethod: method,
						rememberedFrom: new Date(Number(remembered.created_at)).toISOString(),
						rememberedSource: remembered.source,
						rememberedUntil: new Date(Number(remembered.expires_at)).toISOString(),
					},
				});
				return { kind: "authenticated", attemptId: attempt.id, userId: user.id, username: user.username, method, remembered: true };
			}
			case "challenge":
				await audit.write({ event: "login.first-factor", outcome: "success", ...base, detail: { firstFactor, purpose } });
				return this.challengeStep(attempt, user, decision);
		}
	}

	/**
	 * Remember window: after a second factor on SSH, record a grant for user + source (when the
	 * policy allows a window for this user). Recovery codes never start one (they are for
	 * emergencies). Failing to remember is safe: logged, the login stands.
	 */
	private async rememberSshFactor(attempt: AttemptRow, user: UserRow, method: MethodId, policyVersion: number): Promise<void> {
		if (attempt.channel !== "ssh" || attempt.purpose !== "login" || method === "recovery-code") return;
		try {
			const minutes = await rememberWindowFor(this.deps, user.id);
			if (minutes <= 0) return;
			const grant = await this.deps.rememberedGrants.remember({
				userId: user.id,
				source: attempt.source,
				target: "",
				method,
				minutes,
				sessionEpoch: Number(user.session_epoch),
				policyVersion,
			});
			await this.deps.audit.write({
				event: "second-factor.remembered",
				outcome: "info",
				userId: user.id,
				username: user.username,
				channel: "ssh",
				source: attempt.source,
				method,
				detail: { until: new Date(Number(grant.expires_at)).toISOString(), minutes },
			});
		} catch (error) {
			this.deps.logger.warn({ ...errorFields(error), userId: user.id }, "recording a remembered second factor failed");
		}
	}

	private enrollStep(attempt: AttemptRow, user: UserRow, decision: Extract<SecondFactorDecision, { kind: "enroll" }>): LoginStep {
		return {
			kind: "enroll",
			attemptId: attempt.id,
			userId: user.id,
			username: user.username,
			methods: enrollableMethods(decision.allowedMethods, channelMethods(this.deps.methods, "web")),
			reasons: decision.reasons,
			explanation: describeReasons(decision.reasons),
			tokenRequired: user.enroll_token_hash !== null,
		};
	}

	private challengeStep(attempt: AttemptRow, user: UserRow, decision: Extract<SecondFactorDecision, { kind: "challenge" }>): LoginStep {
		return {
			kind: "second-factor",
			attemptId: attempt.id,
			userId: user.id,
			username: user.username,
			methods: decision.methods,
			defaultMethod: decision.defaultMethod,
			reasons: decision.reasons,
			explanation: describeReasons(decision.reasons),
		};
	}

	/** Loads a live attempt and re-evaluates the policy now: the stricter of then and now applies. */
	private async liveAttempt(attemptId: string): Promise<{ attempt: AttemptRow; user: UserRow; decision: SecondFactorDecision } | null> {
		const attempt = await this.deps.attempts.getLive(attemptId);
		if (attempt === undefined) return null;
		const user = await this.deps.users.findById(attempt.user_id);
		if (user === undefined) return null;
		const decision = await decideForUser(this.deps, user, attempt.channel as Channel, { sourceAddress: attempt.source, targetServer: attempt.target_server });
		if (factorRequiredNow(decision) && attempt.required_2fa === 0) await this.deps.attempts.markRequired(attempt.id);
		return { attempt, user, decision };
	}

	/** The methods this attempt may still be answered with (recomputed, never widened). */
	async currentStep(attemptId: string): Promise<LoginStep> {
		const live = await this.liveAttempt(attemptId);
		if (live === null) return denied("expired", "This login has expired. Please start again.");
		const { attempt, user, decision } = live;
		if (decision.kind === "challenge") return this.challengeStep(attempt, user, decision);
		if (decision.kind === "enroll" && attempt.channel === "web") return this.enrollStep(attempt, user, decision);
		if (!factorRequiredNow(decision) && attempt.required_2fa === 0 && attempt.purpose === "step-up") {
			return { kind: "password-confirm", attemptId: attempt.id, userId: user.id, username: user.username };
		}
		return denied("misconfigured", "Your login cannot continue under the current policy. Please start again.");
	}

	async startChallenge(attemptId: string, method: MethodId): Promise<ChallengeResult> {
		try {
			const live = await this.liveAttempt(attemptId);
			if (live === null) return denied("expired", "This login has expired. Please start again.");
			const { attempt, user, decision } = live;
			if (decision.kind !== "challenge" || !decision.methods.includes(method)) return denied("misconfigured", "That method is not available for your account.");
			const implementation = this.deps.methods.get(method);
			if (implementation === undefined) return denied("misconfigured", "That method is not available for your account.");
			const factors = await this.deps.factors.listActive(user.id, method);
			const start = await implementation.startChallenge({
				user: { id: user.id, username: user.username },
				channel: attempt.channel as Channel,
				factors,
				attemptId: attempt.id,
				sourceAddress: attempt.source,
			});
			await this.deps.attempts.setChallenge(attempt.id, method, start.state);
			return { kind: "prompt", method, prompt: start.prompt, echo: start.echo };
		} catch (error) {
			await this.auditError({ channel: null, source: null }, error);
			return this.methodErrorDenial(error);
		}
	}

	private methodErrorDenial(error: unknown): { kind: "denied"; reason: DenyReason; message: string } {
		if (isPortcullisError(error, "ERR_METHOD_REFUSED")) {
			return denied("refused", "Your second-factor provider refused this login. Try another method or contact your administrator.");
		}
		return denied("unavailable", "The second factor cannot be checked right now. Try another method or try later.");
	}

	async submitSecondFactor(attemptId: string, method: MethodId, response: unknown): Promise<SecondFactorResult> {
		const { users, audit, attempts, config } = this.deps;
		let live;
		// Read before the policy is evaluated: a change that lands after it leaves a remembered grant
		// stamped with the older version, which is then dead (remembered-grant-store.ts).
		let versionBefore = 0;
		try {
			versionBefore = await this.deps.policyVersion.current();
			live = await this.liveAttempt(attemptId);
		} catch (error) {
			await this.auditError({ channel: null, source: null }, error);
			return denied("unavailable", "Login is not possible right now.");
		}
		if (live === null) return denied("expired", "This login has expired. Please start again.");
		const { attempt, user, decision } = live;
		const base = { userId: user.id, username: user.username, channel: attempt.channel, source: attempt.source, method };
		if (accountDisabled(user)) return denied("disabled", GENERIC_LOGIN_FAILED);
		if (decision.kind !== "challenge" || !decision.methods.includes(method)) {
			await audit.write({ event: "second-factor.refused", outcome: "failure", ...base, detail: { reason: "method-not-allowed" } });
			return denied("misconfigured", "That method is not available for your account.");
		}
		const implementation = this.deps.methods.get(method);
		if (implementation === undefined) return denied("misconfigured", "That method is not available for your account.");

		// Reserve on the shared counter first (Decision 8): a locked account rejects even a correct
		// answer, and at most maxFailures answers are ever evaluated per window, parallel ones included.
		const reserved = await retryWhileBusy(config.busyWait, this.deps.sleep, () => users.reserveAttempt(user.id, "tfa", config.secondFactorLockout));
		if (reserved.kind === "locked") {
			await audit.write({ event: "second-factor.failure", outcome: "failure", ...base, detail: { reason: "locked" } });
			return denied("locked", LOCKED_MESSAGE);
		}
		if (reserved.kind === "busy") {
			await audit.write({ event: "second-factor.busy", outcome: "failure", ...base });
			return denied("busy", BUSY_MESSAGE);
		}
		const reservation = reserved.reservation;

		let state: unknown = null;
		if (attempt.challenge_method === method && attempt.challenge_json !== null) {
			// A stored challenge (e.g. keyword positions) answers exactly one verification.
			let consumed: boolean;
			try {
				consumed = await attempts.consumeChallenge(attempt.id, method);
			} catch (error) {
				// Nothing was checked: the reservation goes back (best effort; the database may be what failed), the error goes on.
				await users.releaseAttempt(reservation, config.secondFactorLockout).catch(() => undefined);
				throw error;
			}
			if (!consumed) return this.failed(base, reservation, "expired");
			state = JSON.parse(attempt.challenge_json) as unknown;
		}
		let result;
		try {
			const factors = await this.deps.factors.listActive(user.id, method);
			result = await implementation.verifyResponse({
				user: { id: user.id, username: user.username },
				channel: attempt.channel as Channel,
				factors,
				attemptId: attempt.id,
				sourceAddress: attempt.source,
				response: typeof response === "string" ? response : "",
				state: state as Record<string, unknown> | null,
			});
		} catch (error) {
			// Fail closed (Decision 10). An unreachable backend or a provider's outright refusal is not
			// the user's guess: give the reservation back uncounted, and give back the challenge that
			// was never checked. Any other error counts as a wrong answer (it may be provoked).
			const notAGuess = isPortcullisError(error, "ERR_METHOD_UNAVAILABLE") || isPortcullisError(error, "ERR_METHOD_REFUSED");
			// Best effort on the way to a denial (the database may be what failed): logged, not thrown.
			const settled = notAGuess
				? users.releaseAttempt(reservation, config.secondFactorLockout).then(() => null)
				: users.settleWrong(user.id, "tfa", reservation, config.secondFactorLockout);
			const failure = await settled.catch((cleanup: unknown) => {
				this.deps.logger.warn({ ...errorFields(cleanup), userId: user.id }, "settling a reservation after a method failure failed");
				return null;
			});
			if (failure?.lockedNow === true) await audit.write({ event: "account.locked", outcome: "info", ...base, detail: { counter: "second-factor" } });
			if (notAGuess) {
				if (state !== null)
					await attempts
						.setChallenge(attempt.id, method, state)
						.catch((cleanup: unknown) =>
							this.deps.logger.warn({ ...errorFields(cleanup), attemptId: attempt.id }, "restoring the challenge after a method failure failed"),
						);
			}
			await this.auditError(base, error);
			return this.methodErrorDenial(error);
		}
		if (result.kind === "invalid") return this.failed(base, reservation, result.reason);
		if (result.kind === "continue") {
			await users.releaseAttempt(reservation, config.secondFactorLockout);
			await attempts.setChallenge(attempt.id, method, result.state);
			await audit.write({ event: "second-factor.continue", outcome: "info", ...base });
			return { kind: "continue", method, prompt: result.prompt, echo: result.echo };
		}

		await users.settleCorrect(reservation, config.secondFactorLockout);
		if (!(await attempts.complete(attempt.id, method))) return denied("expired", "This login has expired. Please start again.");
		if (attempt.channel === "web" && attempt.purpose === "login" && method !== "recovery-code") {
			// Floor item 7: the method of the last successful web login is what SSH asks for.
			await users.setSshMethod(user.id, method);
		}
		await audit.write({
			event: attempt.purpose === "step-up" ? "step-up.success" : "login.success",
			outcome: "success",
			...base,
			detail: { secondFactor: method },
		});
		await this.rememberSshFactor(attempt, user, method, versionBefore);
		return { kind: "authenticated", attemptId: attempt.id, userId: user.id, username: user.username, method };
	}

	private async failed(
		base: { userId: string; username: string; channel: string; source: string; method: MethodId },
		reservation: Reservation,
		reason: string,
	): Promise<SecondFactorResult> {
		const { config, users, audit } = this.deps;
		// One UPDATE records the failure and, when it reaches the limit, the lock (which also ends the user's sessions).
		const failure = await users.settleWrong(base.userId, "tfa", reservation, config.secondFactorLockout);
		await audit.write({ event: "second-factor.failure", outcome: "failure", ...base, detail: { reason, failures: failure.failures } });
		if (failure.lockedNow) await audit.write({ event: "account.locked", outcome: "info", ...base, detail: { counter: "second-factor" } });
		if (failure.locked) return denied("locked", LOCKED_MESSAGE);
		return { kind: "invalid", attemptsLeft: Math.max(1, config.secondFactorLockout.maxFailures - failure.failures), message: WRONG_CODE };
	}

	/**
	 * Forced enrolment finished: the factor was verified during THIS attempt, belongs to the attempt's
	 * user, and its method is allowed now. Only then does the attempt complete.
	 */
	async finishEnrollment(attemptId: string, factorId: string): Promise<SecondFactorResult> {
		const live = await this.liveAttempt(attemptId);
		if (live === null) return denied("expired", "This login has expired. Please start again.");
		const { attempt, user, decision } = live;
		const factor = await this.deps.factors.get(factorId);
		if (
			factor === null ||
			factor.userId !== user.id ||
			factor.status !== "active" ||
			factor.verifiedAt === null ||
			factor.verifiedAt < Number(attempt.created_at) ||
			// Bound to THIS attempt: a factor begun in an earlier login never finishes a later one.
			factor.origin !== `attempt:${attempt.id}` ||
			decision.kind !== "challenge" ||
			!decision.methods.includes(factor.method)
		) {
			return denied("expired", "Enrolment did not complete. Please start again.");
		}
		if (!(await this.deps.attempts.complete(attempt.id, factor.method))) return denied("expired", "This login has expired. Please start again.");
		if (attempt.channel === "web" && attempt.purpose === "login") await this.deps.users.setSshMethod(user.id, factor.method);
		await this.deps.audit.write({
			event: "login.success",
			outcome: "success",
			userId: user.id,
			username: user.username,
			channel: attempt.channel,
			source: attempt.source,
			method: factor.method,
			detail: { secondFactor: factor.method, enrolled: true },
		});
		return { kind: "authenticated", attemptId: attempt.id, userId: user.id, username: user.username, method: factor.method };
	}

	async abandon(attemptId: string): Promise<void> {
		await this.deps.attempts.fail(attemptId);
	}

	/**
	 * Live policy (docs/product-decisions.md "Policy changes bite at once"): "ok", "step-up" or "revoked" for a live
	 * web session or SSH connection (session-check.ts).
	 */
	checkSession(input: Parameters<typeof checkSession>[1]): Promise<SessionCheck> {
		return checkSession(this.deps, input);
	}

	/** Why a session was revoked, for its holder (session-check.ts). */
	revocationMessage(input: Parameters<typeof revocationMessage>[1]): Promise<string> {
		return revocationMessage(this.deps, input);
	}

	/**
	 * Per-server step-up, asked by the SSH adapter before every relay to a server: allowed, or
	 * refused with the reason and how to reconnect (server-step-up.ts).
	 */
	serverAccess(proof: ConnectionProof, server: Parameters<typeof checkServerAccess>[2], via: Parameters<typeof checkServerAccess>[3]): Promise<ServerAccess> {
		return checkServerAccess(this.deps, proof, server, via);
	}

	/**
	 * Staged rollout: the nudge for a user who must set up a second factor by a deadline, or null.
	 * The session gate asks it after a full check passed; a nudged session is never marked as
	 * checked, so the deadline bites at its next request or channel open.
	 */
	async rolloutNudge(userId: string, channel: Channel): Promise<RolloutNudge | null> {
		const user = await this.deps.users.findById(userId);
		if (user === undefined) return null;
		const decision = await decideForUser(this.deps, user, channel);
		if (decision.kind !== "enroll-nudge") return null;
		return { deadline: decision.deadline, daysLeft: decision.daysLeft, message: describeNudge(decision, `${this.deps.config.consoleUrl}/account`) };
	}

	private async auditError(base: Record<string, unknown>, error: unknown): Promise<void> {
		const code = isPortcullisError(error) ? error.code : "ERR_INTERNAL";
		await this.deps.audit.record({
			event: "login.error",
			outcome: "failure",
			...(base as object),
			detail: { code, message: error instanceof Error ? error.message.slice(0, 200) : "unknown" },
		});
	}
}
