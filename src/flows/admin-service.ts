/**
 * Administration shared by the web console's admin pages and the `portcullis` CLI: users, groups,
 * the global 2FA settings. Invalid policy states are refused here, where they are made
 * (docs/product-decisions.md Decision 3), and every change is audited with the acting admin (Decision 12).
 */
import type { Actor } from "../core/actor.ts";
import { allowedMethods, REMEMBER_MAX_MINUTES } from "../core/decide-second-factor.ts";
import type { Clock } from "../core/clock.ts";
import { checkDeadline } from "../core/enrolment-deadline.ts";
import { PortcullisError } from "../core/errors.ts";
import { METHOD_INFO, type MethodId } from "../core/method-id.ts";
import type { Random } from "../core/random.ts";
import { canonicalGroupName, canonicalUsername } from "../core/username.ts";
import { passwordProblem } from "../core/password-policy.ts";
import { hashPassword } from "../crypto/password-hash.ts";
import { newToken, sha256Hex } from "../crypto/tokens.ts";
import type { MethodRegistry } from "../methods/method.ts";
import { isMethodConfigured } from "../methods/method-settings.ts";
import type { AuditLog } from "../storage/audit-log.ts";
import type { FactorStore } from "../storage/factor-store.ts";
import { groupRule, parseAllowed, type GroupRow, type GroupStore } from "../storage/group-store.ts";
import type { PasswordThrottleStore } from "../storage/password-throttle-store.ts";
import type { RecoveryCodeStore } from "../storage/recovery-code-store.ts";
import type { SessionStore } from "../storage/session-store.ts";
import type { SettingsStore } from "../storage/settings-store.ts";
import type { UserRow, UserStore } from "../storage/user-store.ts";
import type { UserTransactions } from "../storage/user-transaction.ts";
import { policyStatus, previewImpact, type PolicyImpact, type ProposedPolicy, type UserPolicyStatus } from "./policy-impact.ts";
import type { UnitOfWork, Work } from "../storage/unit-of-work.ts";

export type { Actor };
export type { PolicyImpact, ProposedPolicy, UserPolicyStatus } from "./policy-impact.ts";

export interface AdminServiceDeps {
	readonly users: UserStore;
	/** Unlock also forgets every source's password delay. */
	readonly passwordThrottle: Pick<PasswordThrottleStore, "clearUser">;
	readonly groups: GroupStore;
	readonly settings: SettingsStore;
	readonly factors: FactorStore;
	readonly recoveryCodes: RecoveryCodeStore;
	readonly sessions: SessionStore;
	readonly audit: AuditLog;
	readonly methods: MethodRegistry;
	readonly clock: Clock;
	readonly random: Random;
	readonly enrollLinkTtlMs: number;
	readonly consoleUrl: string;
	readonly transactions: UserTransactions;
	/** Every change and its audit event commit in one transaction (storage/unit-of-work.ts). */
	readonly work: Pick<UnitOfWork, "run">;
	/**
	 * Why this deployment's configuration cannot run a method (WebAuthn while the console is an IP
	 * address or plain http), or null. Enabling such a method is refused with the fix.
	 */
	readonly deploymentProblem?: (method: MethodId) => string | null;
}

// The password policy lives in core (one pure function for console, CLI and imports); re-exported for the callers that import it from here.
export { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH, passwordProblem } from "../core/password-policy.ts";

/** The refusal of a method the deployment cannot run, with what to change (docs/methods.md, WebAuthn). */
function deploymentRefusal(method: MethodId, problem: string, consoleUrl: string): string {
	const detail = problem.replace(/^invalid configuration: /, "");
	if (method === "webauthn") {
		return `WebAuthn cannot work while the console is reached at ${consoleUrl}: browsers use security keys and passkeys only on a domain name over https (or http://localhost). Set http.public_url to https://<the console's name> (or webauthn.rp_id and webauthn.origin), restart, then enable WebAuthn. (${detail})`;
	}
	return `${METHOD_INFO[method].label} cannot work with this configuration: ${detail}`;
}

