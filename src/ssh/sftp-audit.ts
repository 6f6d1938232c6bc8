/**
 * The audit trail of a relayed SFTP session (docs/ssh-relay.md "File transfers
 * in the audit trail"). The relay feeds both directions through SftpPacketReader
 * (sftp-packets.ts); this matches requests to the target's replies by request id and reports:
 *
 * - open (path, read/write/create/truncate/append), with its outcome (HANDLE or STATUS);
 * - close of a file: path and the bytes read (DATA replies) and written (WRITE requests) through
 *   that handle; a handle still open when the channel ends is reported as closed by the end;
 * - remove, rename (and OpenSSH's posix-rename), mkdir, rmdir, setstat/fsetstat (which attributes),
 *   symlink and hardlink, each with the target's STATUS as its outcome.
 *
 * File content is never kept, unless the server's admin turned content capture on (sftp-capture.ts):
 * then the data of each WRITE (as the client sent it) and of each DATA reply to a READ (as the target
 * sent it, matched by request id and handle) goes to the file's capture, and the close event names
 * the capture. Memory is bounded: at most MAX_PENDING requests awaiting a reply and
 * MAX_HANDLES open files are tracked; a peer that goes beyond, or sends a malformed packet, or a
 * target that speaks another SFTP version than 3, ends the channel (fail closed: the audit never
 * silently stops while the transfer goes on).
 */
import type { CaptureOpener, CaptureSummary, FileCapture } from "./sftp-capture.ts";
import { SFTP, SFTP_HANDLE_MAX, SftpFields, SftpMalformed, type SftpPacket, SftpPacketReader } from "./sftp-packets.ts";

/** OpenSSH's sftp keeps 64 requests in flight by default (-R); a few thousand leaves room for any client. */
export const MAX_PENDING = 4096;
/** OpenSSH sftp-server's handle table is bounded too; 1024 open files per channel is plenty. */
export const MAX_HANDLES = 1024;

/** draft-02 §6.3 pflags. */
const OPEN_FLAGS: readonly [number, string][] = [
	[0x01, "read"],
	[0x02, "write"],
	[0x04, "append"],
	[0x08, "create"],
	[0x10, "truncate"],
	[0x20, "exclusive"],
];

export interface SftpAuditEvent {
	readonly op: string;
	readonly outcome: "success" | "failure" | "info";
	readonly detail: Record<string, unknown>;
}

type Pending =
	| { readonly op: "open"; readonly path: string; readonly flags: string[] }
	| { readonly op: "close"; readonly handle: string }
	| { readonly op: "read"; readonly handle: string; readonly offset: number }
	| { readonly op: "simple"; readonly name: string; readonly detail: Record<string, unknown> };

interface OpenFile {
	readonly path: string;
	readonly flags: string[];
	bytesRead: number;
	bytesWritten: number;
	readonly capture: FileCapture | null;
}

/** Where the file data that streams after a WRITE's or DATA's kept prefix goes. */
interface Body {
	readonly capture: FileCapture;
	readonly op: "read" | "write";
	offset: number;
	left: number;
}

/** draft-02 §7 status codes, named for the audit. */
const STATUS_NAMES = ["ok", "eof", "no-such-file", "permission-denied", "failure", "bad-message", "no-connection", "connection-lost", "op-unsupported"];

export class SftpAudit {
	readonly #pending = new Map<number, Pending>();
	readonly #files = new Map<string, OpenFile>();
	readonly #toTarget: SftpPacketReader;
	readonly #toClient: SftpPacketReader;
	#failed: string | null = null;
	readonly #captures = new Set<FileCapture>();
	#captureFailure: string | null = null;
	#clientBody: Body | null = null;
	#targetBody: Body | null = null;

	constructor(
		private readonly emit: (event: SftpAuditEvent) => void,
		/** Null (the default): the server's content capture is off and no byte of any file is kept. */
		private readonly capture: CaptureOpener | null = null,
	) {
		this.#toTarget = new SftpPacketReader((packet) => this.#request(packet), capture ? (bytes) => this.#body(this.#clientBody, bytes) : null);
		this.#toClient = new SftpPacketReader((packet) => this.#reply(packet), capture ? (bytes) => this.#body(this.#targetBody, bytes) : null);
	}

	/** Content capture: a promise to wait on before relaying more (its database writes are behind), or null. */
	wait(): Promise<void> | null {
		for (const capture of this.#captures) {
			const wait = capture.wait();
			if (wait !== null) return wait;
		}
		return null;
	}

