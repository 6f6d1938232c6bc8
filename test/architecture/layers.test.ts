/**
 * The import layers of src/ (issue 12 item 1, drawn in docs/architecture.md): every import points
 * down, never back up, and no adapter imports another adapter.
 *
 *   core (core, crypto, net, config)  ←  storage  ←  methods  ←  flows (flows, servers)
 *     ←  adapters (web, ssh, cli; api when it exists)  ←  app (the composition root)
 *
 * An arrow inside one layer is fine (flows → servers, crypto → core), except between two
 * adapters. Two named rules sit on top: the CLI is the process's entry point, so it may open the
 * composition root (cli → app), and `portcullis serve` (src/cli/commands/serve.ts) is the one
 * place that starts the web and SSH adapters together.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** Top-level folder under src/ → layer rank (higher may import lower). */
const LAYER: Record<string, number> = {
	core: 0,
	crypto: 0,
	net: 0,
	config: 0,
	storage: 1,
	methods: 2,
	flows: 3,
	servers: 3,
	web: 4,
	ssh: 4,
	cli: 4,
	api: 4,
	app: 5,
};
const ADAPTERS = new Set(["web", "ssh", "cli", "api"]);

/** Named exceptions that are part of the design (see the header). */
const RULES: readonly { readonly from: RegExp; readonly to: RegExp; readonly why: string }[] = [
	{ from: /^src\/cli\//, to: /^src\/app\//, why: "the CLI is the process entry point: it opens the composition root" },
	{ from: /^src\/cli\/commands\/serve\.ts$/, to: /^src\/(web|ssh)\//, why: "`portcullis serve` starts the web console and the SSH gateway" },
];

/**
 * Arrows another branch is still removing. The web refactor (issue 12, web part) gives the web
 * adapter narrow services instead of the Portcullis object and stops it importing the SSH adapter;
 * once merged, empty this list. Each entry is one "from -> to" import; anything not listed fails.
 */
const PENDING: ReadonlySet<string> = new Set<string>([
	// Empty: the web adapter no longer imports the SSH adapter or the app object (narrow WebServices).
]);

function sourceFiles(dir: string): string[] {
	const files: string[] = [];
	for (const entry of readdirSync(dir, { withFileTypes: true })) {
		const path = join(dir, entry.name);
		if (entry.isDirectory()) files.push(...sourceFiles(path));
		else if (/\.(ts|tsx|mts|cts|js|mjs)$/.test(entry.name) && !entry.name.endsWith(".d.ts")) files.push(path);
	}
	return files;
}

/** Relative specifiers of static imports/re-exports (`import … from`, `export … from`, bare `import "…"`) and dynamic `import("…")`. */
export function importSpecifiers(text: string): string[] {
	const found: string[] = [];
	const pattern = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)["'`](\.{1,2}\/[^"'`]+)["'`]/gm;
	for (const match of text.matchAll(pattern)) found.push(match[1]!);
	return found;
}

function layerOf(file: string): string | undefined {
	const parts = file.split("/");
	return parts[0] === "src" && parts.length > 2 ? parts[1] : undefined;
}

/** Why `from → to` breaks the layers, or null when it is allowed. */
export function violation(from: string, to: string): string | null {
	const a = layerOf(from);
	const b = layerOf(to);
	if (a === undefined || b === undefined || a === b) return null;
	if (RULES.some((rule) => rule.from.test(from) && rule.to.test(to))) return null;
	const rankA = LAYER[a];
	const rankB = LAYER[b];
	if (rankA === undefined || rankB === undefined) return `src/${rankA === undefined ? a : b}/ has no layer: add it to LAYER and docs/architecture.md`;
	if (ADAPTERS.has(a) && ADAPTERS.has(b)) return `adapter ${a} imports adapter ${b}`;
	if (rankB > rankA) return `${a} (layer ${rankA}) imports ${b} (layer ${rankB}): an arrow back up`;
	return null;
}

function arrows(): { from: string; to: string }[] {
	const result: { from: string; to: string }[] = [];
	for (const file of sourceFiles(join(ROOT, "src"))) {
		const from = relative(ROOT, file).split(sep).join("/");
		for (const specifier of importSpecifiers(readFileSync(file, "utf8"))) {
			const to = relative(ROOT, join(dirname(file), specifier))
				.split(sep)
				.join("/");
			result.push({ from, to });
		}
	}
	return result;
}

test("no import in src/ runs back up a layer or from one adapter into another", () => {
	const offenders: string[] = [];
	for (const { from, to } of arrows()) {
		const problem = violation(from, to);
		if (problem !== null && !PENDING.has(`${from} -> ${to}`)) offenders.push(`${from} -> ${to}: ${problem}`);
	}
	assert.deepEqual(offenders, [], `move the shared piece down a layer or inject it from src/app:\n${offenders.join("\n")}`);
});

test("every pending exception still exists (delete entries once their import is gone)", () => {
	const present = new Set(arrows().map(({ from, to }) => `${from} -> ${to}`));
	assert.deepEqual(
		[...PENDING].filter((entry) => !present.has(entry)),
		[],
	);
});

test("the guard itself catches arrows back up and between adapters", () => {
	assert.match(violation("src/storage/factor-store.ts", "src/methods/method.ts") ?? "", /back up/);
	assert.match(violation("src/methods/method-admin.ts", "src/flows/admin-service.ts") ?? "", /back up/);
	assert.match(violation("src/ssh/gateway.ts", "src/app/portcullis.ts") ?? "", /back up/);
	assert.match(violation("src/config/config.ts", "src/ssh/limits.ts") ?? "", /back up/);
	assert.match(violation("src/web/routes/a.tsx", "src/ssh/gateway.ts") ?? "", /adapter web imports adapter ssh/);
	assert.match(violation("src/cli/commands/user-key.ts", "src/ssh/authenticate-keys.ts") ?? "", /adapter cli imports adapter ssh/);
	assert.match(violation("src/newlayer/x.ts", "src/core/errors.ts") ?? "", /no layer/);
	assert.equal(violation("src/ssh/gateway.ts", "src/flows/login-flow.ts"), null);
	assert.equal(violation("src/cli/commands/serve.ts", "src/web/server.ts"), null);
	assert.deepEqual(
		importSpecifiers(
			'import type { A } from "../x.ts";\nexport { B } from "./y.ts";\nconst m = await import("../z.ts");\nimport "./side.ts";\nimport { c } from "node:fs";',
		),
		["../x.ts", "./y.ts", "../z.ts", "./side.ts"],
	);
});

/**
 * Stores are opened by src/storage/ (inside its own transactions) and by the composition root
 * (src/app/) only (issue 12 item 2); everything else receives them. Pending: files other branches
 * are refactoring (method settings: settings branch; web: web branch). Empty once merged.
 */
const STORE_CONSTRUCTION_PENDING: ReadonlySet<string> = new Set<string>([
	// Empty: every store lives in src/storage/ and is built there or in the composition root.
]);

test("no store is constructed outside src/storage/ and the composition root", () => {
	const offenders: string[] = [];
	for (const file of sourceFiles(join(ROOT, "src"))) {
		const name = relative(ROOT, file).split(sep).join("/");
		if (name.startsWith("src/storage/") || name.startsWith("src/app/") || STORE_CONSTRUCTION_PENDING.has(name)) continue;
		if (/\bnew [A-Z][A-Za-z]*(Store|AuditLog|UserTransactions)\s*\(/.test(readFileSync(file, "utf8"))) offenders.push(name);
	}
	assert.deepEqual(offenders, []);
});

test("no SQL outside src/storage/ (queries belong to a store)", () => {
	const offenders: string[] = [];
	for (const file of sourceFiles(join(ROOT, "src"))) {
		const name = relative(ROOT, file).split(sep).join("/");
		if (name.startsWith("src/storage/")) continue;
		if (/\.(selectFrom|updateTable|insertInto|deleteFrom)\(|\bsql`/.test(readFileSync(file, "utf8"))) offenders.push(name);
	}
	assert.deepEqual(offenders, []);
});
