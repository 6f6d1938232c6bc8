/**
 * Runs the `portcullis` CLI for tests, two ways:
 *
 * - `runCli`: in this process, through the exported runner (`runCli(argv, io)`, src/cli/program.ts)
 *   with captured stdout/stderr, the given stdin, and an injected environment (CliIo.env, the one
 *   the config is read from), free of the caller's PORTCULLIS_* variables. Same code path as the
 *   binary from argument parsing to exit code, without a process start per command: most CLI
 *   tests use it.
 * - `runCliProcess` / `spawnCli`: the real command (bin/portcullis.js → dist/cli.js on the pinned
 *   Node) as a subprocess, the way an admin or a script runs it; `runDevCli`: the sources through
 *   tsx (`npm run cli`). A few tests keep these, for what only a process shows (the build, the
 *   launcher, exit codes of a real process, signals, a terminal).
 *
 * There is no kill timer anywhere here: on a loaded machine a cold start can take many seconds, and
 * a timer that fires there turns load into a failure ("exit null"). A command that truly hangs is
 * caught by the runner's whole-test limit (scripts/test.sh).
 */
import { spawn, type ChildProcess } from "node:child_process";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { delimiter, join, resolve } from "node:path";
import { Readable, Writable } from "node:stream";
import { createPortcullis, type Portcullis } from "../../src/app/portcullis.ts";
import { runCli as runCliInProcess } from "../../src/cli/program.ts";
import { loadConfig } from "../../src/config/load-config.ts";
import { BIN, ensureBuilt, ROOT } from "../helpers/built-cli.ts";
import { createPostgresDatabase } from "../helpers/test-app.ts";

export { BIN, ensureBuilt, ROOT };

/** The first `node` on PATH outside this checkout: the machine's own, which started npm. */
export function systemNode(): string {
	for (const dir of (process.env.PATH ?? "").split(delimiter)) {
		const candidate = join(dir, "node");
		if (dir !== "" && !resolve(dir).startsWith(resolve(ROOT, "node_modules")) && existsSync(candidate)) return candidate;
	}
	throw new Error("no system node on PATH (npm itself needs one)");
}

export interface CliResult {
	code: number | null;
	signal: NodeJS.Signals | null;
	stdout: string;
	stderr: string;
}

/** The parent's environment minus anything that would configure Portcullis behind the test's back. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
	const env: NodeJS.ProcessEnv = {};
	for (const [name, value] of Object.entries(process.env)) if (!name.startsWith("PORTCULLIS_")) env[name] = value;
	return { ...env, ...extra };
}

export interface CliEngine {
	readonly env: NodeJS.ProcessEnv;
	/** Set for PostgreSQL: the fresh database the CLI is pointed at (PORTCULLIS_DATABASE_URL). */
	readonly databaseUrl: string | undefined;
	drop(): Promise<void>;
}

/** The CLI's environment for one engine: SQLite under --data, or a fresh PostgreSQL database. */
export async function cliEngine(engine: "sqlite" | "postgres"): Promise<CliEngine> {
	if (engine === "sqlite") return { env: cleanEnv(), databaseUrl: undefined, drop: async () => undefined };
	const created = await createPostgresDatabase();
	return { env: cleanEnv({ PORTCULLIS_DATABASE_URL: created.url }), databaseUrl: created.url, drop: created.drop };
}

/** A stdout/stderr stand-in that keeps what was written (synchronously: commands write lines). */
class Captured extends Writable {
	text = "";
	override _write(chunk: Buffer | string, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
		this.text += typeof chunk === "string" ? chunk : chunk.toString("utf8");
		done();
	}
}

export interface RunOptions {
	/** All of stdin; absent: stdin is at its end at once, like `</dev/null`. */
	input?: string;
	env?: NodeJS.ProcessEnv;
}

/** Runs one command line in this process, to its end. `signal` is always null (no process). */
export async function runCli(args: readonly string[], options: RunOptions = {}): Promise<CliResult> {
	const stdout = new Captured();
	const stderr = new Captured();
	const stdin = Readable.from(options.input === undefined || options.input === "" ? [] : [Buffer.from(options.input, "utf8")]);
	const code = await runCliInProcess(args, { stdin, stdout, stderr, env: options.env ?? cleanEnv() });
	return { code, signal: null, stdout: stdout.text, stderr: stderr.text };
}

/** The real `portcullis` command as a process (the built program; built first when it is stale). */
export async function spawnCli(args: readonly string[], env: NodeJS.ProcessEnv): Promise<ChildProcess> {
	await ensureBuilt();
	return spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env, stdio: ["pipe", "pipe", "pipe"] });
}

async function collect(child: ChildProcess, input: string | undefined): Promise<CliResult> {
	let stdout = "";
	let stderr = "";
	child.stdout?.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
	child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
	// No input: stdin is closed at once (EOF), like `</dev/null`.
	child.stdin?.end(input ?? "");
	const [code, signal] = (await new Promise((resolve) => child.on("close", (...result) => resolve(result)))) as [number | null, NodeJS.Signals | null];
	return { code, signal, stdout, stderr };
}

/** Runs the real command (bin/portcullis.js, dist/) to its end. */
export async function runCliProcess(args: readonly string[], options: RunOptions = {}): Promise<CliResult> {
	return collect(await spawnCli(args, options.env ?? cleanEnv()), options.input);
}

/** Runs the sources through tsx, as `npm run cli -- …` does (the development path, no build). */
export function runDevCli(args: readonly string[], options: RunOptions = {}): Promise<CliResult> {
	const child = spawn(process.execPath, ["--no-memory-reducer", "--import", "tsx", join(ROOT, "src", "cli", "main.ts"), ...args], {
		cwd: ROOT,
		env: options.env ?? cleanEnv(),
		stdio: ["pipe", "pipe", "pipe"],
	});
	return collect(child, options.input);
}

/** Exit 0, nothing on stderr. */
export function assertOk(result: CliResult, what: string): void {
	assert.equal(result.code, 0, `${what}: exit ${result.code}, stderr: ${result.stderr}`);
	assert.equal(result.stderr, "", `${what}: unexpected stderr`);
}

/** Exit 2, nothing on stdout, exactly one line `portcullis: <reason>` on stderr, no stack trace. */
export function assertBadInput(result: CliResult, what: string, reason?: RegExp): void {
	assert.equal(result.code, 2, `${what}: exit ${result.code}, stderr: ${result.stderr}`);
	assert.equal(result.stdout, "", `${what}: nothing on stdout`);
	assert.match(result.stderr, /^portcullis: [^\n]+\n$/, `${what}: one line on stderr, got ${JSON.stringify(result.stderr)}`);
	assert.doesNotMatch(result.stderr, /\bat .+:\d+:\d+|Error:|node:internal/, `${what}: no stack trace`);
	if (reason) assert.match(result.stderr, reason, what);
}

/** The same database the CLI uses, opened in-process (to log in as a user, or to check a hash). */
export function openApp(dataDir: string, databaseUrl?: string): Promise<Portcullis> {
	const env: Record<string, string> = databaseUrl === undefined ? {} : { PORTCULLIS_DATABASE_URL: databaseUrl };
	return createPortcullis(loadConfig({ env, overrides: { data_dir: dataDir } }));
}
