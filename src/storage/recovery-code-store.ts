import type { Kysely } from "kysely";
import type { Clock } from "../core/clock.ts";
import type { Random } from "../core/random.ts";
import { newId } from "../crypto/tokens.ts";
import { inTransaction } from "./in-transaction.ts";
import type { Database } from "./schema.ts";

export class RecoveryCodeStore {
	constructor(
		private readonly db: Kysely<Database>,
		private readonly clock: Clock,
		private readonly random: Random,
	) {}

	/** Replaces the user's codes in one transaction: the old set stops working when the new one exists. */
	async replace(userId: string, hashes: readonly string[]): Promise<void> {
		const now = this.clock.now().getTime();
		await inTransaction(this.db, async (trx) => {
			await trx.deleteFrom("recovery_codes").where("user_id", "=", userId).execute();
			if (hashes.length > 0) {
				await trx
					.insertInto("recovery_codes")
					.values(hashes.map((code_hash) => ({ id: newId(this.random), user_id: userId, code_hash, created_at: now, used_at: null })))
					.execute();
			}
		});
	}

	async unused(userId: string): Promise<{ id: string; codeHash: string }[]> {
		const rows = await this.db
			.selectFrom("recovery_codes")
			.select(["id", "code_hash"])
			.where("user_id", "=", userId)
			.where("used_at", "is", null)
			.orderBy("created_at")
			.execute();
		return rows.map((row) => ({ id: row.id, codeHash: row.code_hash }));
	}

	async countUnused(userId: string): Promise<number> {
		const row = await this.db
			.selectFrom("recovery_codes")
			.select((eb) => eb.fn.countAll<number>().as("n"))
			.where("user_id", "=", userId)
			.where("used_at", "is", null)
			.executeTakeFirstOrThrow();
		return Number(row.n);
	}

	/** Single use (Decision 7): one conditional UPDATE; two parallel uses see one winner. */
	async consume(id: string): Promise<boolean> {
		const result = await this.db
			.updateTable("recovery_codes")
			.set({ used_at: this.clock.now().getTime() })
			.where("id", "=", id)
			.where("used_at", "is", null)
			.executeTakeFirst();
		return Number(result.numUpdatedRows) === 1;
	}

	async removeAll(userId: string): Promise<void> {
		await this.db.deleteFrom("recovery_codes").where("user_id", "=", userId).execute();
	}
}
