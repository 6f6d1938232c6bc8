import { type Kysely, type RawBuilder, type Selectable, sql } from "kysely";
import { insertReferencing } from "./referenced-row.ts";
import type { Clock } from "../core/clock.ts";
import type { Random } from "../core/random.ts";
import { newId } from "../crypto/tokens.ts";
import { inTransaction } from "./in-transaction.ts";
import type { Database, UsersTable } from "./schema.ts";

export type UserRow = Selectable<UsersTable>;

/** Disabled by an admin, or disabled in / removed from the directory (migration 0023): no login, no session. */
export function accountDisabled(user: Pick<UserRow, "disabled" | "directory_disabled">): boolean {
	return Number(user.disabled) === 1 || Number(user.directory_disabled) === 1;
}

export interface NewUser {
	username: string;
	passwordHash: string | null;
	isAdmin: boolean;
	mustChangePassword: boolean;
	/** A service account (API tokens only, never an interactive login); it has no password. */
	serviceAccount?: boolean;
	/** Group memberships created with the user, in the same transaction. */
	groupIds?: readonly string[];
	/** 'local' (default) or 'ldap': a directory user has no password hash here (migration 0023). */
	source?: "local" | "ldap";
	directoryDn?: string | null;
}

/** Lockout thresholds (Decision 8), shared by every channel and node because they live in SQL. */
export interface LockoutPolicy {
	maxFailures: number;
	windowMs: number;
	lockMs: number;
	maxLockMs: number;
}

/** Lockout thresholds plus how long an unsettled reservation may count (docs/decisions.md "Lockout accounting"). */
export interface CounterPolicy extends LockoutPolicy {
	/** Longer than the longest answer check (a Duo push waits up to 90 s): an older reservation belongs to a crashed node. */
	leaseMs: number;
}

export type Counter = "tfa" | "pw";

/** One answer reserved on a counter; settle it exactly once (settleWrong, settleCorrect or releaseAttempt). */
export interface Reservation {
	readonly userId: string;
	readonly counter: Counter;
	readonly reservedAt: number;
}

export type ReserveResult = { kind: "ok"; reservation: Reservation } | { kind: "locked"; lockedUntil: number } | { kind: "busy" };

export interface WrongAnswer {
	/** Wrong answers recorded in the window, this one included. */
	failures: number;
	/** This failure reached the limit and wrote the lock (audit `account.locked` once). */
	lockedNow: boolean;
	/** The account is locked now (by this failure or before). */
	locked: boolean;
	lockedUntil: number;
}

type CounterColumns = {
	failures: "tfa_failures" | "pw_failures";
	windowStart: "tfa_window_start" | "pw_window_start";
	lockedUntil: "tfa_locked_until" | "pw_locked_until";
	inflight: "tfa_inflight" | "pw_inflight";
	inflightAt: "tfa_inflight_at" | "pw_inflight_at";
};

function columnsOf(counter: Counter): CounterColumns {
	return counter === "tfa"
		? { failures: "tfa_failures", windowStart: "tfa_window_start", lockedUntil: "tfa_locked_until", inflight: "tfa_inflight", inflightAt: "tfa_inflight_at" }
		: { failures: "pw_failures", windowStart: "pw_window_start", lockedUntil: "pw_locked_until", inflight: "pw_inflight", inflightAt: "pw_inflight_at" };
}

/** Times are cast: PostgreSQL would otherwise type a CASE of untyped parameters as integer. */
function big(value: number): RawBuilder<number> {
	return sql<number>`CAST(${value} AS BIGINT)`;
}

/** Answers in flight, 0 once the latest reservation is older than the lease (none of them can still be live). */
function liveInflight(c: CounterColumns, now: number, policy: CounterPolicy): RawBuilder<number> {
	return sql<number>`CASE WHEN ${sql.ref(c.inflightAt)} <= ${big(now - policy.leaseMs)} THEN 0 ELSE ${sql.ref(c.inflight)} END`;
}

/** Wrong answers recorded in the current window (0 once it is over). */
function windowFailures(c: CounterColumns, now: number, policy: LockoutPolicy): RawBuilder<number> {
	return sql<number>`CASE WHEN ${sql.ref(c.windowStart)} <= ${big(now - policy.windowMs)} THEN 0 ELSE ${sql.ref(c.failures)} END`;
}