export type ResetMode = "link" | "next-login";

export interface SettingsChanges {
	readonly forceTwoFactor?: boolean;
	readonly enabledMethods?: readonly MethodId[];
	readonly enrolmentDeadline?: number | null;
	/** SSH remember window in minutes (0: off). */
	readonly rememberMinutes?: number;
}

export interface GroupChanges {
	readonly forceTwoFactor?: boolean;
	readonly allowedMethods?: readonly MethodId[] | null;
	readonly enrolmentDeadline?: number | null;
	/** The group's SSH remember window in minutes; null: the global setting applies; 0: off. */
	readonly rememberMinutes?: number | null;
}

export class AdminService {
	constructor(private readonly deps: AdminServiceDeps) {}

	/** `field`: the form field at fault (the console marks it: src/web/views/form-echo.tsx). */
	private input(message: string, field?: string): PortcullisError {
		return new PortcullisError("ERR_INPUT", message, field === undefined ? undefined : { field });
	}

	/** Records the change's event in its unit of work: both commit, or neither (fail closed). */
	private audit(work: Pick<Work, "audit">, actor: Actor, event: string, detail: Record<string, unknown>, user?: UserRow): void {
		work.audit({
			event,
			outcome: "success",
			actor: actor.name,
			channel: actor.channel,
			source: actor.source,
			userId: user?.id ?? null,
			username: user?.username ?? null,
			detail,
		});
	}

	/** Enrolment status of every user: required or not and why, methods, deadline (policy-impact.ts). */
	enrolmentStatus(): Promise<UserPolicyStatus[]> {
		return policyStatus(this.deps);
	}

	/**
	 * The impact preview before saving a change of the global settings or of one group's rule. The
	 * proposal is completed from the stored values exactly as updateSettings/updateGroup would.
	 */
	async previewSettings(actor: Actor, changes: SettingsChanges): Promise<PolicyImpact> {
		if (changes.enabledMethods) await this.validateMethods([...new Set(changes.enabledMethods)]);
		const { next } = await this.planSettings(changes);
		return previewImpact(this.deps, { settings: next }, actor.channel === "web" ? actor.name : null);
	}

	async previewGroup(actor: Actor, rawName: string, changes: GroupChanges): Promise<PolicyImpact> {
		if (changes.allowedMethods) await this.validateMethods(changes.allowedMethods);
		const { group, after, enrolmentDeadline } = await this.planGroup(rawName, changes);
		const proposed: ProposedPolicy = {
			group: { name: group.name, forceTwoFactor: after.forceTwoFactor, allowedMethods: after.allowedMethods, enrolmentDeadline },
		};
		return previewImpact(this.deps, proposed, actor.channel === "web" ? actor.name : null);
	}

	/** Methods an admin may enable: implemented in this build. */
	implementedMethods(): MethodId[] {
		return [...this.deps.methods.keys()];
	}

	/** `users` defaults to the app's store; inside a unit of work pass its bound store (`work.users`). */
	async requireUser(rawName: string, users: Pick<UserStore, "findByUsername"> = this.deps.users): Promise<UserRow> {
		const name = canonicalUsername(rawName);
		const user = name === null ? undefined : await users.findByUsername(name);
		if (user === undefined) throw new PortcullisError("ERR_NOT_FOUND", `no user named ${JSON.stringify(rawName.slice(0, 64))}`);
		return user;
	}

	async requireGroup(rawName: string, groups: Pick<GroupStore, "findByName"> = this.deps.groups): Promise<GroupRow> {
		const name = canonicalGroupName(rawName);
		const group = name === null ? undefined : await groups.findByName(name);
		if (group === undefined) throw new PortcullisError("ERR_NOT_FOUND", `no group named ${JSON.stringify(rawName.slice(0, 64))}`);
		return group;
	}

