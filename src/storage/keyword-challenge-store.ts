/**
 * Access Keyword challenges as state (docs/threat-model.md, "Access Keyword re-roll"; migration 0005-keyword-challenges.ts).
 *
 * The positions asked of a user are drawn once and kept in the shared database until answered
 * correctly or expired. Every prompt (web page, SSH `:keyword`, a reconnect, another node) shows
 * the live positions again; redrawing for free is what let one observed answer work as a
 * credential (draw until the same positions come back).
 *
 * A challenge that expires unanswered ("abandoned") counts as one failure on the account's 2FA
 * counter, charged by the draw that replaces it, inside the same transaction (the users row is
 * locked first on PostgreSQL; SQLite serialises transactions), and only when that transaction's
 * conditional DELETE removed the expired row: two nodes redrawing at once charge it exactly once
 * and end up with the same new positions (INSERT … ON CONFLICT DO NOTHING, then read back).
 *
 * Expired rows are therefore never purged by maintenance: deleting one would make abandoning free.
 * The table holds at most one row per user.
 */
import type { Kysely, Transaction } from "kysely";
import type { Clock } from "../core/clock.ts";
import type { Random } from "../core/random.ts";
import { newId } from "../crypto/tokens.ts";
import type { AuditLog } from "./audit-log.ts";
import type { Database } from "./schema.ts";
import { type CounterPolicy, type LockoutPolicy, UserStore } from "./user-store.ts";

interface KeywordChallengesTable {
	user_id: string;
	id: string;
	factor_id: string;
	positions: string;
	created_at: number;
	expires_at: number;
}

type KeywordTables = { keyword_challenges: KeywordChallengesTable };

export interface KeywordChallenge {
	readonly id: string;
	readonly userId: string;
	readonly factorId: string;
	readonly positions: readonly number[];
	readonly expiresAt: number;
}

/**
 * How long drawn positions stay: long enough to read the prompt and type three characters, short
 * enough that abandoning costs what guessing costs. With the lockout's defaults (5 failures in a
 * 15-minute window) that is 3 minutes: five abandoned draws fill the window and lock the account,
 * exactly like five wrong answers. Never below 1 minute (people must be able to answer) nor above
 * 10 minutes.
 */
export function keywordChallengeTtlMs(lockout: LockoutPolicy): number {
	return Math.min(10 * 60_000, Math.max(60_000, Math.floor(lockout.windowMs / Math.max(1, lockout.maxFailures))));
}

export interface DrawRequest {
	readonly userId: string;
	readonly username: string;
	readonly factorId: string;
	/** Draws fresh positions (only called when no live challenge exists). */
	readonly pick: () => number[];
	readonly channel: string;
	readonly source: string;
}

export type DrawOutcome =
	| { readonly kind: "reused"; readonly challenge: KeywordChallenge }
	| {
			readonly kind: "drawn";
			readonly challenge: KeywordChallenge;
			/** What the new draw replaced: nothing, an abandoned (expired, unanswered) challenge, or one for a keyword since replaced. */
			readonly replaced: "none" | "abandoned" | "other-factor";
	  };

function parsePositions(text: string): number[] {
	const parsed = JSON.parse(text) as unknown;
	if (!Array.isArray(parsed) || !parsed.every((value) => Number.isInteger(value))) return [];
	return parsed as number[];
}

function toChallenge(row: KeywordChallengesTable): KeywordChallenge {
	return { id: row.id, userId: row.user_id, factorId: row.factor_id, positions: parsePositions(row.positions), expiresAt: Number(row.expires_at) };
}

export class KeywordChallengeStore {
	readonly #db: Kysely<Database>;

	constructor(
		db: Kysely<Database>,
		private readonly dialect: "sqlite" | "postgres",
		private readonly clock: Clock,
		private readonly random: Random,
		private readonly lockout: CounterPolicy,
		/** Bound to each draw's transaction: the draw, its charge and their events commit together. */
		private readonly auditLog: AuditLog,
		readonly ttlMs: number = keywordChallengeTtlMs(lockout),
	) {
		this.#db = db;
	}

	private now(): number {
		return this.clock.now().getTime();
	}

	private static table(db: Kysely<Database>): Kysely<Database & KeywordTables> {
		// The table belongs to this feature's migration; Database (schema.ts) stays untouched.
		return db.withTables<KeywordTables>();
	}

	/**
	 * The user's live challenge for this keyword factor, or a new draw: one transaction that locks
	 * the user, re-uses a live row, or replaces a missing/expired one (charging an abandoned one) and
	 * audits the draw. Only a real draw is audited; showing the prompt again is not an event.
	 */
	async liveOrDraw(request: DrawRequest): Promise<DrawOutcome> {
		return this.#db.transaction().execute(async (trx) => this.#liveOrDraw(trx, request));
	}

