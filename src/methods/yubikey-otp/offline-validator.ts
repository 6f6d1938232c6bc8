/**
 * Local (no YubiCloud) validation of a Yubico OTP against one enrolled key, per docs/dependencies.md, Yubico OTP and
 * docs/threat-model.md, Yubico OTP:
 *   1. the OTP parses and its public id is this key's public id (binds the OTP to the user);
 *   2. AES-128-ECB decrypt the 16-byte block with the key's AES secret;
 *   3. CRC-16 over the whole block leaves the residue 0xf0b8 (catches a wrong AES key);
 *   4. the private uid equals the stored one, compared with crypto.timingSafeEqual.
 * Replay protection is NOT done here: the result carries `counter` (useCounter*256+sessionCounter)
 * and the caller must compare-and-set it atomically in the database (strictly rising), because
 * only the database sees concurrent logins.
 *
 * Outcomes are values; only a malformed *stored* key (wrong sizes) throws, since that is a
 * configuration or data error rather than user input.
 */
import { timingSafeEqual } from "node:crypto";
import { PortcullisError } from "../../core/errors.ts";
import { modhexDecode } from "./modhex.ts";
import { parseOtp, type OtpParseFailureReason } from "./otp-parse.ts";
import { AES_KEY_SIZE, CRC_OK_RESIDUE, PRIVATE_ID_SIZE, aesDecryptBlock, combinedCounter, crc16, readToken } from "./token.ts";

export interface YubikeyOtpKey {
	/** Lower-case ModHex public id, as enrolled. */
	readonly publicId: string;
	/** 6-byte private uid. */
	readonly privateId: Uint8Array;
	/** 16-byte AES-128 secret. */
	readonly aesKey: Uint8Array;
}

export interface ValidOfflineOtp {
	readonly kind: "valid";
	readonly publicId: string;
	readonly useCounter: number;
	readonly sessionCounter: number;
	readonly timestamp: number;
	readonly random: number;
	readonly capsLock: boolean;
	/** useCounter*256+sessionCounter: must be strictly greater than the last stored value. */
	readonly counter: number;
}

export type OfflineInvalidReason =
	| { readonly reason: "malformed"; readonly detail: OtpParseFailureReason }
	| { readonly reason: "public-id-mismatch" }
	| { readonly reason: "crc" }
	| { readonly reason: "private-id-mismatch" };

export type InvalidOfflineOtp = { readonly kind: "invalid" } & OfflineInvalidReason;

export type OfflineOtpResult = ValidOfflineOtp | InvalidOfflineOtp;

function assertKey(key: YubikeyOtpKey): void {
	if (key.privateId.length !== PRIVATE_ID_SIZE || key.aesKey.length !== AES_KEY_SIZE) {
		throw new PortcullisError("ERR_INPUT", "A Yubico OTP key needs a 6-byte private id and a 16-byte AES key.");
	}
}

export function validateOtpOffline(otp: unknown, key: YubikeyOtpKey): OfflineOtpResult {
	assertKey(key);
	const parsed = parseOtp(otp);
	if (!parsed.ok) return { kind: "invalid", reason: "malformed", detail: parsed.reason };
	if (parsed.publicId !== key.publicId.toLowerCase()) return { kind: "invalid", reason: "public-id-mismatch" };

	// parseOtp guarantees 32 lower-case ModHex characters, so this decodes to exactly 16 bytes.
	const ciphertext = modhexDecode(parsed.ciphertext) as Buffer;
	const block = aesDecryptBlock(ciphertext, key.aesKey);
	if (crc16(block) !== CRC_OK_RESIDUE) return { kind: "invalid", reason: "crc" };

	const token = readToken(block);
	if (!timingSafeEqual(token.privateId, Buffer.from(key.privateId))) {
		return { kind: "invalid", reason: "private-id-mismatch" };
	}
	return {
		kind: "valid",
		publicId: parsed.publicId,
		useCounter: token.useCounter,
		sessionCounter: token.sessionCounter,
		timestamp: token.timestamp,
		random: token.random,
		capsLock: token.capsLock,
		counter: combinedCounter(token.useCounter, token.sessionCounter),
	};
}

export { combinedCounter, counterAdvances } from "./token.ts";
