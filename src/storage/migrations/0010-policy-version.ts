import { sql, type Kysely } from "kysely";
import type { Migration } from "kysely/migration";

/**
 * Instant revocation (docs/threat-model.md I7): one global policy version, bumped by database
 * triggers in the SAME transaction as every change to a global policy input, so no code path
 * (admin service, CLI, method settings, server grants, a future API) can forget the bump and a
 * reader that sees the new version also sees the change that caused it.
 *
 * Tables that bump it: settings (2FA settings, method backends), groups, group_members,
 * server_grants, servers (deletion), user_keys (deletion: a connection proven with that key),
 * factors (a factor becoming or ceasing to be active; TOTP/OTP counter updates do not bump, they
 * happen on every login). Per-user state (disable, lock, reset, password change) is not here:
 * it bumps users.session_epoch, which the same indexed read returns.
 *
 * A row lock on one row, not a sequence: nextval() is visible before commit, so a poller could
 * read the new version, re-check against the old (uncommitted) data and mark it as checked.
 *
 * web_sessions.policy_version: the version at which a web session last passed the full check
 * (docs/threat-model.md I7 "the policy version is stamped on each session"); 0 = never.
 */
const BUMPING: readonly { table: string; events: readonly ("INSERT" | "UPDATE" | "DELETE")[] }[] = [
	{ table: "settings", events: ["INSERT", "UPDATE", "DELETE"] },
	{ table: "groups", events: ["INSERT", "UPDATE", "DELETE"] },
	{ table: "group_members", events: ["INSERT", "UPDATE", "DELETE"] },
	{ table: "server_grants", events: ["INSERT", "UPDATE", "DELETE"] },
	{ table: "servers", events: ["DELETE"] },
	{ table: "user_keys", events: ["DELETE"] },
];

/** factors: only changes of what counts (status "active"), never the replay counters. */
const FACTOR_CONDITIONS: readonly { event: "INSERT" | "UPDATE OF status" | "DELETE"; when: string; suffix: string }[] = [
	{ event: "INSERT", when: "NEW.status = 'active'", suffix: "ins" },
	{ event: "UPDATE OF status", when: "OLD.status <> NEW.status", suffix: "upd" },
	{ event: "DELETE", when: "OLD.status = 'active'", suffix: "del" },
];

const BUMP = "UPDATE policy_version SET version = version + 1 WHERE id = 1";

export function policyVersionMigration(dialect: "sqlite" | "postgres"): Migration {
	return {
		async up(db: Kysely<unknown>) {
			await db.schema
				.createTable("policy_version")
				.addColumn("id", "integer", (col) => col.primaryKey())
				.addColumn("version", "bigint", (col) => col.notNull())
				.execute();
			await sql`INSERT INTO policy_version (id, version) VALUES (1, 1)`.execute(db);
			await db.schema
				.alterTable("web_sessions")
				.addColumn("policy_version", "bigint", (col) => col.notNull().defaultTo(0))
				.execute();

			if (dialect === "postgres") {
				await sql
					.raw(`CREATE OR REPLACE FUNCTION portcullis_bump_policy_version() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN ${BUMP}; RETURN NULL; END $$`)
					.execute(db);
				for (const { table, events } of BUMPING) {
					await sql
						.raw(
							`CREATE TRIGGER ${table}_policy_version AFTER ${events.join(" OR ")} ON ${table} FOR EACH STATEMENT EXECUTE FUNCTION portcullis_bump_policy_version()`,
						)
						.execute(db);
				}
				for (const { event, when, suffix } of FACTOR_CONDITIONS) {
					await sql
						.raw(
							`CREATE TRIGGER factors_policy_version_${suffix} AFTER ${event} ON factors FOR EACH ROW WHEN (${when}) EXECUTE FUNCTION portcullis_bump_policy_version()`,
						)
						.execute(db);
				}
			} else {
				for (const { table, events } of BUMPING) {
					for (const event of events) {
						await sql.raw(`CREATE TRIGGER ${table}_policy_version_${event.toLowerCase()} AFTER ${event} ON ${table} BEGIN ${BUMP}; END`).execute(db);
					}
				}
				for (const { event, when, suffix } of FACTOR_CONDITIONS) {
					await sql.raw(`CREATE TRIGGER factors_policy_version_${suffix} AFTER ${event} ON factors WHEN ${when} BEGIN ${BUMP}; END`).execute(db);
				}
			}
		},
		async down(db: Kysely<unknown>) {
			if (dialect === "postgres") {
				for (const { table } of BUMPING) await sql.raw(`DROP TRIGGER IF EXISTS ${table}_policy_version ON ${table}`).execute(db);
				for (const { suffix } of FACTOR_CONDITIONS) await sql.raw(`DROP TRIGGER IF EXISTS factors_policy_version_${suffix} ON factors`).execute(db);
				await sql`DROP FUNCTION IF EXISTS portcullis_bump_policy_version()`.execute(db);
			} else {
				for (const { table, events } of BUMPING)
					for (const event of events) await sql.raw(`DROP TRIGGER IF EXISTS ${table}_policy_version_${event.toLowerCase()}`).execute(db);
				for (const { suffix } of FACTOR_CONDITIONS) await sql.raw(`DROP TRIGGER IF EXISTS factors_policy_version_${suffix}`).execute(db);
			}
			await db.schema.alterTable("web_sessions").dropColumn("policy_version").execute();
			await db.schema.dropTable("policy_version").execute();
		},
	};
}
