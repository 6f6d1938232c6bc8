import type { Kysely } from "kysely";
import type { Migration } from "kysely/migration";

/**
 * Staged 2FA rollout and the SSH "remember" window (docs/rollout.md, docs/decisions.md):
 *
 * - groups.enrol_deadline: epoch ms until which the group's force-2FA nudges members without a
 *   factor instead of stopping them; null = enforce now. (The global deadline lives in the
 *   two_factor settings row.)
 * - groups.remember_minutes: the group's SSH remember window; null = the global setting applies,
 *   0 = off for members. groups.remember_per_target: 1 = a grant only covers the server it was
 *   made for; null = the global setting applies.
 * - remembered_grants: one row per (user, source address, target) after a second factor on SSH.
 *   A grant is valid only while its stamped session_epoch and policy version are still current
 *   (the same two values the session gate compares), so every revocation that bumps either one
 *   ends every grant at once, on every node, without a delete to forget.
 */
export function rolloutMigration(_dialect: "sqlite" | "postgres"): Migration {
	return {
		async up(db: Kysely<unknown>) {
			await db.schema.alterTable("groups").addColumn("enrol_deadline", "bigint").execute();
			await db.schema.alterTable("groups").addColumn("remember_minutes", "integer").execute();
			await db.schema.alterTable("groups").addColumn("remember_per_target", "integer").execute();
			await db.schema
				.createTable("remembered_grants")
				.addColumn("id", "text", (col) => col.primaryKey())
				.addColumn("user_id", "text", (col) => col.notNull().references("users.id").onDelete("cascade"))
				.addColumn("source", "text", (col) => col.notNull())
				/** Server id, or "" when the grant is not scoped to one server. */
				.addColumn("target", "text", (col) => col.notNull())
				.addColumn("method", "text", (col) => col.notNull())
				.addColumn("created_at", "bigint", (col) => col.notNull())
				.addColumn("expires_at", "bigint", (col) => col.notNull())
				.addColumn("session_epoch", "bigint", (col) => col.notNull())
				.addColumn("policy_version", "bigint", (col) => col.notNull())
				.addUniqueConstraint("remembered_grants_key", ["user_id", "source", "target"])
				.execute();
		},
		async down(db: Kysely<unknown>) {
			await db.schema.dropTable("remembered_grants").execute();
			await db.schema.alterTable("groups").dropColumn("remember_per_target").execute();
			await db.schema.alterTable("groups").dropColumn("remember_minutes").execute();
			await db.schema.alterTable("groups").dropColumn("enrol_deadline").execute();
		},
	};
}
