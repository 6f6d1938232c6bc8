/**
 * Runs `work` in the caller's transaction when `db` already is one (a store bound to a unit of
 * work, storage/unit-of-work.ts), or in a new transaction of its own. Kysely cannot nest
 * transactions, and a store's multi-statement write must stay atomic either way.
 */
import type { Kysely, Transaction } from "kysely";
import type { Database } from "./schema.ts";

export function inTransaction<T>(db: Kysely<Database>, work: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
	if (db.isTransaction) return work(db as Transaction<Database>);
	return db.transaction().execute(work);
}
