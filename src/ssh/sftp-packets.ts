/**
 * A streaming reader of SFTP packets (draft-ietf-secsh-filexfer-02, version 3, as OpenSSH
 * implements it: https://datatracker.ietf.org/doc/html/draft-ietf-secsh-filexfer-02) for the
 * gateway's audit of relayed SFTP (sftp-audit.ts). It frames `uint32 length, byte type, payload`
 * across arbitrary chunk boundaries and keeps only what the audit reads:
 *
 * - requests and replies whose fields are all small (OPEN, CLOSE, REMOVE, RENAME, MKDIR, RMDIR,
 *   SETSTAT, FSETSTAT, SYMLINK, EXTENDED, READ, STATUS, HANDLE, INIT, VERSION) are kept whole, at
 *   most FULL_MAX bytes; a longer one is malformed;
 * - WRITE keeps its id, handle, offset and data length; DATA its id and data length. The file data
 *   itself is never copied (it streams through the relay untouched; with content capture on, the
 *   reader hands it on as slices of the relayed chunks, sftp-capture.ts);
 * - everything else (READDIR, STAT, NAME, ATTRS, …) keeps its request id only.
 *
 * Hostile input: a length of 0 or above OpenSSH's SFTP_MAX_MSG_LENGTH (256 KiB, sftp-common.h) is
 * malformed; field decoders check every length against what is left (SftpMalformed). The caller
 * ends the channel on the first malformed packet (fail closed: nothing unaudited passes).
 */
import { escapeUnsafe } from "../core/untrusted-text.ts";

/** OpenSSH sftp-server's SFTP_MAX_MSG_LENGTH: no valid packet is longer. */
export const SFTP_MAX_PACKET = 256 * 1024;
/** Packets parsed field by field are small; paths are at most a few KiB (PATH_MAX 4096 twice for RENAME). */
export const SFTP_FULL_MAX = 34 * 1024;
/** draft-02 §3: "The handle strings MUST NOT be longer than 256 bytes." */
export const SFTP_HANDLE_MAX = 256;

export const SFTP = {
	INIT: 1,
	VERSION: 2,
	OPEN: 3,
	CLOSE: 4,
	READ: 5,
	WRITE: 6,
	LSTAT: 7,
	FSTAT: 8,
	SETSTAT: 9,
	FSETSTAT: 10,
	OPENDIR: 11,
	READDIR: 12,
	REMOVE: 13,
	MKDIR: 14,
	RMDIR: 15,
	REALPATH: 16,
	STAT: 17,
	RENAME: 18,
	READLINK: 19,
	SYMLINK: 20,
	STATUS: 101,
	HANDLE: 102,
	DATA: 103,
	NAME: 104,
	ATTRS: 105,
	EXTENDED: 200,
	EXTENDED_REPLY: 201,
} as const;

const KEPT_WHOLE = new Set<number>([
	SFTP.INIT,
	SFTP.VERSION,
	SFTP.OPEN,
	SFTP.CLOSE,
	SFTP.READ,
	SFTP.SETSTAT,
	SFTP.FSETSTAT,
	SFTP.REMOVE,
	SFTP.MKDIR,
	SFTP.RMDIR,
	SFTP.RENAME,
	SFTP.SYMLINK,
	SFTP.EXTENDED,
	SFTP.STATUS,
	SFTP.HANDLE,
]);

export class SftpMalformed extends Error {}

/** One packet as the audit sees it: its type, the kept prefix of its payload, and the payload's full length. */
export interface SftpPacket {
	readonly type: number;
	readonly kept: Buffer;
	readonly payloadLength: number;
}

function keptLength(type: number, payloadLength: number): number {
	if (KEPT_WHOLE.has(type)) {
		if (payloadLength > SFTP_FULL_MAX) throw new SftpMalformed(`packet type ${type} of ${payloadLength} bytes`);
		return payloadLength;
	}
	// id, handle (≤ 256), uint64 offset, uint32 data length.
	if (type === SFTP.WRITE) return Math.min(payloadLength, 4 + 4 + SFTP_HANDLE_MAX + 8 + 4);
	// id, uint32 data length.
	if (type === SFTP.DATA) return Math.min(payloadLength, 8);
	return Math.min(payloadLength, 4);
}

/**
 * Feed it the bytes of one direction in order; it calls `onPacket` for each complete packet (for
 * WRITE and DATA as soon as the kept prefix is in, before the data has streamed past). Throws
 * SftpMalformed; after a throw the reader is dead.
 */
export class SftpPacketReader {
	#header = Buffer.alloc(5);
	#headerFill = 0;
	#type = 0;
	#payloadLength = 0;
	/** Payload bytes still to come for the current packet (kept or skipped). */
	#remaining = 0;
	#kept: Buffer | null = null;
	#keptFill = 0;
	#dead = false;

