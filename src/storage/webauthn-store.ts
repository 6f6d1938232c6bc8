/**
 * Storage for WebAuthn ceremonies: challenges and SSH browser approvals (migration
 * 0004-webauthn.ts), plus the signature counter's compare-and-set on the factor row.
 *
 * Every one-time value is consumed by ONE conditional UPDATE in the shared database (Decision 7),
 * so a challenge or an approval is used once across web, SSH and every node.
 */
import type { Kysely } from "kysely";
import type { Clock } from "../core/clock.ts";
import type { Random } from "../core/random.ts";
import { newId, newToken, sha256Hex } from "../crypto/tokens.ts";
import type { Database } from "./schema.ts";

export const CHALLENGE_SCOPES = ["register", "login", "step-up", "ssh-approval"] as const;
export type ChallengeScope = (typeof CHALLENGE_SCOPES)[number];

/** W3C WebAuthn L2 §13.4.3: at least 16 random bytes; we use 32. */
export const CHALLENGE_BYTES = 32;

interface ChallengesTable {
	id: string;
	user_id: string;
	scope: string;
	attempt_id: string | null;
	approval_id: string | null;
	challenge: string;
	created_at: number;
	expires_at: number;
	used: number;
}

interface ApprovalsTable {
	id: string;
	token_hash: string;
	user_id: string;
	attempt_id: string;
	source: string;
	created_at: number;
	expires_at: number;
	status: string;
	factor_id: string | null;
	decided_at: number | null;
	decided_from: string | null;
}

type WebauthnDatabase = Database & { webauthn_challenges: ChallengesTable; webauthn_approvals: ApprovalsTable };

export type ApprovalStatus = "pending" | "approved" | "consumed" | "denied" | "superseded" | "expired";

export interface ApprovalRow {
	readonly id: string;
	readonly userId: string;
	readonly attemptId: string;
	readonly source: string;
	readonly createdAt: number;
	readonly expiresAt: number;
	readonly status: ApprovalStatus;
	readonly factorId: string | null;
}

export interface ChallengeBinding {
	readonly userId: string;
	readonly scope: ChallengeScope;
	readonly attemptId?: string | null;
	readonly approvalId?: string | null;
}

function toApproval(row: ApprovalsTable): ApprovalRow {
	return {
		id: row.id,
		userId: row.user_id,
		attemptId: row.attempt_id,
		source: row.source,
		createdAt: Number(row.created_at),
		expiresAt: Number(row.expires_at),
		status: row.status as ApprovalStatus,
		factorId: row.factor_id,
	};
}

export class WebauthnStore {
	readonly #db: Kysely<WebauthnDatabase>;

	constructor(
		db: Kysely<Database>,
		private readonly clock: Clock,
		private readonly random: Random,
	) {
		// The two tables belong to this feature's migration; Database (schema.ts) stays untouched.
		this.#db = db.withTables<{ webauthn_challenges: ChallengesTable; webauthn_approvals: ApprovalsTable }>();
	}

	private now(): number {
		return this.clock.now().getTime();
	}

	// ---- challenges ----

	async createChallenge(binding: ChallengeBinding, ttlMs: number): Promise<{ id: string; challenge: string; expiresAt: number }> {
		const now = this.now();
		// Expired challenges of this user are of no use to anyone: keep the table small.
		await this.#db.deleteFrom("webauthn_challenges").where("user_id", "=", binding.userId).where("expires_at", "<=", now).execute();
		const row: ChallengesTable = {
			id: newId(this.random),
			user_id: binding.userId,
			scope: binding.scope,
			attempt_id: binding.attemptId ?? null,
			approval_id: binding.approvalId ?? null,
			challenge: newToken(this.random, CHALLENGE_BYTES),
			created_at: now,
			expires_at: now + ttlMs,
			used: 0,
		};
		await this.#db.insertInto("webauthn_challenges").values(row).execute();
		return { id: row.id, challenge: row.challenge, expiresAt: row.expires_at };
	}

