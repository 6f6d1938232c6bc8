/**
 * docs/errors.md documents every code in ERROR_CODES, and nothing else (the
 * coded-error-catalogue-checked-by-a-test idea is Fastify's). Rows are table lines whose first
 * cell is a code: "| `ERR_SOMETHING` | meaning | what the user sees | what the admin should do |".
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { ERROR_CODES } from "../../src/core/errors.ts";

const DOC = new URL("../../docs/errors.md", import.meta.url);

interface Row {
	code: string;
	cells: string[];
}

function documentedRows(): Row[] {
	const rows: Row[] = [];
	for (const line of readFileSync(DOC, "utf8").split("\n")) {
		const match = /^\|\s*`?(ERR_[A-Z0-9_]+)`?\s*\|/.exec(line);
		if (match?.[1] === undefined) continue;
		const cells = line
			.trim()
			.replace(/^\||\|$/g, "")
			.split("|")
			.map((cell) => cell.trim());
		rows.push({ code: match[1], cells });
	}
	return rows;
}

test("every code in ERROR_CODES has a row in docs/errors.md", () => {
	const documented = new Set(documentedRows().map((row) => row.code));
	const missing = Object.keys(ERROR_CODES).filter((code) => !documented.has(code));
	assert.deepEqual(missing, [], `add a row to docs/errors.md for: ${missing.join(", ")}`);
});

test("docs/errors.md documents no code that ERROR_CODES lacks", () => {
	const known = new Set(Object.keys(ERROR_CODES));
	const stale = documentedRows()
		.map((row) => row.code)
		.filter((code) => !known.has(code));
	assert.deepEqual(stale, [], `remove (or add to src/core/errors.ts): ${stale.join(", ")}`);
});

test("each code has exactly one row, with all four columns filled", () => {
	const seen = new Map<string, number>();
	for (const row of documentedRows()) {
		seen.set(row.code, (seen.get(row.code) ?? 0) + 1);
		assert.equal(row.cells.length, 4, `${row.code}: expected code | meaning | what the user sees | what the admin should do`);
		for (const cell of row.cells) assert.ok(cell.length > 0, `${row.code}: an empty cell`);
	}
	const duplicated = [...seen].filter(([, count]) => count > 1).map(([code]) => code);
	assert.deepEqual(duplicated, []);
});
