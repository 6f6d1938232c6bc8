/**
 * The SSH "remember" window (migration 0014): after a second factor on SSH, a grant keyed by
 * user + source address + target lets later SSH logins skip the second factor until it expires.
 *
 * Revocation is one comparison, not a list of deletes: a grant is live only while its stamped
 * session_epoch equals the user's (bumped by disable, lockout, admin reset, password change and
 * "log out everywhere") and its stamped policy version equals the global one (bumped by triggers
 * on every policy change, group membership and factor added or removed: migration 0010), and
 * while the user is neither disabled nor locked. All of it is read in the one query below, so
 * every node sees a revocation at once.
 */
import type { Kysely, Selectable } from "kysely";
import type { Clock } from "../core/clock.ts";
import type { Random } from "../core/random.ts";
import { newId } from "../crypto/tokens.ts";
import type { Database, RememberedGrantsTable } from "./schema.ts";

export type RememberedGrantRow = Selectable<RememberedGrantsTable>;

export interface NewRememberedGrant {
	readonly userId: string;
	readonly source: string;
	/** Server id, or "" for a grant not scoped to one server. */
	readonly target: string;
	readonly method: string;
	readonly minutes: number;
	/** The user's session epoch and the policy version the second factor was proven under. */
	readonly sessionEpoch: number;
	readonly policyVersion: number;
}

export class RememberedGrantStore {
	constructor(
		private readonly db: Kysely<Database>,
		private readonly clock: Clock,
		private readonly random: Random,
	) {}

	/** Records (or renews) the grant for user + source + target: one upsert on the unique key. */
	async remember(grant: NewRememberedGrant): Promise<RememberedGrantRow> {
		const now = this.clock.now().getTime();
		const row: RememberedGrantRow = {
			id: newId(this.random),
			user_id: grant.userId,
			source: grant.source,
			target: grant.target,
			method: grant.method,
			created_at: now,
			expires_at: now + grant.minutes * 60_000,
			session_epoch: grant.sessionEpoch,
			policy_version: grant.policyVersion,
		};
		await this.db
			.insertInto("remembered_grants")
			.values(row)
			.onConflict((conflict) =>
				conflict.columns(["user_id", "source", "target"]).doUpdateSet({
					id: row.id,
					method: row.method,
					created_at: row.created_at,
					expires_at: row.expires_at,
					session_epoch: row.session_epoch,
					policy_version: row.policy_version,
				}),
			)
			.execute();
		return row;
	}

	/** The live grant for user + source + target, or undefined (expired, revoked, disabled, locked). */
	async findLive(userId: string, source: string, target: string): Promise<RememberedGrantRow | undefined> {
		const now = this.clock.now().getTime();
		return this.db
			.selectFrom("remembered_grants")
			.innerJoin("users", "users.id", "remembered_grants.user_id")
			.innerJoin("policy_version", (join) => join.on("policy_version.id", "=", 1))
			.selectAll("remembered_grants")
			.where("remembered_grants.user_id", "=", userId)
			.where("remembered_grants.source", "=", source)
			.where("remembered_grants.target", "=", target)
			.where("remembered_grants.expires_at", ">", now)
			.whereRef("remembered_grants.session_epoch", "=", "users.session_epoch")
			.whereRef("remembered_grants.policy_version", "=", "policy_version.version")
			.where("users.disabled", "=", 0)
			.where("users.tfa_locked_until", "<=", now)
			.executeTakeFirst();
	}

	/** The user's live grants (the account page), newest first. */
	async listLive(userId: string): Promise<RememberedGrantRow[]> {
		const now = this.clock.now().getTime();
		return this.db
			.selectFrom("remembered_grants")
			.innerJoin("users", "users.id", "remembered_grants.user_id")
			.innerJoin("policy_version", (join) => join.on("policy_version.id", "=", 1))
			.selectAll("remembered_grants")
			.where("remembered_grants.user_id", "=", userId)
			.where("remembered_grants.expires_at", ">", now)
			.whereRef("remembered_grants.session_epoch", "=", "users.session_epoch")
			.whereRef("remembered_grants.policy_version", "=", "policy_version.version")
			.orderBy("remembered_grants.created_at", "desc")
			.execute();
	}

	/** "Forget": the user removes one of their own grants. True when it existed. */
	async forget(userId: string, grantId: string): Promise<boolean> {
		const result = await this.db.deleteFrom("remembered_grants").where("id", "=", grantId).where("user_id", "=", userId).executeTakeFirst();
		return Number(result.numDeletedRows) > 0;
	}

	/** Housekeeping: dead rows (expired) are dropped; revoked ones are already inert. */
	async purgeExpired(): Promise<void> {
		await this.db.deleteFrom("remembered_grants").where("expires_at", "<=", this.clock.now().getTime()).execute();
	}
}
