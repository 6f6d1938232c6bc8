import { type Kysely, type RawBuilder, sql } from "kysely";
import type { Clock } from "../core/clock.ts";
import type { Database } from "./schema.ts";

/**
 * Growing delay per (account, source) for the password stage (docs/decisions.md "Password
 * throttling"; NIST SP 800-63B §5.2.2 rate limiting). The first `freeFailures` wrong passwords
 * cost nothing; from then on every failure blocks the pair for a delay that starts at
 * FIRST_DELAY_MS and doubles, capped at `maxDelayMs`. A pair quiet for `resetMs` starts afresh.
 */
export interface PasswordThrottlePolicy {
	freeFailures: number;
	maxDelayMs: number;
	resetMs: number;
}

/** The first delay, once the free failures are spent (then 2 s, 4 s, … up to maxDelayMs). */
export const FIRST_DELAY_MS = 1000;

/** The pair's policy plus how long an unsettled reservation may count (the same lease as the account's counters). */
export interface PairPolicy extends PasswordThrottlePolicy {
	leaseMs: number;
}

/** One password check reserved on a pair; settle it exactly once (settleWrong, settleCorrect or release). */
export interface PairReservation {
	readonly userId: string;
	readonly sourceKey: string;
	readonly reservedAt: number;
}

export type ThrottleResult = { kind: "ok"; failures: number; reservation: PairReservation } | { kind: "throttled"; blockedUntil: number } | { kind: "busy" };

/** Times are cast: PostgreSQL would otherwise type a CASE of untyped parameters as integer. */
function big(value: number): RawBuilder<number> {
	return sql<number>`CAST(${value} AS BIGINT)`;
}

/** The in-flight count after giving `reservation` back (one older than the lease is not: see UserStore's releasedInflight). */
function released(reservation: PairReservation, now: number, policy: PairPolicy): RawBuilder<number> {
	if (reservation.reservedAt <= now - policy.leaseMs) return sql<number>`inflight`;
	return sql<number>`CASE WHEN inflight > 0 THEN inflight - 1 ELSE 0 END`;
}

/** Delay after the n-th consecutive failure of a pair (0 while failures are free). */
export function throttleDelayMs(failures: number, policy: PasswordThrottlePolicy): number {
	if (failures < policy.freeFailures) return 0;
	const doublings = Math.min(failures - policy.freeFailures, 40);
	return Math.min(FIRST_DELAY_MS * 2 ** doublings, policy.maxDelayMs);
}

export class PasswordThrottleStore {
	constructor(
		private readonly db: Kysely<Database>,
		private readonly clock: Clock,
	) {}

	/**
	 * Reserves one password check for the pair BEFORE the password is checked, in one conditional
	 * upsert (SQLite ≥ 3.35 and PostgreSQL: INSERT … ON CONFLICT DO UPDATE … WHERE … RETURNING).
	 * Granted only while the pair is not blocked and the checks in flight stay within what its
	 * completed failures still allow: `freeFailures - failures` at once while free failures are
	 * left, then one at a time. So parallel requests from one source never get more than
	 * freeFailures passwords checked before the first delay (Keycloak CVE-2024-4629), and yet a
	 * check in flight is not a failure: parallel right passwords (a deploy tool's forks) never
	 * block the pair. "throttled": the pair's delay (earned by completed failures) runs; "busy":
	 * the in-flight budget is spent for now. A refused request is not charged (a blocked pair
	 * does not extend itself; docs/security-matrix.md T5).
	 */
	async reserve(userId: string, sourceKey: string, policy: PairPolicy): Promise<ThrottleResult> {
		const now = this.clock.now().getTime();
		const failures = sql<number>`CASE WHEN password_throttle.last_failure_at <= ${big(now - policy.resetMs)} THEN 0 ELSE password_throttle.failures END`;
		const inflight = sql<number>`CASE WHEN password_throttle.inflight_at <= ${big(now - policy.leaseMs)} THEN 0 ELSE password_throttle.inflight END`;
		const allowance = sql<number>`CASE WHEN ${failures} < ${policy.freeFailures} THEN ${policy.freeFailures} - ${failures} ELSE 1 END`;
		const result = await sql<{ failures: number | string }>`
			INSERT INTO password_throttle (user_id, source_key, failures, last_failure_at, blocked_until, inflight, inflight_at)
			VALUES (${userId}, ${sourceKey}, 0, ${big(0)}, ${big(0)}, 1, ${big(now)})
			ON CONFLICT (user_id, source_key) DO UPDATE SET
				inflight = ${inflight} + 1,
				inflight_at = ${big(now)}
			WHERE password_throttle.blocked_until <= ${big(now)} AND ${inflight} < ${allowance}
			RETURNING failures, last_failure_at`.execute(this.db);
		const row = result.rows[0];
		if (row !== undefined) return { kind: "ok", failures: Number(row.failures), reservation: { userId, sourceKey, reservedAt: now } };
		// Refused; which refusal is read afterwards (the decision was the upsert's).
		const current = await this.db
			.selectFrom("password_throttle")
			.select("blocked_until")
			.where("user_id", "=", userId)
			.where("source_key", "=", sourceKey)
			.executeTakeFirst();
		if (current !== undefined && Number(current.blocked_until) > now) return { kind: "throttled", blockedUntil: Number(current.blocked_until) };
		return { kind: "busy" };
	}

