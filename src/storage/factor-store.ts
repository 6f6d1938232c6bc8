import type { Kysely, Selectable } from "kysely";
import type { Clock } from "../core/clock.ts";
import { isMethodId, type MethodId } from "../core/method-id.ts";
import type { Random } from "../core/random.ts";
import { newId } from "../crypto/tokens.ts";
import type { FactorRecord } from "../methods/method.ts";
import type { Database, FactorsTable } from "./schema.ts";

type FactorRow = Selectable<FactorsTable>;

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

/** Pending enrolments older than this never activate (a crash or abandoned page leaves nothing that counts). */
export const PENDING_TTL_MS = 15 * 60 * 1000;

export class FactorStore {
	constructor(
		private readonly db: Kysely<Database>,
		private readonly clock: Clock,
		private readonly random: Random,
	) {}

	newFactorId(): string {
		return newId(this.random);
	}

	async insert(factor: NewFactor): Promise<string> {
		const now = this.clock.now().getTime();
		const id = factor.id ?? newId(this.random);
		await this.db
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
			})
			.execute();
		return id;
	}

	/** pending → active in one conditional UPDATE; an expired or already-active row does not move. */
	async activate(id: string, userId: string, lastUsedCounter: number | null): Promise<boolean> {
		const now = this.clock.now().getTime();
		const result = await this.db
			.updateTable("factors")
			.set({ status: "active", verified_at: now, pending_expires_at: null, last_used_counter: lastUsedCounter })
			.where("id", "=", id)
			.where("user_id", "=", userId)
			.where("status", "=", "pending")
			.where("pending_expires_at", ">", now)
			.executeTakeFirst();
		return Number(result.numUpdatedRows) === 1;
	}

	async get(id: string): Promise<FactorRecord | null> {
		const row = await this.db.selectFrom("factors").selectAll().where("id", "=", id).executeTakeFirst();
		return row ? toRecord(row) : null;
	}

	async pendingExpiresAt(id: string): Promise<number | null> {
		const row = await this.db.selectFrom("factors").select("pending_expires_at").where("id", "=", id).executeTakeFirst();
		return row?.pending_expires_at === null || row === undefined ? null : Number(row.pending_expires_at);
	}

	async listActive(userId: string, method?: MethodId): Promise<FactorRecord[]> {
		let query = this.db.selectFrom("factors").selectAll().where("user_id", "=", userId).where("status", "=", "active");
		if (method !== undefined) query = query.where("method", "=", method);
		const rows = await query.orderBy("created_at").execute();
		return rows.map(toRecord).filter((record): record is FactorRecord => record !== null);
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
		await this.db
			.deleteFrom("factors")
			.where("status", "=", "pending")
			.where("pending_expires_at", "<=", this.clock.now().getTime())
			.execute();
	}
}