	#body(body: Body | null, bytes: Buffer): void {
		if (body === null || body.left <= 0) return;
		const piece = bytes.length > body.left ? bytes.subarray(0, body.left) : bytes;
		body.capture.data(body.op, body.offset, piece);
		body.offset += piece.length;
		body.left -= piece.length;
	}

	/** Why the stream was refused, once it was. */
	get failure(): string | null {
		return this.#failed;
	}

	/** Client → target bytes. False: malformed or over a bound; the caller ends the channel. */
	fromClient(chunk: Buffer): boolean {
		return this.#feed(this.#toTarget, chunk, "client");
	}

	/** Target → client bytes. */
	fromTarget(chunk: Buffer): boolean {
		return this.#feed(this.#toClient, chunk, "target");
	}

	/** The channel ended: files still open are reported with what went through them (after their captures are stored). */
	async end(): Promise<void> {
		const closing = [...this.#files.values()].map((file) => this.#closed(file, "info", { closedBy: "channel-end" }));
		this.#files.clear();
		this.#pending.clear();
		await Promise.all(closing);
	}

	#feed(reader: SftpPacketReader, chunk: Buffer, from: "client" | "target"): boolean {
		if (this.#failed !== null) return false;
		if (this.#captureFailure !== null) {
			this.#failed = `content capture failed: ${this.#captureFailure}`.slice(0, 200);
			return false;
		}
		try {
			reader.push(chunk);
			return true;
		} catch (error) {
			if (!(error instanceof SftpMalformed)) throw error;
			this.#failed = `${from}: ${error.message}`.slice(0, 200);
			return false;
		}
	}

	#track(id: number, pending: Pending): void {
		if (this.#pending.size >= MAX_PENDING && !this.#pending.has(id)) throw new SftpMalformed(`more than ${MAX_PENDING} requests in flight`);
		this.#pending.set(id, pending);
	}

	#request({ type, kept }: SftpPacket): void {
		this.#clientBody = null;
		const fields = new SftpFields(kept);
		switch (type) {
			case SFTP.INIT:
				return;
			case SFTP.OPEN: {
				const id = fields.uint32();
				const path = fields.text();
				const pflags = fields.uint32();
				fields.attrs();
				const flags = OPEN_FLAGS.filter(([bit]) => pflags & bit).map(([, name]) => name);
				return this.#track(id, { op: "open", path, flags });
			}
			case SFTP.CLOSE: {
				const id = fields.uint32();
				return this.#track(id, { op: "close", handle: fields.bytes(SFTP_HANDLE_MAX).toString("hex") });
			}
			case SFTP.READ: {
				const id = fields.uint32();
				const handle = fields.bytes(SFTP_HANDLE_MAX).toString("hex");
				const offset = Number(fields.uint64());
				// Only reads of tracked files are matched to their DATA replies (not directory handles).
				if (this.#files.has(handle)) this.#track(id, { op: "read", handle, offset });
				return;
			}
			case SFTP.WRITE: {
				fields.uint32();
				const handle = fields.bytes(SFTP_HANDLE_MAX).toString("hex");
				const offset = Number(fields.uint64());
				const length = fields.uint32();
				const file = this.#files.get(handle);
				if (file) file.bytesWritten += length;
				if (file?.capture) this.#clientBody = this.#startBody(file.capture, "write", offset, length, fields.rest());
				return;
			}
			case SFTP.REMOVE:
			case SFTP.MKDIR:
			case SFTP.RMDIR:
			case SFTP.SETSTAT:
			case SFTP.FSETSTAT:
			case SFTP.RENAME:
			case SFTP.SYMLINK: {
				const id = fields.uint32();
				const [name, detail] = this.#changeRequest(type, fields);
				return this.#track(id, { op: "simple", name, detail });
			}
			case SFTP.EXTENDED:
				return this.#extended(fields);
			default:
				// Reads of metadata (STAT, READDIR, REALPATH, …) change nothing; their ids are not tracked.
				return;
		}
	}

	/** The fields of a request that changes the file system (after its id), as the audit names them. */
	#changeRequest(type: number, fields: SftpFields): [string, Record<string, unknown>] {
		switch (type) {
			case SFTP.REMOVE:
				return ["remove", { path: fields.text() }];
			case SFTP.MKDIR:
				return ["mkdir", { path: fields.text(), attrs: fields.attrs() }];
			case SFTP.RMDIR:
				return ["rmdir", { path: fields.text() }];
			case SFTP.SETSTAT:
				return ["setstat", { path: fields.text(), attrs: fields.attrs() }];
			case SFTP.FSETSTAT: {
				const handle = fields.bytes(SFTP_HANDLE_MAX).toString("hex");
				return ["setstat", { path: this.#files.get(handle)?.path ?? null, attrs: fields.attrs() }];
			}
			case SFTP.RENAME:
				return ["rename", { from: fields.text(), to: fields.text() }];
			default:
				// SYMLINK: OpenSSH sends (target, link), the reverse of draft-02; both are recorded as sent.
				return ["symlink", { first: fields.text(), second: fields.text() }];
		}
	}

	#extended(fields: SftpFields): void {
		const id = fields.uint32();
		const name = fields.text(256);
		// OpenSSH's extensions that change the file system (PROTOCOL in openssh-portable).
		if (name === "posix-rename@openssh.com")
			this.#track(id, { op: "simple", name: "rename", detail: { from: fields.text(), to: fields.text(), extension: name } });
		else if (name === "hardlink@openssh.com") this.#track(id, { op: "simple", name: "hardlink", detail: { from: fields.text(), to: fields.text() } });
		else if (name === "lsetstat@openssh.com")
			this.#track(id, { op: "simple", name: "setstat", detail: { path: fields.text(), attrs: fields.attrs(), extension: name } });
		else if (name === "copy-data") this.#track(id, { op: "simple", name: "copy-data", detail: { extension: name } });
	}

	/** The data that came with the kept prefix goes to the capture now; the rest follows through onBody. */
	#startBody(capture: FileCapture, op: "read" | "write", offset: number, length: number, head: Buffer): Body {
		const body: Body = { capture, op, offset, left: length };
		this.#body(body, head);
		return body;
	}

	#reply({ type, kept }: SftpPacket): void {
		this.#targetBody = null;
		const fields = new SftpFields(kept);
		if (type === SFTP.VERSION) {
			const version = fields.uint32();
			// The layouts parsed here are version 3's (what OpenSSH speaks); another version would be misread.
			if (version !== 3) throw new SftpMalformed(`SFTP version ${version}`);
			return;
		}
		if (kept.length < 4) return;
		const id = fields.uint32();
		const pending = this.#pending.get(id);
		if (pending === undefined) return;
		if (type === SFTP.DATA) {
			const length = fields.uint32();
			if (pending.op === "read") {
				const file = this.#files.get(pending.handle);
				if (file) file.bytesRead += length;
				if (file?.capture) this.#targetBody = this.#startBody(file.capture, "read", pending.offset, length, fields.rest());
			}
			this.#pending.delete(id);
			return;
		}
		this.#pending.delete(id);
		if (type === SFTP.HANDLE && pending.op === "open") {
			const handle = fields.bytes(SFTP_HANDLE_MAX).toString("hex");
			if (this.#files.size >= MAX_HANDLES) throw new SftpMalformed(`more than ${MAX_HANDLES} open files`);
			this.#files.set(handle, {
				path: pending.path,
				flags: pending.flags,
				bytesRead: 0,
				bytesWritten: 0,
				capture: this.#openCapture(pending.path, pending.flags),
			});
			this.emit({ op: "open", outcome: "success", detail: { path: pending.path, flags: pending.flags } });
			return;
		}
		if (type !== SFTP.STATUS) return;
		const code = fields.uint32();
		const status = STATUS_NAMES[code] ?? String(code);
		const message = fields.text(1024);
		const ok = code === 0;
		const outcome = ok ? "success" : "failure";
		const why = ok ? {} : { status, message };
		if (pending.op === "open") this.emit({ op: "open", outcome, detail: { path: pending.path, flags: pending.flags, ...why } });
		else if (pending.op === "close") {
			const file = this.#files.get(pending.handle);
			if (file) {
				this.#files.delete(pending.handle);
				void this.#closed(file, outcome, why);
			}
		} else if (pending.op === "simple") this.emit({ op: pending.name, outcome, detail: { ...pending.detail, ...why } });
	}

	#openCapture(path: string, flags: string[]): FileCapture | null {
		if (this.capture === null) return null;
		const capture = this.capture(path, flags);
		capture.onFailure = (message) => {
			this.#captureFailure ??= message;
		};
		this.#captures.add(capture);
		return capture;
	}

	/** The close event; with a capture, once its last chunk is stored, naming it (id, bytes, truncated). */
	async #closed(file: OpenFile, outcome: SftpAuditEvent["outcome"], extra: Record<string, unknown>): Promise<void> {
		const detail = { path: file.path, flags: file.flags, bytesRead: file.bytesRead, bytesWritten: file.bytesWritten, ...extra };
		if (file.capture === null) return this.emit({ op: "close", outcome, detail });
		const capture: CaptureSummary = await file.capture.close();
		this.#captures.delete(file.capture);
		this.emit({ op: "close", outcome: capture.failed ? "failure" : outcome, detail: { ...detail, capture } });
	}
}
