import type { Kysely, Selectable } from "kysely";
import type { Clock } from "../core/clock.ts";
import type { Random } from "../core/random.ts";
import { newId } from "../crypto/tokens.ts";
import { inTransaction } from "./in-transaction.ts";
import type { Database, UsersTable } from "./schema.ts";

export type UserRow = Selectable<UsersTable>;

export interface NewUser {
	username: string;
	passwordHash: string | null;
	isAdmin: boolean;
	mustChangePassword: boolean;
	/** Group memberships created with the user, in the same transaction. */
	groupIds?: readonly string[];
}

/** Lockout thresholds (Decision 8), shared by every channel and node because they live in SQL. */
export interface LockoutPolicy {
	maxFailures: number;
	windowMs: number;
	lockMs: number;
	maxLockMs: number;
}

export type ReserveResult = { kind: "ok"; failuresSoFar: number } | { kind: "locked"; lockedUntil: number };

export class UserStore {
	constructor(
		private readonly db: Kysely<Database>,
		private readonly clock: Clock,
		private readonly random: Random,
	) {}

	async create(user: NewUser): Promise<UserRow> {
		const row: UserRow = {
			id: newId(this.random),
			username: user.username,
			password_hash: user.passwordHash,
			is_admin: user.isAdmin ? 1 : 0,
			disabled: 0,
			must_change_password: user.mustChangePassword ? 1 : 0,
			ssh_method: null,
			created_at: this.clock.now().getTime(),
			session_epoch: 0,
			tfa_failures: 0,
			tfa_window_start: 0,
			tfa_locked_until: 0,
			tfa_lock_count: 0,
			pw_failures: 0,
			pw_window_start: 0,
			pw_locked_until: 0,
			enroll_token_hash: null,
			enroll_token_expires_at: null,
			tfa_generation: 0,
		};
		// One transaction: a user must never exist without the groups they were created in (a group
		// may force 2FA; a membership lost to a crash or a concurrent group deletion would fail open).
		await inTransaction(this.db, async (trx) => {
			await trx.insertInto("users").values(row).execute();
			const groupIds = [...new Set(user.groupIds ?? [])];
			if (groupIds.length > 0)
				await trx
					.insertInto("group_members")
					.values(groupIds.map((group_id) => ({ group_id, user_id: row.id })))
					.execute();
		});
		return row;
	}

	async findByUsername(username: string): Promise<UserRow | undefined> {
		return this.db.selectFrom("users").selectAll().where("username", "=", username).executeTakeFirst();
	}

	async findById(id: string): Promise<UserRow | undefined> {
		return this.db.selectFrom("users").selectAll().where("id", "=", id).executeTakeFirst();
	}

	async list(): Promise<UserRow[]> {
		return this.db.selectFrom("users").selectAll().orderBy("username").execute();
	}

	async count(): Promise<number> {
		const row = await this.db
			.selectFrom("users")
			.select((eb) => eb.fn.countAll<number>().as("n"))
			.executeTakeFirstOrThrow();
		return Number(row.n);
	}

	async setPassword(id: string, passwordHash: string, mustChange: boolean): Promise<void> {
		await this.db
			.updateTable("users")
			.set({ password_hash: passwordHash, must_change_password: mustChange ? 1 : 0 })
			.where("id", "=", id)
			.execute();
	}

	async setDisabled(id: string, disabled: boolean): Promise<void> {
		await this.db
			.updateTable("users")
			.set((eb) => ({ disabled: disabled ? 1 : 0, session_epoch: eb("session_epoch", "+", 1) }))
			.where("id", "=", id)
			.execute();
	}

	async setAdmin(id: string, isAdmin: boolean): Promise<void> {
		await this.db
			.updateTable("users")
			.set({ is_admin: isAdmin ? 1 : 0 })
			.where("id", "=", id)
			.execute();
	}

	/** Revokes every web session and live SSH connection of the user (they compare epochs). */
	async bumpSessionEpoch(id: string): Promise<void> {
		await this.db
			.updateTable("users")
			.set((eb) => ({ session_epoch: eb("session_epoch", "+", 1) }))
			.where("id", "=", id)
			.execute();
	}

	async setSshMethod(id: string, method: string | null): Promise<void> {
		await this.db.updateTable("users").set({ ssh_method: method }).where("id", "=", id).execute();
	}

