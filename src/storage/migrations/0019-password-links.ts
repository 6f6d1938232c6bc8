import type { Kysely } from "kysely";
import type { Migration } from "kysely/migration";

/**
 * One-time password links (an admin resets a password from the console without knowing
 * or choosing it). The SHA-256 of the token and its expiry live on the user's row, like the admin
 * 2FA reset's enrolment link (enroll_token_*): at most one live link per user, a new one replaces
 * it, and using it clears it in the same conditional UPDATE that sets the password.
 */
export function passwordLinksMigration(_dialect: "sqlite" | "postgres"): Migration {
	return {
		async up(db: Kysely<unknown>) {
			await db.schema.alterTable("users").addColumn("pw_link_hash", "text").execute();
			await db.schema.alterTable("users").addColumn("pw_link_expires_at", "bigint").execute();
		},
		async down(db: Kysely<unknown>) {
			await db.schema.alterTable("users").dropColumn("pw_link_expires_at").execute();
			await db.schema.alterTable("users").dropColumn("pw_link_hash").execute();
		},
	};
}
