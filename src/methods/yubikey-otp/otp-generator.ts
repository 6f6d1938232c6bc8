/**
 * Generates Yubico OTPs exactly as a YubiKey in Yubico OTP mode does: build the 16-byte token
 * (token.ts layout), append the ones'-complement CRC-16, AES-128-ECB encrypt it with the key's
 * secret and ModHex-encode it after the public id. Used by tests, the fake validation server and
 * documentation examples; production code only ever validates.
 */
import { PortcullisError } from "../../core/errors.ts";
import { cryptoRandom, type Random } from "../../core/random.ts";
import { modhexEncode } from "./modhex.ts";
import { isValidPublicId } from "./otp-parse.ts";
import { AES_KEY_SIZE, PRIVATE_ID_SIZE, RANDOM_MAX, SESSION_COUNTER_MAX, TIMESTAMP_MAX, USE_COUNTER_MAX, aesEncryptBlock, writeToken } from "./token.ts";

export interface GenerateOtpInput {
	/** Lower-case ModHex public id, 2..16 characters. */
	readonly publicId: string;
	/** 6-byte private uid. */
	readonly privateId: Uint8Array;
	/** 16-byte AES-128 secret. */
	readonly aesKey: Uint8Array;
	/** 0..0x7fff (non-volatile, bumped at power-up). */
	readonly useCounter: number;
	/** 0..0xff (presses since power-up). */
	readonly sessionCounter: number;
	/** 24-bit 8 Hz timestamp; random when omitted (a real key starts it at a random value). */
	readonly timestamp?: number;
	/** 16-bit random field; random when omitted. */
	readonly random?: number;
	readonly capsLock?: boolean;
}

function checkRange(name: string, value: number, max: number): void {
	if (!Number.isInteger(value) || value < 0 || value > max) {
		throw new PortcullisError("ERR_INPUT", `${name} must be an integer in 0..${max}.`);
	}
}

export function generateOtp(input: GenerateOtpInput, random: Random = cryptoRandom): string {
	if (!isValidPublicId(input.publicId)) throw new PortcullisError("ERR_INPUT", "publicId must be 2..16 lower-case ModHex characters.");
	if (input.privateId.length !== PRIVATE_ID_SIZE) throw new PortcullisError("ERR_INPUT", "privateId must be 6 bytes.");
	if (input.aesKey.length !== AES_KEY_SIZE) throw new PortcullisError("ERR_INPUT", "aesKey must be 16 bytes.");
	checkRange("useCounter", input.useCounter, USE_COUNTER_MAX);
	checkRange("sessionCounter", input.sessionCounter, SESSION_COUNTER_MAX);
	const timestamp = input.timestamp ?? random.int(0, TIMESTAMP_MAX + 1);
	const rnd = input.random ?? random.int(0, RANDOM_MAX + 1);
	checkRange("timestamp", timestamp, TIMESTAMP_MAX);
	checkRange("random", rnd, RANDOM_MAX);

	const block = writeToken({
		privateId: Buffer.from(input.privateId),
		useCounter: input.useCounter,
		capsLock: input.capsLock ?? false,
		timestamp,
		sessionCounter: input.sessionCounter,
		random: rnd,
	});
	return input.publicId + modhexEncode(aesEncryptBlock(block, input.aesKey));
}
