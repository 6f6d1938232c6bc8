/**
 * The 16-byte Yubico OTP plaintext block and its CRC, shared by the offline validator and the
 * generator. Layout (yubico-c yubikey.h `yubikey_token_st`, test-vectors.txt "Plaintext"):
 *
 *   offset 0  uid   6 bytes   private (secret) id
 *   offset 6  ctr   2 bytes LE  usage counter; high bit = "caps lock triggered the token"
 *   offset 8  tstp  3 bytes LE  8 Hz timestamp (low 16 bits, then high 8 bits)
 *   offset 11 use   1 byte      session counter (presses since power-up)
 *   offset 12 rnd   2 bytes LE  pseudo-random
 *   offset 14 crc   2 bytes LE  ones' complement of CRC-16 over bytes 0..13
 *
 * CRC-16 is the ISO/IEC 13239 (X.25 / HDLC) CRC: reflected polynomial 0x8408, initial 0xffff, no
 * final XOR here. Run over all 16 bytes of a good block it leaves the residue 0xf0b8.
 */
import { createCipheriv, createDecipheriv } from "node:crypto";

export const TOKEN_SIZE = 16;
export const PRIVATE_ID_SIZE = 6;
export const AES_KEY_SIZE = 16;
export const CRC_OK_RESIDUE = 0xf0b8;

export const USE_COUNTER_MAX = 0x7fff;
export const SESSION_COUNTER_MAX = 0xff;
export const TIMESTAMP_MAX = 0xffffff;
export const RANDOM_MAX = 0xffff;
const CAPS_LOCK_FLAG = 0x8000;

export function crc16(data: Uint8Array): number {
	let crc = 0xffff;
	for (const byte of data) {
		crc ^= byte;
		for (let bit = 0; bit < 8; bit++) {
			const lsb = crc & 1;
			crc >>>= 1;
			if (lsb) crc ^= 0x8408;
		}
	}
	return crc & 0xffff;
}

export interface TokenFields {
	readonly privateId: Buffer;
	/** Usage counter without the caps-lock flag (0..0x7fff). */
	readonly useCounter: number;
	readonly capsLock: boolean;
	readonly timestamp: number;
	readonly sessionCounter: number;
	readonly random: number;
	/** The CRC field as stored (little-endian). */
	readonly crc: number;
}

/** Reads the fields of a decrypted block. Does NOT check the CRC: see `crc16(block) === CRC_OK_RESIDUE`. */
export function readToken(block: Buffer): TokenFields {
	const ctr = block.readUInt16LE(6);
	return {
		privateId: Buffer.from(block.subarray(0, PRIVATE_ID_SIZE)),
		useCounter: ctr & USE_COUNTER_MAX,
		capsLock: (ctr & CAPS_LOCK_FLAG) !== 0,
		timestamp: block.readUIntLE(8, 3),
		sessionCounter: block.readUInt8(11),
		random: block.readUInt16LE(12),
		crc: block.readUInt16LE(14),
	};
}

/** Builds a plaintext block and fills in the CRC field, exactly as the key does. */
export function writeToken(fields: Omit<TokenFields, "crc">): Buffer {
	const block = Buffer.alloc(TOKEN_SIZE);
	fields.privateId.copy(block, 0, 0, PRIVATE_ID_SIZE);
	block.writeUInt16LE((fields.useCounter & USE_COUNTER_MAX) | (fields.capsLock ? CAPS_LOCK_FLAG : 0), 6);
	block.writeUIntLE(fields.timestamp, 8, 3);
	block.writeUInt8(fields.sessionCounter, 11);
	block.writeUInt16LE(fields.random, 12);
	block.writeUInt16LE(~crc16(block.subarray(0, 14)) & 0xffff, 14);
	return block;
}

/** AES-128 in ECB mode on exactly one block, no padding (yubico-c test-vectors.txt "AES-ECB"). */
export function aesDecryptBlock(block: Uint8Array, key: Uint8Array): Buffer {
	const decipher = createDecipheriv("aes-128-ecb", key, null);
	decipher.setAutoPadding(false);
	return Buffer.concat([decipher.update(block), decipher.final()]);
}

export function aesEncryptBlock(block: Uint8Array, key: Uint8Array): Buffer {
	const cipher = createCipheriv("aes-128-ecb", key, null);
	cipher.setAutoPadding(false);
	return Buffer.concat([cipher.update(block), cipher.final()]);
}

/**
 * The single number the caller compare-and-sets in the database: the OTP is fresh only if this is
 * strictly greater than the stored value (docs/threat-model.md, Yubico OTP; yubikey-val "ValidationServerAlgorithm").
 */
export function combinedCounter(useCounter: number, sessionCounter: number): number {
	return useCounter * 256 + sessionCounter;
}

/** Strictly-rising rule; `previous` null means the key has never been used here. */
export function counterAdvances(previous: number | null, next: number): boolean {
	return previous === null || next > previous;
}
