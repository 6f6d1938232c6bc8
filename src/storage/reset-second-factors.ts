/**
 * Admin reset of a user's 2FA (Decision 11), inside the caller's transaction: the link requirement
 * (or none) and a new reset generation are stored, the session epoch bumped, and every factor,
 * recovery code, web session and pending login attempt of the user is removed or failed, in one commit.
 */
import type { Transaction } from "kysely";
import type { Database } from "./schema.ts";

export async function resetSecondFactors(
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
