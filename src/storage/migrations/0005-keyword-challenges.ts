import { sql, type Kysely } from "kysely";
import type { Migration } from "kysely/migration";

/**
 * Access Keyword challenges are state, not views (docs/threat-model.md, "Access Keyword re-roll"): the positions asked of a
 * user are drawn once, stored here, and shown again by every prompt (web, SSH, any node) until
 * answered correctly or expired. One row per user: the primary key is what makes "draw only if
 * none is live" a single conditional INSERT on both engines. Portable column types only.
 *
 * The same migration keeps existing installations as they were when the default changed: the
 * keyword is no longer enabled on a NEW installation (docs/decisions.md), so a database that
 * already has users and never stored its own 2FA settings gets the old defaults written down.
 */
export const PRE_0005_TWO_FACTOR_DEFAULTS = { forceTwoFactor: false, enabledMethods: ["totp", "access-keyword", "recovery-code"] } as const;

export function keywordChallengesMigration(_dialect: "sqlite" | "postgres"): Migration {
	return {
		async up(db: Kysely<unknown>) {
			await db.schema
				.createTable("keyword_challenges")
				.addColumn("user_id", "text", (col) => col.primaryKey().references("users.id").onDelete("cascade"))
				// A fresh random id per draw: an attempt's stored state names the draw it showed.
				.addColumn("id", "text", (col) => col.notNull())
				// The keyword factor the positions refer to (a replaced keyword makes them meaningless).
				.addColumn("factor_id", "text", (col) => col.notNull())
				// JSON array of 1-based positions, e.g. [2,5,9] (never the characters).
				.addColumn("positions", "text", (col) => col.notNull())
				.addColumn("created_at", "bigint", (col) => col.notNull())
				.addColumn("expires_at", "bigint", (col) => col.notNull())
				.execute();

			const users = await sql<{ n: number | string }>`SELECT COUNT(*) AS n FROM users`.execute(db);
			const existing = Number(users.rows[0]?.n ?? 0) > 0;
			const stored = await sql<{ key: string }>`SELECT key FROM settings WHERE key = 'two_factor'`.execute(db);
			if (existing && stored.rows.length === 0) {
				await sql`INSERT INTO settings (key, value) VALUES ('two_factor', ${JSON.stringify(PRE_0005_TWO_FACTOR_DEFAULTS)})`.execute(db);
			}
		},
		async down(db: Kysely<unknown>) {
			await db.schema.dropTable("keyword_challenges").execute();
		},
	};
}
