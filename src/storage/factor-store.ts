import type { Kysely, Selectable, Transaction } from "kysely";
import type { Clock } from "../core/clock.ts";
import { isMethodId, type MethodId } from "../core/method-id.ts";
import type { Random } from "../core/random.ts";
import { newId } from "../crypto/tokens.ts";
import { PortcullisError } from "../core/errors.ts";
import type { AuditEvent, AuditLog } from "./audit-log.ts";
import { inTransaction } from "./in-transaction.ts";
import { lockUser } from "./lock-user.ts";
import { accountDisabled } from "./user-store.ts";
import type { Database, FactorsTable } from "./schema.ts";

type FactorRow = Selectable<FactorsTable>;

/** One second factor as methods and flows see it (secrets still sealed). */
export interface FactorRecord {
	readonly id: string;
	readonly userId: string;
	readonly method: MethodId;
	readonly label: string;
	readonly status: "pending" | "active";
	readonly secretEnc: string | null;
	readonly publicId: string | null;
	readonly lastUsedCounter: number | null;
	readonly createdAt: number;
	readonly verifiedAt: number | null;
	readonly lastUsedAt: number | null;
	/** Who began the enrolment ("attempt:<id>" / "session:<hash>"; null for in-process callers). */
	readonly origin: string | null;
}

function toRecord(row: FactorRow): FactorRecord | null {
	if (!isMethodId(row.method)) return null;
	return {
		id: row.id,
		userId: row.user_id,
		method: row.method,
		label: row.label,
		status: row.status === "active" ? "active" : "pending",
		secretEnc: row.secret_enc,
		publicId: row.public_id,
		lastUsedCounter: row.last_used_counter === null ? null : Number(row.last_used_counter),
		createdAt: Number(row.created_at),
		verifiedAt: row.verified_at === null ? null : Number(row.verified_at),
		lastUsedAt: row.last_used_at === null ? null : Number(row.last_used_at),
		origin: row.origin,
	};
}

export interface NewFactor {
	id?: string;
	userId: string;
	method: MethodId;
	label: string;
	status: "pending" | "active";
	secretEnc: string | null;
	publicId?: string | null;
	lastUsedCounter?: number | null;
	pendingTtlMs?: number;
}

/**
 * What an enrolment was begun under (docs/threat-model.md, "Enrolment outliving its login"). A factor becomes active only when, inside
 * one transaction holding the user's row lock: the user's reset generation is still the one the
 * enrolment began under; the origin (the login attempt or web session that began it) is the one
 * finishing it and is still live; and, for an enrolment during a login while an admin's one-time
 * link is outstanding, the link presented is that link, which is consumed by this activation (one
 * link, one factor). A link presented after it was spent is refused.
 */
export interface EnrolmentGuard {
	/** "attempt:<login attempt id>", "session:<sha256 of the web session id>", or null for a trusted in-process caller. */
	readonly origin: string | null;
	/** users.tfa_generation read when the enrolment began. */
	readonly generation: number;
	/** SHA-256 of the admin's one-time enrolment link token the request carried, if any. */
	readonly linkHash: string | null;
	/** The audit event of the activation: written in the activation's own transaction, so it commits with it. */
	readonly activated?: AuditEvent;
}

/** Pending enrolments older than this never activate (a crash or abandoned page leaves nothing that counts). */
export const PENDING_TTL_MS = 15 * 60 * 1000;

export class FactorStore {
	constructor(
		private readonly db: Kysely<Database>,
		private readonly clock: Clock,
		private readonly random: Random,
		/** Writes a guard's `activated` event inside the activation's transaction. */
		private readonly audit?: AuditLog,
	) {}

	newFactorId(): string {
		return newId(this.random);
	}

	/**
	 * A pending factor is stored with its guard's origin and generation (it grants nothing yet). An
	 * active one is inserted only if the guard holds (see EnrolmentGuard); null when it does not.
	 */
	async insert(factor: NewFactor, guard: EnrolmentGuard): Promise<string | null> {
		const id = factor.id ?? newId(this.random);
		if (factor.status === "active")
			return (await this.guarded(factor.userId, guard, (trx) => this.insertRow(trx, id, factor, guard).then(() => true))) ? id : null;
		await this.insertRow(this.db, id, factor, guard);
		return id;
	}

