/**
 * Directory accounts (LDAP / Active Directory; docs/identity.md): the port the password
 * stage checks a directory user's password through, just-in-time accounts, and the group mapping
 * applied at every login and by the periodic sync.
 *
 * Ownership: for a directory user, membership of every Portcullis group that is the TARGET of a
 * mapping is the directory's (added when the user is in a mapped directory group, removed when not);
 * memberships of unmapped groups stay the admin's. Each change and its audit event commit together
 * (unit of work); group_members changes bump policy_version by trigger (migration 0010) and a
 * directory disable bumps session_epoch (user-store.ts setDirectoryState), so live web sessions and
 * SSH connections follow through the existing live checks.
 */
import type { Actor } from "../core/actor.ts";
import { normaliseDn } from "../core/ldap-filter.ts";
import { canonicalUsername } from "../core/username.ts";
import type { Logger } from "../core/logger.ts";
import type { DirectoryBind, DirectoryEntry, DirectoryFind, DirectoryTest } from "../net/ldap-directory.ts";
import type { AuditLog } from "../storage/audit-log.ts";
import type { UnitOfWork, Work } from "../storage/unit-of-work.ts";
import type { UserRow, UserStore } from "../storage/user-store.ts";

/** What the flows need from a directory (src/net/ldap-directory.ts implements it). */
export interface DirectoryPort {
	find(username: string): Promise<DirectoryFind>;
	authenticate(username: string, password: string): Promise<DirectoryBind>;
	testConnection(): Promise<DirectoryTest>;
}

export interface GroupMapping {
	/** The directory group's DN (compared normalised). */
	readonly directoryGroup: string;
	/** The Portcullis group name it maps to (the group must exist; a missing one is logged and skipped). */
	readonly group: string;
}

export interface DirectoryAccountsDeps {
	readonly directory: DirectoryPort;
	readonly mapping: readonly GroupMapping[];
	readonly users: Pick<UserStore, "findByUsername" | "listBySource">;
	readonly audit: AuditLog;
	readonly work: Pick<UnitOfWork, "run">;
	readonly logger: Logger;
}

/** "unavailable": the directory could not answer; the caller fails closed (docs/identity.md "Outages"). */
export type DirectoryCheck = "ok" | "wrong" | "unavailable";

export type Provision = { kind: "user"; user: UserRow } | { kind: "unknown" } | { kind: "unavailable"; reason: string };

export interface TestLogin {
	readonly outcome: "ok" | "wrong-password" | "unknown-user" | "disabled" | "unavailable";
	readonly dn?: string;
	readonly directoryGroups?: readonly string[];
	readonly mappedGroups?: readonly string[];
	readonly reason?: string;
}

export interface SyncReport {
	readonly checked: number;
	readonly changed: number;
	readonly unavailable: string | null;
}

export class DirectoryAccounts {
	constructor(private readonly deps: DirectoryAccountsDeps) {}

	/** The Portcullis groups an entry's directory groups map to. */
	mappedGroups(entry: Pick<DirectoryEntry, "groups">): string[] {
		const member = new Set(entry.groups.map(normaliseDn));
		return [...new Set(this.deps.mapping.filter((map) => member.has(normaliseDn(map.directoryGroup))).map((map) => map.group))].sort();
	}

	/**
	 * A username unknown here: if the directory has it (service-account search, no password yet), the
	 * account is created now, marked `ldap`, with its mapped groups, so the password check that
	 * follows is charged on it like any other (lockout and per-source throttle). A directory user that
	 * never logs in successfully keeps an account with no factor and no session (docs/decisions.md).
	 */
	async provision(username: string): Promise<Provision> {
		const found = await this.deps.directory.find(username);
		if (found.kind !== "found") return found;
		const groupNames = this.mappedGroups(found.entry);
		const create = () =>
			this.deps.work.run(async (work) => {
				const existing = await work.users.findByUsername(username);
				if (existing !== undefined) return existing;
				const groupIds = await this.groupIds(work, groupNames);
				const created = await work.users.create({
					username,
					passwordHash: null,
					isAdmin: false,
					mustChangePassword: false,
					source: "ldap",
					directoryDn: found.entry.dn,
					groupIds,
				});
				if (found.entry.disabled) await work.users.setDirectoryState(created.id, { dn: found.entry.dn, disabled: true });
				work.audit({
					event: "user.provisioned",
					outcome: "success",
					actor: "directory",
					channel: "ldap",
					userId: created.id,
					username,
					detail: { source: "ldap", dn: found.entry.dn, groups: groupNames, disabled: found.entry.disabled },
				});
				return created;
			});
		try {
			return { kind: "user", user: await create() };
		} catch (error) {
			// Two first logins at once: the other one created the row (unique username); use it.
			const existing = await this.deps.users.findByUsername(username);
			if (existing === undefined) throw error;
			return { kind: "user", user: existing };
		}
	}

	/** The password stage's check for a directory user: bind as the user; on success the directory's view is applied at once. */
	async verify(user: UserRow, password: string): Promise<DirectoryCheck | { kind: "unavailable"; reason: string }> {
		const result = await this.deps.directory.authenticate(user.username, password);
		if (result.kind === "unavailable") return result;
		if (result.kind === "unknown") {
			await this.apply(user, null, "login");
			return "wrong";
		}
		if (result.kind === "wrong") return "wrong";
		await this.apply(user, result.entry, "login");
		return "ok";
	}

