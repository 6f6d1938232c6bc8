/**
 * Session recordings: the `recordings` rows and their chunks (migration 0013). The one store the
 * gateway writes through and the console, the CLI and retention read through, on both engines.
 *
 * Chunked recordings ("db") live in `recording_chunks`; each chunk is appended in one transaction
 * with the row's `chunks`/`last_hash`, guarded by `chunks = seq` (a second writer, or a retry
 * after an unknown outcome, cannot fork the chain). Recordings written before migration 0013
 * ("file") are still read from `ssh.recordings_dir` so they stay playable; they have no chain.
 */
import { createReadStream } from "node:fs";
import { unlink } from "node:fs/promises";
import { type Generated, sql, type Kysely, type Selectable } from "kysely";
import type { Clock } from "../core/clock.ts";
import { PortcullisError } from "../core/errors.ts";
import type { Random } from "../core/random.ts";
import { newId } from "../crypto/tokens.ts";
import { chunkHash, genesisHash } from "./recording-chain.ts";
import { recordingPathIn } from "./recording-files.ts";
import { inTransaction } from "./in-transaction.ts";
import type { Database } from "./schema.ts";

export interface RecordingsTable {
	id: string;
	user_id: string | null;
	server_id: string | null;
	username: string;
	/** JSON array of the server names visited during the session, in order. */
	servers: string;
	started_at: number;
	ended_at: number | null;
	/** "file" recordings only: the path under ssh.recordings_dir; "" for chunked ones. */
	file: string;
	bytes: number;
	/** "db" (chunks, migration 0013) or "file" (written before it). */
	storage: string;
	chunks: number;
	last_hash: string | null;
	last_at: number | null;
	/** "session" (asciicast) or "sftp-file" (one file's captured SFTP content, migration 0026). */
	kind: Generated<string>;
}

export interface RecordingChunksTable {
	recording_id: string;
	seq: number;
	at: number;
	data: string;
	hash: string;
}

declare module "./schema.ts" {
	interface Database {
		recordings: RecordingsTable;
		recording_chunks: RecordingChunksTable;
	}
}

export type RecordingRow = Selectable<RecordingsTable>;

/** Chunks read per query on playback and verification (bounded memory for any length). */
const PAGE = 256;

export type VerifyResult =
	| { readonly id: string; readonly status: "ok"; readonly chunks: number }
	/** Written before migration 0013: a file without a chain; nothing to verify. */
	| { readonly id: string; readonly status: "unchained" }
	| { readonly id: string; readonly status: "broken"; readonly chunk: number; readonly reason: string };

export interface RecordingListOptions {
	limit?: number;
	username?: string;
}

export class RecordingStore {
	constructor(
		private readonly db: Kysely<Database>,
		private readonly clock: Clock,
		private readonly random: Random,
		/** ssh.recordings_dir resolved: where pre-0013 file recordings are. */
		private readonly filesDir: string,
	) {}

	/**
	 * Creates a recording with its first chunk (the asciicast header) in one transaction: a
	 * recording that cannot be written leaves no row behind.
	 */
	async create(input: { userId: string; username: string; startedAt: number; header: string }): Promise<RecordingRow> {
		const id = newId(this.random);
		const hash = chunkHash(genesisHash(id), 0, input.header);
		const at = this.clock.now().getTime();
		const row: RecordingRow = {
			id,
			user_id: input.userId,
			server_id: null,
			username: input.username,
			servers: "[]",
			started_at: input.startedAt,
			ended_at: null,
			file: "",
			bytes: Buffer.byteLength(input.header, "utf8"),
			storage: "db",
			chunks: 1,
			last_hash: hash,
			last_at: at,
			kind: "session",
		};
		await this.db.transaction().execute(async (trx) => {
			await trx.insertInto("recordings").values(row).execute();
			await trx.insertInto("recording_chunks").values({ recording_id: id, seq: 0, at, data: input.header, hash }).execute();
		});
		return row;
	}

