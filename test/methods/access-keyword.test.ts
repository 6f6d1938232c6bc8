import assert from "node:assert/strict";
import { test } from "node:test";
import { cryptoRandom } from "../../src/core/random.ts";
import { describePositions, keywordCharacters, pickPositions, validateKeyword } from "../../src/methods/access-keyword/access-keyword-method.ts";

test("keyword rules: at least 10 characters with at least 4 distinct (Decision 5)", () => {
	assert.match(validateKeyword("short") ?? "", /at least 10/);
	assert.match(validateKeyword("aaaaabbbbbccccc") ?? "", /4 different/);
	assert.equal(validateKeyword("abcdabcdab"), null);
	assert.match(validateKeyword("abcd\nabcdabcd") ?? "", /control/);
	assert.match(validateKeyword("x".repeat(10) + "abcdefg".repeat(20)) ?? "", /at most/);
});

test("characters are code points of the NFC form", () => {
	assert.deepEqual(keywordCharacters("e\u0301t\u00e9"), ["é", "t", "é"]);
	assert.equal(keywordCharacters("🔑🔑ab").length, 4);
});

test("positions: 3 distinct, sorted, 1-based, within the keyword, and not always the same", () => {
	const seen = new Set<string>();
	for (let index = 0; index < 200; index++) {
		const positions = pickPositions(cryptoRandom, 12);
		assert.equal(positions.length, 3);
		assert.equal(new Set(positions).size, 3);
		assert.deepEqual(
			[...positions].sort((a, b) => a - b),
			positions,
		);
		assert.ok(positions.every((position) => position >= 1 && position <= 12));
		seen.add(positions.join(","));
	}
	assert.ok(seen.size > 20, "positions vary between challenges");
	assert.equal(describePositions([2, 5, 9]), "characters 2, 5 and 9");
});
