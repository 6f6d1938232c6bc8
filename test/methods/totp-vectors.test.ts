/** RFC 6238 Appendix B (SHA-1) and RFC 4226 Appendix D test vectors, plus window and parsing rules. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { HOTP, Secret } from "otpauth";
import { matchingStep, parseTotpCode, totpCodeAt } from "../../src/methods/totp/totp-method.ts";

const RFC_SECRET = Buffer.from("12345678901234567890", "ascii");

test("RFC 6238 Appendix B SHA-1 vectors (6-digit truncation of the 8-digit values)", () => {
	const vectors: [number, string][] = [
		[59, "94287082"],
		[1111111109, "07081804"],
		[1111111111, "14050471"],
		[1234567890, "89005924"],
		[2000000000, "69279037"],
		[20000000000, "65353130"], // beyond 32-bit time (year 2603)
	];
	for (const [seconds, eight] of vectors) assert.equal(totpCodeAt(RFC_SECRET, seconds * 1000), eight.slice(2), `T=${seconds}`);
});

test("RFC 4226 Appendix D HOTP vectors", () => {
	const expected = ["755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"];
	const hotp = new HOTP({ secret: new Secret({ buffer: Uint8Array.from(RFC_SECRET).buffer }), digits: 6, algorithm: "SHA1" });
	for (const [counter, code] of expected.entries()) assert.equal(hotp.generate({ counter }), code);
});

test("±1 step accepted, ±2 refused (RFC 6238 §5.2 recommends one step of delay)", () => {
	const now = 1_700_000_000_000;
	const step = Math.floor(now / 30_000);
	assert.equal(matchingStep(RFC_SECRET, totpCodeAt(RFC_SECRET, now), now), step);
	assert.equal(matchingStep(RFC_SECRET, totpCodeAt(RFC_SECRET, now - 30_000), now), step - 1);
	assert.equal(matchingStep(RFC_SECRET, totpCodeAt(RFC_SECRET, now + 30_000), now), step + 1);
	assert.equal(matchingStep(RFC_SECRET, totpCodeAt(RFC_SECRET, now - 60_000), now), null);
	assert.equal(matchingStep(RFC_SECRET, totpCodeAt(RFC_SECRET, now + 60_000), now), null);
});

test("only six ASCII digits parse (docs/threat-model.md, Bad input: OTP parsing pitfalls)", () => {
	assert.equal(parseTotpCode("123456"), "123456");
	assert.equal(parseTotpCode(" 123 456 "), "123456");
	assert.equal(parseTotpCode("012345"), "012345");
	for (const bad of ["", "12345", "1234567", "123456abc", "0x1E240", "1.23456e5", "١٢٣٤٥٦", "１２３４５６", "12345\u0000", "9".repeat(100)]) {
		assert.equal(parseTotpCode(bad), null, JSON.stringify(bad));
	}
});
