import type { Kysely } from "kysely";
import type { Migration } from "kysely/migration";

/**
 * Directory users (LDAP / Active Directory; docs/identity.md).
 *
 * - users.source: where the first factor is checked: 'local' (the password hash here) or 'ldap'
 *   (a bind as the user against the directory). Set at creation, never changed by a login.
 * - users.directory_dn: the entry the last search found (shown to admins; the bind uses a fresh search).
 * - users.directory_disabled: the directory says the account is disabled (AD userAccountControl bit 2)
 *   or gone. Kept apart from users.disabled so a directory re-enable never undoes an admin's disable;
 *   a change bumps users.session_epoch in the same UPDATE (user-store.ts), so live sessions follow.
 */
export function directoryUsersMigration(_dialect: "sqlite" | "postgres"): Migration {
	return {
		async up(db: Kysely<unknown>) {
			await db.schema
				.alterTable("users")
				.addColumn("source", "text", (col) => col.notNull().defaultTo("local"))
				.execute();
			await db.schema.alterTable("users").addColumn("directory_dn", "text").execute();
			await db.schema
				.alterTable("users")
				.addColumn("directory_disabled", "integer", (col) => col.notNull().defaultTo(0))
				.execute();
		},
		async down(db: Kysely<unknown>) {
			await db.schema.alterTable("users").dropColumn("directory_disabled").execute();
			await db.schema.alterTable("users").dropColumn("directory_dn").execute();
			await db.schema.alterTable("users").dropColumn("source").execute();
		},
	};
}
