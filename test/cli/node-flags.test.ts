/**
 * The gateway's V8 flags (src/app/node-flags.ts) reach both ways of starting it: `npm start` and
 * the `portcullis` command's shebang. A flag dropped from one of them would silently double the
 * gateway's CPU per GiB on bulk transfers (docs/benchmarks.md), which no functional test notices.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { GATEWAY_NODE_FLAGS } from "../../src/app/node-flags.ts";
import { BIN, cleanEnv, ROOT } from "./run-cli.ts";

test("`npm start` passes every gateway node flag to node", () => {
	const start = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> }).scripts.start ?? "";
	const words = start.split(/\s+/);
	assert.equal(words[0], "node", start);
	for (const flag of GATEWAY_NODE_FLAGS) assert.ok(words.indexOf(flag) > 0 && words.indexOf(flag) < words.indexOf("bin/portcullis.js"), `${flag} missing before the script in: ${start}`);
});

test("the `portcullis` shebang passes every gateway node flag, and runs as written", () => {
	const shebang = readFileSync(BIN, "utf8").split("\n")[0] ?? "";
	assert.match(shebang, /^#!\/usr\/bin\/env -S node(\s|$)/);
	for (const flag of GATEWAY_NODE_FLAGS) assert.ok(shebang.split(/\s+/).includes(flag), `${flag} missing in: ${shebang}`);
	// Executed through the kernel's shebang handling, not `node BIN`: env -S must split the line.
	const run = spawnSync(BIN, ["--version"], { cwd: ROOT, env: cleanEnv(), encoding: "utf8" });
	assert.equal(run.status, 0, run.stderr);
	assert.match(run.stdout, /^\d+\.\d+\.\d+/);
});

test("the flags are ones this node accepts (a typo would stop the gateway from starting)", () => {
	const run = spawnSync(process.execPath, [...GATEWAY_NODE_FLAGS, "-e", ""], { encoding: "utf8" });
	assert.equal(run.status, 0, run.stderr);
	// The check can fail: node refuses an option it does not know (exit 9, "bad option").
	const typo = spawnSync(process.execPath, [...GATEWAY_NODE_FLAGS.map((flag) => `${flag}x`), "-e", ""], { encoding: "utf8" });
	assert.equal(typo.status, 9, typo.stderr);
});