	/**
	 * Creates the recording of one file's SFTP content (src/ssh/sftp-capture.ts) with its header
	 * chunk and returns that chunk's hash; the caller chooses the id so the audit can name the capture before the row is written.
	 */
	async createCapture(input: { id: string; userId: string; username: string; serverId: string; server: string; header: string }): Promise<string> {
		const hash = chunkHash(genesisHash(input.id), 0, input.header);
		const at = this.clock.now().getTime();
		await this.db.transaction().execute(async (trx) => {
			await trx
				.insertInto("recordings")
				.values({
					id: input.id,
					user_id: input.userId,
					server_id: input.serverId,
					username: input.username,
					servers: JSON.stringify([input.server]),
					started_at: at,
					ended_at: null,
					file: "",
					bytes: Buffer.byteLength(input.header, "utf8"),
					storage: "db",
					chunks: 1,
					last_hash: hash,
					last_at: at,
					kind: "sftp-file",
				})
				.execute();
			await trx.insertInto("recording_chunks").values({ recording_id: input.id, seq: 0, at, data: input.header, hash }).execute();
		});
		return hash;
	}

	/** The last chunk written (a capture's truncation marker is there), or undefined. */
	async lastChunk(row: RecordingRow): Promise<string | undefined> {
		if (row.storage !== "db" || Number(row.chunks) === 0) return undefined;
		const chunk = await this.db
			.selectFrom("recording_chunks")
			.select("data")
			.where("recording_id", "=", row.id)
			.where("seq", "=", Number(row.chunks) - 1)
			.executeTakeFirst();
		return chunk?.data;
	}

	/**
	 * Appends chunk `seq` after `previous` (the hash of chunk seq-1, or null for the first) and
	 * returns its hash. One transaction: the insert and the row's count/last hash, guarded by the
	 * count, so the chain can only grow at its end and only once per position.
	 */
	async append(id: string, seq: number, previous: string | null, data: string): Promise<string> {
		const hash = chunkHash(previous ?? genesisHash(id), seq, data);
		const at = this.clock.now().getTime();
		await this.db.transaction().execute(async (trx) => {
			const updated = await trx
				.updateTable("recordings")
				.set((eb) => ({ chunks: seq + 1, last_hash: hash, last_at: at, bytes: eb("bytes", "+", Buffer.byteLength(data, "utf8")) }))
				.where("id", "=", id)
				.where("chunks", "=", seq)
				.where("storage", "=", "db")
				.executeTakeFirst();
			if (Number(updated.numUpdatedRows) !== 1) throw new PortcullisError("ERR_CONFLICT", "recording chunk out of sequence");
			await trx.insertInto("recording_chunks").values({ recording_id: id, seq, at, data, hash }).execute();
		});
		return hash;
	}

	async setServers(id: string, serverId: string, servers: readonly string[]): Promise<void> {
		await this.db
			.updateTable("recordings")
			.set({ server_id: serverId, servers: JSON.stringify(servers) })
			.where("id", "=", id)
			.execute();
	}

	async finish(id: string, endedAt: number): Promise<void> {
		await this.db.updateTable("recordings").set({ ended_at: endedAt }).where("id", "=", id).where("ended_at", "is", null).execute();
	}

	async find(id: string): Promise<RecordingRow | undefined> {
		return this.db.selectFrom("recordings").selectAll().where("id", "=", id).executeTakeFirst();
	}

	async list(options: RecordingListOptions = {}): Promise<RecordingRow[]> {
		let query = this.db.selectFrom("recordings").selectAll();
		if (options.username) query = query.where("username", "=", options.username);
		return query
			.orderBy("started_at", "desc")
			.orderBy("id")
			.limit(Math.min(options.limit ?? 200, 5000))
			.execute();
	}

	/** Every recording id, oldest first (for `portcullis recording verify` without an id). */
	async allIds(): Promise<string[]> {
		const rows = await this.db.selectFrom("recordings").select("id").orderBy("started_at").orderBy("id").execute();
		return rows.map((row) => row.id);
	}

