import assert from "node:assert/strict";
import { test } from "node:test";
import { cryptoRandom } from "../../src/core/random.ts";
import { generateRecoveryCode, normaliseRecoveryCode } from "../../src/methods/recovery-code/recovery-code-method.ts";

test("codes have 50 bits from the CSPRNG in an unambiguous alphabet, and normalise leniently", () => {
	const codes = new Set(Array.from({ length: 1000 }, () => generateRecoveryCode(cryptoRandom)));
	assert.equal(codes.size, 1000);
	for (const code of codes) {
		assert.match(code, /^[a-hjkmnp-z2-9]{5}-[a-hjkmnp-z2-9]{5}$/);
		assert.equal(normaliseRecoveryCode(code.toUpperCase().replace("-", " ")), code.replace("-", ""));
	}
	for (const bad of ["", "abc", "abcde-abcd0", "x".repeat(1000), "abcde-abcdé"]) assert.equal(normaliseRecoveryCode(bad), null);
});