	async #liveOrDraw(trx: Transaction<Database>, request: DrawRequest): Promise<DrawOutcome> {
		const now = this.now();
		const table = KeywordChallengeStore.table(trx);
		if (this.dialect === "postgres") {
			// The guard (is a challenge live? was the old one abandoned?) and the charge it leads to are
			// evaluated under the users row lock, like every other 2FA counter change.
			await trx.selectFrom("users").select("id").where("id", "=", request.userId).forUpdate().executeTakeFirst();
		}
		const current = await table.selectFrom("keyword_challenges").selectAll().where("user_id", "=", request.userId).executeTakeFirst();
		if (current !== undefined && Number(current.expires_at) > now && current.factor_id === request.factorId) {
			return { kind: "reused", challenge: toChallenge(current) };
		}

		let replaced: "none" | "abandoned" | "other-factor" = "none";
		if (current !== undefined) {
			// Conditional on the very row read: whoever removes it is the one who charges for it.
			const removed = await table.deleteFrom("keyword_challenges").where("user_id", "=", request.userId).where("id", "=", current.id).executeTakeFirst();
			if (Number(removed.numDeletedRows) === 1) replaced = current.factor_id === request.factorId ? "abandoned" : "other-factor";
		}

		const audit = this.auditLog.bound(trx);
		const base = { userId: request.userId, username: request.username, channel: request.channel, source: request.source, method: "access-keyword" };
		if (replaced === "abandoned") await this.#chargeAbandoned(trx, audit, base, current!);

		const positions = request.pick();
		const row: KeywordChallengesTable = {
			user_id: request.userId,
			id: newId(this.random),
			factor_id: request.factorId,
			positions: JSON.stringify(positions),
			created_at: now,
			expires_at: now + this.ttlMs,
		};
		const inserted = await table
			.insertInto("keyword_challenges")
			.values(row)
			.onConflict((oc) => oc.column("user_id").doNothing())
			.executeTakeFirst();
		if (Number(inserted.numInsertedOrUpdatedRows ?? 0n) !== 1) {
			// Another node drew first (SQLite across processes; PostgreSQL waits on the users lock and
			// never gets here): show its positions, and it has audited its own draw.
			const winner = await table.selectFrom("keyword_challenges").selectAll().where("user_id", "=", request.userId).executeTakeFirstOrThrow();
			return { kind: "reused", challenge: toChallenge(winner) };
		}
		await audit.write({
			event: "second-factor.challenge-drawn",
			outcome: "info",
			...base,
			// Positions only, never the characters at them.
			detail: { positions, expiresAt: row.expires_at, replaced },
		});
		return { kind: "drawn", challenge: toChallenge(row), replaced };
	}

	/** One failure for an abandoned challenge, on the same counter and with the same lock rule as a wrong answer. */
	async #chargeAbandoned(trx: Transaction<Database>, audit: AuditLog, base: Record<string, string>, abandoned: KeywordChallengesTable): Promise<void> {
		const users = new UserStore(trx, this.clock, this.random);
		// Not a reserved answer: a failure recorded at once, in the UPDATE that also writes the lock when it reaches the limit.
		const failure = await users.settleWrong(base.userId!, "tfa", null, this.lockout);
		await audit.write({
			event: "second-factor.failure",
			outcome: "failure",
			...base,
			detail: { reason: "abandoned", failures: failure.failures, locked: failure.locked, drawnAt: Number(abandoned.created_at) },
		});
		if (failure.lockedNow) await audit.write({ event: "account.locked", outcome: "info", ...base, detail: { counter: "second-factor" } });
	}

	/** The user's challenge if it is still live (does not consume it). */
	async live(userId: string): Promise<KeywordChallenge | null> {
		const row = await KeywordChallengeStore.table(this.#db)
			.selectFrom("keyword_challenges")
			.selectAll()
			.where("user_id", "=", userId)
			.where("expires_at", ">", this.now())
			.executeTakeFirst();
		return row === undefined ? null : toChallenge(row);
	}

	/** A correct answer ends the challenge: one conditional DELETE, so it ends once (the next login draws anew). */
	async consume(userId: string, id: string): Promise<boolean> {
		const result = await KeywordChallengeStore.table(this.#db)
			.deleteFrom("keyword_challenges")
			.where("user_id", "=", userId)
			.where("id", "=", id)
			.where("expires_at", ">", this.now())
			.executeTakeFirst();
		return Number(result.numDeletedRows) === 1;
	}

	/**
	 * An answer arrived after the challenge expired: that answer is charged by the login flow as a
	 * failure ("expired"), so the row goes now and the next draw does not charge it a second time.
	 */
	async dropExpired(userId: string, id: string): Promise<void> {
		await KeywordChallengeStore.table(this.#db)
			.deleteFrom("keyword_challenges")
			.where("user_id", "=", userId)
			.where("id", "=", id)
			.where("expires_at", "<=", this.now())
			.execute();
	}
}
