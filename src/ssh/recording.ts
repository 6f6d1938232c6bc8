/**
 * Session recording in asciicast v2 (https://docs.asciinema.org/manual/asciicast/v2/):
 * a JSON header line {version: 2, width, height, timestamp, env: {TERM, SHELL}}, then one JSON
 * array per event: [seconds, "o", text] for output and [seconds, "r", "COLSxROWS"] for resizes.
 * Input is not recorded (passwords typed on targets would land in the recording).
 *
 * The text goes to the shared database as chunks (storage/recording-store.ts, migration 0013)
 * while the session runs: lines are buffered and flushed when 64 KiB are waiting or
 * `ssh.recording_flush_ms` after the first waiting line, whichever comes first, one append in
 * flight at a time. A node killed mid-session therefore keeps everything up to its last flush,
 * and any node can play the recording. The row and the header are written (one transaction)
 * before the session starts, so a database that cannot take the recording is known before
 * anything happens on a server.
 *
 * A failed write is never swallowed: the recorder stops and calls its failure handler once
 * (channels.ts applies the strict / best-effort mode, src/core/recording-mode.ts). Event times
 * come from the monotonic clock (replay timing); the header timestamp and the row's times from
 * the injected Clock.
 */
import { performance } from "node:perf_hooks";
import { StringDecoder } from "node:string_decoder";
import { PortcullisError } from "../core/errors.ts";
import type { ServerRow } from "../storage/server-store.ts";
import type { SshServices } from "./ssh-services.ts";
import { terminalCells, terminalType } from "./terminal-geometry.ts";

/** A runaway `cat /dev/urandom` must not fill the database: output beyond this is dropped (and noted). */
export const RECORDING_MAX_BYTES = 256 * 1024 * 1024;
/** Waiting text that triggers a flush before the timer. */
export const RECORDING_FLUSH_BYTES = 64 * 1024;

export interface RecordingStart {
	readonly userId: string;
	readonly username: string;
	readonly cols: number;
	readonly rows: number;
	readonly term: string;
}

export type RecorderServices = Pick<SshServices, "clock" | "config" | "recordings">;

export class SessionRecorder {
	readonly id: string;
	#decoder = new StringDecoder("utf8");
	#t0 = performance.now();
	#bytes = 0;
	#truncated = false;
	#servers: string[] = [];
	#pending: string[] = [];
	#pendingBytes = 0;
	#seq = 0;
	#previous: string | null = null;
	#inFlight: Promise<void> | null = null;
	#timer: NodeJS.Timeout | null = null;
	#failure: unknown = null;
	#failed = false;
	#onFailure: ((error: unknown) => void) | null = null;
	#finished: Promise<void> | null = null;

	private constructor(
		private readonly services: RecorderServices,
		id: string,
	) {
		this.id = id;
	}

	/**
	 * Creates the recording and writes its header. Throws (a coded error from the store) when the
	 * recording cannot be written; the caller decides whether the session may go on unrecorded.
	 */
	static async start(services: RecorderServices, input: RecordingStart): Promise<SessionRecorder> {
		const now = services.clock.now();
		const header = `${JSON.stringify({
			version: 2,
			width: terminalCells(input.cols, 80),
			height: terminalCells(input.rows, 24),
			timestamp: Math.floor(now.getTime() / 1000),
			env: { TERM: terminalType(input.term), SHELL: "portcullis-menu" },
			title: `${input.username}@portcullis`,
		})}\n`;
		const row = await services.recordings.create({ userId: input.userId, username: input.username, startedAt: now.getTime(), header });
		const recorder = new SessionRecorder(services, row.id);
		recorder.#bytes = Number(row.bytes);
		recorder.#seq = Number(row.chunks);
		recorder.#previous = row.last_hash;
		return recorder;
	}