	async createUser(
		actor: Actor,
		input: { username: string; password: string | null; isAdmin: boolean; groups: readonly string[]; mustChangePassword?: boolean },
	): Promise<UserRow> {
		const username = canonicalUsername(input.username);
		if (username === null) throw this.input("Usernames are 1-64 characters: letters, digits, '.', '_' and '-', starting with a letter or digit.", "username");
		if (input.password !== null) {
			const problem = passwordProblem(input.password, { username });
			if (problem) throw this.input(problem, "password");
		}
		if (await this.deps.users.findByUsername(username))
			throw new PortcullisError("ERR_CONFLICT", `a user named ${username} already exists`, { field: "username" });
		for (const name of input.groups) await this.requireGroup(name);
		// Hashed before the transaction: argon2 takes a while and must not hold a lock.
		const passwordHash = input.password === null ? null : await hashPassword(input.password);
		return this.deps.work.run(async (work) => {
			// Checked again inside the transaction that writes (a concurrent create or group deletion).
			if (await work.users.findByUsername(username))
				throw new PortcullisError("ERR_CONFLICT", `a user named ${username} already exists`, { field: "username" });
			const groups: GroupRow[] = [];
			for (const name of input.groups) groups.push(await this.requireGroup(name, work.groups));
			const user = await work.users.create({
				username,
				passwordHash,
				isAdmin: input.isAdmin,
				mustChangePassword: input.mustChangePassword ?? false,
				groupIds: groups.map((group) => group.id),
			});
			this.audit(work, actor, "user.created", { admin: input.isAdmin, groups: groups.map((group) => group.name) }, user);
			return user;
		});
	}

	async setPassword(actor: Actor, username: string, password: string, mustChange: boolean): Promise<void> {
		const target = await this.requireUser(username);
		// A directory user's password is the directory's (docs/identity.md): a local one would be a second way in.
		if (target.source === "ldap") throw this.input("This account's password is managed by the directory; change it there.");
		const problem = passwordProblem(password, { username: target.username });
		if (problem) throw this.input(problem);
		const hash = await hashPassword(password);
		await this.deps.work.run(async (work) => {
			const user = await this.requireUser(username, work.users);
			await work.users.setPassword(user.id, hash, mustChange);
			await work.users.bumpSessionEpoch(user.id);
			await work.sessions.removeAllOfUser(user.id);
			this.audit(work, actor, "user.password-set", { mustChange }, user);
		});
	}

	/**
	 * A one-time password link: the admin resets a password without knowing or choosing
	 * it; the user opens the link and chooses one. Only the token's hash is stored, on the user's
	 * row (replacing any earlier link), valid as long as an enrolment link. The second factor is
	 * untouched: the new password is a first factor like any other, and the login still asks for
	 * the second. Shown once to the admin, who hands it over out of band.
	 */
	async issuePasswordLink(actor: Actor, username: string): Promise<{ link: string; expiresAt: number }> {
		const token = newToken(this.deps.random);
		const expiresAt = this.deps.clock.now().getTime() + this.deps.enrollLinkTtlMs;
		await this.deps.work.run(async (work) => {
			const user = await this.requireUser(username, work.users);
			await work.users.setPasswordLink(user.id, sha256Hex(token), expiresAt);
			this.audit(work, actor, "user.password-link-issued", { expiresAt }, user);
		});
		return { link: `${this.deps.consoleUrl}/password-link/${token}`, expiresAt };
	}

	/** The username a live password link belongs to (for its form), or null: unknown, used, expired, replaced, or the account disabled. */
	async passwordLinkUser(token: string): Promise<string | null> {
		if (!/^[A-Za-z0-9_-]{16,128}$/.test(token)) return null;
		return (await this.deps.users.findByPasswordLink(sha256Hex(token)))?.username ?? null;
	}

