import type { Kysely } from "kysely";
import type { Migration } from "kysely/migration";

/**
 * Password throttling per (account, source) (docs/threat-model.md, "Lockout as a weapon"; docs/decisions.md "Password
 * throttling"): wrong passwords from one source delay that source only, with a growing delay.
 * The account-wide ceiling stays on users.pw_* (0001). Portable column types only (see 0001).
 */
export function passwordThrottleMigration(_dialect: "sqlite" | "postgres"): Migration {
	return {
		async up(db: Kysely<unknown>) {
			await db.schema
				.createTable("password_throttle")
				.addColumn("user_id", "text", (col) => col.notNull().references("users.id").onDelete("cascade"))
				// src/core/source-key.ts: the IPv4 address, or the IPv6 /64.
				.addColumn("source_key", "text", (col) => col.notNull())
				// Consecutive wrong (or refused) passwords from this source, reset on success.
				.addColumn("failures", "integer", (col) => col.notNull())
				.addColumn("last_failure_at", "bigint", (col) => col.notNull())
				// No password from this source is checked before this time (epoch ms; 0: not blocked).
				.addColumn("blocked_until", "bigint", (col) => col.notNull())
				.addPrimaryKeyConstraint("password_throttle_pk", ["user_id", "source_key"])
				.execute();
		},
		async down(db: Kysely<unknown>) {
			await db.schema.dropTable("password_throttle").execute();
		},
	};
}