	private async insertRow(db: Kysely<Database>, id: string, factor: NewFactor, guard: EnrolmentGuard): Promise<void> {
		const now = this.clock.now().getTime();
		await db
			.insertInto("factors")
			.values({
				id,
				user_id: factor.userId,
				method: factor.method,
				label: factor.label,
				status: factor.status,
				secret_enc: factor.secretEnc,
				public_id: factor.publicId ?? null,
				last_used_counter: factor.lastUsedCounter ?? null,
				created_at: now,
				verified_at: factor.status === "active" ? now : null,
				last_used_at: null,
				pending_expires_at: factor.status === "pending" ? now + (factor.pendingTtlMs ?? PENDING_TTL_MS) : null,
				origin: guard.origin,
				generation: guard.generation,
			})
			.execute();
	}

	/**
	 * pending → active in one conditional UPDATE inside the guard's transaction: only a pending,
	 * unexpired row begun by the same origin under the same generation moves.
	 */
	async activate(id: string, userId: string, lastUsedCounter: number | null, guard: EnrolmentGuard): Promise<boolean> {
		return this.guarded(userId, guard, async (trx) => {
			const now = this.clock.now().getTime();
			const result = await trx
				.updateTable("factors")
				.set({ status: "active", verified_at: now, pending_expires_at: null, last_used_counter: lastUsedCounter })
				.where("id", "=", id)
				.where("user_id", "=", userId)
				.where("status", "=", "pending")
				.where("pending_expires_at", ">", now)
				.where("generation", "=", guard.generation)
				.where("origin", guard.origin === null ? "is" : "=", guard.origin)
				.executeTakeFirst();
			return Number(result.numUpdatedRows) === 1;
		});
	}

	/**
	 * Runs `change` in one transaction after locking the user's row and checking the guard there
	 * (never before, in another statement). The link is consumed only if the change happened.
	 */
	private async guarded(userId: string, guard: EnrolmentGuard, change: (trx: Transaction<Database>) => Promise<boolean>): Promise<boolean> {
		return inTransaction(this.db, async (trx) => {
			const user = await lockUser(trx, userId);
			const now = this.clock.now().getTime();
			if (user === undefined || accountDisabled(user) || Number(user.tfa_generation) !== guard.generation) return false;
			if (guard.origin !== null && !(await originIsLive(trx, userId, guard.origin, now))) return false;
			const linkOutstanding = user.enroll_token_hash !== null && Number(user.enroll_token_expires_at ?? 0) > now;
			const duringLogin = guard.origin?.startsWith("attempt:") === true;
			if (duringLogin && user.enroll_token_hash !== null && (!linkOutstanding || guard.linkHash !== user.enroll_token_hash)) return false;
			if (guard.linkHash !== null && (!linkOutstanding || guard.linkHash !== user.enroll_token_hash)) return false;
			if (!(await change(trx))) return false;
			if (guard.activated !== undefined) {
				// Fail closed: an activation whose event cannot be written does not happen.
				if (this.audit === undefined) throw new PortcullisError("ERR_INTERNAL", "an audited activation needs the audit log");
				await this.audit.bound(trx).write(guard.activated);
			}
			if (guard.linkHash !== null) {
				await trx.updateTable("users").set({ enroll_token_hash: null, enroll_token_expires_at: null }).where("id", "=", userId).execute();
			}
			return true;
		});
	}

	async get(id: string): Promise<FactorRecord | null> {
		const row = await this.db.selectFrom("factors").selectAll().where("id", "=", id).executeTakeFirst();
		return row ? toRecord(row) : null;
	}

	async pendingExpiresAt(id: string): Promise<number | null> {
		const row = await this.db.selectFrom("factors").select("pending_expires_at").where("id", "=", id).executeTakeFirst();
		return row?.pending_expires_at === null || row === undefined ? null : Number(row.pending_expires_at);
	}