	/**
	 * Uses a password link once: the password is checked like every other, then one conditional
	 * UPDATE sets it and clears the link; the user's sessions end, and the change and its audit
	 * event commit together. "refused" when the link is not (or no longer) usable.
	 */
	async setPasswordByLink(token: string, password: string, source: string): Promise<{ kind: "changed"; username: string } | { kind: "refused" }> {
		const username = await this.passwordLinkUser(token);
		if (username === null) return { kind: "refused" };
		const problem = passwordProblem(password, { username });
		if (problem) throw this.input(problem);
		const hash = await hashPassword(password);
		const user = await this.deps.work.run(async (work) => {
			const used = await work.users.usePasswordLink(sha256Hex(token), hash);
			if (used === undefined) return undefined;
			await work.sessions.removeAllOfUser(used.id);
			this.audit(work, { name: used.username, channel: "web", source }, "user.password-changed", { by: "password-link" }, used);
			return used;
		});
		return user === undefined ? { kind: "refused" } : { kind: "changed", username: user.username };
	}

	async setDisabled(actor: Actor, username: string, disabled: boolean): Promise<void> {
		await this.deps.work.run(async (work) => {
			const user = await this.requireUser(username, work.users);
			await work.users.setDisabled(user.id, disabled);
			if (disabled) await work.sessions.removeAllOfUser(user.id);
			this.audit(work, actor, disabled ? "user.disabled" : "user.enabled", {}, user);
		});
	}

	async setAdmin(actor: Actor, username: string, isAdmin: boolean): Promise<void> {
		await this.deps.work.run(async (work) => {
			const user = await this.requireUser(username, work.users);
			await work.users.setAdmin(user.id, isAdmin);
			await work.users.bumpSessionEpoch(user.id);
			this.audit(work, actor, "user.admin-changed", { admin: isAdmin }, user);
		});
	}

	async unlock(actor: Actor, username: string): Promise<void> {
		await this.deps.work.run(async (work) => {
			const user = await this.requireUser(username, work.users);
			await work.users.unlock(user.id);
			await work.passwordThrottle.clearUser(user.id);
			this.audit(work, actor, "user.unlocked", {}, user);
		});
	}

	/**
	 * Admin reset of a user's 2FA (Decision 11): every factor and recovery code is deleted, live
	 * sessions end, and either a one-time enrolment link is issued (default: no trust on first use)
	 * or, when the admin explicitly chooses "next-login", the user enrols at their next login.
	 */
	async resetTwoFactor(actor: Actor, username: string, mode: ResetMode): Promise<{ link: string | null; expiresAt: number | null }> {
		const user = await this.requireUser(username);
		let link: string | null = null;
		let expiresAt: number | null = null;
		let tokenHash: string | null = null;
		if (mode === "link") {
			const token = newToken(this.deps.random);
			expiresAt = this.deps.clock.now().getTime() + this.deps.enrollLinkTtlMs;
			tokenHash = sha256Hex(token);
			link = `${this.deps.consoleUrl}/enroll-link/${token}`;
		}
		// One transaction with the user's row locked (docs/threat-model.md, "Enrolment outliving its login"): the link requirement and the
		// new generation are stored in the same commit that deletes the factors, so no enrolment can
		// slip in between; pending enrolments of the old generation and live login attempts die with it.
		const done = await this.deps.transactions.withUserLocked(user.id, async (locked) => {
			await locked.resetSecondFactors(tokenHash === null || expiresAt === null ? null : { tokenHash, expiresAt });
			this.audit(locked, actor, "user.2fa-reset", { mode, linkExpiresAt: expiresAt }, user);
			// Notification of the user (docs/product-decisions.md, "Beyond the floor"): recorded as an audit event the user sees on their account page.
			locked.audit({
				event: "user.notified",
				outcome: "info",
				userId: user.id,
				username: user.username,
				actor: actor.name,
				channel: actor.channel,
				detail: { about: "2fa-reset" },
			});
			return true;
		});
		if (done === undefined) throw new PortcullisError("ERR_NOT_FOUND", `no user named "${username}"`);
		return { link, expiresAt };
	}