	/** The challenge if it is still usable for exactly this binding (does not consume it). */
	async peekChallenge(id: string, binding: ChallengeBinding): Promise<{ challenge: string; expiresAt: number } | null> {
		if (typeof id !== "string" || id.length === 0 || id.length > 64) return null;
		let query = this.#db
			.selectFrom("webauthn_challenges")
			.select(["challenge", "expires_at"])
			.where("id", "=", id)
			.where("user_id", "=", binding.userId)
			.where("scope", "=", binding.scope)
			.where("used", "=", 0)
			.where("expires_at", ">", this.now());
		if (binding.attemptId !== undefined)
			query = binding.attemptId === null ? query.where("attempt_id", "is", null) : query.where("attempt_id", "=", binding.attemptId);
		if (binding.approvalId !== undefined)
			query = binding.approvalId === null ? query.where("approval_id", "is", null) : query.where("approval_id", "=", binding.approvalId);
		const row = await query.executeTakeFirst();
		return row === undefined ? null : { challenge: row.challenge, expiresAt: Number(row.expires_at) };
	}

	/**
	 * Consumes the challenge once and returns its value, or null when it is unknown, used, expired or
	 * bound to another user, scope, attempt or approval. The UPDATE's WHERE is the whole check, so
	 * two parallel answers cannot both get the value.
	 */
	async consumeChallenge(id: string, binding: ChallengeBinding): Promise<string | null> {
		const found = await this.peekChallenge(id, binding);
		if (found === null) return null;
		let update = this.#db
			.updateTable("webauthn_challenges")
			.set({ used: 1 })
			.where("id", "=", id)
			.where("user_id", "=", binding.userId)
			.where("scope", "=", binding.scope)
			.where("used", "=", 0)
			.where("expires_at", ">", this.now());
		if (binding.attemptId !== undefined)
			update = binding.attemptId === null ? update.where("attempt_id", "is", null) : update.where("attempt_id", "=", binding.attemptId);
		if (binding.approvalId !== undefined)
			update = binding.approvalId === null ? update.where("approval_id", "is", null) : update.where("approval_id", "=", binding.approvalId);
		const result = await update.executeTakeFirst();
		return Number(result.numUpdatedRows) === 1 ? found.challenge : null;
	}

	// ---- SSH approvals ----

	/**
	 * A new approval for an SSH login attempt. Earlier pending approvals of the same attempt are
	 * superseded: only the link shown last can approve this connection.
	 */
	async createApproval(input: { userId: string; attemptId: string; source: string; expiresAt: number }): Promise<{ id: string; token: string }> {
		const now = this.now();
		await this.#db
			.updateTable("webauthn_approvals")
			.set({ status: "superseded", decided_at: now })
			.where("attempt_id", "=", input.attemptId)
			.where("status", "in", ["pending", "approved"])
			.execute();
		await this.#db
			.deleteFrom("webauthn_approvals")
			.where("user_id", "=", input.userId)
			.where("expires_at", "<=", now - 24 * 3600_000)
			.execute();
		const token = newToken(this.random, 32);
		const id = newId(this.random);
		await this.#db
			.insertInto("webauthn_approvals")
			.values({
				id,
				token_hash: sha256Hex(token),
				user_id: input.userId,
				attempt_id: input.attemptId,
				source: input.source.slice(0, 100),
				created_at: now,
				expires_at: input.expiresAt,
				status: "pending",
				factor_id: null,
				decided_at: null,
				decided_from: null,
			})
			.execute();
		return { id, token };
	}

	async findApprovalByToken(token: string): Promise<ApprovalRow | null> {
		if (typeof token !== "string" || !/^[A-Za-z0-9_-]{43}$/.test(token)) return null;
		const row = await this.#db.selectFrom("webauthn_approvals").selectAll().where("token_hash", "=", sha256Hex(token)).executeTakeFirst();
		return row === undefined ? null : toApproval(row);
	}

	async getApproval(id: string): Promise<ApprovalRow | null> {
		if (typeof id !== "string" || id.length === 0 || id.length > 64) return null;
		const row = await this.#db.selectFrom("webauthn_approvals").selectAll().where("id", "=", id).executeTakeFirst();
		return row === undefined ? null : toApproval(row);
	}

	/** pending → approved (by this user's key), once, before expiry. */
	async markApproved(id: string, userId: string, factorId: string, from: string): Promise<boolean> {
		const now = this.now();
		const result = await this.#db
			.updateTable("webauthn_approvals")
			.set({ status: "approved", factor_id: factorId, decided_at: now, decided_from: from.slice(0, 100) })
			.where("id", "=", id)
			.where("user_id", "=", userId)
			.where("status", "=", "pending")
			.where("expires_at", ">", now)
			.executeTakeFirst();
		return Number(result.numUpdatedRows) === 1;
	}

