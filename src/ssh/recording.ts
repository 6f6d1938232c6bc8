/**
 * Session recording in asciicast v2 (https://docs.asciinema.org/manual/asciicast/v2/):
 * a JSON header line {version: 2, width, height, timestamp, env: {TERM, SHELL}}, then one JSON
 * array per event: [seconds, "o", text] for output and [seconds, "r", "COLSxROWS"] for resizes.
 * Input is not recorded (passwords typed on targets would land on disk).
 *
 * Files live under config.ssh.recordings_dir (default <data_dir>/recordings)/YYYY-MM-DD/<id>.cast,
 * mode 0600; the recordings table holds the relative path, the user, the servers visited and the
 * byte count. Event times come from the monotonic clock (replay timing); the header timestamp and
 * the table's started_at/ended_at come from the injected Clock.
 */
import { createWriteStream, mkdirSync, type WriteStream } from "node:fs";
import { dirname } from "node:path";
import { performance } from "node:perf_hooks";
import { StringDecoder } from "node:string_decoder";
import { PortcullisError } from "../core/errors.ts";
import { recordingPath } from "../servers/recording-files.ts";
import type { ServerRow } from "../storage/server-store.ts";
import type { SshServices } from "./ssh-services.ts";
import { terminalCells, terminalType } from "./terminal-geometry.ts";

/** A runaway `cat /dev/urandom` must not fill the disk: output beyond this is dropped (and noted). */
export const RECORDING_MAX_BYTES = 256 * 1024 * 1024;

export interface RecordingStart {
	readonly userId: string;
	readonly username: string;
	readonly cols: number;
	readonly rows: number;
	readonly term: string;
}

export class SessionRecorder {
	readonly id: string;
	#stream: WriteStream;
	#decoder = new StringDecoder("utf8");
	#t0 = performance.now();
	#bytes = 0;
	#truncated = false;
	#servers: string[] = [];
	#finished: Promise<void> | null = null;

	private constructor(
		private readonly services: Pick<SshServices, "clock">,
		private readonly store: SshServices["recordings"],
		id: string,
		stream: WriteStream,
	) {
		this.id = id;
		this.#stream = stream;
	}

	static async start(services: Pick<SshServices, "clock" | "random" | "config" | "recordings">, input: RecordingStart): Promise<SessionRecorder> {
		const store = services.recordings;
		const now = services.clock.now();
		const day = now.toISOString().slice(0, 10);
		const name = `${services.random.bytes(12).toString("hex")}.cast`;
		const file = `${day}/${name}`;
		const full = recordingPath(services.config, file);
		mkdirSync(dirname(full), { recursive: true, mode: 0o700 });
		const stream = createWriteStream(full, { flags: "wx", mode: 0o600 });
		// An I/O error (disk full) must not take the SSH session down; the row keeps what was written.
		stream.on("error", () => undefined);
		const row = await store.createRecording({ userId: input.userId, username: input.username, file, startedAt: now.getTime() });
		const recorder = new SessionRecorder(services, store, row.id, stream);
		recorder.#write(
			`${JSON.stringify({
				version: 2,
				width: terminalCells(input.cols, 80),
				height: terminalCells(input.rows, 24),
				timestamp: Math.floor(now.getTime() / 1000),
				env: { TERM: terminalType(input.term), SHELL: "portcullis-menu" },
				title: `${input.username}@portcullis`,
			})}\n`,
		);
		return recorder;
	}

	get bytes(): number {
		return this.#bytes;
	}

	#write(line: string): void {
		if (this.#finished) return;
		this.#bytes += Buffer.byteLength(line);
		this.#stream.write(line);
	}

	#time(): number {
		return Math.round(performance.now() - this.#t0) / 1000;
	}

	/** Terminal output (what the user saw). Multi-byte characters split across chunks are kept whole. */
	output(data: Buffer | string): void {
		if (this.#truncated || this.#finished) return;
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
		if (this.#finished) return;
		this.#write(`${JSON.stringify([this.#time(), "r", `${terminalCells(cols, 80)}x${terminalCells(rows, 24)}`])}\n`);
	}

	/** Notes the target entered (the table keeps the last one and the list of all). */
	async enterServer(server: ServerRow): Promise<void> {
		this.#servers.push(server.name);
		await this.store.updateRecording(this.id, { server_id: server.id, servers: JSON.stringify(this.#servers) });
	}

	/** Flushes and closes the file and stamps the row. Idempotent. */
	finish(): Promise<void> {
		if (this.#finished) return this.#finished;
		const tail = this.#decoder.end();
		if (tail.length > 0 && !this.#truncated) this.#write(`${JSON.stringify([this.#time(), "o", tail])}\n`);
		this.#finished = new Promise<void>((resolveFinish) => {
			this.#stream.end(() => resolveFinish());
			this.#stream.once("error", () => resolveFinish());
		}).then(() => this.store.updateRecording(this.id, { ended_at: this.services.clock.now().getTime(), bytes: this.#bytes }));
		return this.#finished;
	}
}

/** Parses a cast file into header and events (for the web player and tests). */
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