	constructor(
		private readonly onPacket: (packet: SftpPacket) => void,
		/** The payload bytes after the kept prefix (WRITE and DATA file data), for content capture (sftp-capture.ts); slices, not copies. */
		private readonly onBody: ((bytes: Buffer) => void) | null = null,
	) {}

	push(chunk: Buffer): void {
		if (this.#dead) throw new SftpMalformed("stream already failed");
		try {
			this.#push(chunk);
		} catch (error) {
			this.#dead = true;
			throw error;
		}
	}

	/** True between packets: a stream that ends here ended cleanly. */
	get atBoundary(): boolean {
		return this.#headerFill === 0 && this.#kept === null && this.#remaining === 0;
	}

	#push(chunk: Buffer): void {
		let at = 0;
		while (at < chunk.length) {
			if (this.#kept === null && this.#remaining === 0) {
				// Reading uint32 length + byte type.
				const take = Math.min(5 - this.#headerFill, chunk.length - at);
				chunk.copy(this.#header, this.#headerFill, at, at + take);
				this.#headerFill += take;
				at += take;
				// The length is judged as soon as it is in, not when the type byte follows.
				const length = this.#headerFill >= 4 ? this.#header.readUInt32BE(0) : 1;
				if (length < 1 || length > SFTP_MAX_PACKET) throw new SftpMalformed(`packet length ${length}`);
				if (this.#headerFill < 5) return;
				this.#headerFill = 0;
				this.#type = this.#header[4]!;
				this.#payloadLength = length - 1;
				this.#remaining = this.#payloadLength;
				this.#kept = Buffer.alloc(keptLength(this.#type, this.#payloadLength));
				this.#keptFill = 0;
				if (this.#kept.length === 0) this.#emit();
				continue;
			}
			if (this.#kept !== null) {
				const take = Math.min(this.#kept.length - this.#keptFill, chunk.length - at);
				chunk.copy(this.#kept, this.#keptFill, at, at + take);
				this.#keptFill += take;
				this.#remaining -= take;
				at += take;
				if (this.#keptFill === this.#kept.length) this.#emit();
				continue;
			}
			// Skipping the rest of the payload (file data, directory listings).
			const skip = Math.min(this.#remaining, chunk.length - at);
			this.onBody?.(chunk.subarray(at, at + skip));
			this.#remaining -= skip;
			at += skip;
		}
	}

	#emit(): void {
		const kept = this.#kept!;
		this.#kept = null;
		this.onPacket({ type: this.#type, kept, payloadLength: this.#payloadLength });
	}
}

/** Bounds-checked field reader over one packet's kept bytes. */
export class SftpFields {
	#at = 0;
	constructor(private readonly buffer: Buffer) {}

	uint32(): number {
		if (this.#at + 4 > this.buffer.length) throw new SftpMalformed("truncated uint32");
		const value = this.buffer.readUInt32BE(this.#at);
		this.#at += 4;
		return value;
	}

	uint64(): bigint {
		if (this.#at + 8 > this.buffer.length) throw new SftpMalformed("truncated uint64");
		const value = this.buffer.readBigUInt64BE(this.#at);
		this.#at += 8;
		return value;
	}

	/** What is left of the kept bytes (the start of a WRITE's data). */
	rest(): Buffer {
		return this.buffer.subarray(this.#at);
	}

	bytes(max: number = SFTP_FULL_MAX): Buffer {
		const length = this.uint32();
		if (length > max || this.#at + length > this.buffer.length) throw new SftpMalformed(`string of ${length} bytes`);
		const value = this.buffer.subarray(this.#at, this.#at + length);
		this.#at += length;
		return value;
	}

	/** A path or message: UTF-8 (draft-02 leaves the encoding open; OpenSSH sends bytes), control characters shown escaped. */
	text(max?: number): string {
		return printable(this.bytes(max).toString("utf8"));
	}

	/** ATTRS (draft-02 §5): returns what an audit reader cares about. */
	attrs(): Record<string, number | string> {
		const flags = this.uint32();
		const out: Record<string, number | string> = {};
		if (flags & 0x1) out.size = Number(this.uint64());
		if (flags & 0x2) {
			out.uid = this.uint32();
			out.gid = this.uint32();
		}
		if (flags & 0x4) out.permissions = (this.uint32() & 0o7777).toString(8);
		if (flags & 0x8) {
			out.atime = this.uint32();
			out.mtime = this.uint32();
		}
		if (flags & 0x80000000) {
			const count = this.uint32();
			if (count > 64) throw new SftpMalformed(`${count} extended attributes`);
			for (let index = 0; index < count; index++) {
				this.bytes();
				this.bytes();
			}
		}
		return out;
	}
}

/** Keeps audit details readable and safe to show: control characters become \u escapes, at most 1024 characters. */
function printable(text: string): string {
	const clipped = text.length > 1024 ? `${text.slice(0, 1024)}…` : text;
	return escapeUnsafe(clipped);
}
