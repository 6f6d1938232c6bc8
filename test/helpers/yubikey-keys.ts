/**
 * Simulated YubiKeys for method tests: a random public id, private id and AES key, and an OTP
 * generator whose counters rise like a real key's (each `otp()` is the next touch).
 */
import { randomBytes } from "node:crypto";
import { modhexEncode } from "../../src/methods/yubikey-otp/modhex.ts";
import type { YubikeyOtpKey } from "../../src/methods/yubikey-otp/offline-validator.ts";
import { generateOtp } from "../../src/methods/yubikey-otp/otp-generator.ts";

export interface SimulatedYubikey extends YubikeyOtpKey {
	readonly aesKeyHex: string;
	readonly privateIdHex: string;
	useCounter: number;
	sessionCounter: number;
	/** The next OTP (session counter +1). */
	otp(): string;
	/** An OTP at explicit counters (for regression tests); does not move the key's counters. */
	otpAt(useCounter: number, sessionCounter: number): string;
	/** Same public id, wrong AES key: well-formed, never valid. */
	forgedOtp(): string;
}

export function simulatedYubikey(): SimulatedYubikey {
	const aesKey = randomBytes(16);
	const privateId = randomBytes(6);
	const key: SimulatedYubikey = {
		publicId: modhexEncode(randomBytes(6)),
		aesKey,
		privateId,
		aesKeyHex: aesKey.toString("hex"),
		privateIdHex: privateId.toString("hex"),
		useCounter: 1,
		sessionCounter: 0,
		otp() {
			const otp = generateOtp({ publicId: key.publicId, aesKey, privateId, useCounter: key.useCounter, sessionCounter: key.sessionCounter });
			key.sessionCounter += 1;
			if (key.sessionCounter > 0xff) {
				key.sessionCounter = 0;
				key.useCounter += 1;
			}
			return otp;
		},
		otpAt(useCounter, sessionCounter) {
			return generateOtp({ publicId: key.publicId, aesKey, privateId, useCounter, sessionCounter });
		},
		forgedOtp() {
			return generateOtp({ publicId: key.publicId, aesKey: randomBytes(16), privateId, useCounter: key.useCounter + 1, sessionCounter: 0 });
		},
	};
	return key;
}