	async *#chunks(id: string): AsyncGenerator<Selectable<RecordingChunksTable>> {
		let after = -1;
		for (;;) {
			const page = await this.db
				.selectFrom("recording_chunks")
				.selectAll()
				.where("recording_id", "=", id)
				.where("seq", ">", after)
				.orderBy("seq")
				.limit(PAGE)
				.execute();
			for (const chunk of page) yield chunk;
			if (page.length < PAGE) return;
			after = Number(page[page.length - 1]!.seq);
		}
	}

	/**
	 * The asciicast text of a recording, piece by piece (a page of chunks at a time, or the old
	 * file in 64 KiB reads): playback never holds a whole recording in memory. A running
	 * recording yields what has been flushed so far.
	 */
	async *read(row: RecordingRow): AsyncGenerator<string> {
		if (row.storage === "file") {
			const stream = createReadStream(recordingPathIn(this.filesDir, row.file), { encoding: "utf8", highWaterMark: 64 * 1024 });
			for await (const piece of stream) yield piece as string;
			return;
		}
		for await (const chunk of this.#chunks(row.id)) yield chunk.data;
	}

	/** Checks the chain of one recording and names the first chunk that breaks it. */
	async verify(id: string): Promise<VerifyResult> {
		const row = await this.find(id);
		if (row === undefined) throw new PortcullisError("ERR_NOT_FOUND", `no recording ${JSON.stringify(id.slice(0, 64))}`);
		if (row.storage === "file") return { id, status: "unchained" };
		let previous = genesisHash(id);
		let expected = 0;
		for await (const chunk of this.#chunks(id)) {
			const seq = Number(chunk.seq);
			if (seq !== expected) return { id, status: "broken", chunk: expected, reason: `chunk ${expected} is missing` };
			if (chunkHash(previous, seq, chunk.data) !== chunk.hash) return { id, status: "broken", chunk: seq, reason: `chunk ${seq} does not match its hash` };
			previous = chunk.hash;
			expected += 1;
		}
		const count = Number(row.chunks);
		if (expected < count) return { id, status: "broken", chunk: expected, reason: `chunk ${expected} is missing (the recording has ${count})` };
		if (expected > count) return { id, status: "broken", chunk: count, reason: `chunk ${count} was added after the recording's last chunk` };
		if (count > 0 && row.last_hash !== previous)
			return { id, status: "broken", chunk: count - 1, reason: `chunk ${count - 1} is not the recording's last chunk` };
		return { id, status: "ok", chunks: count };
	}

	/**
	 * Recordings whose last activity (end, else last chunk, else start) is before `cutoff`,
	 * oldest first, at most `limit`: what retention deletes next.
	 */
	async expired(cutoff: number, limit: number): Promise<RecordingRow[]> {
		return this.db
			.selectFrom("recordings")
			.selectAll()
			.where(sql<number>`coalesce(ended_at, last_at, started_at)`, "<", cutoff)
			.orderBy("started_at")
			.limit(limit)
			.execute();
	}

	/**
	 * Deletes the recordings' chunks and rows (in one transaction, or the caller's: a unit of work)
	 * and returns those this call deleted: on two nodes purging at once, each deletion is reported
	 * (and audited) by exactly one of them. Old files are left to removeFiles, after the commit.
	 */
	async removeRows(rows: readonly RecordingRow[]): Promise<RecordingRow[]> {
		if (rows.length === 0) return [];
		const ids = rows.map((row) => row.id);
		const gone = await inTransaction(this.db, async (trx) => {
			await trx.deleteFrom("recording_chunks").where("recording_id", "in", ids).execute();
			return trx.deleteFrom("recordings").where("id", "in", ids).returning("id").execute();
		});
		const deleted = new Set(gone.map((row) => row.id));
		return rows.filter((row) => deleted.has(row.id));
	}

	/** Unlinks the files of pre-0013 recordings whose rows are gone (a missing file is fine). */
	async removeFiles(rows: readonly RecordingRow[]): Promise<void> {
		for (const row of rows) {
			if (row.storage !== "file" || row.file === "") continue;
			try {
				await unlink(recordingPathIn(this.filesDir, row.file));
			} catch (error) {
				if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
			}
		}
	}
}
