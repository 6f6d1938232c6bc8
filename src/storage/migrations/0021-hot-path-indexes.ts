import type { Kysely } from "kysely";
import type { Migration } from "kysely/migration";

/**
 * Indexes for reads on the console's hot path (docs/benchmarks.md "Console hot path"):
 *
 * - audit_events(username, id): the account page shows each user their own latest security events
 *   on every load (`AuditLog.query({ username, limit: 10 })`: `WHERE username = ? ORDER BY id DESC
 *   LIMIT 10`). Without it that is a walk down the whole audit log until ten of the user's events
 *   are found, which grows with the log and is worst for the users with the fewest events.
 * - group_members(user_id): every policy decision reads the user's groups
 *   (`GroupStore.groupsOfUser`, `WHERE group_members.user_id = ?`); the table's key starts with
 *   group_id, so without it each decision (every login, every re-check, the account page) scanned
 *   every membership of every group.
 */
export function hotPathIndexesMigration(_dialect: "sqlite" | "postgres"): Migration {
	return {
		async up(db: Kysely<unknown>) {
			await db.schema.createIndex("audit_events_username_id").on("audit_events").columns(["username", "id"]).execute();
			await db.schema.createIndex("group_members_user").on("group_members").columns(["user_id"]).execute();
		},
		async down(db: Kysely<unknown>) {
			await db.schema.dropIndex("group_members_user").execute();
			await db.schema.dropIndex("audit_events_username_id").execute();
		},
	};
}
