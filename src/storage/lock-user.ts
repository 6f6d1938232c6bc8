/**
 * Takes the write lock on one user's row for the rest of the transaction and returns the row.
 *
 * A no-op UPDATE … RETURNING is the one portable statement that locks on both engines: on
 * PostgreSQL it holds the row lock (like SELECT … FOR UPDATE) until commit, so two nodes that guard
 * the same user's 2FA state serialise; on SQLite the first write of a transaction takes the
 * database's RESERVED lock, so even two processes on one file serialise (busy_timeout waits).
 * Every guarded 2FA transition (factor activate/remove, admin reset, enrolment-link use) starts
 * with this, then evaluates its guard on what it reads inside the same transaction.
 */
import type { Kysely, Transaction } from "kysely";
import type { Database } from "./schema.ts";
import type { UserRow } from "./user-store.ts";

export async function lockUser(trx: Transaction<Database> | Kysely<Database>, userId: string): Promise<UserRow | undefined> {
	return trx
		.updateTable("users")
		.set((eb) => ({ tfa_generation: eb.ref("tfa_generation") }))
		.where("id", "=", userId)
		.returningAll()
		.executeTakeFirst();
}
