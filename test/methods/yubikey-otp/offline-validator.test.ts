import assert from "node:assert/strict";
import { test } from "node:test";
import { isPortcullisError } from "../../../src/core/errors.ts";
import type { Random } from "../../../src/core/random.ts";
import { modhexDecode, modhexEncode } from "../../../src/methods/yubikey-otp/modhex.ts";
import { combinedCounter, counterAdvances, validateOtpOffline, type YubikeyOtpKey } from "../../../src/methods/yubikey-otp/offline-validator.ts";
import { generateOtp } from "../../../src/methods/yubikey-otp/otp-generator.ts";
import { CRC_OK_RESIDUE, aesDecryptBlock, aesEncryptBlock, crc16, readToken, writeToken } from "../../../src/methods/yubikey-otp/token.ts";

// yubico-c test-vectors.txt: sample OTP, AES key, decrypted block and its fields.
const VECTOR_OTP = "dteffujehknhfjbrjnlnldnhcujvddbikngjrtgh";
const VECTOR_KEY: YubikeyOtpKey = {
	publicId: "dteffuje",
	privateId: Buffer.from("8792ebfe26cc", "hex"),
	aesKey: Buffer.from("ecde18dbe76fbd0c33330f1c354871db", "hex"),
};
const VECTOR_PLAINTEXT = "8792ebfe26cc130030c20011c89f23c8";

const key: YubikeyOtpKey = {
	publicId: "vvccccrrkrjb",
	privateId: Buffer.from("a1b2c3d4e5f6", "hex"),
	aesKey: Buffer.from("00112233445566778899aabbccddeeff", "hex"),
};

/** Deterministic Random so generated OTPs are reproducible. */
const fixedRandom: Random = { bytes: (n) => Buffer.alloc(n, 7), int: (min) => min };

test("AES-128-ECB vector (yubico-c test-vectors.txt)", () => {
	const block = aesDecryptBlock(Buffer.from("69b6481c8baba2b60e8f22179b58cd56", "hex"), VECTOR_KEY.aesKey);
	assert.equal(block.toString("hex"), VECTOR_PLAINTEXT);
	assert.equal(aesEncryptBlock(block, VECTOR_KEY.aesKey).toString("hex"), "69b6481c8baba2b60e8f22179b58cd56");
});

test("AES-128-ECB vector (yubico-c tests/selftest.c AES-1)", () => {
	const out = aesDecryptBlock(Buffer.from("0123456789abcdef"), Buffer.from("abcdef0123456789"));
	assert.equal(out.toString("hex"), "838a467f34639551755bd32a4a2f15e1");
	assert.equal(aesEncryptBlock(out, Buffer.from("abcdef0123456789")).toString(), "0123456789abcdef");
});

test("token fields and CRC residue of the vector plaintext", () => {
	const block = Buffer.from(VECTOR_PLAINTEXT, "hex");
	assert.equal(crc16(block), CRC_OK_RESIDUE);
	const token = readToken(block);
	assert.equal(token.privateId.toString("hex"), "8792ebfe26cc");
	assert.equal(token.useCounter, 19);
	assert.equal(token.capsLock, false);
	assert.equal(token.timestamp, 0x00c230);
	assert.equal(token.sessionCounter, 17);
	assert.equal(token.random, 0x9fc8);
	assert.equal(token.crc, 0xc823);
	// writeToken recomputes exactly the stored CRC.
	assert.equal(writeToken(token).toString("hex"), VECTOR_PLAINTEXT);
});

test("validates the Yubico vector OTP", () => {
	const result = validateOtpOffline(VECTOR_OTP, VECTOR_KEY);
	assert.deepEqual(result, {
		kind: "valid",
		publicId: "dteffuje",
		useCounter: 19,
		sessionCounter: 17,
		timestamp: 0xc230,
		random: 0x9fc8,
		capsLock: false,
		counter: 19 * 256 + 17,
	});
});

test("the generator reproduces the Yubico vector OTP byte for byte", () => {
	const otp = generateOtp({ ...VECTOR_KEY, useCounter: 19, sessionCounter: 17, timestamp: 0xc230, random: 0x9fc8 });
	assert.equal(otp, VECTOR_OTP);
});

test("round trip generator -> validator over many counters", () => {
	for (const [useCounter, sessionCounter] of [
		[0, 0],
		[1, 0],
		[1, 255],
		[300, 7],
		[0x7fff, 0xff],
	] as const) {
		const otp = generateOtp({ ...key, useCounter, sessionCounter });
		assert.equal(otp.length, 12 + 32);
		const result = validateOtpOffline(otp, key);
		assert.equal(result.kind, "valid");
		assert.ok(result.kind === "valid");
		assert.equal(result.useCounter, useCounter);
		assert.equal(result.sessionCounter, sessionCounter);
		assert.equal(result.counter, combinedCounter(useCounter, sessionCounter));
	}
});

test("caps-lock flag is reported and excluded from the counter", () => {
	const otp = generateOtp({ ...key, useCounter: 5, sessionCounter: 2, capsLock: true }, fixedRandom);
	const result = validateOtpOffline(otp.toUpperCase(), key);
	assert.ok(result.kind === "valid");
	assert.equal(result.capsLock, true);
	assert.equal(result.useCounter, 5);
	assert.equal(result.counter, 5 * 256 + 2);
});

