/**
 * The repository explains itself: every markdown document that code, tests, scripts, benchmarks and
 * docs cite exists in the repository, nothing points outside it (`../shared`), cited documents are
 * cited by section name (the repository's docs have no numbered sections, so "x.md §2.3" is a
 * citation of a document that is not here), and src/ names no issue-tracker item ("issue 4 item 3",
 * "finding 5"): a maintainer who clones the repository can follow every reference.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, extname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const SCANNED = ["src", "docs", "bench", "scripts", "test", "README.md"];
const TEXT_EXTENSIONS = new Set([".ts", ".tsx", ".js", ".mjs", ".cjs", ".md", ".json", ".sh", ".css", ".html", ".txt"]);

/** Markdown file names that are not citations: files a test writes into its own temporary folder. */
const NOT_CITATIONS: ReadonlyArray<{ file: string; name: string; why: string }> = [
	{ file: "test/security/security-matrix.test.ts", name: "matrix.md", why: "a fixture written to a mkdtemp folder" },
];

const MD_NAME = /\b[\w./-]+\.md\b/g;
/** A numbered section of a markdown document ("security.md §2.3", "stack.md, §4"). */
const NUMBERED_SECTION = /\b[\w./-]+\.md\b,?\s*§\s*\d/g;
const DECISION = /\bDecisions? (\d+)(?:\s*[-–]\s*(\d+))?/g;
/** Issue-tracker references: "issue 7", "issues 3", "finding 5", "findings 4 and 5", "attack run". */
const TRACKER = /\bissues? #?\d+|\bfindings? \d+|\battack run\b/gi;
const DECISION_COUNT = 12;

export interface Problem {
	file: string;
	line: number;
	text: string;
	why: string;
}

/** Problems in one file's text; `file` is relative to the repository root, with forward slashes. */
export function citationProblems(file: string, text: string, exists: (path: string) => boolean): Problem[] {
	const problems: Problem[] = [];
	const lines = text.split("\n");
	lines.forEach((line, index) => {
		const report = (match: string, why: string): void => {
			problems.push({ file, line: index + 1, text: match, why });
		};
		if (line.includes("../shared")) report("../shared", "points outside the repository");
		for (const match of line.matchAll(MD_NAME)) {
			const name = match[0];
			if (line.slice(0, match.index).endsWith("//")) continue; // a URL (https://host/path/README.md)
			if (NOT_CITATIONS.some((entry) => entry.file === file && entry.name === name)) continue;
			const bare = name.replace(/^\.\//, "");
			const candidates = [bare, join("docs", bare), join(dirname(file), bare)];
			if (!candidates.some((candidate) => exists(candidate))) report(name, "cites a document that is not in the repository");
		}
		for (const match of line.matchAll(NUMBERED_SECTION)) {
			report(match[0], "cites a numbered section; the repository's docs are cited by section name");
		}
		for (const match of line.matchAll(DECISION)) {
			const numbers = [match[1], match[2]].filter((n): n is string => n !== undefined).map(Number);
			if (numbers.some((n) => n < 1 || n > DECISION_COUNT)) report(match[0], `docs/product-decisions.md has Decisions 1-${DECISION_COUNT}`);
		}
		if (file.startsWith("src/")) {
			for (const match of line.matchAll(TRACKER)) report(match[0], "an issue-tracker reference: say what it meant instead");
		}
	});
	return problems;
}

function scannedFiles(path: string): string[] {
	const full = join(root, path);
	if (!existsSync(full)) return [];
	if (statSync(full).isFile()) return TEXT_EXTENSIONS.has(extname(path)) ? [path] : [];
	return readdirSync(full).flatMap((entry) => (entry === "node_modules" || entry.startsWith(".") ? [] : scannedFiles(join(path, entry))));
}

const existsInRepo = (path: string): boolean => !relative(root, join(root, path)).startsWith("..") && existsSync(join(root, path));

test("the checker flags citations of absent documents, numbered sections, ../shared and issue references", () => {
	const here = new Set(["docs/threat-model.md", "docs/product-decisions.md", "README.md", "docs/security-matrix.md"]);
	const exists = (path: string): boolean => here.has(path.replace(/\\/g, "/"));
	const flagged = (file: string, text: string): string[] => citationProblems(file, text, exists).map((p) => p.text);
	assert.deepEqual(flagged("src/a.ts", "// see performance.md for why"), ["performance.md"]);
	assert.deepEqual(flagged("src/a.ts", "// security.md §2.3: at least 16 characters"), ["security.md", "security.md §2"]);
	assert.deepEqual(flagged("docs/x.md", "Product rules: `../shared/docs/product.md`."), ["../shared", "shared/docs/product.md"]);
	assert.deepEqual(flagged("docs/x.md", "Read /work/shared/docs/stack.md first."), ["work/shared/docs/stack.md"]);
	assert.deepEqual(flagged("src/a.ts", "// WebAuthn routes (issue 4 item 2)"), ["issue 4"]);
	assert.deepEqual(flagged("src/a.ts", "// instant revocation (issue 7, findings 4 and 5)"), ["issue 7", "findings 4"]);
	assert.deepEqual(flagged("src/a.ts", "// independent attack run 2026-12"), ["attack run"]);
	assert.deepEqual(flagged("src/a.ts", "// docs/product-decisions.md, Decision 13"), ["Decision 13"]);
	// The shared inputs (product.md, security.md, stack.md, …) are not in the repository: citing them is flagged.
	assert.deepEqual(flagged("src/a.ts", "// product.md Decision 3"), ["product.md"]);
	// Legitimate text passes.
	for (const text of [
		"// docs/threat-model.md, RADIUS; RFC 2865 §3: the secret MUST NOT be empty",
		"// product-decisions.md Decisions 2-4 and docs/security-matrix.md row W2",
		"See [the matrix](security-matrix.md) and ../README.md; https://github.com/mscdex/ssh2/blob/master/README.md",
		"// mscdex/ssh2#1374 is the upstream issue tracker entry",
	]) {
		assert.deepEqual(flagged("docs/x.md", text), [], text);
	}
	// Issue references are allowed outside src/ (test names may keep their history), never in src/.
	assert.deepEqual(flagged("test/a.test.ts", "// issue 7"), []);
});

test("every markdown document cited in src/, docs/, README.md, bench/, scripts/ and test/ is in the repository", () => {
	// This file is left out: its examples are bad citations on purpose.
	const files = SCANNED.flatMap(scannedFiles).filter((file) => file.split("\\").join("/") !== "test/docs/citations.test.ts");
	assert.ok(files.includes("src/core/decide-second-factor.ts") && files.includes("README.md"), "the scan reaches the sources");
	const problems = files.flatMap((file) => citationProblems(file.split("\\").join("/"), readFileSync(join(root, file), "utf8"), existsInRepo));
	assert.deepEqual(
		problems.map((p) => `${p.file}:${p.line}: ${p.text} (${p.why})`),
		[],
		"cite a file in this repository (docs/product-decisions.md, docs/threat-model.md, docs/dependencies.md, …) by section name",
	);
});
