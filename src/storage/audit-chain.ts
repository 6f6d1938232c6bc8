/**
 * The audit log's hash chain (docs/operations.md, "Audit chain and `portcullis audit verify`").
 *
 * One global chain, serialised by the head row `audit_chain` (migration 0012): a writer first
 * UPDATEs the head (taking its row lock until commit on PostgreSQL; SQLite has a single writer),
 * appends its events at the next positions, each with the hash of the one before, and stores the
 * last hash back in the head, all inside the transaction that made the change being audited. Nodes
 * therefore append in one order, and an event that rolls back leaves no position behind.
 *
 * Each link is an HMAC-SHA-256 (RFC 2104) under a key derived with HKDF (RFC 5869) from the secret
 * key that already seals secrets at rest: someone who can write to the database but has not read
 * the key file cannot recompute the chain after editing or deleting an event.
 */
import { createHmac, hkdfSync } from "node:crypto";
import type { Kysely, Transaction } from "kysely";
import { PortcullisError } from "../core/errors.ts";
import type { Database } from "./schema.ts";

/** The fields of an event as stored (after cleaning), i.e. exactly what the hash covers. */
export interface ChainedFields {
	readonly at: number;
	readonly event: string;
	readonly outcome: string;
	readonly user_id: string | null;
	readonly username: string | null;
	readonly actor: string | null;
	readonly channel: string | null;
	readonly method: string | null;
	readonly source: string | null;
	readonly detail: string | null;
}

export type VerifyResult =
	| { readonly ok: true; readonly events: number; readonly legacy: number; readonly headSeq: number; readonly headHash: string }
	| { readonly ok: false; readonly eventId: number | null; readonly reason: string; readonly checked: number };

const PAGE = 2000;

/** The audit chain's key: HKDF-SHA-256 of the secrets key, under its own label (never the sealing key itself). */
export function auditChainKey(secretKey: Buffer): Buffer {
	return Buffer.from(hkdfSync("sha256", secretKey, Buffer.alloc(0), "portcullis audit chain v1", 32));
}

export function genesisHash(legacyMaxId: number): string {
	return `genesis:${legacyMaxId}`;
}

export function linkHash(key: Buffer, prevHash: string, seq: number, fields: ChainedFields): string {
	// A JSON array is an unambiguous encoding of the fields (no separator can be forged by a value).
	const body = JSON.stringify([
		prevHash,
		seq,
		Number(fields.at),
		fields.event,
		fields.outcome,
		fields.user_id,
		fields.username,
		fields.actor,
		fields.channel,
		fields.method,
		fields.source,
		fields.detail,
	]);
	return createHmac("sha256", key).update(body).digest("hex");
}

export class AuditChain {
	constructor(private readonly key: Buffer) {}

	/** Appends `rows` to the chain inside `trx` (the head stays locked until that transaction ends). */
	async append(trx: Transaction<Database>, rows: readonly ChainedFields[]): Promise<void> {
		if (rows.length === 0) return;
		const head = await trx
			.updateTable("audit_chain")
			.set((eb) => ({ seq: eb("seq", "+", rows.length) }))
			.where("id", "=", 1)
			.returning(["seq", "hash"])
			.executeTakeFirst();
		if (head === undefined) throw new PortcullisError("ERR_DATABASE", "the audit chain's head row is missing");
		let seq = Number(head.seq) - rows.length;
		let prev = head.hash;
		const linked = rows.map((row) => {
			seq += 1;
			const hash = linkHash(this.key, prev, seq, row);
			const values = { ...row, chain_seq: seq, prev_hash: prev, hash };
			prev = hash;
			return values;
		});
		// One INSERT for the batch: the head is held for as few round trips as possible.
		await trx.insertInto("audit_events").values(linked).execute();
		await trx.updateTable("audit_chain").set({ hash: prev }).where("id", "=", 1).execute();
	}

	/**
	 * Walks the chain in order and returns the first broken link: an event whose content no longer
	 * matches its hash (edited), a gap in the positions or a back-link that does not match
	 * (deleted or reordered), an event outside the chain written after it began (inserted), or a
	 * head that does not end where the events end (the newest events deleted).
	 */
	async verify(db: Kysely<Database>): Promise<VerifyResult> {
		const head = await db.selectFrom("audit_chain").selectAll().where("id", "=", 1).executeTakeFirst();
		if (head === undefined) return { ok: false, eventId: null, reason: "the audit chain's head row is missing", checked: 0 };
		const legacyMaxId = Number(head.legacy_max_id);
		const intruder = await db
			.selectFrom("audit_events")
			.select("id")
			.where("chain_seq", "is", null)
			.where("id", ">", legacyMaxId)
			.orderBy("id")
			.limit(1)
			.executeTakeFirst();
		if (intruder !== undefined)
			return { ok: false, eventId: Number(intruder.id), reason: `event #${intruder.id} is not in the chain (inserted around it)`, checked: 0 };
		const legacyRow = await db
			.selectFrom("audit_events")
			.select((eb) => eb.fn.countAll<number>().as("n"))
			.where("chain_seq", "is", null)
			.executeTakeFirstOrThrow();
		let prev = genesisHash(legacyMaxId);
		let seq = 0;
		let lastId: number | null = null;
		for (;;) {
			const page = await db.selectFrom("audit_events").selectAll().where("chain_seq", ">", seq).orderBy("chain_seq").limit(PAGE).execute();
			for (const row of page) {
				const id = Number(row.id);
				const at = Number(row.chain_seq);
				if (at !== seq + 1) {
					const missing = at - seq - 1;
					return {
						ok: false,
						eventId: id,
						reason: `${missing} event(s) missing before event #${id} (chain positions ${seq + 1}-${at - 1}; deleted)`,
						checked: seq,
					};
				}
				if (row.hash !== linkHash(this.key, row.prev_hash ?? "", at, row)) {
					return { ok: false, eventId: id, reason: `event #${id} was altered (its content does not match its hash)`, checked: seq };
				}
				if (row.prev_hash !== prev) {
					return { ok: false, eventId: id, reason: `event #${id} does not link to the event before it (deleted, replaced or reordered)`, checked: seq };
				}
				prev = row.hash;
				seq = at;
				lastId = id;
			}
			if (page.length < PAGE) break;
		}
		if (seq !== Number(head.seq) || prev !== head.hash) {
			const after = lastId === null ? "the start of the chain" : `event #${lastId}`;
			return {
				ok: false,
				eventId: lastId,
				reason: `the chain ends at position ${seq} but its head says ${head.seq}: the newest ${Math.max(Number(head.seq) - seq, 0) || "?"} event(s) after ${after} are missing`,
				checked: seq,
			};
		}
		return { ok: true, events: seq, legacy: Number(legacyRow.n), headSeq: Number(head.seq), headHash: head.hash };
	}
}
