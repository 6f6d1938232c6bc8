import { sql, type Kysely } from "kysely";
import type { Migration } from "kysely/migration";

/**
 * WebAuthn: server-side challenges and SSH browser approvals. Credentials
 * themselves are rows of `factors` (method "webauthn", public_id = credential id in base64url,
 * the sealed public key in secret_enc, the signature counter in last_used_counter).
 * Portable column types only (see 0001-initial.ts).
 */
export function webauthnMigration(_dialect: "sqlite" | "postgres"): Migration {
	return {
		async up(db: Kysely<unknown>) {
			// One challenge = one ceremony (W3C WebAuthn L2 §13.4.3: random, ≥ 16 bytes, used once), scoped
			// to one purpose (Teleport RFD 155): a login challenge can never approve an SSH login or register a key.
			await db.schema
				.createTable("webauthn_challenges")
				.addColumn("id", "text", (col) => col.primaryKey())
				.addColumn("user_id", "text", (col) => col.notNull().references("users.id").onDelete("cascade"))
				// 'register' | 'login' | 'step-up' | 'ssh-approval'
				.addColumn("scope", "text", (col) => col.notNull())
				// The login attempt it belongs to ('login', 'step-up', 'ssh-approval'; forced enrolment), else null.
				.addColumn("attempt_id", "text")
				// The SSH approval it may approve ('ssh-approval' only).
				.addColumn("approval_id", "text")
				.addColumn("challenge", "text", (col) => col.notNull())
				.addColumn("created_at", "bigint", (col) => col.notNull())
				.addColumn("expires_at", "bigint", (col) => col.notNull())
				.addColumn("used", "integer", (col) => col.notNull().defaultTo(0))
				.execute();
			await db.schema.createIndex("webauthn_challenges_user").on("webauthn_challenges").columns(["user_id", "scope"]).execute();
			await db.schema.createIndex("webauthn_challenges_expiry").on("webauthn_challenges").columns(["expires_at"]).execute();

			// docs/product-decisions.md Decision 6: a one-time approval bound to one SSH login attempt (user, source
			// address, expiry). Only the SHA-256 of the link's token is stored.
			await db.schema
				.createTable("webauthn_approvals")
				.addColumn("id", "text", (col) => col.primaryKey())
				.addColumn("token_hash", "text", (col) => col.notNull().unique())
				.addColumn("user_id", "text", (col) => col.notNull().references("users.id").onDelete("cascade"))
				.addColumn("attempt_id", "text", (col) => col.notNull())
				.addColumn("source", "text", (col) => col.notNull())
				.addColumn("created_at", "bigint", (col) => col.notNull())
				.addColumn("expires_at", "bigint", (col) => col.notNull())
				// 'pending' → 'approved' → 'consumed'; or 'denied' | 'superseded' | 'expired'
				.addColumn("status", "text", (col) => col.notNull())
				.addColumn("factor_id", "text")
				.addColumn("decided_at", "bigint")
				.addColumn("decided_from", "text")
				.execute();
			await db.schema.createIndex("webauthn_approvals_attempt").on("webauthn_approvals").columns(["attempt_id"]).execute();

			// A credential id belongs to at most one account (w3c/webauthn §7.1 step 22, docs/threat-model.md, WebAuthn):
			// enforced by the database, so two parallel registrations cannot both win. Partial index
			// (SQLite ≥ 3.8 and PostgreSQL): other methods' public ids are not affected.
			await sql`CREATE UNIQUE INDEX factors_webauthn_credential ON factors (public_id) WHERE method = 'webauthn'`.execute(db);
		},
		async down(db: Kysely<unknown>) {
			await sql`DROP INDEX IF EXISTS factors_webauthn_credential`.execute(db);
			for (const table of ["webauthn_approvals", "webauthn_challenges"]) await db.schema.dropTable(table).execute();
		},
	};
}