	/**
	 * The password was wrong (or was refused by a locked account: it still counts for its source):
	 * gives the reservation back and records the failure, with the delay it earns, in one UPDATE.
	 */
	async settleWrong(reservation: PairReservation, policy: PairPolicy): Promise<{ failures: number; blockedUntil: number }> {
		const now = this.clock.now().getTime();
		const next = sql<number>`CASE WHEN last_failure_at <= ${big(now - policy.resetMs)} THEN 1 ELSE failures + 1 END`;
		// blocked_until for the new count, as literal steps: portable (no POWER/LEAST in SQLite).
		const steps = [];
		for (let failures = policy.freeFailures; throttleDelayMs(failures, policy) < policy.maxDelayMs; failures++) {
			steps.push(sql`WHEN ${next} = ${failures} THEN ${big(now + throttleDelayMs(failures, policy))}`);
		}
		const blockedUntil = sql<number>`CASE WHEN ${next} < ${policy.freeFailures} THEN ${big(0)} ${sql.join(steps, sql` `)} ELSE ${big(now + policy.maxDelayMs)} END`;
		const row = await this.db
			.updateTable("password_throttle")
			.set({ failures: next, last_failure_at: now, blocked_until: blockedUntil, inflight: released(reservation, now, policy) })
			.where("user_id", "=", reservation.userId)
			.where("source_key", "=", reservation.sourceKey)
			.returning(["failures", "blocked_until"])
			.executeTakeFirst();
		return { failures: Number(row?.failures ?? 0), blockedUntil: Number(row?.blocked_until ?? 0) };
	}

	/** The right password from this source: its failures are forgotten (other sources keep theirs), the reservation given back. */
	async settleCorrect(reservation: PairReservation, policy: PairPolicy): Promise<void> {
		const now = this.clock.now().getTime();
		// Nothing else in flight for the pair: the row goes (one conditional DELETE). Otherwise its
		// failures are cleared and this reservation given back, and pruning removes the row later.
		const deleted = await this.db
			.deleteFrom("password_throttle")
			.where("user_id", "=", reservation.userId)
			.where("source_key", "=", reservation.sourceKey)
			.where((eb) => eb.or([eb("inflight", "<=", 1), eb("inflight_at", "<=", now - policy.leaseMs)]))
			.executeTakeFirst();
		if (Number(deleted.numDeletedRows) === 1) return;
		await this.db
			.updateTable("password_throttle")
			.set({ failures: 0, blocked_until: 0, inflight: released(reservation, now, policy) })
			.where("user_id", "=", reservation.userId)
			.where("source_key", "=", reservation.sourceKey)
			.execute();
	}

	/** Gives the reservation back without counting anything (the account-wide ceiling was busy). */
	async release(reservation: PairReservation, policy: PairPolicy): Promise<void> {
		const now = this.clock.now().getTime();
		await this.db
			.updateTable("password_throttle")
			.set({ inflight: released(reservation, now, policy) })
			.where("user_id", "=", reservation.userId)
			.where("source_key", "=", reservation.sourceKey)
			.execute();
	}

	/** Admin unlock: every source of the account starts afresh. */
	async clearUser(userId: string): Promise<void> {
		await this.db.deleteFrom("password_throttle").where("user_id", "=", userId).execute();
	}

	/** Rows older than the reset period, with nothing in flight, can never matter again (maintenance). */
	async prune(policy: PairPolicy): Promise<number> {
		const now = this.clock.now().getTime();
		const result = await this.db
			.deleteFrom("password_throttle")
			.where("last_failure_at", "<=", now - policy.resetMs)
			.where("blocked_until", "<=", now)
			// A pair with a check in flight keeps its row (its count must not start again from 0).
			.where("inflight_at", "<=", now - policy.leaseMs)
			.executeTakeFirst();
		return Number(result.numDeletedRows);
	}
}