	async setEnrollToken(id: string, tokenHash: string | null, expiresAt: number | null): Promise<void> {
		await this.db.updateTable("users").set({ enroll_token_hash: tokenHash, enroll_token_expires_at: expiresAt }).where("id", "=", id).execute();
	}

	/**
	 * Charges one attempt to the account's counter BEFORE the answer is checked, in one
	 * conditional UPDATE. Parallel guesses therefore cannot all slip under the limit
	 * (Keycloak CVE-2024-4629): at most `maxFailures` are ever evaluated per window.
	 */
	async reserveAttempt(id: string, counter: "tfa" | "pw", policy: LockoutPolicy): Promise<ReserveResult> {
		const now = this.clock.now().getTime();
		const windowStartBefore = now - policy.windowMs;
		const failures = counter === "tfa" ? "tfa_failures" : "pw_failures";
		const windowStart = counter === "tfa" ? "tfa_window_start" : "pw_window_start";
		const lockedUntil = counter === "tfa" ? "tfa_locked_until" : "pw_locked_until";
		const row = await this.db
			.updateTable("users")
			.set((eb) => ({
				[failures]: eb
					.case()
					.when(windowStart, "<=", windowStartBefore)
					.then(1)
					.else(eb(failures, "+", 1))
					.end(),
				[windowStart]: eb.case().when(windowStart, "<=", windowStartBefore).then(now).else(eb.ref(windowStart)).end(),
			}))
			.where("id", "=", id)
			.where(lockedUntil, "<=", now)
			.returning([failures])
			.executeTakeFirst();
		if (row === undefined) {
			const user = await this.findById(id);
			return { kind: "locked", lockedUntil: user ? Number(user[lockedUntil]) : now };
		}
		const count = Number((row as Record<string, unknown>)[failures]);
		if (count > policy.maxFailures) {
			const until = await this.lock(id, counter, policy);
			return { kind: "locked", lockedUntil: until };
		}
		return { kind: "ok", failuresSoFar: count };
	}

	/** Locks the account; each further 2FA lock doubles (growing delay), capped at maxLockMs. */
	async lock(id: string, counter: "tfa" | "pw", policy: LockoutPolicy): Promise<number> {
		// Only the 2FA counter grows its lock (Decision 8); a password lock is a flat lockMs.
		const lockCount = counter === "tfa" ? ((await this.findById(id))?.tfa_lock_count ?? 0) : 0;
		const duration = Math.min(policy.lockMs * 2 ** Math.min(lockCount, 20), policy.maxLockMs);
		const until = this.clock.now().getTime() + duration;
		if (counter === "tfa") {
			await this.db
				.updateTable("users")
				.set((eb) => ({ tfa_locked_until: until, tfa_lock_count: eb("tfa_lock_count", "+", 1), session_epoch: eb("session_epoch", "+", 1) }))
				.where("id", "=", id)
				.execute();
		} else {
			await this.db.updateTable("users").set({ pw_locked_until: until }).where("id", "=", id).execute();
		}
		return until;
	}

	/** Gives back one reserved attempt (the answer was not the user's guess: backend down, or a multi-round challenge continues). */
	async refundAttempt(id: string, counter: "tfa" | "pw"): Promise<void> {
		const failures = counter === "tfa" ? "tfa_failures" : "pw_failures";
		await this.db
			.updateTable("users")
			.set((eb) => ({ [failures]: eb(failures, "-", 1) }))
			.where("id", "=", id)
			.where(failures, ">", 0)
			.execute();
	}

	async clearFailures(id: string, counter: "tfa" | "pw"): Promise<void> {
		if (counter === "tfa") {
			await this.db.updateTable("users").set({ tfa_failures: 0, tfa_lock_count: 0 }).where("id", "=", id).execute();
		} else {
			await this.db.updateTable("users").set({ pw_failures: 0 }).where("id", "=", id).execute();
		}
	}

	async unlock(id: string): Promise<void> {
		await this.db
			.updateTable("users")
			.set({ tfa_failures: 0, tfa_locked_until: 0, tfa_lock_count: 0, pw_failures: 0, pw_locked_until: 0 })
			.where("id", "=", id)
			.execute();
	}
}