	/** pending → denied (the user said "this was not me"). */
	async markDenied(id: string, userId: string, from: string): Promise<boolean> {
		const now = this.now();
		const result = await this.#db
			.updateTable("webauthn_approvals")
			.set({ status: "denied", decided_at: now, decided_from: from.slice(0, 100) })
			.where("id", "=", id)
			.where("user_id", "=", userId)
			.where("status", "=", "pending")
			.executeTakeFirst();
		return Number(result.numUpdatedRows) === 1;
	}

	/** pending → expired (the SSH side gave up waiting); a later approval can no longer land. */
	async markExpired(id: string): Promise<void> {
		await this.#db
			.updateTable("webauthn_approvals")
			.set({ status: "expired", decided_at: this.now() })
			.where("id", "=", id)
			.where("status", "=", "pending")
			.execute();
	}

	/**
	 * approved → consumed, once, for exactly this attempt and user, before expiry: the step that
	 * lets the SSH login complete. Returns the approving factor, or null.
	 */
	async consumeApproval(id: string, attemptId: string, userId: string): Promise<string | null> {
		const now = this.now();
		const row = await this.getApproval(id);
		if (row === null || row.status !== "approved" || row.attemptId !== attemptId || row.userId !== userId || row.expiresAt <= now) return null;
		const result = await this.#db
			.updateTable("webauthn_approvals")
			.set({ status: "consumed" })
			.where("id", "=", id)
			.where("attempt_id", "=", attemptId)
			.where("user_id", "=", userId)
			.where("status", "=", "approved")
			.where("expires_at", ">", now)
			.executeTakeFirst();
		return Number(result.numUpdatedRows) === 1 ? row.factorId : null;
	}

	// ---- signature counter ----

	/**
	 * The signature counter rule of W3C WebAuthn L2 §7.2 step 21 as ONE conditional UPDATE (like
	 * FactorStore.advanceCounter): the new count must be strictly above the stored one, except that
	 * a key without a counter (0 received, 0 or nothing stored) stays valid at 0. Two parallel logins
	 * with one counter value cannot both pass.
	 */
	async advanceSignCount(factorId: string, next: number): Promise<boolean> {
		const result = await this.#db
			.updateTable("factors")
			.set({ last_used_counter: next, last_used_at: this.now() })
			.where("id", "=", factorId)
			.where("method", "=", "webauthn")
			.where("status", "=", "active")
			.where((eb) => eb.or([eb("last_used_counter", "is", null), next === 0 ? eb("last_used_counter", "=", 0) : eb("last_used_counter", "<", next)]))
			.executeTakeFirst();
		return Number(result.numUpdatedRows) === 1;
	}

	async currentCounter(factorId: string): Promise<number | null | undefined> {
		const row = await this.#db.selectFrom("factors").select("last_used_counter").where("id", "=", factorId).where("status", "=", "active").executeTakeFirst();
		if (row === undefined) return undefined;
		return row.last_used_counter === null ? null : Number(row.last_used_counter);
	}

	/** The attempt's purpose and expiry (to scope a challenge to login or step-up). */
	async attemptInfo(attemptId: string): Promise<{
		purpose: string;
		expiresAt: number;
		userId: string;
		challengeMethod: string | null;
		challengeJson: string | null;
		challengeUsed: boolean;
		live: boolean;
	} | null> {
		if (typeof attemptId !== "string" || attemptId.length === 0 || attemptId.length > 100) return null;
		const row = await this.#db.selectFrom("login_attempts").selectAll().where("id", "=", attemptId).executeTakeFirst();
		if (row === undefined) return null;
		const expiresAt = Number(row.expires_at);
		return {
			purpose: row.purpose,
			expiresAt,
			userId: row.user_id,
			challengeMethod: row.challenge_method,
			challengeJson: row.challenge_json,
			challengeUsed: Number(row.challenge_used) === 1,
			live: row.status === "pending" && expiresAt > this.now(),
		};
	}

	/** Maintenance: challenges and approval links are single use and short-lived; rows older than `before` go. */
	async purgeExpired(before: number): Promise<void> {
		await this.#db.deleteFrom("webauthn_challenges").where("expires_at", "<", before).execute();
		await this.#db.deleteFrom("webauthn_approvals").where("expires_at", "<", before).execute();
	}
}
