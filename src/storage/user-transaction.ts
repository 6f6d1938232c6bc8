/**
 * One transaction per guarded 2FA transition (docs/threat-model.md, "Read-then-delete races"): lock the user's row first (lock-user.ts),
 * then read the guard's inputs and make the change with stores bound to the same transaction.
 * Two nodes (or two requests) racing on one user's factors therefore serialise, and a guard such as
 * "a forced user keeps one usable factor" is decided on what the transaction itself sees.
 */
import type { Kysely, Transaction } from "kysely";
import type { Clock } from "../core/clock.ts";
import type { Random } from "../core/random.ts";
import { FactorStore } from "./factor-store.ts";
import { GroupStore } from "./group-store.ts";
import { lockUser } from "./lock-user.ts";
import { RecoveryCodeStore } from "./recovery-code-store.ts";
import type { Database } from "./schema.ts";
import { SettingsStore } from "./settings-store.ts";
import { UserStore, type UserRow } from "./user-store.ts";

export interface LockedUser {
	/** The user's row as locked by this transaction. */
	readonly user: UserRow;
	readonly trx: Transaction<Database>;
	readonly settings: SettingsStore;
	readonly groups: GroupStore;
	/** Bound to the transaction: use its reads and remove(); insert/activate open their own transaction. */
	readonly factors: FactorStore;
	readonly recoveryCodes: RecoveryCodeStore;
	readonly users: UserStore;
	/**
	 * Admin reset of the user's 2FA, inside this transaction: the link requirement (or none) and a new
	 * reset generation are stored, the session epoch bumped, and every factor, recovery code, web
	 * session and pending login attempt of the user is removed or failed, in one commit.
	 */
	resetSecondFactors(link: { readonly tokenHash: string; readonly expiresAt: number } | null): Promise<void>;
}

export class UserTransactions {
	constructor(
		private readonly db: Kysely<Database>,
		private readonly clock: Clock,
		private readonly random: Random,
	) {}

	/** Runs `change` with the user's row locked; undefined when the user does not exist. A throw rolls back. */
	async withUserLocked<T>(userId: string, change: (locked: LockedUser) => Promise<T>): Promise<T | undefined> {
		return this.db.transaction().execute(async (trx) => {
			const user = await lockUser(trx, userId);
			if (user === undefined) return undefined;
			return change({
				user,
				trx,
				settings: new SettingsStore(trx),
				groups: new GroupStore(trx, this.clock, this.random),
				factors: new FactorStore(trx, this.clock, this.random),
				recoveryCodes: new RecoveryCodeStore(trx, this.clock, this.random),
				users: new UserStore(trx, this.clock, this.random),
				resetSecondFactors: (link) => resetSecondFactors(trx, userId, link),
			});
		});
	}
}

async function resetSecondFactors(
	trx: Transaction<Database>,
	userId: string,
	link: { readonly tokenHash: string; readonly expiresAt: number } | null,
): Promise<void> {
	await trx
		.updateTable("users")
		.set((eb) => ({
			enroll_token_hash: link?.tokenHash ?? null,
			enroll_token_expires_at: link?.expiresAt ?? null,
			ssh_method: null,
			tfa_generation: eb("tfa_generation", "+", 1),
			session_epoch: eb("session_epoch", "+", 1),
		}))
		.where("id", "=", userId)
		.execute();
	await trx.deleteFrom("factors").where("user_id", "=", userId).execute();
	await trx.deleteFrom("recovery_codes").where("user_id", "=", userId).execute();
	await trx.deleteFrom("web_sessions").where("user_id", "=", userId).execute();
	await trx.updateTable("login_attempts").set({ status: "failed" }).where("user_id", "=", userId).where("status", "=", "pending").execute();
}
