import assert from "node:assert/strict";
import { test } from "node:test";
import { isValidPublicId, parseOtp } from "../../../src/methods/yubikey-otp/otp-parse.ts";

const CIPHER = "hknhfjbrjnlnldnhcujvddbikngjrtgh";

test("splits public id and ciphertext (yubico-c vector OTP)", () => {
	const parsed = parseOtp(`dteffuje${CIPHER}`);
	assert.deepEqual(parsed, { ok: true, otp: `dteffuje${CIPHER}`, publicId: "dteffuje", ciphertext: CIPHER });
});

test("accepts public ids of 2 and 16 characters", () => {
	const short = parseOtp(`cb${CIPHER}`);
	assert.equal(short.ok && short.publicId, "cb");
	const long = parseOtp(`cccccccccccccccc${CIPHER}`);
	assert.equal(long.ok && long.publicId, "cccccccccccccccc");
});

test("upper case (caps lock) is folded to lower case, including the echoed OTP", () => {
	const parsed = parseOtp(`vvccccrrkrjb${CIPHER}`.toUpperCase());
	assert.equal(parsed.ok, true);
	assert.ok(parsed.ok);
	assert.equal(parsed.publicId, "vvccccrrkrjb");
	assert.equal(parsed.otp, `vvccccrrkrjb${CIPHER}`);
});

test("rejects lengths outside 34..48 as values", () => {
	assert.deepEqual(parseOtp(""), { ok: false, reason: "too-short" });
	assert.deepEqual(parseOtp(CIPHER), { ok: false, reason: "too-short" });
	assert.deepEqual(parseOtp(`c${CIPHER}`), { ok: false, reason: "too-short" });
	assert.deepEqual(parseOtp("c".repeat(17) + CIPHER), { ok: false, reason: "too-long" });
	assert.deepEqual(parseOtp("c".repeat(1024 * 1024)), { ok: false, reason: "too-long" });
});

test("rejects an odd-length public id", () => {
	assert.deepEqual(parseOtp(`ccc${CIPHER}`), { ok: false, reason: "odd-public-id" });
});

test("rejects non-modhex and Unicode look-alikes", () => {
	const cases = [
		`dteffuja${CIPHER}`, // 'a' is hex but not modhex
		`dteffuje${CIPHER.slice(0, 31)}0`,
		`dteffuje ${CIPHER.slice(1)}`,
		`dteffuje\n${CIPHER.slice(1)}`,
		`dteffuje\u0000${CIPHER.slice(1)}`,
		`\u212ateffuje${CIPHER}`, // KELVIN SIGN lower-cases to "k"
		`ｄｔｅｆｆｕｊｅ${CIPHER}`, // full-width letters
		`dteffuj\u00e9${CIPHER}`,
		`🔑🔑🔑🔑${CIPHER}`,
	];
	for (const input of cases) {
		const parsed = parseOtp(input);
		assert.equal(parsed.ok, false, JSON.stringify(input));
	}
	assert.deepEqual(parseOtp(`dteffuja${CIPHER}`), { ok: false, reason: "not-modhex" });
});

test("rejects non-strings without throwing", () => {
	for (const input of [undefined, null, 42, {}, [], Buffer.from(`dteffuje${CIPHER}`)]) {
		assert.deepEqual(parseOtp(input), { ok: false, reason: "not-a-string" });
	}
});

test("isValidPublicId: 2..16 even-length lower-case modhex", () => {
	assert.equal(isValidPublicId("vvccccrrkrjb"), true);
	assert.equal(isValidPublicId("cb"), true);
	assert.equal(isValidPublicId("c"), false);
	assert.equal(isValidPublicId("ccc"), false);
	assert.equal(isValidPublicId("VVCCCCRRKRJB"), false);
	assert.equal(isValidPublicId("c".repeat(18)), false);
	assert.equal(isValidPublicId(12), false);
});
