/**
 * The threat matrix (docs/security-matrix.md) names, for every way past the second factor, the
 * tests that try it. A test renamed or deleted without updating the matrix would leave a threat
 * silently uncovered (a gap the review in docs/threat-model.md, "Attacks found by review", asked us to close): this fails then.
 */
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { test } from "node:test";
import { checkMatrix, nameMatches, parseMatrix, testNames } from "../../scripts/security-matrix.ts";

const ROOT = resolve(import.meta.dirname, "..", "..");

test("every matrix row has a test or a written reason, and every named test exists", () => {
	const report = checkMatrix(ROOT);
	assert.deepEqual(report.problems, []);
	const ids = report.rows.map((row) => row.id);
	for (const group of [
		["W", 13],
		["API-", 4],
		["S", 13],
		["P", 6],
		["T", 5],
		["E", 7],
	] as const) {
		for (let n = 1; n <= group[1]; n++) assert.ok(ids.includes(`${group[0]}${n}`), `row ${group[0]}${n} is in the matrix`);
	}
});

test("the checker refuses a renamed test, a missing file and a row with neither test nor reason", () => {
	const dir = mkdtempSync(join(tmpdir(), "portcullis-matrix-"));
	const matrix = join(dir, "matrix.md");
	writeFileSync(
		matrix,
		[
			"| ID | Threat | Covered by |",
			"|---|---|---|",
			"| W1 | x | `test/security/security-matrix.test.ts › a test that was renamed` |",
			"| W2 | x | `test/security/no-such-file.test.ts › anything` |",
			"| W3 | x | nothing here |",
			"| W4 | x | not applicable: no such feature. |",
			"| W5 | x | `test/security/security-matrix.test.ts › the checker refuses a renamed test…` |",
		].join("\n"),
	);
	const problems = checkMatrix(ROOT, matrix).problems.map((problem) => `${problem.id}: ${problem.message}`);
	assert.deepEqual(problems, [
		'W1: no test named "a test that was renamed" in test/security/security-matrix.test.ts',
		"W2: no such test file: test/security/no-such-file.test.ts",
		"W3: no test and no written reason",
	]);
});

test("test names: quoted names are decoded, template literals keep their source, … is a prefix", () => {
	const names = testNames(
		[
			'test("a \\"quoted\\" name", () => {});',
			"it('single', () => {});",
			"describe(`${engine} suite`, () => {});",
			"test(`${name}: closes`, async () => {});",
		].join("\n"),
	);
	assert.deepEqual(names, ['a "quoted" name', "single", "${engine} suite", "${name}: closes"]);
	assert.ok(nameMatches("${name}: clo…", names));
	assert.ok(!nameMatches("…", names), "an empty prefix matches nothing");
	assert.equal(parseMatrix("| S1 | t | `test/a.test.ts › x` <br> not tested: y |")[0]?.reasons[0], "not tested: y");
});
