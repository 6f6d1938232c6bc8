/**
 * The compiled build (scripts/build.js → dist/, docs/decisions.md "Runtime and build"): production
 * runs the bundle, not the sources through tsx. Built here into a folder of its own, then run
 * the way bin/portcullis.js runs it; and the command itself (bin → dist/) answers `--help` and
 * `user list`; the development path (`npm run cli`, tsx) still works; a missing build is named.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { assertOk, cleanEnv, ROOT, runCliProcess, runDevCli, type CliResult } from "./run-cli.ts";

const PASSWORD = "correct horse battery staple";

function runNode(args: readonly string[], input = ""): Promise<CliResult> {
	const child = spawn(process.execPath, args, { cwd: ROOT, env: cleanEnv(), stdio: ["pipe", "pipe", "pipe"] });
	let stdout = "";
	let stderr = "";
	child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
	child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
	child.stdin.end(input);
	return new Promise((resolve) => child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr })));
}

describe("scripts/build.js", () => {
	let out: string;
	let data: string;
	before(async () => {
		// Inside the checkout (dist.build-* is git-ignored): the bundle resolves node_modules from there.
		out = mkdtempSync(join(ROOT, "dist.build-test-"));
		data = mkdtempSync(join(tmpdir(), "portcullis-build-"));
		const { build } = (await import(pathToFileURL(join(ROOT, "scripts", "build.js")).href)) as { build(outdir: string): Promise<unknown> };
		await build(out);
	});
	after(() => {
		rmSync(out, { recursive: true, force: true });
		rmSync(data, { recursive: true, force: true });
	});

	test("every file the program reads by its own location is in the build or the checkout", () => {
		const chunks = readdirSync(out).filter((name) => name.endsWith(".js"));
		assert.ok(chunks.includes("cli.js"), chunks.join(" "));
		const urls: string[] = [];
		for (const chunk of chunks) {
			const text = readFileSync(join(out, chunk), "utf8");
			for (const match of text.matchAll(/new URL\("([^"]+)", import\.meta\.url\)/g)) {
				urls.push(match[1]!);
				assert.ok(existsSync(fileURLToPath(new URL(match[1]!, pathToFileURL(join(out, chunk))))), `${chunk}: ${match[1]} does not exist`);
			}
		}
		// The stylesheet, the WebAuthn page script, the asciicast player, and package.json (--version).
		for (const asset of ["assets/web/assets/app.css", "assets/web/static/webauthn.js", "assets/servers/cast-player.js", "../package.json"])
			assert.ok(urls.includes(`./${asset}`.replace("./../", "../")), `${asset} not referenced: ${urls.join(" ")}`);
	});

	test("the bundle imports no TypeScript and no tsx (they are development tools)", () => {
		for (const chunk of readdirSync(out).filter((name) => name.endsWith(".js"))) {
			const text = readFileSync(join(out, chunk), "utf8");
			assert.doesNotMatch(text, /from\s*"tsx|import\("tsx|\.tsx?"\)/, chunk);
		}
	});

	test("the built program answers --help, adds a user and lists it, on plain node", async () => {
		const help = await runNode([join(out, "cli.js"), "--help"]);
		assertOk(help, "--help");
		assert.match(help.stdout, /^Usage: portcullis /m);
		assert.match(help.stdout, /^ {2}user\b/m);
		assertOk(await runNode([join(out, "cli.js"), "user", "add", "alice", "--data", data], `${PASSWORD}\n`), "user add");
		const list = await runNode([join(out, "cli.js"), "user", "list", "--json", "--data", data]);
		assertOk(list, "user list");
		assert.deepEqual(
			(JSON.parse(list.stdout) as { username: string }[]).map((user) => user.username),
			["alice"],
		);
	});
});

describe("the portcullis command runs the build", () => {
	let data: string;
	before(() => {
		data = mkdtempSync(join(tmpdir(), "portcullis-bin-"));
	});
	after(() => rmSync(data, { recursive: true, force: true }));

	test("--help, --version, and user list against a fresh data directory", async () => {
		const help = await runCliProcess(["--help"]);
		assertOk(help, "--help");
		assert.match(help.stdout, /^Usage: portcullis /m);
		const version = await runCliProcess(["--version"]);
		assertOk(version, "--version");
		const ours = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version;
		assert.match(version.stdout, new RegExp(`^${ours.replaceAll(".", "\\.")} \\(node v24\\.`));
		assertOk(await runCliProcess(["user", "add", "bob", "--data", data], { input: `${PASSWORD}\n` }), "user add");
		const list = await runCliProcess(["user", "list", "--data", data]);
		assertOk(list, "user list");
		assert.match(list.stdout, /^bob\s/m);
	});

	test("without a build it says what to run, exit 1 (it never falls back to the sources)", async () => {
		const fake = mkdtempSync(join(tmpdir(), "portcullis-nobuild-"));
		try {
			mkdirSync(join(fake, "bin"));
			copyFileSync(join(ROOT, "bin", "portcullis.js"), join(fake, "bin", "portcullis.js"));
			symlinkSync(join(ROOT, "node_modules"), join(fake, "node_modules"));
			copyFileSync(join(ROOT, "package.json"), join(fake, "package.json"));
			const result = await runNode([join(fake, "bin", "portcullis.js"), "--help"]);
			assert.equal(result.code, 1, result.stderr);
			assert.equal(result.stdout, "");
			assert.equal(result.stderr, "portcullis: the compiled program (dist/cli.js) is missing: run npm run build (npm install and npm ci run it)\n");
		} finally {
			rmSync(fake, { recursive: true, force: true });
		}
	});

	test("the development path (npm run cli: the sources through tsx) runs the same program", async () => {
		const help = await runDevCli(["--help"]);
		assertOk(help, "--help through tsx");
		assert.equal(help.stdout, (await runCliProcess(["--help"])).stdout);
	});

	test("package.json: bin and start run the build, prepare builds it, tsx is a development dependency only", () => {
		const manifest = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
			bin: Record<string, string>;
			scripts: Record<string, string>;
			dependencies: Record<string, string>;
			devDependencies: Record<string, string>;
		};
		assert.equal(manifest.bin.portcullis, "bin/portcullis.js");
		assert.match(manifest.scripts.start ?? "", /\bbin\/portcullis\.js serve\b/);
		assert.equal(manifest.scripts.prepare, "node scripts/build.js");
		assert.equal(manifest.dependencies.tsx, undefined);
		assert.ok(manifest.devDependencies.tsx !== undefined && manifest.devDependencies.esbuild !== undefined);
		assert.doesNotMatch(readFileSync(join(ROOT, "bin", "portcullis.js"), "utf8"), /import\(["']tsx|\bregister\(/);
	});
});
