import type { Kysely } from "kysely";
import type { Migration } from "kysely/migration";

/**
 * Enrolment guard (docs/threat-model.md, "Enrolment outliving its login"): a factor can only become active under the reset
 * generation and the login attempt (or web session) that began it.
 *
 * - users.tfa_generation: bumped by every admin reset, in the same transaction that deletes the
 *   factors and stores the enrolment-link requirement. A pending factor begun under an older
 *   generation never activates.
 * - factors.origin: "attempt:<id>" (forced enrolment during a login) or "session:<sha256>" (the
 *   account page); null for factors made by trusted in-process callers. Activation requires the
 *   same origin, still live.
 * - factors.generation: the user's generation when the enrolment began.
 */
export function enrolmentGuardMigration(_dialect: "sqlite" | "postgres"): Migration {
	return {
		async up(db: Kysely<unknown>) {
			await db.schema
				.alterTable("users")
				.addColumn("tfa_generation", "integer", (col) => col.notNull().defaultTo(0))
				.execute();
			await db.schema.alterTable("factors").addColumn("origin", "text").execute();
			await db.schema.alterTable("factors").addColumn("generation", "integer").execute();
		},
	};
}