test("the generator uses the injected Random for timestamp and random fields", () => {
	const a = generateOtp({ ...key, useCounter: 1, sessionCounter: 1 }, fixedRandom);
	const b = generateOtp({ ...key, useCounter: 1, sessionCounter: 1 }, fixedRandom);
	assert.equal(a, b);
	const result = validateOtpOffline(a, key);
	assert.ok(result.kind === "valid");
	assert.equal(result.timestamp, 0);
	assert.equal(result.random, 0);
});

test("a wrong AES key is caught by the CRC", () => {
	const otp = generateOtp({ ...key, useCounter: 1, sessionCounter: 0 });
	const wrongKey = { ...key, aesKey: Buffer.from("ffeeddccbbaa99887766554433221100", "hex") };
	assert.deepEqual(validateOtpOffline(otp, wrongKey), { kind: "invalid", reason: "crc" });
});

test("a flipped ciphertext bit is caught by the CRC", () => {
	const otp = generateOtp({ ...key, useCounter: 1, sessionCounter: 0 });
	const cipher = modhexDecode(otp.slice(12)) as Buffer;
	cipher[3] = cipher[3]! ^ 0x01;
	assert.deepEqual(validateOtpOffline(otp.slice(0, 12) + modhexEncode(cipher), key), { kind: "invalid", reason: "crc" });
});

test("a block with a good CRC but another private id is rejected", () => {
	const otp = generateOtp({ ...key, privateId: Buffer.from("a1b2c3d4e5f7", "hex"), useCounter: 1, sessionCounter: 0 });
	assert.deepEqual(validateOtpOffline(otp, key), { kind: "invalid", reason: "private-id-mismatch" });
});

test("another key's public id is rejected before decrypting (OTP bound to this key)", () => {
	const otp = generateOtp({ ...key, publicId: "vvccccrrkrjc", useCounter: 1, sessionCounter: 0 });
	assert.deepEqual(validateOtpOffline(otp, key), { kind: "invalid", reason: "public-id-mismatch" });
});

test("malformed OTPs are values with the parser's reason", () => {
	const cases: [unknown, string][] = [
		["", "too-short"],
		["x".repeat(1024 * 1024), "too-long"],
		[`vvccccrrkrjb${"0".repeat(32)}`, "not-modhex"],
		[`vvccccrrkrjb${"é".repeat(32)}`, "not-modhex"],
		[`vvccccrrkrj${"c".repeat(32)}`, "odd-public-id"],
		[null, "not-a-string"],
	];
	for (const [input, detail] of cases) {
		assert.deepEqual(validateOtpOffline(input, key), { kind: "invalid", reason: "malformed", detail });
	}
});

test("a malformed stored key throws ERR_INPUT (configuration error, not user input)", () => {
	assert.throws(
		() => validateOtpOffline(VECTOR_OTP, { ...VECTOR_KEY, aesKey: Buffer.alloc(15) }),
		(error) => isPortcullisError(error, "ERR_INPUT"),
	);
	assert.throws(
		() => validateOtpOffline(VECTOR_OTP, { ...VECTOR_KEY, privateId: Buffer.alloc(7) }),
		(error) => isPortcullisError(error, "ERR_INPUT"),
	);
});

test("counters: strictly rising only", () => {
	const first = combinedCounter(3, 200);
	assert.equal(counterAdvances(null, first), true);
	assert.equal(counterAdvances(first, first), false, "same OTP again = replay");
	assert.equal(counterAdvances(first, combinedCounter(3, 199)), false);
	assert.equal(counterAdvances(first, combinedCounter(3, 201)), true);
	// A new power-up session (useCounter+1, sessionCounter restarts at 0) still advances.
	assert.equal(counterAdvances(first, combinedCounter(4, 0)), true);
	assert.equal(counterAdvances(combinedCounter(4, 0), combinedCounter(3, 255)), false);
});

test("replay scenario: the caller's compare-and-set rejects the second use of one OTP", () => {
	let stored: number | null = null;
	const accept = (otp: string): boolean => {
		const result = validateOtpOffline(otp, key);
		if (result.kind !== "valid" || !counterAdvances(stored, result.counter)) return false;
		stored = result.counter;
		return true;
	};
	const first = generateOtp({ ...key, useCounter: 10, sessionCounter: 0 });
	const second = generateOtp({ ...key, useCounter: 10, sessionCounter: 1 });
	assert.equal(accept(first), true);
	assert.equal(accept(first), false);
	assert.equal(accept(second), true);
	assert.equal(accept(first), false, "an older OTP captured earlier is rejected too");
});

test("generator input checks", () => {
	const bad = [
		{ ...key, publicId: "VV", useCounter: 0, sessionCounter: 0 },
		{ ...key, privateId: Buffer.alloc(5), useCounter: 0, sessionCounter: 0 },
		{ ...key, aesKey: Buffer.alloc(32), useCounter: 0, sessionCounter: 0 },
		{ ...key, useCounter: 0x8000, sessionCounter: 0 },
		{ ...key, useCounter: 0, sessionCounter: 256 },
		{ ...key, useCounter: -1, sessionCounter: 0 },
		{ ...key, useCounter: 0, sessionCounter: 0, timestamp: 0x1000000 },
		{ ...key, useCounter: 0, sessionCounter: 0, random: 1.5 },
	];
	for (const input of bad) {
		assert.throws(
			() => generateOtp(input),
			(error) => isPortcullisError(error, "ERR_INPUT"),
		);
	}
});
