import type { Kysely } from "kysely";
import type { Migration } from "kysely/migration";

/**
 * SFTP content capture, opt-in per server (docs/ssh-relay.md "Content capture"):
 *
 * - servers.capture_sftp_content: 1 = the content of files read and written through relayed SFTP
 *   (the relayed subsystem and the gateway's SFTP view) is stored; 0 (the default) = never.
 * - recordings.kind: "session" (terminal recordings, asciicast) or "sftp-file" (one opened file's
 *   captured content). A capture is a recording with the same chunk chain (migration 0013), so
 *   retention, verification and the admin download apply to it unchanged.
 */
export function sftpCaptureMigration(_dialect: "sqlite" | "postgres"): Migration {
	return {
		async up(db: Kysely<unknown>) {
			await db.schema
				.alterTable("servers")
				.addColumn("capture_sftp_content", "integer", (col) => col.notNull().defaultTo(0))
				.execute();
			await db.schema
				.alterTable("recordings")
				.addColumn("kind", "text", (col) => col.notNull().defaultTo("session"))
				.execute();
		},
		async down(db: Kysely<unknown>) {
			await db.schema.alterTable("recordings").dropColumn("kind").execute();
			await db.schema.alterTable("servers").dropColumn("capture_sftp_content").execute();
		},
	};
}
