/**
 * SFTP content capture (docs/ssh-relay.md "Content capture"): on a server whose admin turned
 * `capture_sftp_content` on (migration 0026), the bytes of each opened file that pass through the
 * gateway (WRITE data from the client, DATA replies from the target to the client's READs) are
 * stored as a recording of kind "sftp-file", in the same hash-chained chunks as session recordings
 * (migration 0013, storage/recording-store.ts): retention, `portcullis recording verify` and the
 * admin download apply unchanged. Without the setting no FileCapture exists and nothing is kept.
 *
 * Chunks: 0 is a JSON header (server, path, open flags, the cap); then `{"op","offset","data"}`
 * with `data` base64 of at most FLUSH_BYTES contiguous bytes; a capture that reached the cap ends
 * with `{"truncated":true,"capturedBytes":N}`.
 *
 * Memory: bytes are held only until a chunk is full (FLUSH_BYTES) and while its write is queued;
 * `wait()` tells the caller to stop reading its source (backpressure) while more than HIGH_WATER
 * bytes wait for the database, so a fast transfer never piles a file up in memory. A write that
 * fails marks the capture failed; callers then end the transfer (fail closed: an admin who asked
 * for the content never gets a transfer that silently went uncaptured).
 */

/** Raw bytes per chunk (base64 makes the stored text a third larger). */
export const FLUSH_BYTES = 128 * 1024;
/** Bytes queued for the database above which the source is paused. */
export const HIGH_WATER = 1024 * 1024;

export interface CaptureSink {
	createCapture(input: { id: string; userId: string; username: string; serverId: string; server: string; header: string }): Promise<string>;
	append(id: string, seq: number, previous: string | null, data: string): Promise<string>;
	finish(id: string, endedAt: number): Promise<void>;
}

export interface CaptureContext {
	readonly sink: CaptureSink;
	readonly newId: () => string;
	readonly now: () => number;
	readonly userId: string;
	readonly username: string;
	readonly serverId: string;
	readonly server: string;
	/** ssh.sftp_capture_max_bytes. */
	readonly maxBytes: number;
}

/** Opens the capture of one file; built per connection and server by the caller (ssh/channels.ts). */
export type CaptureOpener = (path: string, flags: readonly string[]) => FileCapture;

export interface CaptureSummary {
	readonly id: string;
	readonly bytes: number;
	readonly truncated: boolean;
	readonly failed?: string;
}

export function captureOpener(context: CaptureContext): CaptureOpener {
	return (path, flags) => new FileCapture(context, path, flags);
}

export class FileCapture {
	readonly id: string;
	#captured = 0;
	#truncated = false;
	#failure: string | null = null;
	#closed = false;
	/** The chunk being filled: contiguous bytes of one direction. */
	#pending: { op: "read" | "write"; offset: number; parts: Buffer[]; length: number } | null = null;
	#queue: Promise<void>;
	#queued = 0;
	#seq = 1;
	#previous: string | null = null;
	/** Told once, when a database write fails. */
	onFailure: ((message: string) => void) | null = null;

	constructor(
		private readonly context: CaptureContext,
		path: string,
		flags: readonly string[],
	) {
		this.id = context.newId();
		const header = JSON.stringify({ kind: "sftp-file", server: context.server, path, flags, maxBytes: context.maxBytes });
		this.#queue = context.sink
			.createCapture({ id: this.id, userId: context.userId, username: context.username, serverId: context.serverId, server: context.server, header })
			.then(
				(hash) => {
					this.#previous = hash;
				},
				(error: unknown) => this.#fail(error),
			);
	}

	get failure(): string | null {
		return this.#failure;
	}

	get summary(): CaptureSummary {
		return { id: this.id, bytes: this.#captured, truncated: this.#truncated, ...(this.#failure !== null ? { failed: this.#failure } : {}) };
	}

	/**
	 * Bytes of the file at `offset` that went through (READ reply data or WRITE data). The buffer
	 * is kept by reference until its chunk is flushed (callers hand buffers they no longer change).
	 */
	data(op: "read" | "write", offset: number, bytes: Buffer): void {
		if (this.#closed || this.#failure !== null || this.#truncated || bytes.length === 0) return;
		let piece = bytes;
		const room = this.context.maxBytes - this.#captured;
		if (piece.length > room) {
			piece = piece.subarray(0, room);
			this.#truncated = true;
		}
		if (piece.length > 0) {
			const pending = this.#pending;
			if (pending !== null && (pending.op !== op || pending.offset + pending.length !== offset)) this.#flush();
			if (this.#pending === null) this.#pending = { op, offset, parts: [], length: 0 };
			this.#pending.parts.push(piece);
			this.#pending.length += piece.length;
			this.#captured += piece.length;
			if (this.#pending.length >= FLUSH_BYTES) this.#flush();
		}
		if (this.#truncated) this.#flush();
	}

	/** A promise to wait on before reading more from the source, or null (little is queued). */
	wait(): Promise<void> | null {
		return this.#queued > HIGH_WATER ? this.#queue : null;
	}

	/** Writes what is pending and the truncation marker, then ends the recording. Never rejects. */
	async close(): Promise<CaptureSummary> {
		if (!this.#closed) {
			this.#flush();
			this.#closed = true;
			if (this.#truncated) this.#enqueue(JSON.stringify({ truncated: true, capturedBytes: this.#captured }), 0);
			const { sink, now } = this.context;
			this.#queue = this.#queue.then(() => (this.#failure === null ? sink.finish(this.id, now()) : undefined)).catch((error: unknown) => this.#fail(error));
		}
		await this.#queue;
		return this.summary;
	}

	#flush(): void {
		const pending = this.#pending;
		if (pending === null) return;
		this.#pending = null;
		const data = pending.parts.length === 1 ? pending.parts[0]! : Buffer.concat(pending.parts, pending.length);
		this.#enqueue(JSON.stringify({ op: pending.op, offset: pending.offset, data: data.toString("base64") }), pending.length);
	}

	#enqueue(text: string, raw: number): void {
		const seq = this.#seq++;
		this.#queued += raw;
		this.#queue = this.#queue.then(async () => {
			try {
				if (this.#failure !== null) return;
				this.#previous = await this.context.sink.append(this.id, seq, this.#previous, text);
			} catch (error) {
				this.#fail(error);
			} finally {
				this.#queued -= raw;
			}
		});
	}

	#fail(error: unknown): void {
		if (this.#failure !== null) return;
		this.#failure = (error instanceof Error ? error.message : String(error)).slice(0, 200);
		this.onFailure?.(this.#failure);
	}
}
