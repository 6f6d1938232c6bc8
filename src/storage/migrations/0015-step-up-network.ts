import { sql, type Kysely } from "kysely";
import type { Migration } from "kysely/migration";

/**
 * Per-server step-up and network rules (docs/decisions.md "Per-server step-up", "Network rules").
 *
 * - servers.require_2fa / servers.fresh_minutes: the server requires a second factor proven by the
 *   connection itself for every relay to it, optionally within the last N minutes.
 * - login_attempts.target_server: the server a login named (SSH `alice+db-prod`); every
 *   re-evaluation of the attempt's policy includes that server's rule again.
 * - network_rules: trusted networks per scope ('' = global, else a group id) and mode; at most one
 *   list per (scope, mode).
 *
 * Both policy inputs bump policy_version by trigger in the changing transaction, like every other
 * policy input (migration 0010), so live sessions and relays are re-checked at once.
 */
const BUMP = "UPDATE policy_version SET version = version + 1 WHERE id = 1";

export function stepUpNetworkMigration(dialect: "sqlite" | "postgres"): Migration {
	return {
		async up(db: Kysely<unknown>) {
			await db.schema
				.alterTable("servers")
				.addColumn("require_2fa", "integer", (col) => col.notNull().defaultTo(0))
				.execute();
			await db.schema.alterTable("servers").addColumn("fresh_minutes", "integer").execute();
			await db.schema.alterTable("login_attempts").addColumn("target_server", "text").execute();
			await db.schema
				.createTable("network_rules")
				.addColumn("scope", "text", (col) => col.notNull())
				.addColumn("mode", "text", (col) => col.notNull())
				.addColumn("trusted", "text", (col) => col.notNull())
				.addColumn("updated_at", "bigint", (col) => col.notNull())
				.addPrimaryKeyConstraint("network_rules_pk", ["scope", "mode"])
				.execute();
			if (dialect === "postgres") {
				await sql
					.raw(
						"CREATE TRIGGER network_rules_policy_version AFTER INSERT OR UPDATE OR DELETE ON network_rules FOR EACH STATEMENT EXECUTE FUNCTION portcullis_bump_policy_version()",
					)
					.execute(db);
				await sql
					.raw(
						"CREATE TRIGGER servers_step_up_policy_version AFTER UPDATE OF require_2fa, fresh_minutes ON servers FOR EACH STATEMENT EXECUTE FUNCTION portcullis_bump_policy_version()",
					)
					.execute(db);
			} else {
				for (const event of ["INSERT", "UPDATE", "DELETE"]) {
					await sql.raw(`CREATE TRIGGER network_rules_policy_version_${event.toLowerCase()} AFTER ${event} ON network_rules BEGIN ${BUMP}; END`).execute(db);
				}
				await sql.raw(`CREATE TRIGGER servers_step_up_policy_version AFTER UPDATE OF require_2fa, fresh_minutes ON servers BEGIN ${BUMP}; END`).execute(db);
			}
		},
		async down(db: Kysely<unknown>) {
			if (dialect === "postgres") {
				await sql.raw("DROP TRIGGER IF EXISTS servers_step_up_policy_version ON servers").execute(db);
			} else {
				await sql.raw("DROP TRIGGER IF EXISTS servers_step_up_policy_version").execute(db);
			}
			await db.schema.dropTable("network_rules").execute();
			await db.schema.alterTable("login_attempts").dropColumn("target_server").execute();
			await db.schema.alterTable("servers").dropColumn("fresh_minutes").execute();
			await db.schema.alterTable("servers").dropColumn("require_2fa").execute();
		},
	};
}
