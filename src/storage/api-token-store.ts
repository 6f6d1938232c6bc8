import type { Kysely, Selectable } from "kysely";
import type { Clock } from "../core/clock.ts";
import type { Random } from "../core/random.ts";
import { newId, newToken, sha256Hex } from "../crypto/tokens.ts";
import type { ApiTokensTable, Database } from "./schema.ts";

export type ApiTokenRow = Selectable<ApiTokensTable>;

/** What identifies a token in a request: the prefix makes a leaked one easy to recognise (secret scanners). */
export const API_TOKEN_PREFIX = "pct_";

export interface NewApiToken {
	readonly userId: string;
	readonly name: string;
	readonly scopes: readonly string[];
	readonly createdBy: string;
	readonly expiresAt: number;
	readonly sessionEpoch: number;
	readonly secondFactorMethod: string | null;
}

/**
 * API tokens in the shared database (migration 0016). The raw token is returned once by `create`
 * and never stored: only its SHA-256. `findLive` is read on every API call by every node, so a
 * revocation (one conditional UPDATE) bites at the next call everywhere.
 */
export class ApiTokenStore {
	constructor(
		private readonly db: Kysely<Database>,
		private readonly clock: Clock,
		private readonly random: Random,
	) {}

	async create(input: NewApiToken): Promise<{ token: string; row: ApiTokenRow }> {
		const token = `${API_TOKEN_PREFIX}${newToken(this.random)}`;
		const row: ApiTokenRow = {
			id: newId(this.random),
			user_id: input.userId,
			name: input.name,
			token_hash: sha256Hex(token),
			scopes: input.scopes.join(" "),
			created_at: this.clock.now().getTime(),
			created_by: input.createdBy.slice(0, 200),
			expires_at: input.expiresAt,
			session_epoch: input.sessionEpoch,
			second_factor_method: input.secondFactorMethod,
			last_used_at: null,
			last_used_source: null,
			revoked_at: null,
		};
		await this.db.insertInto("api_tokens").values(row).execute();
		return { token, row };
	}

	/** The unrevoked, unexpired token with this value, or undefined. */
	async findLive(token: string): Promise<ApiTokenRow | undefined> {
		if (typeof token !== "string" || !token.startsWith(API_TOKEN_PREFIX) || token.length > 100) return undefined;
		return this.db
			.selectFrom("api_tokens")
			.selectAll()
			.where("token_hash", "=", sha256Hex(token))
			.where("revoked_at", "is", null)
			.where("expires_at", ">", this.clock.now().getTime())
			.executeTakeFirst();
	}

	async findById(id: string): Promise<ApiTokenRow | undefined> {
		return this.db.selectFrom("api_tokens").selectAll().where("id", "=", id).executeTakeFirst();
	}

	/** Every token of a user, newest first (revoked and expired included: the page shows them). */
	async listOfUser(userId: string): Promise<ApiTokenRow[]> {
		return this.db.selectFrom("api_tokens").selectAll().where("user_id", "=", userId).orderBy("created_at", "desc").orderBy("id").execute();
	}

	/** Revokes one live token (of `userId` when given). False when there was none to revoke. */
	async revoke(id: string, userId?: string): Promise<boolean> {
		let query = this.db.updateTable("api_tokens").set({ revoked_at: this.clock.now().getTime() }).where("id", "=", id).where("revoked_at", "is", null);
		if (userId !== undefined) query = query.where("user_id", "=", userId);
		const result = await query.executeTakeFirst();
		return Number(result.numUpdatedRows) === 1;
	}

	/** Deletes tokens revoked or expired before `before` (maintenance; the audit log keeps their history). */
	async purgeDead(before: number): Promise<void> {
		await this.db
			.deleteFrom("api_tokens")
			.where((eb) => eb.or([eb("expires_at", "<", before), eb.and([eb("revoked_at", "is not", null), eb("revoked_at", "<", before)])]))
			.execute();
	}

	async markUsed(id: string, source: string): Promise<void> {
		await this.db
			.updateTable("api_tokens")
			.set({ last_used_at: this.clock.now().getTime(), last_used_source: source.slice(0, 100) })
			.where("id", "=", id)
			.execute();
	}
}
