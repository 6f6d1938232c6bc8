import { sql, type Kysely } from "kysely";
import type { Migration } from "kysely/migration";

/**
 * Tamper evidence for the audit log (storage/audit-chain.ts, docs/operations.md "Audit chain and
 * `portcullis audit verify`"): every event written from now on carries its position in one global
 * chain (`chain_seq`), the hash of the event before it (`prev_hash`) and its own keyed hash (`hash`).
 *
 * `audit_chain` is one row (id 1): the chain's head (last position and hash). Writers take it with
 * an UPDATE, which holds its row lock until commit on PostgreSQL (SQLite has one writer anyway), so
 * writers from every node append in one order. `legacy_max_id` is the highest event id written
 * before this migration: those events stay unchained (the key is not known here), and the head
 * starts from `genesis:<legacy_max_id>`, so the boundary itself is covered by the first link.
 */
export function auditChainMigration(_dialect: "sqlite" | "postgres"): Migration {
	return {
		async up(db: Kysely<unknown>) {
			// One column per statement: SQLite's ALTER TABLE adds one at a time.
			await db.schema.alterTable("audit_events").addColumn("chain_seq", "bigint").execute();
			await db.schema.alterTable("audit_events").addColumn("prev_hash", "text").execute();
			await db.schema.alterTable("audit_events").addColumn("hash", "text").execute();
			await db.schema.createIndex("audit_events_chain_seq").unique().on("audit_events").columns(["chain_seq"]).execute();
			await db.schema
				.createTable("audit_chain")
				.addColumn("id", "integer", (col) => col.primaryKey())
				.addColumn("seq", "bigint", (col) => col.notNull())
				.addColumn("hash", "text", (col) => col.notNull())
				.addColumn("legacy_max_id", "bigint", (col) => col.notNull())
				.execute();
			await sql`INSERT INTO audit_chain (id, seq, hash, legacy_max_id)
				SELECT 1, 0, 'genesis:' || CAST(COALESCE(MAX(id), 0) AS TEXT), COALESCE(MAX(id), 0) FROM audit_events`.execute(db);
		},
		async down(db: Kysely<unknown>) {
			await db.schema.dropTable("audit_chain").execute();
			await db.schema.dropIndex("audit_events_chain_seq").execute();
			for (const column of ["hash", "prev_hash", "chain_seq"]) await db.schema.alterTable("audit_events").dropColumn(column).execute();
		},
	};
}
