import type { Kysely, Selectable } from "kysely";
import type { Clock } from "../core/clock.ts";
import type { Random } from "../core/random.ts";
import { newToken, sha256Hex } from "../crypto/tokens.ts";
import type { Database, WebSessionsTable } from "./schema.ts";
import type { UserRow } from "./user-store.ts";

export type SessionRow = Selectable<WebSessionsTable>;

/** What the web guard needs for one request, read in one statement (one snapshot). */
export interface RequestSnapshot {
	readonly session: SessionRow;
	/** undefined: the session's user no longer exists. */
	readonly user: UserRow | undefined;
	/** The global policy version (migration 0010) in the same snapshot as the user's row. */
	readonly policyVersion: number;
}

/** The session's columns, renamed so they cannot collide with the user's (both have created_at). */
const SESSION_COLUMNS = [
	"id_hash",
	"user_id",
	"attempt_id",
	"state",
	"second_factor_method",
	"step_up_at",
	"session_epoch",
	"created_at",
	"last_seen_at",
	"expires_at",
	"source",
	"policy_version",
] as const satisfies readonly (keyof SessionRow)[];

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

	/**
	 * The hot path of every console request (docs/benchmarks.md "Console hot path"): the live
	 * session, its user and the global policy version in ONE indexed read (primary keys), instead of
	 * three. One statement sees one snapshot, so the version never runs ahead of the user row it is
	 * compared with.
	 */
	async findForRequest(token: string): Promise<RequestSnapshot | undefined> {
		if (typeof token !== "string" || token.length < 20 || token.length > 100) return undefined;
		const row = await this.db
			.selectFrom("web_sessions")
			.leftJoin("users", "users.id", "web_sessions.user_id")
			.innerJoin("policy_version", (join) => join.on("policy_version.id", "=", 1))
			.selectAll("users")
			.select(SESSION_COLUMNS.map((column) => `web_sessions.${column} as s_${column}` as const))
			.select("policy_version.version as policy_version_now")
			.where("web_sessions.id_hash", "=", sha256Hex(token))
			.where("web_sessions.expires_at", ">", this.clock.now().getTime())
			.executeTakeFirst();
		if (row === undefined) return undefined;
		const record = row as unknown as Record<string, unknown>;
		const session: Record<string, unknown> = {};
		for (const column of SESSION_COLUMNS) {
			session[column] = record[`s_${column}`];
			delete record[`s_${column}`];
		}
		const policyVersion = Number(record.policy_version_now);
		delete record.policy_version_now;
		return {
			session: session as unknown as SessionRow,
			user: record.id === null || record.id === undefined ? undefined : (record as unknown as UserRow),
			policyVersion,
		};
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

	/** Live web sessions in the shared database (every node's), for the metrics scrape. */
	async countActive(): Promise<number> {
		const row = await this.db
			.selectFrom("web_sessions")
			.select((eb) => eb.fn.countAll<number | string | bigint>().as("count"))
			.where("expires_at", ">", this.clock.now().getTime())
			.executeTakeFirst();
		return Number(row?.count ?? 0);
	}

	async purgeExpired(): Promise<void> {
		await this.db.deleteFrom("web_sessions").where("expires_at", "<=", this.clock.now().getTime()).execute();
	}
}
