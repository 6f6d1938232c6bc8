/**
 * One `portcullis serve` node as a real process (bin/portcullis.js), for graceful-stop, restart
 * and kill -9 tests and the soak run: started on free ports, with the operations listener on, and
 * its printed addresses parsed. Started like `npm start` (the memory reducer off, src/app/node-flags.ts). Several nodes share one database (PostgreSQL URL, or one SQLite
 * data directory for a single node) and one secret key.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { BIN, ensureBuilt, ROOT } from "./built-cli.ts";

export interface ServeNodeOptions {
	readonly dataDir: string;
	/** Empty or undefined: SQLite under dataDir. */
	readonly databaseUrl?: string;
	/** Base64 of 32 bytes, shared by every node of one database. */
	readonly secretKey: string;
	readonly drainSeconds?: number;
	/** Extra PORTCULLIS_* variables. */
	readonly env?: Record<string, string>;
}

export interface ServeNode {
	readonly child: ChildProcess;
	readonly consoleUrl: string;
	readonly sshPort: number;
	readonly opsUrl: string;
	output(): string;
	errors(): string;
	readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export async function startServeNode(options: ServeNodeOptions): Promise<ServeNode> {
	await ensureBuilt();
	const env: NodeJS.ProcessEnv = {};
	for (const [name, value] of Object.entries(process.env)) if (!name.startsWith("PORTCULLIS_")) env[name] = value;
	Object.assign(env, {
		PORTCULLIS_SECRETS__KEY: options.secretKey,
		PORTCULLIS_OPS__LISTEN: "127.0.0.1:0",
		PORTCULLIS_OPS__DRAIN_SECONDS: String(options.drainSeconds ?? 10),
		...(options.databaseUrl ? { PORTCULLIS_DATABASE_URL: options.databaseUrl } : {}),
		...options.env,
	});
	const child = spawn(
		process.execPath,
		["--no-memory-reducer", BIN, "serve", "--quiet", "--data", options.dataDir, "--http", "127.0.0.1:0", "--ssh", "127.0.0.1:0"],
		{
			cwd: ROOT,
			env,
			stdio: ["ignore", "pipe", "pipe"],
		},
	);
	let stdout = "";
	let stderr = "";
	child.stdout?.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
	child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
	const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
		child.on("close", (code, signal) => resolve({ code, signal })),
	);
	// No deadline: a cold start on a loaded machine is slow, not wrong.
	for (;;) {
		const consoleUrl = /^Portcullis console: (\S+)$/m.exec(stdout)?.[1];
		const sshPort = /^Portcullis SSH gateway: ssh -p (\d+) /m.exec(stdout)?.[1];
		const opsUrl = /^Portcullis operations: (\S+)\/readyz$/m.exec(stdout)?.[1];
		if (consoleUrl !== undefined && sshPort !== undefined && opsUrl !== undefined) {
			return { child, consoleUrl, sshPort: Number(sshPort), opsUrl, output: () => stdout, errors: () => stderr, exited };
		}
		if (child.exitCode !== null || child.signalCode !== null) throw new Error(`serve did not start (exit ${child.exitCode}).\n${stdout}\n${stderr}`);
		await new Promise((resolve) => setTimeout(resolve, 50));
	}
}
