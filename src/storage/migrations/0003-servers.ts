import type { Kysely } from "kysely";
import type { Migration } from "kysely/migration";

/**
 * Servers reachable through the gateway, the groups they are granted to, and the session
 * recordings. Portable column types only (see 0001-initial.ts).
 */
export function serversMigration(_dialect: "sqlite" | "postgres"): Migration {
	return {
		async up(db: Kysely<unknown>) {
			await db.schema
				.createTable("servers")
				.addColumn("id", "text", (col) => col.primaryKey())
				.addColumn("name", "text", (col) => col.notNull().unique())
				.addColumn("host", "text", (col) => col.notNull())
				.addColumn("port", "integer", (col) => col.notNull())
				.addColumn("login_user", "text", (col) => col.notNull())
				.addColumn("description", "text", (col) => col.notNull().defaultTo(""))
				// Per-server password or private key, sealed with the app's SecretBox, context "server:<id>".
				.addColumn("credential_enc", "text")
				// Trust on first use: the target's host key (base64 of the SSH wire blob), null until first contact.
				.addColumn("host_key", "text")
				.addColumn("created_at", "bigint", (col) => col.notNull())
				.execute();

			await db.schema
				.createTable("server_grants")
				.addColumn("server_id", "text", (col) => col.notNull().references("servers.id").onDelete("cascade"))
				.addColumn("group_id", "text", (col) => col.notNull().references("groups.id").onDelete("cascade"))
				.addPrimaryKeyConstraint("server_grants_pk", ["server_id", "group_id"])
				.execute();
			await db.schema.createIndex("server_grants_group").on("server_grants").columns(["group_id"]).execute();

			await db.schema
				.createTable("recordings")
				.addColumn("id", "text", (col) => col.primaryKey())
				// A recording outlives its user (audit evidence): the username column keeps the name.
				.addColumn("user_id", "text", (col) => col.references("users.id").onDelete("set null"))
				// The last target entered from this session (null: the user never left the menu).
				.addColumn("server_id", "text", (col) => col.references("servers.id").onDelete("set null"))
				.addColumn("username", "text", (col) => col.notNull())
				// JSON array of the server names visited during the session, in order.
				.addColumn("servers", "text", (col) => col.notNull().defaultTo("[]"))
				.addColumn("started_at", "bigint", (col) => col.notNull())
				.addColumn("ended_at", "bigint")
				.addColumn("file", "text", (col) => col.notNull())
				.addColumn("bytes", "bigint", (col) => col.notNull().defaultTo(0))
				.execute();
			await db.schema.createIndex("recordings_started").on("recordings").columns(["started_at"]).execute();
		},
		async down(db: Kysely<unknown>) {
			for (const table of ["recordings", "server_grants", "servers"]) await db.schema.dropTable(table).execute();
		},
	};
}
