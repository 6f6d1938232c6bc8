import type { Kysely } from "kysely";
import type { Migration } from "kysely/migration";

/**
 * REST API tokens and service accounts (docs/api.md).
 *
 * - users.service_account: 1 for an account that never logs in interactively (web or SSH) and
 *   acts only through API tokens minted on the host (`portcullis token create`).
 * - api_tokens: one row per token. Only the SHA-256 of the token is stored (token_hash, unique):
 *   the token is 256 random bits, so a fast hash is enough (no dictionary to search; a slow hash
 *   would only slow every API call). A token carries the owner's session epoch and the second
 *   factor proven when it was made, exactly like a web session, so the one live-policy check
 *   (flows/session-check.ts) applies to it on every call. Revocation is a conditional UPDATE of
 *   revoked_at, read on every call by every node: no cache.
 */
export function apiTokensMigration(_dialect: "sqlite" | "postgres"): Migration {
	return {
		async up(db: Kysely<unknown>) {
			await db.schema
				.alterTable("users")
				.addColumn("service_account", "integer", (col) => col.notNull().defaultTo(0))
				.execute();
			await db.schema
				.createTable("api_tokens")
				.addColumn("id", "text", (col) => col.primaryKey())
				.addColumn("user_id", "text", (col) => col.notNull().references("users.id").onDelete("cascade"))
				.addColumn("name", "text", (col) => col.notNull())
				.addColumn("token_hash", "text", (col) => col.notNull().unique())
				.addColumn("scopes", "text", (col) => col.notNull())
				.addColumn("created_at", "bigint", (col) => col.notNull())
				.addColumn("created_by", "text", (col) => col.notNull())
				.addColumn("expires_at", "bigint", (col) => col.notNull())
				.addColumn("session_epoch", "integer", (col) => col.notNull())
				.addColumn("second_factor_method", "text")
				.addColumn("last_used_at", "bigint")
				.addColumn("last_used_source", "text")
				.addColumn("revoked_at", "bigint")
				.execute();
			await db.schema.createIndex("api_tokens_user").on("api_tokens").column("user_id").execute();
		},
		async down(db: Kysely<unknown>) {
			await db.schema.dropTable("api_tokens").execute();
			await db.schema.alterTable("users").dropColumn("service_account").execute();
		},
	};
}
