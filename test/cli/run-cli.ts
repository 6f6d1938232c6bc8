/**
 * Runs the real `portcullis` command (node bin/portcullis.js) as a subprocess, the way an admin
 * or a script does, with an environment free of the caller's PORTCULLIS_* variables.
 */
import { spawn, type ChildProcess } from "node:child_process";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { delimiter, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { createPortcullis, type Portcullis } from "../../src/app/portcullis.ts";
import { loadConfig } from "../../src/config/load-config.ts";
import { createPostgresDatabase } from "../helpers/test-app.ts";

export const ROOT = fileURLToPath(new URL("../../", import.meta.url));
export const BIN = fileURLToPath(new URL("../../bin/portcullis.js", import.meta.url));

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

export function spawnCli(args: readonly string[], env: NodeJS.ProcessEnv): ChildProcess {
	return spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env, stdio: ["pipe", "pipe", "pipe"] });
}

/**
 * Runs the CLI to its end. There is deliberately no kill timer: on a loaded machine a cold start
 * through tsx can take many seconds, and a timer that fires there turns load into a failure
 * ("exit null"). A CLI that truly hangs is caught by the runner's whole-test limit (scripts/test.sh).
 */
export async function runCli(args: readonly string[], options: { input?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
	const child = spawnCli(args, options.env ?? cleanEnv());
	let stdout = "";
	let stderr = "";
	child.stdout?.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
	child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
	// No input: stdin is closed at once (EOF), like `</dev/null`.
	child.stdin?.end(options.input ?? "");
	const [code, signal] = (await new Promise((resolve) => child.on("close", (...result) => resolve(result)))) as [number | null, NodeJS.Signals | null];
	return { code, signal, stdout, stderr };
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