	private async validateMethods(methods: readonly MethodId[]): Promise<void> {
		const implemented = this.implementedMethods();
		const missing = methods.filter((method) => !implemented.includes(method));
		if (missing.length > 0) throw new PortcullisError("ERR_POLICY_INVALID", `not available in this build: ${missing.join(", ")}`);
		// YubiKey, Duo and RADIUS need their backend settings first (docs/methods.md).
		const unconfigured: MethodId[] = [];
		for (const method of methods) if (!(await isMethodConfigured(this.deps.settings, method))) unconfigured.push(method);
		if (unconfigured.length > 0) {
			// Read in the console and by the CLI alike: name the place in both.
			const how = unconfigured.map((method) => `portcullis method configure ${method}`).join(", ");
			throw new PortcullisError("ERR_POLICY_INVALID", `configure ${unconfigured.join(", ")} first (console: Admin → Methods; CLI: ${how}), then enable it`);
		}
	}

	/** Decision 3: refuse force-2FA with no usable method, for the global switch and every forcing group. */
	private async checkPolicy(
		groupStore: Pick<GroupStore, "list">,
		settings: { forceTwoFactor: boolean; enabledMethods: readonly MethodId[] },
		groupOverride?: { id: string | null; name: string; forceTwoFactor: boolean; allowedMethods: readonly MethodId[] | null },
	): Promise<void> {
		const standalone = (methods: readonly MethodId[]) => methods.filter((method) => METHOD_INFO[method].standalone);
		if (settings.forceTwoFactor && standalone(settings.enabledMethods).length === 0) {
			throw new PortcullisError(
				"ERR_POLICY_INVALID",
				"Two-factor authentication cannot be forced while no second-factor method is enabled. Enable a method first.",
			);
		}
		const groups = (await groupStore.list()).map((row) => ({ id: row.id as string | null, ...groupRule(row) }));
		if (groupOverride) {
			const index = groups.findIndex((group) => group.id === groupOverride.id && group.id !== null);
			if (index >= 0) groups[index] = groupOverride;
			else groups.push(groupOverride);
		}
		for (const group of groups) {
			// A group without a method list still forces 2FA over the globally enabled methods: it must keep one.
			if (group.allowedMethods === null && !group.forceTwoFactor) continue;
			const effective = standalone(allowedMethods(settings, [group]));
			if (effective.length === 0 && (group.forceTwoFactor || settings.forceTwoFactor)) {
				throw new PortcullisError(
					"ERR_POLICY_INVALID",
					`Group ${group.name} would have no allowed second-factor method (its list: ${group.allowedMethods === null ? "all enabled" : group.allowedMethods.join(", ") || "none"}; enabled: ${settings.enabledMethods.join(", ") || "none"}).`,
				);
			}
		}
	}

	/**
	 * Staged rollout: the deadline a change leaves in force. Turning force-2FA off clears it (a
	 * stale deadline must not come back with a later "force on"); a new one must be in the future,
	 * at most a year ahead, and needs force-2FA on (a deadline for nothing is a contradiction).
	 */
	private nextDeadline(who: string, force: boolean, current: number | null, change: number | null | undefined): number | null {
		if (change === undefined) return force ? current : null;
		if (change === null) return null;
		if (!force) throw new PortcullisError("ERR_POLICY_INVALID", `An enrolment deadline only applies when ${who} forces 2FA.`);
		if (change === current) return current;
		const checked = checkDeadline(change, this.deps.clock.now().getTime());
		if (!checked.ok) throw this.input(checked.message, "deadline");
		return change;
	}

