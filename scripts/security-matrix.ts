/**
 * `npm run security:matrix`: reads docs/security-matrix.md, prints every threat row with the tests
 * that cover it, and exits 1 when a row has neither a test nor a written reason, or when a named
 * test does not exist (its file is gone, or no `test(` / `it(` / `describe(` in it has that name).
 * test/security/security-matrix.test.ts runs the same check in CI, so renaming or deleting a test
 * the matrix relies on fails the build until the matrix is updated.
 *
 * The grammar of the document (also explained at its top):
 * - a table row whose first cell is a row ID (`W1`, `API-2`, `S13`, …) is a threat row; its last
 *   cell lists the covering tests and/or a reason;
 * - a test reference is a code span `` `test/dir/file.test.ts › exact test name` ``;
 * - a name ending in `…` is a prefix: it matches a test whose name starts with the text before
 *   the `…` (used for long names, names holding a backtick or `|`, and template literals);
 * - a template-literal name (`` test(`${name}: closes`) ``) is matched against its source text,
 *   placeholders included, so `` `f.test.ts › ${name}: closes…` `` names it;
 * - a reason is a sentence starting with `not applicable:`, `not yet built:` or `not tested:`.
 */
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const PREFIX_MARK = "…";
export const REASON_PREFIXES = ["not applicable:", "not yet built:", "not tested:"] as const;

export interface TestRef {
	readonly file: string;
	readonly name: string;
}

export interface MatrixRow {
	readonly id: string;
	readonly threat: string;
	readonly tests: readonly TestRef[];
	readonly reasons: readonly string[];
	readonly line: number;
}

export interface MatrixProblem {
	readonly id: string;
	readonly line: number;
	readonly message: string;
}

export interface MatrixReport {
	readonly rows: readonly MatrixRow[];
	readonly problems: readonly MatrixProblem[];
}

const ROW_ID = /^(W\d+|API-\d+|S\d+|P\d+|T\d+|E\d+)$/;
const CODE_SPAN = /`([^`]+)`/g;
const SEPARATOR = " › ";

/** Splits a Markdown table line into cells; a `\|` inside a cell is an escaped pipe. */
function cells(line: string): string[] {
	const inner = line.trim().replace(/^\|/, "").replace(/\|$/, "");
	return inner.split(/(?<!\\)\|/).map((cell) => cell.trim().replaceAll("\\|", "|"));
}

/** Parses the matrix document into its threat rows (rows of every table whose first cell is an ID). */
export function parseMatrix(markdown: string): MatrixRow[] {
	const rows: MatrixRow[] = [];
	markdown.split("\n").forEach((text, index) => {
		if (!text.trim().startsWith("|")) return;
		const row = cells(text);
		const id = (row[0] ?? "").replace(/\*/g, "");
		if (!ROW_ID.test(id) || row.length < 3) return;
		const coverage = row.slice(2).join(" | ");
		const tests: TestRef[] = [];
		for (const match of coverage.matchAll(CODE_SPAN)) {
			const span = match[1] ?? "";
			const at = span.indexOf(SEPARATOR);
			if (at < 0) continue;
			tests.push({ file: span.slice(0, at).trim(), name: span.slice(at + SEPARATOR.length) });
		}
		// Test references are taken out of the text; other code spans stay part of a reason.
		const plain = coverage.replace(CODE_SPAN, (whole: string, inner: string) => (inner.includes(SEPARATOR) ? " " : whole));
		const reasons = plain
			.split(/<br\s*\/?>/i)
			.map((part) => part.trim())
			.filter((part) => REASON_PREFIXES.some((prefix) => part.toLowerCase().startsWith(prefix)));
		rows.push({ id, threat: row[1] ?? "", tests, reasons, line: index + 1 });
	});
	return rows;
}

/**
 * Every test, it and describe name in a test file. Quoted names are decoded (escapes resolved);
 * a template literal's name is its source text between the backticks, placeholders included.
 */
export function testNames(source: string): string[] {
	const names: string[] = [];
	const call = /\b(?:test|it|describe)(?:\.(?:only|skip|todo))?\(\s*(["'`])/g;
	for (let match = call.exec(source); match !== null; match = call.exec(source)) {
		const quote = match[1] as string;
		let at = match.index + match[0].length;
		let name = "";
		let depth = 0; // nesting of ${ … } in a template literal
		for (; at < source.length; at++) {
			const char = source[at] as string;
			if (depth === 0 && char === "\\") {
				const next = source[at + 1] ?? "";
				name += quote === "`" ? char + next : (({ n: "\n", t: "\t" } as Record<string, string>)[next] ?? next);
				at++;
				continue;
			}
			if (quote === "`" && char === "$" && source[at + 1] === "{" && depth === 0) {
				depth = 1;
				name += "${";
				at++;
				continue;
			}
			if (depth > 0) {
				if (char === "{") depth++;
				if (char === "}") depth--;
				name += char;
				continue;
			}
			if (char === quote) break;
			name += char;
		}
		names.push(name);
		call.lastIndex = at + 1;
	}
	return names;
}