	/** The newest pending factor of `method` that `origin` began and that has not expired (a setup page shown again). */
	async latestPending(userId: string, method: MethodId, origin: string, now: number): Promise<FactorRecord | null> {
		const row = await this.db
			.selectFrom("factors")
			.selectAll()
			.where("user_id", "=", userId)
			.where("method", "=", method)
			.where("status", "=", "pending")
			.where("origin", "=", origin)
			.where("pending_expires_at", ">", now)
			.orderBy("created_at", "desc")
			.orderBy("id", "desc")
			.limit(1)
			.executeTakeFirst();
		return row ? toRecord(row) : null;
	}

	async listActive(userId: string, method?: MethodId): Promise<FactorRecord[]> {
		let query = this.db.selectFrom("factors").selectAll().where("user_id", "=", userId).where("status", "=", "active");
		if (method !== undefined) query = query.where("method", "=", method);
		const rows = await query.orderBy("created_at").execute();
		return rows.map(toRecord).filter((record): record is FactorRecord => record !== null);
	}

	/** Active factors per user in one query (the admin user list); counts what listActive would return. */
	async activeCountsByUser(): Promise<Map<string, number>> {
		const rows = await this.db.selectFrom("factors").select(["user_id", "method"]).where("status", "=", "active").execute();
		const result = new Map<string, number>();
		for (const row of rows) if (isMethodId(row.method)) result.set(row.user_id, (result.get(row.user_id) ?? 0) + 1);
		return result;
	}

	/** Every factor (any user, any status) of `method` bound to `publicId`: a YubiKey, Duo or RADIUS identity is bound to one user. */
	async findByPublicId(method: MethodId, publicId: string): Promise<FactorRecord[]> {
		const rows = await this.db.selectFrom("factors").selectAll().where("method", "=", method).where("public_id", "=", publicId).execute();
		return rows.map(toRecord).filter((record): record is FactorRecord => record !== null);
	}

	/**
	 * Replay guard (RFC 6238 §5.2, Decision 7): accept a one-time value only if its counter is
	 * strictly above the last accepted one, in one compare-and-set shared by every node and channel.
	 */
	async advanceCounter(id: string, counter: number): Promise<boolean> {
		const now = this.clock.now().getTime();
		const result = await this.db
			.updateTable("factors")
			.set({ last_used_counter: counter, last_used_at: now })
			.where("id", "=", id)
			.where("status", "=", "active")
			.where((eb) => eb.or([eb("last_used_counter", "is", null), eb("last_used_counter", "<", counter)]))
			.executeTakeFirst();
		return Number(result.numUpdatedRows) === 1;
	}

	async touch(id: string): Promise<void> {
		await this.db.updateTable("factors").set({ last_used_at: this.clock.now().getTime() }).where("id", "=", id).execute();
	}

	async remove(id: string, userId: string): Promise<boolean> {
		const result = await this.db.deleteFrom("factors").where("id", "=", id).where("user_id", "=", userId).executeTakeFirst();
		return Number(result.numDeletedRows) === 1;
	}

	async removeAllOfUser(userId: string): Promise<void> {
		await this.db.deleteFrom("factors").where("user_id", "=", userId).execute();
	}

	async purgeExpiredPending(): Promise<void> {
		await this.db.deleteFrom("factors").where("status", "=", "pending").where("pending_expires_at", "<=", this.clock.now().getTime()).execute();
	}
}

/** The login attempt or web session that began an enrolment is still live and still this user's. */
async function originIsLive(trx: Transaction<Database>, userId: string, origin: string, now: number): Promise<boolean> {
	const separator = origin.indexOf(":");
	const kind = origin.slice(0, separator);
	const id = origin.slice(separator + 1);
	if (kind === "attempt") {
		const row = await trx
			.selectFrom("login_attempts")
			.select("id")
			.where("id", "=", id)
			.where("user_id", "=", userId)
			.where("status", "=", "pending")
			.where("expires_at", ">", now)
			.executeTakeFirst();
		return row !== undefined;
	}
	if (kind === "session") {
		const row = await trx
			.selectFrom("web_sessions")
			.select("id_hash")
			.where("id_hash", "=", id)
			.where("user_id", "=", userId)
			.where("expires_at", ">", now)
			.executeTakeFirst();
		return row !== undefined;
	}
	return false;
}
