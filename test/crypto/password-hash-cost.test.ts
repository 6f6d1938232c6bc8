/**
 * The test suite hashes at argon2id's smallest cost (test/helpers/low-hash-cost.ts); production
 * never does. Both halves are checked: no module under src/ can switch the cost, and a process
 * that has not been told otherwise hashes at the production cost (m = 19 MiB, t = 2, p = 1).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { hashPassword, PASSWORD_HASH_OPTIONS, useLowestHashCostForTests, verifyPassword } from "../../src/crypto/password-hash.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

function sourceFiles(dir: string): string[] {
	return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
		entry.isDirectory() ? sourceFiles(join(dir, entry.name)) : /\.tsx?$/.test(entry.name) ? [join(dir, entry.name)] : [],
	);
}

test("no module under src/ lowers the hash cost (only the test helper does)", () => {
	const callers = sourceFiles(join(ROOT, "src"))
		.filter((file) => readFileSync(file, "utf8").includes("useLowestHashCostForTests"))
		.map((file) => relative(ROOT, file).split(sep).join("/"));
	assert.deepEqual(callers, ["src/crypto/password-hash.ts"]);
});

test("a process that was not told otherwise hashes at the production cost", () => {
	assert.deepEqual(PASSWORD_HASH_OPTIONS, { algorithm: 2, memoryCost: 19456, timeCost: 2, parallelism: 1 });
	const run = spawnSync(
		process.execPath,
		["--import", "tsx", "--input-type=module", "-e", 'const m = await import("./src/crypto/password-hash.ts"); console.log(await m.hashPassword("x"));'],
		{ cwd: ROOT, encoding: "utf8" },
	);
	assert.equal(run.status, 0, run.stderr);
	assert.match(run.stdout, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
});

test("the lowest cost makes hashes that carry it, and they verify like any other", async () => {
	useLowestHashCostForTests();
	const stored = await hashPassword("correct horse");
	assert.match(stored, /^\$argon2id\$v=19\$m=64,t=1,p=1\$/);
	assert.equal(await verifyPassword(stored, "correct horse"), true);
	assert.equal(await verifyPassword(stored, "wrong horse"), false);
});
