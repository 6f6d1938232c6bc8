import type { Kysely } from "kysely";
import type { Migration } from "kysely/migration";

/**
 * Session recordings in the shared database (docs/operations.md "Recordings"): a recording is a
 * list of chunks, each a piece of the asciicast v2 text, written while the session runs (at most
 * `ssh.recording_flush_ms` behind), so any node can play any recording and a node that dies keeps
 * everything up to its last flush.
 *
 * - recording_chunks: (recording_id, seq) with seq 0, 1, 2 … without gaps; `hash` is
 *   sha256(previous hash ‖ seq ‖ data) (src/storage/recording-chain.ts), so an edited, removed or
 *   reordered chunk breaks the chain from that point.
 * - recordings.storage: "file" for recordings written before this migration (still played from
 *   `ssh.recordings_dir`), "db" for chunked ones. recordings.chunks / last_hash: the number of
 *   chunks and the hash of the last one, updated in the same transaction as each chunk insert, so
 *   a chunk removed from the end is detected too.
 * - recordings.last_at: time of the last chunk (retention for a recording that never ended).
 * - servers.recording_mode: "strict" | "best-effort" | null (follow the global setting).
 */
export function recordingChunksMigration(_dialect: "sqlite" | "postgres"): Migration {
	return {
		async up(db: Kysely<unknown>) {
			await db.schema
				.alterTable("recordings")
				.addColumn("storage", "text", (col) => col.notNull().defaultTo("file"))
				.execute();
			await db.schema
				.alterTable("recordings")
				.addColumn("chunks", "integer", (col) => col.notNull().defaultTo(0))
				.execute();
			await db.schema.alterTable("recordings").addColumn("last_hash", "text").execute();
			// When the last chunk was written: retention counts from here for a recording whose node died.
			await db.schema.alterTable("recordings").addColumn("last_at", "bigint").execute();
			await db.schema.alterTable("servers").addColumn("recording_mode", "text").execute();
			await db.schema
				.createTable("recording_chunks")
				.addColumn("recording_id", "text", (col) => col.notNull().references("recordings.id").onDelete("cascade"))
				.addColumn("seq", "integer", (col) => col.notNull())
				.addColumn("at", "bigint", (col) => col.notNull())
				.addColumn("data", "text", (col) => col.notNull())
				.addColumn("hash", "text", (col) => col.notNull())
				.addPrimaryKeyConstraint("recording_chunks_pk", ["recording_id", "seq"])
				.execute();
			await db.schema.createIndex("recordings_ended").on("recordings").columns(["ended_at"]).execute();
		},
		async down(db: Kysely<unknown>) {
			await db.schema.dropTable("recording_chunks").execute();
			await db.schema.dropIndex("recordings_ended").execute();
			await db.schema.alterTable("servers").dropColumn("recording_mode").execute();
			for (const column of ["last_at", "last_hash", "chunks", "storage"]) await db.schema.alterTable("recordings").dropColumn(column).execute();
		},
	};
}