	/**
	 * The validated settings a change leads to (shared by the change and its impact preview). The
	 * change passes its unit of work, so Decision 3 is checked on what the writing transaction reads.
	 */
	private async planSettings(changes: SettingsChanges, read: Pick<Work, "settings" | "groups"> = this.deps) {
		const current = await read.settings.getTwoFactor();
		const forceTwoFactor = changes.forceTwoFactor ?? current.forceTwoFactor;
		const next = {
			forceTwoFactor,
			enabledMethods: changes.enabledMethods ? [...new Set(changes.enabledMethods)] : [...current.enabledMethods],
			enrolmentDeadline: this.nextDeadline("the global setting", forceTwoFactor, current.enrolmentDeadline ?? null, changes.enrolmentDeadline),
			rememberMinutes: changes.rememberMinutes !== undefined ? (this.rememberMinutes(changes.rememberMinutes, false) ?? 0) : (current.rememberMinutes ?? 0),
		};
		// Newly enabled only: a method enabled before this rule existed must not block every other settings change.
		for (const method of next.enabledMethods) {
			if (current.enabledMethods.includes(method)) continue;
			const problem = this.deps.deploymentProblem?.(method) ?? null;
			if (problem !== null) throw new PortcullisError("ERR_POLICY_INVALID", deploymentRefusal(method, problem, this.deps.consoleUrl));
		}
		await this.checkPolicy(read.groups, next);
		return { current, next };
	}

	/** The remember window: whole minutes, 0 (off) to 12 hours; a group may also inherit (null). */
	private rememberMinutes(value: number | null, groupMayInherit: boolean): number | null {
		if (value === null && groupMayInherit) return null;
		if (value === null || !Number.isInteger(value) || value < 0 || value > REMEMBER_MAX_MINUTES) {
			throw this.input(`The remember window is a whole number of minutes from 0 (off) to ${REMEMBER_MAX_MINUTES} (12 hours).`, "remember");
		}
		return value;
	}

	async updateSettings(actor: Actor, changes: SettingsChanges): Promise<void> {
		// Method checks read the method settings outside the transaction (SQLite has one connection): before it.
		if (changes.enabledMethods) await this.validateMethods([...new Set(changes.enabledMethods)]);
		await this.deps.work.run(async (work) => {
			const { current, next } = await this.planSettings(changes, work);
			await work.settings.setTwoFactor(next);
			this.audit(work, actor, "policy.settings-changed", { before: current, after: next });
		});
	}

	async createGroup(
		actor: Actor,
		input: {
			name: string;
			forceTwoFactor: boolean;
			allowedMethods: readonly MethodId[] | null;
			enrolmentDeadline?: number | null;
			rememberMinutes?: number | null;
		},
	): Promise<GroupRow> {
		const name = canonicalGroupName(input.name);
		if (name === null) throw this.input("Group names are 1-64 characters: letters, digits, '.', '_' and '-'.", "name");
		if (await this.deps.groups.findByName(name)) throw new PortcullisError("ERR_CONFLICT", `a group named ${name} already exists`, { field: "name" });
		if (input.allowedMethods) await this.validateMethods(input.allowedMethods);
		const enrolmentDeadline = this.nextDeadline(`group ${name}`, input.forceTwoFactor, null, input.enrolmentDeadline ?? null);
		const rememberMinutes = this.rememberMinutes(input.rememberMinutes ?? null, true);
		return this.deps.work.run(async (work) => {
			if (await work.groups.findByName(name)) throw new PortcullisError("ERR_CONFLICT", `a group named ${name} already exists`, { field: "name" });
			await this.checkPolicy(work.groups, await work.settings.getTwoFactor(), {
				id: null,
				name,
				forceTwoFactor: input.forceTwoFactor,
				allowedMethods: input.allowedMethods,
			});
			const group = await work.groups.create(name, input.forceTwoFactor, input.allowedMethods, { enrolmentDeadline, rememberMinutes });
			this.audit(work, actor, "group.created", {
				group: name,
				forceTwoFactor: input.forceTwoFactor,
				allowedMethods: input.allowedMethods,
				enrolmentDeadline,
				rememberMinutes,
			});
			return group;
		});
	}

