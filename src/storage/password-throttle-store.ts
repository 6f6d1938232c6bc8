import { sql, type Kysely } from "kysely";
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

export type ThrottleResult = { kind: "ok"; failures: number } | { kind: "throttled"; blockedUntil: number };

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
	 * Charges one attempt to the pair BEFORE the password is checked, in one conditional upsert
	 * (SQLite ≥ 3.35 and PostgreSQL: INSERT … ON CONFLICT DO UPDATE … WHERE … RETURNING). The
	 * charge also sets the block that this attempt's failure would earn, so a parallel request
	 * from the same source finds the pair blocked and is refused unchecked (Keycloak
	 * CVE-2024-4629): at most freeFailures passwords are ever checked before the first delay.
	 * A refused request is not charged (a blocked pair does not extend itself; docs/security-matrix.md T5).
	 */
	async reserve(userId: string, sourceKey: string, policy: PasswordThrottlePolicy): Promise<ThrottleResult> {
		const now = this.clock.now().getTime();
		const resetBefore = now - policy.resetMs;
		// Times are cast: PostgreSQL would otherwise type a CASE of untyped parameters as integer.
		const big = (value: number) => sql<number>`CAST(${value} AS BIGINT)`;
		const next = sql<number>`CASE WHEN password_throttle.last_failure_at <= ${big(resetBefore)} THEN 1 ELSE password_throttle.failures + 1 END`;
		// blocked_until for the new count, as literal steps: portable (no POWER/LEAST in SQLite).
		const steps = [];
		for (let failures = policy.freeFailures; throttleDelayMs(failures, policy) < policy.maxDelayMs; failures++) {
			steps.push(sql`WHEN ${next} = ${failures} THEN ${big(now + throttleDelayMs(failures, policy))}`);
		}
		const blockedUntil = sql<number>`CASE WHEN ${next} < ${policy.freeFailures} THEN ${big(0)} ${sql.join(steps, sql` `)} ELSE ${big(now + policy.maxDelayMs)} END`;
		const first = throttleDelayMs(1, policy) === 0 ? 0 : now + throttleDelayMs(1, policy);
		const result = await sql<{ failures: number | string; blocked_until: number | string }>`
			INSERT INTO password_throttle (user_id, source_key, failures, last_failure_at, blocked_until)
			VALUES (${userId}, ${sourceKey}, 1, ${big(now)}, ${big(first)})
			ON CONFLICT (user_id, source_key) DO UPDATE SET
				failures = ${next},
				last_failure_at = ${big(now)},
				blocked_until = ${blockedUntil}
			WHERE password_throttle.blocked_until <= ${big(now)}
			RETURNING failures, blocked_until`.execute(this.db);
		const row = result.rows[0];
		if (row === undefined) {
			const current = await this.db
				.selectFrom("password_throttle")
				.select("blocked_until")
				.where("user_id", "=", userId)
				.where("source_key", "=", sourceKey)
				.executeTakeFirst();
			return { kind: "throttled", blockedUntil: current === undefined ? now : Number(current.blocked_until) };
		}
		return { kind: "ok", failures: Number(row.failures) };
	}

	/** The right password from this source: its failures are forgotten (other sources keep theirs). */
	async clear(userId: string, sourceKey: string): Promise<void> {
		await this.db.deleteFrom("password_throttle").where("user_id", "=", userId).where("source_key", "=", sourceKey).execute();
	}

	/** Admin unlock: every source of the account starts afresh. */
	async clearUser(userId: string): Promise<void> {
		await this.db.deleteFrom("password_throttle").where("user_id", "=", userId).execute();
	}

	/** Rows older than the reset period can never matter again (maintenance). */
	async prune(policy: PasswordThrottlePolicy): Promise<number> {
		const now = this.clock.now().getTime();
		const result = await this.db
			.deleteFrom("password_throttle")
			.where("last_failure_at", "<=", now - policy.resetMs)
			.where("blocked_until", "<=", now)
			.executeTakeFirst();
		return Number(result.numDeletedRows);
	}
}