	/**
	 * The console's test login (admins only, after a step-up): what a login would see, no account
	 * or group written. Audited with its outcome, never the password: it is a password check, and
	 * the audit log shows who used it on whom.
	 */
	async testLogin(actor: Actor, rawUsername: string, password: string): Promise<TestLogin> {
		const username = canonicalUsername(rawUsername);
		const result: TestLogin = await (async (): Promise<TestLogin> => {
			if (username === null) return { outcome: "unknown-user", reason: "not a valid username (letters, digits, '.', '_' and '-')" };
			const bound = await this.deps.directory.authenticate(username, password);
			if (bound.kind === "unavailable") return { outcome: "unavailable", reason: bound.reason };
			if (bound.kind === "unknown") return { outcome: "unknown-user" };
			if (bound.kind === "wrong") return { outcome: "wrong-password" };
			return {
				outcome: bound.entry.disabled ? "disabled" : "ok",
				dn: bound.entry.dn,
				directoryGroups: bound.entry.groups,
				mappedGroups: this.mappedGroups(bound.entry),
			};
		})();
		await this.deps.audit.write({
			event: "directory.test-login",
			outcome: result.outcome === "ok" ? "success" : "failure",
			actor: actor.name,
			channel: actor.channel,
			source: actor.source,
			username: username ?? rawUsername.slice(0, 64),
			detail: { outcome: result.outcome, ...(result.dn === undefined ? {} : { dn: result.dn, mappedGroups: result.mappedGroups }) },
		});
		return result;
	}

	async testConnection(actor: Actor): Promise<DirectoryTest> {
		const result = await this.deps.directory.testConnection();
		await this.deps.audit.write({
			event: "directory.test-connection",
			outcome: result.ok ? "success" : "failure",
			actor: actor.name,
			channel: actor.channel,
			source: actor.source,
			detail: result.ok ? { detail: result.detail } : { reason: result.reason },
		});
		return result;
	}

	/**
	 * The periodic sync: every directory account is looked up again; groups, the disabled bit and
	 * removal are applied. Stops at the first unreachable answer (nothing is changed on a guess).
	 */
	async syncAll(): Promise<SyncReport> {
		const accounts = await this.deps.users.listBySource("ldap");
		let changed = 0;
		let checked = 0;
		for (const user of accounts) {
			const found = await this.deps.directory.find(user.username);
			if (found.kind === "unavailable") {
				await this.deps.audit.record({
					event: "directory.sync",
					outcome: "failure",
					actor: "directory",
					channel: "ldap",
					detail: { reason: found.reason, checked },
				});
				return { checked, changed, unavailable: found.reason };
			}
			checked++;
			if (await this.apply(user, found.kind === "found" ? found.entry : null, "sync")) changed++;
		}
		// Each change has its own event (user.directory-*); a sync that changed nothing is only logged
		// (every node runs one every few minutes).
		if (changed > 0)
			await this.deps.audit.record({ event: "directory.sync", outcome: "success", actor: "directory", channel: "ldap", detail: { checked, changed } });
		return { checked, changed, unavailable: null };
	}

	/** Applies one user's directory state (null: gone from the directory); true when anything changed. */
	private async apply(user: UserRow, entry: DirectoryEntry | null, via: "login" | "sync"): Promise<boolean> {
		const wanted = new Set(entry === null ? [] : this.mappedGroups(entry));
		const targets = [...new Set(this.deps.mapping.map((map) => map.group))];
		return this.deps.work.run(async (work) => {
			const disabled = entry === null || entry.disabled;
			const stateChanged = await work.users.setDirectoryState(user.id, { dn: entry?.dn ?? null, disabled });
			const added: string[] = [];
			const removed: string[] = [];
			for (const name of targets) {
				const group = await work.groups.findByName(name);
				if (group === undefined) continue;
				if (wanted.has(name)) {
					if (await work.groups.addMember(group.id, user.id)) added.push(name);
				} else if (await work.groups.removeMember(group.id, user.id)) removed.push(name);
			}
			const base = { actor: "directory", channel: "ldap", userId: user.id, username: user.username } as const;
			if (stateChanged) {
				work.audit({
					...base,
					event: disabled ? "user.directory-disabled" : "user.directory-enabled",
					outcome: "info",
					detail: { via, removed: entry === null },
				});
			}
			if (added.length > 0 || removed.length > 0) work.audit({ ...base, event: "user.directory-groups", outcome: "info", detail: { via, added, removed } });
			return stateChanged || added.length > 0 || removed.length > 0;
		});
	}

	private async groupIds(work: Work, names: readonly string[]): Promise<string[]> {
		const ids: string[] = [];
		for (const name of names) {
			const group = await work.groups.findByName(name);
			if (group === undefined) this.deps.logger.warn({ group: name }, "directory group mapping names a Portcullis group that does not exist");
			else ids.push(group.id);
		}
		return ids;
	}
}
