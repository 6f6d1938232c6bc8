import type { Kysely } from "kysely";
import type { Migration } from "kysely/migration";

/**
 * SSH public keys a user may present as the first factor on the gateway.
 * `public_key` is the base64 of the SSH wire-format public key blob (RFC 4253 §6.6), the value
 * the gateway compares byte for byte with the blob in USERAUTH_REQUEST (RFC 4252 §7).
 */
export function sshKeysMigration(_dialect: "sqlite" | "postgres"): Migration {
	return {
		async up(db: Kysely<unknown>) {
			await db.schema
				.createTable("user_keys")
				.addColumn("id", "text", (col) => col.primaryKey())
				.addColumn("user_id", "text", (col) => col.notNull().references("users.id").onDelete("cascade"))
				.addColumn("algo", "text", (col) => col.notNull())
				.addColumn("public_key", "text", (col) => col.notNull())
				.addColumn("fingerprint", "text", (col) => col.notNull())
				.addColumn("comment", "text", (col) => col.notNull())
				.addColumn("created_at", "bigint", (col) => col.notNull())
				.execute();
			// One row per (user, key): adding the same key twice is a conflict, not a duplicate. The same
			// key under two accounts is allowed (refusing it would tell one user about another's keys).
			await db.schema.createIndex("user_keys_user_fingerprint").on("user_keys").columns(["user_id", "fingerprint"]).unique().execute();
		},
		async down(db: Kysely<unknown>) {
			await db.schema.dropTable("user_keys").execute();
		},
	};
}