	/** The validated rule a group change leads to (shared by the change, in its unit of work, and its impact preview). */
	private async planGroup(rawName: string, changes: GroupChanges, read: Pick<Work, "settings" | "groups"> = this.deps) {
		const group = await this.requireGroup(rawName, read.groups);
		const before = groupRule(group);
		const after = {
			id: group.id,
			name: group.name,
			forceTwoFactor: changes.forceTwoFactor ?? before.forceTwoFactor,
			allowedMethods: changes.allowedMethods !== undefined ? changes.allowedMethods : parseAllowed(group.allowed_methods),
		};
		await this.checkPolicy(read.groups, await read.settings.getTwoFactor(), after);
		const enrolmentDeadline = this.nextDeadline(`group ${group.name}`, after.forceTwoFactor, before.enrolmentDeadline ?? null, changes.enrolmentDeadline);
		if (changes.rememberMinutes !== undefined) this.rememberMinutes(changes.rememberMinutes, true);
		return { group, before, after, enrolmentDeadline };
	}

	async updateGroup(actor: Actor, rawName: string, changes: GroupChanges): Promise<void> {
		if (changes.allowedMethods) await this.validateMethods(changes.allowedMethods);
		await this.deps.work.run(async (work) => {
			const { group, before, after, enrolmentDeadline } = await this.planGroup(rawName, changes, work);
			await work.groups.update(group.id, { ...changes, enrolmentDeadline });
			this.audit(work, actor, "group.updated", {
				group: group.name,
				before,
				after: {
					forceTwoFactor: after.forceTwoFactor,
					allowedMethods: after.allowedMethods,
					enrolmentDeadline,
					rememberMinutes: changes.rememberMinutes !== undefined ? changes.rememberMinutes : (before.rememberMinutes ?? null),
				},
			});
		});
	}

	async deleteGroup(actor: Actor, rawName: string): Promise<void> {
		await this.deps.work.run(async (work) => {
			const group = await this.requireGroup(rawName, work.groups);
			await work.groups.remove(group.id);
			this.audit(work, actor, "group.deleted", { group: group.name });
		});
	}

	async addMember(actor: Actor, groupName: string, username: string): Promise<void> {
		await this.deps.work.run(async (work) => {
			const group = await this.requireGroup(groupName, work.groups);
			const user = await this.requireUser(username, work.users);
			if (await work.groups.addMember(group.id, user.id)) this.audit(work, actor, "group.member-added", { group: group.name }, user);
		});
	}

	async removeMember(actor: Actor, groupName: string, username: string): Promise<void> {
		await this.deps.work.run(async (work) => {
			const group = await this.requireGroup(groupName, work.groups);
			const user = await this.requireUser(username, work.users);
			if (await work.groups.removeMember(group.id, user.id)) this.audit(work, actor, "group.member-removed", { group: group.name }, user);
		});
	}

	/** Live console sessions of every user (the API's `GET /api/v1/web-sessions`). */
	async listWebSessions(): Promise<
		{ id: string; userId: string; username: string | null; state: string; createdAt: number; lastSeenAt: number; expiresAt: number; source: string }[]
	> {
		const [sessions, users] = await Promise.all([this.deps.sessions.listLive(), this.deps.users.list()]);
		const names = new Map(users.map((user) => [user.id, user.username]));
		return sessions.map((row) => ({
			id: row.id_hash,
			userId: row.user_id,
			username: names.get(row.user_id) ?? null,
			state: row.state,
			createdAt: Number(row.created_at),
			lastSeenAt: Number(row.last_seen_at),
			expiresAt: Number(row.expires_at),
			source: row.source,
		}));
	}

	/** Ends one console session (its row is gone: the next request of that browser is logged out, on every node). */
	async terminateWebSession(actor: Actor, id: string): Promise<boolean> {
		if (!/^[0-9a-f]{64}$/.test(id)) return false;
		return this.deps.work.run(async (work) => {
			const row = await work.sessions.findByHash(id);
			if (row === undefined || !(await work.sessions.removeByHash(id))) return false;
			const user = await work.users.findById(row.user_id);
			this.audit(work, actor, "session.terminated", { session: id.slice(0, 12) }, user);
			return true;
		});
	}
}