/** True when `ref.name` names one of `names`: exactly, or as a prefix when it ends in `…`. */
export function nameMatches(refName: string, names: readonly string[]): boolean {
	if (refName.endsWith(PREFIX_MARK)) {
		const prefix = refName.slice(0, -PREFIX_MARK.length);
		return prefix.length > 0 && names.some((name) => name.startsWith(prefix));
	}
	return names.includes(refName);
}

/** Checks the matrix against the test files under `root`. */
export function checkMatrix(root: string, matrixPath = join(root, "docs", "security-matrix.md")): MatrixReport {
	const rows = parseMatrix(readFileSync(matrixPath, "utf8"));
	const problems: MatrixProblem[] = [];
	const cache = new Map<string, string[] | null>();
	const namesIn = (file: string): string[] | null => {
		if (!cache.has(file)) {
			const path = resolve(root, file);
			const inside = file.startsWith("test/") && file.endsWith(".test.ts") && !file.includes("..");
			cache.set(file, inside && existsSync(path) ? testNames(readFileSync(path, "utf8")) : null);
		}
		return cache.get(file) ?? null;
	};
	const seen = new Set<string>();
	for (const row of rows) {
		if (seen.has(row.id)) problems.push({ id: row.id, line: row.line, message: "row ID appears twice" });
		seen.add(row.id);
		if (row.tests.length === 0 && row.reasons.length === 0) {
			problems.push({ id: row.id, line: row.line, message: "no test and no written reason" });
		}
		for (const ref of row.tests) {
			const names = namesIn(ref.file);
			if (names === null) {
				problems.push({ id: row.id, line: row.line, message: `no such test file: ${ref.file}` });
			} else if (!nameMatches(ref.name, names)) {
				problems.push({ id: row.id, line: row.line, message: `no test named "${ref.name}" in ${ref.file}` });
			}
		}
	}
	if (rows.length === 0) problems.push({ id: "-", line: 0, message: "the matrix has no rows" });
	return { rows, problems };
}

/** The report as the npm script prints it. */
export function formatReport(report: MatrixReport): string {
	const out: string[] = [];
	for (const row of report.rows) {
		out.push(`${row.id}  ${row.threat}`);
		for (const ref of row.tests) out.push(`    ✓ ${ref.file} › ${ref.name}`);
		for (const reason of row.reasons) out.push(`    – ${reason}`);
	}
	const tested = report.rows.filter((row) => row.tests.length > 0).length;
	out.push("");
	out.push(`${report.rows.length} rows: ${tested} with tests, ${report.rows.length - tested} with a written reason only`);
	for (const problem of report.problems) out.push(`PROBLEM ${problem.id} (line ${problem.line}): ${problem.message}`);
	return out.join("\n");
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
	const report = checkMatrix(resolve(import.meta.dirname, ".."));
	console.log(formatReport(report));
	process.exitCode = report.problems.length > 0 ? 1 : 0;
}
