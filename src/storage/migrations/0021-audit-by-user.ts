import type { Kysely } from "kysely";
import type { Migration } from "kysely/migration";

/**
 * The account page shows each user their own latest security events on every load
 * (`AuditLog.query({ username, limit: 10 })`: `WHERE username = ? ORDER BY id DESC LIMIT 10`).
 * Without an index that is a walk down the whole audit log until ten of the user's events are
 * found, which grows with the log and is worst for the users with the fewest events. With
 * (username, id) both engines read exactly the ten rows (docs/benchmarks.md "Console hot path").
 */
export function auditByUserMigration(_dialect: "sqlite" | "postgres"): Migration {
	return {
		async up(db: Kysely<unknown>) {
			await db.schema.createIndex("audit_events_username_id").on("audit_events").columns(["username", "id"]).execute();
		},
		async down(db: Kysely<unknown>) {
			await db.schema.dropIndex("audit_events_username_id").execute();
		},
	};
}
