import type { Kysely, Selectable } from "kysely";
import type { Clock } from "../core/clock.ts";
import type { Random } from "../core/random.ts";
import { newToken, sha256Hex } from "../crypto/tokens.ts";
import type { Database, WebSessionsTable } from "./schema.ts";

export type SessionRow = Selectable<WebSessionsTable>;

export interface NewSession {
	userId: string;
	attemptId: string | null;
	state: "half" | "full";
	secondFactorMethod: string | null;
	stepUpAt: number | null;
	sessionEpoch: number;
	source: string;
	ttlMs: number;
}

/**
 * Web console sessions, server-side in the shared database (revocable, visible to every node).
 * The cookie holds a 256-bit random token; only its SHA-256 is stored. Every privilege change
 * (first factor, full login, step-up) issues a NEW token and deletes the old row (rotation).
 */
export class SessionStore {
	constructor(
		private readonly db: Kysely<Database>,
		private readonly clock: Clock,
		private readonly random: Random,
	) {}

	async create(session: NewSession): Promise<{ token: string; row: SessionRow }> {
		const token = newToken(this.random);
		const now = this.clock.now().getTime();
		const row: SessionRow = {
			id_hash: sha256Hex(token),
			user_id: session.userId,
			attempt_id: session.attemptId,
			state: session.state,
			second_factor_method: session.secondFactorMethod,
			step_up_at: session.stepUpAt,
			session_epoch: session.sessionEpoch,
			created_at: now,
			last_seen_at: now,
			expires_at: now + session.ttlMs,
			source: session.source.slice(0, 100),
			// Never checked yet: the first request runs the full policy check (web guard).
			policy_version: 0,
		};
		await this.db.insertInto("web_sessions").values(row).execute();
		return { token, row };
	}

	async find(token: string): Promise<SessionRow | undefined> {
		if (typeof token !== "string" || token.length < 20 || token.length > 100) return undefined;
		return this.db
			.selectFrom("web_sessions")
			.selectAll()
			.where("id_hash", "=", sha256Hex(token))
			.where("expires_at", ">", this.clock.now().getTime())
			.executeTakeFirst();
	}

	/** Issues a new token for the same session with the changes applied, and deletes the old one. */
	async rotate(
		oldToken: string,
		changes: Partial<Omit<NewSession, "ttlMs" | "userId">> & { ttlMs?: number },
	): Promise<{ token: string; row: SessionRow } | null> {
		const old = await this.find(oldToken);
		if (old === undefined) return null;
		const deleted = await this.db.deleteFrom("web_sessions").where("id_hash", "=", old.id_hash).executeTakeFirst();
		if (Number(deleted.numDeletedRows) !== 1) return null;
		return this.create({
			userId: old.user_id,
			attemptId: changes.attemptId !== undefined ? changes.attemptId : old.attempt_id,
			state: changes.state ?? (old.state === "full" ? "full" : "half"),
			secondFactorMethod: changes.secondFactorMethod !== undefined ? changes.secondFactorMethod : old.second_factor_method,
			stepUpAt: changes.stepUpAt !== undefined ? changes.stepUpAt : old.step_up_at,
			sessionEpoch: changes.sessionEpoch ?? old.session_epoch,
			source: changes.source ?? old.source,
			ttlMs: changes.ttlMs ?? Number(old.expires_at) - this.clock.now().getTime(),
		});
	}

	async update(
		idHash: string,
		changes: Partial<Pick<SessionRow, "state" | "attempt_id" | "step_up_at" | "second_factor_method" | "last_seen_at">>,
	): Promise<void> {
		await this.db.updateTable("web_sessions").set(changes).where("id_hash", "=", idHash).execute();
	}

	/** `policyVersion`: the version at which the session just passed the policy check (the web guard's fast path). */
	async touch(idHash: string, idleTtlMs: number, absoluteEnd: number, policyVersion?: number): Promise<void> {
		const now = this.clock.now().getTime();
		await this.db
			.updateTable("web_sessions")
			.set({ last_seen_at: now, expires_at: Math.min(now + idleTtlMs, absoluteEnd), ...(policyVersion !== undefined ? { policy_version: policyVersion } : {}) })
			.where("id_hash", "=", idHash)
			.execute();
	}

	async remove(token: string): Promise<void> {
		await this.db.deleteFrom("web_sessions").where("id_hash", "=", sha256Hex(token)).execute();
	}

	async removeByHash(idHash: string): Promise<boolean> {
		const result = await this.db.deleteFrom("web_sessions").where("id_hash", "=", idHash).executeTakeFirst();
		return Number(result.numDeletedRows) === 1;
	}

	async findByHash(idHash: string): Promise<SessionRow | undefined> {
		return this.db.selectFrom("web_sessions").selectAll().where("id_hash", "=", idHash).executeTakeFirst();
	}

	/** Unexpired sessions, newest activity first (the API's session list; the id is the token's SHA-256, never the token). */
	async listLive(limit = 1000): Promise<SessionRow[]> {
		return this.db
			.selectFrom("web_sessions")
			.selectAll()
			.where("expires_at", ">", this.clock.now().getTime())
			.orderBy("last_seen_at", "desc")
			.orderBy("id_hash")
			.limit(Math.min(limit, 5000))
			.execute();
	}

	async removeAllOfUser(userId: string): Promise<void> {
		await this.db.deleteFrom("web_sessions").where("user_id", "=", userId).execute();
	}

	async purgeExpired(): Promise<void> {
		await this.db.deleteFrom("web_sessions").where("expires_at", "<=", this.clock.now().getTime()).execute();
	}
}
