/**
 * The global policy version (migration 0010): one row, bumped by triggers in the same transaction
 * as every global policy input change. Reading it is the cheap "has anything changed?" test that
 * lets a live session skip the full policy evaluation on every channel open and web request.
 */
import type { Kysely } from "kysely";
import type { Database } from "./schema.ts";

/** What one indexed read tells about a session's user: the global version and the per-user revocation state. */
export interface PolicySnapshot {
	readonly version: number;
	readonly sessionEpoch: number;
	readonly disabled: boolean;
	readonly tfaLockedUntil: number;
}

export class PolicyVersionStore {
	constructor(private readonly db: Kysely<Database>) {}

	async current(): Promise<number> {
		const row = await this.db.selectFrom("policy_version").select("version").where("id", "=", 1).executeTakeFirstOrThrow();
		return Number(row.version);
	}

	/** Version and the user's revocation columns in one query (primary-key lookups); undefined when the user is gone. */
	async snapshot(userId: string): Promise<PolicySnapshot | undefined> {
		const row = await this.db
			.selectFrom("users")
			.innerJoin("policy_version", (join) => join.on("policy_version.id", "=", 1))
			.select(["policy_version.version", "users.session_epoch", "users.disabled", "users.directory_disabled", "users.tfa_locked_until"])
			.where("users.id", "=", userId)
			.executeTakeFirst();
		return row === undefined ? undefined : toSnapshot(row);
	}

	/** The same for every user connected to a node, one query per 500 users (the live-policy poll). */
	async snapshots(userIds: readonly string[]): Promise<Map<string, PolicySnapshot>> {
		const result = new Map<string, PolicySnapshot>();
		for (let start = 0; start < userIds.length; start += 500) {
			const rows = await this.db
				.selectFrom("users")
				.innerJoin("policy_version", (join) => join.on("policy_version.id", "=", 1))
				.select(["users.id", "policy_version.version", "users.session_epoch", "users.disabled", "users.directory_disabled", "users.tfa_locked_until"])
				.where("users.id", "in", userIds.slice(start, start + 500))
				.execute();
			for (const row of rows) result.set(row.id, toSnapshot(row));
		}
		return result;
	}
}

function toSnapshot(row: { version: number; session_epoch: number; disabled: number; directory_disabled: number; tfa_locked_until: number }): PolicySnapshot {
	return {
		version: Number(row.version),
		sessionEpoch: Number(row.session_epoch),
		disabled: Number(row.disabled) === 1 || Number(row.directory_disabled) === 1,
		tfaLockedUntil: Number(row.tfa_locked_until),
	};
}