/**
 * The in-flight count after giving `reservation` back. A reservation older than the lease is not
 * given back: it may already have been forgotten, and taking it off again would undercount live
 * answers (the safe side is a count too high for a while, never too low).
 */
function releasedInflight(c: CounterColumns, reservation: Reservation | null, now: number, policy: CounterPolicy): RawBuilder<number> {
	if (reservation === null || reservation.reservedAt <= now - policy.leaseMs) return sql<number>`${sql.ref(c.inflight)}`;
	return sql<number>`CASE WHEN ${sql.ref(c.inflight)} > 0 THEN ${sql.ref(c.inflight)} - 1 ELSE 0 END`;
}

/** The 2FA lock's end: lockMs doubled per earlier lock (tfa_lock_count), capped at maxLockMs; literal steps, portable SQL. */
function growingLockUntil(now: number, policy: LockoutPolicy): RawBuilder<number> {
	const steps: RawBuilder<unknown>[] = [];
	for (let locks = 0; locks <= 20 && policy.lockMs * 2 ** locks < policy.maxLockMs; locks++) {
		steps.push(sql`WHEN tfa_lock_count = ${locks} THEN ${big(now + policy.lockMs * 2 ** locks)}`);
	}
	if (steps.length === 0) return big(now + policy.maxLockMs);
	return sql<number>`CASE ${sql.join(steps, sql` `)} ELSE ${big(now + policy.maxLockMs)} END`;
}

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
			tfa_inflight: 0,
			tfa_inflight_at: 0,
			pw_inflight: 0,
			pw_inflight_at: 0,
			enroll_token_hash: null,
			enroll_token_expires_at: null,
			tfa_generation: 0,
			pw_link_hash: null,
			pw_link_expires_at: null,
			source: user.source ?? "local",
			directory_dn: user.directoryDn ?? null,
			directory_disabled: 0,
			service_account: user.serviceAccount === true ? 1 : 0,
		};
		// One transaction: a user must never exist without the groups they were created in (a group
		// may force 2FA; a membership lost to a crash or a concurrent group deletion would fail open).
		await inTransaction(this.db, async (trx) => {
			await trx.insertInto("users").values(row).execute();
			const groupIds = [...new Set(user.groupIds ?? [])];
			if (groupIds.length > 0)
				await insertReferencing("a group of the new user", () =>
					trx
						.insertInto("group_members")
						.values(groupIds.map((group_id) => ({ group_id, user_id: row.id })))
						.execute(),
				);
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

	/** Stores a one-time password link for the user (replacing any earlier one). */
	async setPasswordLink(id: string, tokenHash: string, expiresAt: number): Promise<void> {
		await this.db.updateTable("users").set({ pw_link_hash: tokenHash, pw_link_expires_at: expiresAt }).where("id", "=", id).execute();
	}

	/** The enabled user a live password link belongs to (a read for the form; the change itself is `usePasswordLink`). */
	async findByPasswordLink(tokenHash: string): Promise<UserRow | undefined> {
		const now = this.clock.now().getTime();
		return this.db
			.selectFrom("users")
			.selectAll()
			.where("pw_link_hash", "=", tokenHash)
			.where("pw_link_expires_at", ">", now)
			.where("disabled", "=", 0)
			.executeTakeFirst();
	}

	/**
	 * Single use: one conditional UPDATE sets the password, clears the link and ends every session
	 * (session epoch) only while the link is live and the account enabled; two uses of one link
	 * (two tabs, two nodes) change the password once. The user chose it: nothing left to change.
	 */
	async usePasswordLink(tokenHash: string, passwordHash: string): Promise<UserRow | undefined> {
		const now = this.clock.now().getTime();
		return this.db
			.updateTable("users")
			.set((eb) => ({
				password_hash: passwordHash,
				must_change_password: 0,
				// Used: the link is gone in the same statement that used it.
				pw_link_hash: null,
				pw_link_expires_at: null,
				session_epoch: eb("session_epoch", "+", 1),
			}))
			.where("pw_link_hash", "=", tokenHash)
			.where("pw_link_expires_at", ">", now)
			.where("disabled", "=", 0)
			.returningAll()
			.executeTakeFirst();
	}

	async setDisabled(id: string, disabled: boolean): Promise<void> {
		await this.db
			.updateTable("users")
			.set((eb) => ({ disabled: disabled ? 1 : 0, session_epoch: eb("session_epoch", "+", 1) }))
			.where("id", "=", id)
			.execute();
	}

	/**
	 * What the directory said at a login or a sync (docs/identity.md): the entry's DN, and whether it
	 * is disabled or gone. A change of the disabled state bumps session_epoch in the same UPDATE, so
	 * every live web session and SSH connection of the user is re-checked at once (session-gate.ts).
	 * Returns whether the disabled state changed.
	 */
	async setDirectoryState(id: string, state: { dn: string | null; disabled: boolean }): Promise<boolean> {
		const flag = state.disabled ? 1 : 0;
		const changed = await this.db
			.updateTable("users")
			.set((eb) => ({ directory_disabled: flag, session_epoch: eb("session_epoch", "+", 1) }))
			.where("id", "=", id)
			.where("source", "=", "ldap")
			.where("directory_disabled", "<>", flag)
			.executeTakeFirst();
		if (state.dn !== null) await this.db.updateTable("users").set({ directory_dn: state.dn }).where("id", "=", id).where("source", "=", "ldap").execute();
		return Number(changed.numUpdatedRows) > 0;
	}

	/** Every account whose first factor is checked by the directory (the periodic sync walks them). */
	async listBySource(source: "local" | "ldap"): Promise<UserRow[]> {
		return this.db.selectFrom("users").selectAll().where("source", "=", source).orderBy("username").execute();
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
	 * Locks the account now, as a failure reaching the limit would (the 2FA lock grows and ends the
	 * user's sessions). Not used by the login flows, whose lock is written by settleWrong; for
	 * set-up and operations. One UPDATE.
	 */
	async lock(id: string, counter: Counter, policy: LockoutPolicy): Promise<number> {
		const now = this.clock.now().getTime();
		if (counter === "tfa") {
			const row = await this.db
				.updateTable("users")
				.set({
					tfa_locked_until: growingLockUntil(now, policy),
					tfa_lock_count: sql<number>`tfa_lock_count + 1`,
					session_epoch: sql<number>`session_epoch + 1`,
				})
				.where("id", "=", id)
				.returning("tfa_locked_until")
				.executeTakeFirst();
			return row === undefined ? now : Number(row.tfa_locked_until);
		}
		const until = now + Math.min(policy.lockMs, policy.maxLockMs);
		await this.db.updateTable("users").set({ pw_locked_until: until }).where("id", "=", id).execute();
		return until;
	}

	/**
	 * Reserves one answer on the account's counter BEFORE the answer is checked, in one conditional
	 * UPDATE (Keycloak CVE-2024-4629): the reservation is granted only while the wrong answers
	 * recorded in the window plus the answers in flight stay under `maxFailures`, so parallel
	 * guesses (every node included) can never have more than `maxFailures` answers evaluated per
	 * window. An answer in flight is not a failure: only `settleWrong` records one, and only it
	 * writes a lock. "busy": the in-flight budget is spent for now (retry shortly); never a lock.
	 */
	async reserveAttempt(id: string, counter: Counter, policy: CounterPolicy): Promise<ReserveResult> {
		const now = this.clock.now().getTime();
		const c = columnsOf(counter);
		const inflight = liveInflight(c, now, policy);
		const failures = windowFailures(c, now, policy);
		const row = await this.db
			.updateTable("users")
			.set({ [c.inflight]: sql<number>`${inflight} + 1`, [c.inflightAt]: now })
			.where("id", "=", id)
			.where(c.lockedUntil, "<=", now)
			.where(sql<number>`${failures} + ${inflight}`, "<", policy.maxFailures)
			.returning(["id"])
			.executeTakeFirst();
		if (row !== undefined) return { kind: "ok", reservation: { userId: id, counter, reservedAt: now } };
		// Refused. Which refusal it was is read afterwards; the decision itself was the UPDATE's.
		const user = await this.findById(id);
		if (user === undefined) return { kind: "locked", lockedUntil: now };
		const lockedUntil = Number(user[c.lockedUntil]);
		if (lockedUntil > now) return { kind: "locked", lockedUntil };
		const windowStart = Number(user[c.windowStart]);
		// The limit was reached in this window and its lock has already ended: no answer is evaluated until the window ends.
		if (windowStart > now - policy.windowMs && Number(user[c.failures]) >= policy.maxFailures)
			return { kind: "locked", lockedUntil: windowStart + policy.windowMs };
		return { kind: "busy" };
	}

	/**
	 * The reserved answer was wrong: gives the reservation back and records one failure, in one
	 * UPDATE that also writes the lock when this failure reaches `maxFailures` (the 2FA lock also
	 * grows with each lock and bumps session_epoch, ending the user's live sessions). Exactly one
	 * failure per window reaches the limit, so exactly one settlement writes (and audits) the lock.
	 * `reservation` null: a failure that was never a reserved answer (an abandoned keyword
	 * challenge, a refused enrolment start during a login).
	 */
	async settleWrong(userId: string, counter: Counter, reservation: Reservation | null, policy: CounterPolicy): Promise<WrongAnswer> {
		const now = this.clock.now().getTime();
		const c = columnsOf(counter);
		const windowOver = sql<boolean>`${sql.ref(c.windowStart)} <= ${big(now - policy.windowMs)}`;
		const next = sql<number>`CASE WHEN ${windowOver} THEN 1 ELSE ${sql.ref(c.failures)} + 1 END`;
		const reaches = sql<boolean>`${next} = ${policy.maxFailures}`;
		const lockUntil = counter === "tfa" ? growingLockUntil(now, policy) : big(now + Math.min(policy.lockMs, policy.maxLockMs));
		const row = await this.db
			.updateTable("users")
			.set({
				[c.failures]: next,
				[c.windowStart]: sql<number>`CASE WHEN ${windowOver} THEN ${big(now)} ELSE ${sql.ref(c.windowStart)} END`,
				[c.inflight]: releasedInflight(c, reservation, now, policy),
				[c.lockedUntil]: sql<number>`CASE WHEN ${reaches} THEN ${lockUntil} ELSE ${sql.ref(c.lockedUntil)} END`,
				...(counter === "tfa"
					? {
							tfa_lock_count: sql<number>`CASE WHEN ${reaches} THEN tfa_lock_count + 1 ELSE tfa_lock_count END`,
							session_epoch: sql<number>`CASE WHEN ${reaches} THEN session_epoch + 1 ELSE session_epoch END`,
						}
					: {}),
			})
			.where("id", "=", userId)
			.returning([c.failures, c.lockedUntil])
			.executeTakeFirst();
		if (row === undefined) return { failures: policy.maxFailures, lockedNow: false, locked: true, lockedUntil: now };
		const values = row as Record<string, unknown>;
		const failures = Number(values[c.failures]);
		return {
			failures,
			lockedNow: failures === policy.maxFailures,
			locked: failures >= policy.maxFailures || Number(values[c.lockedUntil]) > now,
			lockedUntil: Number(values[c.lockedUntil]),
		};
	}

	/** The reserved answer was right: gives the reservation back and clears the counter's failures (and the 2FA lock growth). */
	async settleCorrect(reservation: Reservation, policy: CounterPolicy): Promise<void> {
		const c = columnsOf(reservation.counter);
		const now = this.clock.now().getTime();
		await this.db
			.updateTable("users")
			.set({
				[c.inflight]: releasedInflight(c, reservation, now, policy),
				[c.failures]: 0,
				...(reservation.counter === "tfa" ? { tfa_lock_count: 0 } : {}),
			})
			.where("id", "=", reservation.userId)
			.execute();
	}

	/**
	 * Gives a reservation back without counting anything: the answer was not the user's guess
	 * (backend down, the provider refused the user, a multi-round challenge continues, a busy
	 * second counter).
	 */
	async releaseAttempt(reservation: Reservation, policy: CounterPolicy): Promise<void> {
		const c = columnsOf(reservation.counter);
		const now = this.clock.now().getTime();
		await this.db
			.updateTable("users")
			.set({ [c.inflight]: releasedInflight(c, reservation, now, policy) })
			.where("id", "=", reservation.userId)
			.execute();
	}

	/**
	 * Admin unlock: failures and locks start afresh. Answers in flight are left counted (their
	 * settlements give them back; zeroing them would let more than the limit be evaluated at once).
	 */
	async unlock(id: string): Promise<void> {
		await this.db
			.updateTable("users")
			.set({ tfa_failures: 0, tfa_locked_until: 0, tfa_lock_count: 0, pw_failures: 0, pw_locked_until: 0 })
			.where("id", "=", id)
			.execute();
	}
}
