import type { Kysely } from "kysely";
import type { Clock } from "../core/clock.ts";
import type { Random } from "../core/random.ts";
import { newId } from "../crypto/tokens.ts";
import { PortcullisError } from "../core/errors.ts";
import type { AuditEvent, AuditLog } from "./audit-log.ts";
import { inTransaction } from "./in-transaction.ts";
import type { Database } from "./schema.ts";

export class RecoveryCodeStore {
	constructor(
		private readonly db: Kysely<Database>,
		private readonly clock: Clock,
		private readonly random: Random,
		/** Writes a replacement's audit event inside the replacement's transaction. */
		private readonly audit?: AuditLog,
	) {}

	/**
	 * Replaces the user's codes in one transaction: the old set stops working when the new one
	 * exists. `event`, when given, is written in the same transaction (the new set and its event commit together).
	 */
	async replace(userId: string, hashes: readonly string[], event?: AuditEvent): Promise<void> {
		const now = this.clock.now().getTime();
		await inTransaction(this.db, async (trx) => {
			await trx.deleteFrom("recovery_codes").where("user_id", "=", userId).execute();
			if (hashes.length > 0) {
				await trx
					.insertInto("recovery_codes")
					.values(hashes.map((code_hash) => ({ id: newId(this.random), user_id: userId, code_hash, created_at: now, used_at: null })))
					.execute();
			}
			if (event !== undefined) {
				if (this.audit === undefined) throw new PortcullisError("ERR_INTERNAL", "an audited replacement needs the audit log");
				await this.audit.bound(trx).write(event);
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