	/** Called once, on the first write that fails after start (the recorder has stopped by then). */
	onFailure(handler: (error: unknown) => void): void {
		this.#onFailure = handler;
		if (this.#failed) handler(this.#failure);
	}

	get bytes(): number {
		return this.#bytes;
	}

	/** True once a write failed: nothing more is recorded. */
	get failed(): boolean {
		return this.#failed;
	}

	/** Chunks written and the hash of the last one (what the audit log keeps at the end). */
	get chain(): { readonly chunks: number; readonly lastHash: string | null } {
		return { chunks: this.#seq, lastHash: this.#previous };
	}

	#fail(error: unknown): void {
		if (this.#failed) return;
		this.#failed = true;
		this.#failure = error;
		this.#pending = [];
		this.#pendingBytes = 0;
		if (this.#timer) clearTimeout(this.#timer);
		this.#timer = null;
		this.#onFailure?.(error);
	}

	/** Starts one append of everything waiting, unless one is in flight (the chain is sequential). */
	#kick(): void {
		if (this.#inFlight !== null || this.#pending.length === 0 || this.#failed) return;
		if (this.#timer) clearTimeout(this.#timer);
		this.#timer = null;
		const data = this.#pending.join("");
		this.#pending = [];
		this.#pendingBytes = 0;
		const seq = this.#seq;
		this.#inFlight = this.services.recordings
			.append(this.id, seq, this.#previous, data)
			.then(
				(hash) => {
					this.#previous = hash;
					this.#seq = seq + 1;
				},
				(error: unknown) => this.#fail(error),
			)
			.finally(() => {
				this.#inFlight = null;
				if (this.#pendingBytes >= RECORDING_FLUSH_BYTES) this.#kick();
				else if (this.#pending.length > 0) this.#arm();
			});
	}

	#arm(): void {
		if (this.#timer !== null || this.#failed || this.#finished) return;
		this.#timer = setTimeout(() => {
			this.#timer = null;
			this.#kick();
		}, this.services.config.ssh.recording_flush_ms);
	}

	/** Waits until everything written so far is in the database (or the recorder failed). */
	async #drain(): Promise<void> {
		for (;;) {
			if (this.#inFlight === null) this.#kick();
			const current = this.#inFlight;
			if (current === null) return;
			await current;
		}
	}

	#write(line: string): void {
		if (this.#failed) return;
		const size = Buffer.byteLength(line);
		this.#bytes += size;
		this.#pending.push(line);
		this.#pendingBytes += size;
		if (this.#pendingBytes >= RECORDING_FLUSH_BYTES) this.#kick();
		else this.#arm();
	}

	#time(): number {
		return Math.round(performance.now() - this.#t0) / 1000;
	}

	/** Terminal output (what the user saw). Multi-byte characters split across chunks are kept whole. */
	output(data: Buffer | string): void {
		if (this.#truncated || this.#finished || this.#failed) return;
		const text = typeof data === "string" ? data : this.#decoder.write(data);
		if (text.length === 0) return;
		if (this.#bytes > RECORDING_MAX_BYTES) {
			this.#truncated = true;
			this.#write(`${JSON.stringify([this.#time(), "o", "\r\n[portcullis: recording size limit reached; further output not recorded]\r\n"])}\n`);
			return;
		}
		this.#write(`${JSON.stringify([this.#time(), "o", text])}\n`);
	}

	resize(cols: number, rows: number): void {
		if (this.#finished || this.#failed) return;
		this.#write(`${JSON.stringify([this.#time(), "r", `${terminalCells(cols, 80)}x${terminalCells(rows, 24)}`])}\n`);
	}

	/** Notes the target entered (the row keeps the last one and the list of all). A failed write stops the recorder. */
	async enterServer(server: ServerRow): Promise<void> {
		if (this.#failed) return;
		this.#servers.push(server.name);
		try {
			await this.services.recordings.setServers(this.id, server.id, this.#servers);
		} catch (error) {
			this.#fail(error);
		}
	}

	/**
	 * Flushes what is waiting and stamps the end. Idempotent and never rejects: a write that fails
	 * here goes to the failure handler like any other.
	 */
	finish(): Promise<void> {
		if (this.#finished) return this.#finished;
		const tail = this.#decoder.end();
		if (tail.length > 0 && !this.#truncated) this.#write(`${JSON.stringify([this.#time(), "o", tail])}\n`);
		this.#finished = (async () => {
			if (this.#timer) clearTimeout(this.#timer);
			this.#timer = null;
			await this.#drain();
			if (this.#failed) return;
			try {
				await this.services.recordings.finish(this.id, this.services.clock.now().getTime());
			} catch (error) {
				this.#fail(error);
			}
		})();
		return this.#finished;
	}
}

/** Parses a cast text into header and events (for the web player and tests). */
export function parseCast(text: string): { header: Record<string, unknown>; events: [number, string, string][] } {
	const lines = text.split("\n").filter((line) => line.length > 0);
	if (lines.length === 0) throw new PortcullisError("ERR_INPUT", "empty recording");
	const header = JSON.parse(lines[0]!) as Record<string, unknown>;
	if (header.version !== 2) throw new PortcullisError("ERR_INPUT", "not an asciicast v2 recording");
	const events: [number, string, string][] = [];
	for (const line of lines.slice(1)) {
		const event: unknown = JSON.parse(line);
		if (!Array.isArray(event) || event.length !== 3 || typeof event[0] !== "number" || typeof event[1] !== "string" || typeof event[2] !== "string") {
			throw new PortcullisError("ERR_INPUT", "malformed asciicast event");
		}
		events.push([event[0], event[1], event[2]]);
	}
	return { header, events };
}

/**
 * Output of a session without a PTY as a terminal would show it: every LF not already after a CR
 * becomes CR LF (what the tty's ONLCR does when there is one; RFC 4254 §6.2 leaves line mode to
 * the tty). Byte-wise, so a UTF-8 character split across chunks is untouched. A CR that ended the
 * previous chunk costs one extra CR here, which a terminal draws identically.
 */
export function terminalLineEndings(data: Buffer): Buffer {
	let count = 0;
	for (let index = 0; index < data.length; index++) if (data[index] === 0x0a && (index === 0 || data[index - 1] !== 0x0d)) count++;
	if (count === 0) return data;
	const out = Buffer.allocUnsafe(data.length + count);
	let at = 0;
	for (let index = 0; index < data.length; index++) {
		const byte = data[index]!;
		if (byte === 0x0a && (index === 0 || data[index - 1] !== 0x0d)) out[at++] = 0x0d;
		out[at++] = byte;
	}
	return out;
}
