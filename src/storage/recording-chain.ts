/**
 * The hash chain of a recording's chunks (tamper evidence, docs/operations.md "Recordings"):
 *
 *   h(-1) = sha256("portcullis-recording-v1:" ‖ recording id)
 *   h(n)  = sha256(h(n-1) ‖ uint64be(n) ‖ utf8(data of chunk n))
 *
 * The recording id in the genesis binds the chunks to their recording (chunks copied into another
 * recording break its chain at once); the sequence number binds each chunk to its place. Hashes
 * are stored as lower-case hex. This is tamper *evidence*, not a signature: whoever can write the
 * database can also recompute every hash, which is why the final hash and count are also written
 * to the audit log when a recording ends (`ssh.recording-finished`).
 */
import { createHash } from "node:crypto";

export function genesisHash(recordingId: string): string {
	return createHash("sha256").update(`portcullis-recording-v1:${recordingId}`, "utf8").digest("hex");
}

export function chunkHash(previous: string, seq: number, data: string): string {
	const position = Buffer.alloc(8);
	position.writeBigUInt64BE(BigInt(seq));
	return createHash("sha256").update(Buffer.from(previous, "hex")).update(position).update(data, "utf8").digest("hex");
}
