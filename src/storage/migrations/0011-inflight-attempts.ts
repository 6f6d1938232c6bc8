import type { Kysely } from "kysely";
import type { Migration } from "kysely/migration";

/**
 * Lockout accounting under concurrency (docs/decisions.md "Lockout accounting"): an answer being
 * checked is counted apart from the wrong answers already recorded, so parallel correct logins
 * never add up to a lock.
 *
 * - users.tfa_inflight / pw_inflight: answers reserved on the counter and not yet settled.
 * - users.tfa_inflight_at / pw_inflight_at: the time of the latest reservation (epoch ms). Every
 *   reservation is settled well within `security.inflight_lease_seconds`, so once the latest is
 *   older than the lease none of them is live any more (a node crashed): the count reads as 0.
 * - password_throttle.inflight / inflight_at: the same for the (account, source) pair.
 * Portable column types only (see 0001).
 */
export function inflightAttemptsMigration(_dialect: "sqlite" | "postgres"): Migration {
	return {
		async up(db: Kysely<unknown>) {
			for (const counter of ["tfa", "pw"]) {
				await db.schema
					.alterTable("users")
					.addColumn(`${counter}_inflight`, "integer", (col) => col.notNull().defaultTo(0))
					.execute();
				await db.schema
					.alterTable("users")
					.addColumn(`${counter}_inflight_at`, "bigint", (col) => col.notNull().defaultTo(0))
					.execute();
			}
			await db.schema
				.alterTable("password_throttle")
				.addColumn("inflight", "integer", (col) => col.notNull().defaultTo(0))
				.execute();
			await db.schema
				.alterTable("password_throttle")
				.addColumn("inflight_at", "bigint", (col) => col.notNull().defaultTo(0))
				.execute();
		},
		async down(db: Kysely<unknown>) {
			for (const column of ["inflight_at", "inflight"]) await db.schema.alterTable("password_throttle").dropColumn(column).execute();
			for (const column of ["tfa_inflight", "tfa_inflight_at", "pw_inflight", "pw_inflight_at"])
				await db.schema.alterTable("users").dropColumn(column).execute();
		},
	};
}
