import { sql, type Kysely } from "kysely";
import type { Migration } from "kysely/migration";

/** Initial schema. The only dialect branch is the audit log's identity column. */
export function initialMigration(dialect: "sqlite" | "postgres"): Migration {
	return {
		async up(db: Kysely<unknown>) {
			await db.schema
				.createTable("users")
				.addColumn("id", "text", (col) => col.primaryKey())
				.addColumn("username", "text", (col) => col.notNull().unique())
				.addColumn("password_hash", "text")
				.addColumn("is_admin", "integer", (col) => col.notNull().defaultTo(0))
				.addColumn("disabled", "integer", (col) => col.notNull().defaultTo(0))
				.addColumn("must_change_password", "integer", (col) => col.notNull().defaultTo(0))
				.addColumn("ssh_method", "text")
				.addColumn("created_at", "bigint", (col) => col.notNull())
				.addColumn("session_epoch", "integer", (col) => col.notNull().defaultTo(0))
				.addColumn("tfa_failures", "integer", (col) => col.notNull().defaultTo(0))
				.addColumn("tfa_window_start", "bigint", (col) => col.notNull().defaultTo(0))
				.addColumn("tfa_locked_until", "bigint", (col) => col.notNull().defaultTo(0))
				.addColumn("tfa_lock_count", "integer", (col) => col.notNull().defaultTo(0))
				.addColumn("pw_failures", "integer", (col) => col.notNull().defaultTo(0))
				.addColumn("pw_window_start", "bigint", (col) => col.notNull().defaultTo(0))
				.addColumn("pw_locked_until", "bigint", (col) => col.notNull().defaultTo(0))
				.addColumn("enroll_token_hash", "text")
				.addColumn("enroll_token_expires_at", "bigint")
				.execute();

			await db.schema
				.createTable("groups")
				.addColumn("id", "text", (col) => col.primaryKey())
				.addColumn("name", "text", (col) => col.notNull().unique())
				.addColumn("force_2fa", "integer", (col) => col.notNull().defaultTo(0))
				.addColumn("allowed_methods", "text")
				.addColumn("created_at", "bigint", (col) => col.notNull())
				.execute();

			await db.schema
				.createTable("group_members")
				.addColumn("group_id", "text", (col) => col.notNull().references("groups.id").onDelete("cascade"))
				.addColumn("user_id", "text", (col) => col.notNull().references("users.id").onDelete("cascade"))
				.addPrimaryKeyConstraint("group_members_pk", ["group_id", "user_id"])
				.execute();

			await db.schema
				.createTable("settings")
				.addColumn("key", "text", (col) => col.primaryKey())
				.addColumn("value", "text", (col) => col.notNull())
				.execute();

			await db.schema
				.createTable("factors")
				.addColumn("id", "text", (col) => col.primaryKey())
				.addColumn("user_id", "text", (col) => col.notNull().references("users.id").onDelete("cascade"))
				.addColumn("method", "text", (col) => col.notNull())
				.addColumn("label", "text", (col) => col.notNull())
				.addColumn("status", "text", (col) => col.notNull())
				.addColumn("secret_enc", "text")
				.addColumn("public_id", "text")
				.addColumn("last_used_counter", "bigint")
				.addColumn("created_at", "bigint", (col) => col.notNull())
				.addColumn("verified_at", "bigint")
				.addColumn("last_used_at", "bigint")
				.addColumn("pending_expires_at", "bigint")
				.execute();
			await db.schema.createIndex("factors_user").on("factors").columns(["user_id", "status"]).execute();

			await db.schema
				.createTable("recovery_codes")
				.addColumn("id", "text", (col) => col.primaryKey())
				.addColumn("user_id", "text", (col) => col.notNull().references("users.id").onDelete("cascade"))
				.addColumn("code_hash", "text", (col) => col.notNull())
				.addColumn("created_at", "bigint", (col) => col.notNull())
				.addColumn("used_at", "bigint")
				.execute();
			await db.schema.createIndex("recovery_codes_user").on("recovery_codes").columns(["user_id"]).execute();

			await db.schema
				.createTable("login_attempts")
				.addColumn("id", "text", (col) => col.primaryKey())
				.addColumn("user_id", "text", (col) => col.notNull().references("users.id").onDelete("cascade"))
				.addColumn("channel", "text", (col) => col.notNull())
				.addColumn("purpose", "text", (col) => col.notNull())
				.addColumn("source", "text", (col) => col.notNull())
				.addColumn("created_at", "bigint", (col) => col.notNull())
				.addColumn("expires_at", "bigint", (col) => col.notNull())
				.addColumn("status", "text", (col) => col.notNull())
				.addColumn("required_2fa", "integer", (col) => col.notNull())
				.addColumn("method_done", "text")
				.addColumn("challenge_method", "text")
				.addColumn("challenge_json", "text")
				.addColumn("challenge_used", "integer", (col) => col.notNull().defaultTo(0))
				.execute();

			await db.schema
				.createTable("web_sessions")
				.addColumn("id_hash", "text", (col) => col.primaryKey())
				.addColumn("user_id", "text", (col) => col.notNull().references("users.id").onDelete("cascade"))
				.addColumn("attempt_id", "text")
				.addColumn("state", "text", (col) => col.notNull())
				.addColumn("second_factor_method", "text")
				.addColumn("step_up_at", "bigint")
				.addColumn("session_epoch", "integer", (col) => col.notNull())
				.addColumn("created_at", "bigint", (col) => col.notNull())
				.addColumn("last_seen_at", "bigint", (col) => col.notNull())
				.addColumn("expires_at", "bigint", (col) => col.notNull())
				.addColumn("source", "text", (col) => col.notNull())
				.execute();
			await db.schema.createIndex("web_sessions_user").on("web_sessions").columns(["user_id"]).execute();

			let audit = db.schema.createTable("audit_events");
			audit =
				dialect === "postgres"
					? audit.addColumn("id", "bigint", (col) => col.primaryKey().generatedAlwaysAsIdentity())
					: audit.addColumn("id", "integer", (col) => col.primaryKey().autoIncrement());
			await audit
				.addColumn("at", "bigint", (col) => col.notNull())
				.addColumn("event", "text", (col) => col.notNull())
				.addColumn("outcome", "text", (col) => col.notNull())
				.addColumn("user_id", "text")
				.addColumn("username", "text")
				.addColumn("actor", "text")
				.addColumn("channel", "text")
				.addColumn("method", "text")
				.addColumn("source", "text")
				.addColumn("detail", "text")
				.execute();
			await db.schema.createIndex("audit_events_at").on("audit_events").columns(["at"]).execute();
			await sql`select 1`.execute(db);
		},
		async down(db: Kysely<unknown>) {
			for (const table of ["audit_events", "web_sessions", "login_attempts", "recovery_codes", "factors", "settings", "group_members", "groups", "users"]) {
				await db.schema.dropTable(table).execute();
			}
		},
	};
}
