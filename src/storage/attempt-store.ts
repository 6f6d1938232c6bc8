import type { Kysely, Selectable } from "kysely";
import type { Clock } from "../core/clock.ts";
import type { Random } from "../core/random.ts";
import { newToken } from "../crypto/tokens.ts";
import type { Database, LoginAttemptsTable } from "./schema.ts";

export type AttemptRow = Selectable<LoginAttemptsTable>;

/**
 * One login (or step-up) attempt: frozen to one user at creation, kept in the shared database so a
 * login may start on one node and finish on another. Every state change is a conditional UPDATE.
 */
export class AttemptStore {
	constructor(
		private readonly db: Kysely<Database>,
		private readonly clock: Clock,
		private readonly random: Random,
	) {}

	async create(input: {
		userId: string;
		channel: string;
		purpose: string;
		source: string;
		ttlMs: number;
		required: boolean;
		targetServer?: string | null;
	}): Promise<AttemptRow> {
		const now = this.clock.now().getTime();
		const row: AttemptRow = {
			id: newToken(this.random, 24),
			user_id: input.userId,
			channel: input.channel,
			purpose: input.purpose,
			source: input.source.slice(0, 100),
			created_at: now,
			expires_at: now + input.ttlMs,
			status: "pending",
			required_2fa: input.required ? 1 : 0,
			method_done: null,
			challenge_method: null,
			challenge_json: null,
			challenge_used: 0,
			target_server: input.targetServer ?? null,
		};
		await this.db.insertInto("login_attempts").values(row).execute();
		return row;
	}

	/** Returns the attempt only while it is pending and unexpired. */
	async getLive(id: string): Promise<AttemptRow | undefined> {
		if (typeof id !== "string" || id.length === 0 || id.length > 100) return undefined;
		return this.db
			.selectFrom("login_attempts")
			.selectAll()
			.where("id", "=", id)
			.where("status", "=", "pending")
			.where("expires_at", ">", this.clock.now().getTime())
			.executeTakeFirst();
	}

	async get(id: string): Promise<AttemptRow | undefined> {
		return this.db.selectFrom("login_attempts").selectAll().where("id", "=", id).executeTakeFirst();
	}

	async markRequired(id: string): Promise<void> {
		await this.db.updateTable("login_attempts").set({ required_2fa: 1 }).where("id", "=", id).execute();
	}

	async setChallenge(id: string, method: string, state: unknown): Promise<void> {
		await this.db
			.updateTable("login_attempts")
			.set({ challenge_method: method, challenge_json: state === null ? null : JSON.stringify(state), challenge_used: 0 })
			.where("id", "=", id)
			.where("status", "=", "pending")
			.execute();
	}

	/** Consumes the stored challenge once (a challenge answers one verification, never two). */
	async consumeChallenge(id: string, method: string): Promise<boolean> {
		const result = await this.db
			.updateTable("login_attempts")
			.set({ challenge_used: 1 })
			.where("id", "=", id)
			.where("challenge_method", "=", method)
			.where("challenge_used", "=", 0)
			.where("status", "=", "pending")
			.executeTakeFirst();
		return Number(result.numUpdatedRows) === 1;
	}

	/** pending → done exactly once. */
	async complete(id: string, method: string | null): Promise<boolean> {
		const result = await this.db
			.updateTable("login_attempts")
			.set({ status: "done", method_done: method })
			.where("id", "=", id)
			.where("status", "=", "pending")
			.where("expires_at", ">", this.clock.now().getTime())
			.executeTakeFirst();
		return Number(result.numUpdatedRows) === 1;
	}

	async fail(id: string): Promise<void> {
		await this.db.updateTable("login_attempts").set({ status: "failed" }).where("id", "=", id).where("status", "=", "pending").execute();
	}

	async purgeOld(olderThanMs: number): Promise<void> {
		await this.db
			.deleteFrom("login_attempts")
			.where("expires_at", "<", this.clock.now().getTime() - olderThanMs)
			.execute();
	}
}
