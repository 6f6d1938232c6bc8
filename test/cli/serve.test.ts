/**
 * `portcullis serve` as a real process: the first start creates the initial admin and prints its
 * one-time password once; a restart does not; the console answers; SIGTERM/SIGINT shut it down
 * cleanly. On SQLite (the `npm start` default) and on PostgreSQL.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BIN, cleanEnv, cliEngine, ensureBuilt, openApp, ROOT, spawnCli, systemNode } from "./run-cli.ts";

const BANNER_USER = /^ {2}username: admin$/gm;
const BANNER_PASSWORD = /^ {2}password: (\S+)$/m;
const CONSOLE = /^Portcullis console: (http:\/\/127\.0\.0\.1:\d+\/)$/m;

interface Running {
	child: ChildProcess;
	output(): string;
	url: string;
	exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
}

/** Starts a server process and waits until it prints the console URL. */
async function startServer(child: ChildProcess): Promise<Running> {
	let stdout = "";
	let stderr = "";
	child.stdout?.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
	child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
	child.stdin?.end();
	const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) =>
		child.on("close", (code, signal) => resolve({ code, signal, stderr })),
	);
	// No deadline: a cold start on a loaded machine is slow, not wrong (a hang is caught by the
	// runner's whole-test limit in scripts/test.sh).
	let url: string | undefined;
	while (url === undefined) {
		url = CONSOLE.exec(stdout)?.[1];
		if (url !== undefined) break;
		if (child.exitCode !== null) {
			assert.fail(`serve did not start (exit ${child.exitCode}).\nstdout:\n${stdout}\nstderr:\n${stderr}`);
		}
		await new Promise((resolve) => setTimeout(resolve, 50));
	}
	return { child, output: () => stdout, url, exited };
}

async function stop(server: Running, signal: NodeJS.Signals, kill: (signal: NodeJS.Signals) => void = (s) => server.child.kill(s)): Promise<void> {
	kill(signal);
	const { code, signal: killedBy, stderr } = await server.exited;
	assert.equal(killedBy, null, `stopped by ${killedBy}, not by its own clean exit`);
	assert.equal(code, 0, `exit code after ${signal}; stderr: ${stderr}`);
	assert.equal(stderr, "", "nothing on stderr");
	assert.match(server.output(), new RegExp(`^Portcullis stopping \\(${signal}\\)$`, "m"));
}

async function getLogin(url: string): Promise<void> {
	const response = await fetch(new URL("login", url));
	assert.equal(response.status, 200);
	assert.match(response.headers.get("content-type") ?? "", /^text\/html/);
	assert.match(await response.text(), /<form/);
}

for (const engine of ["sqlite", "postgres"] as const)
	describe(`portcullis serve (${engine})`, () => {
		let dir: string;
		let databaseUrl: string | undefined;
		let drop: (() => Promise<void>) | undefined;
		let env: NodeJS.ProcessEnv;
		const serveArgs = () => ["serve", "--http", "127.0.0.1:0", "--ssh", "127.0.0.1:0", "--data", dir];

		before(async () => {
			dir = join(mkdtempSync(join(tmpdir(), "portcullis-serve-")), "data"); // does not exist yet
			({ env, databaseUrl, drop } = await cliEngine(engine));
		});
		after(async () => {
			await drop?.();
			rmSync(join(dir, ".."), { recursive: true, force: true });
		});

		test("first start: creates the data directory, prints the admin banner once, serves /login; SIGTERM stops it", async () => {
			const server = await startServer(await spawnCli(serveArgs(), env));
			try {
				await getLogin(server.url);
				const output = server.output();
				assert.equal(output.match(BANNER_USER)?.length, 1, "the banner is printed exactly once");
				const password = BANNER_PASSWORD.exec(output)?.[1];
				assert.ok(password !== undefined && password.length >= 15, "a one-time password is printed");
				assert.match(output, /must be changed/);

				// The printed password is the admin's, and it must be changed at first login.
				const app = await openApp(dir, databaseUrl);
				try {
					const admin = await app.stores.users.findByUsername("admin");
					assert.equal(admin?.is_admin, 1);
					assert.equal(admin?.must_change_password, 1);
					const step = await app.login.submitPassword({ channel: "web", sourceAddress: "192.0.2.1" }, "admin", password);
					assert.notEqual(step.kind, "denied", "the printed password logs in");
				} finally {
					await app.close();
				}

				const key = join(dir, "secret.key");
				assert.ok(existsSync(key), "the key file is created");
				assert.equal(statSync(key).mode & 0o777, 0o600, "the key file is 0600");
				if (engine === "sqlite") assert.ok(existsSync(join(dir, "portcullis.sqlite")), "SQLite lives under the data directory");
			} finally {
				await stop(server, "SIGTERM");
			}
			assert.equal(server.output().match(BANNER_USER)?.length, 1, "still only once after shutdown");
		});

		test("second start: no banner, no second admin; SIGINT stops it", async () => {
			const server = await startServer(await spawnCli(serveArgs(), env));
			try {
				await getLogin(server.url);
				assert.doesNotMatch(server.output(), /username: admin|password:/);
			} finally {
				await stop(server, "SIGINT");
			}
			const app = await openApp(dir, databaseUrl);
			try {
				assert.equal(await app.stores.users.count(), 1);
			} finally {
				await app.close();
			}
		});
	});

describe("npm start", () => {
	let dir: string;
	before(async () => {
		await ensureBuilt();
		dir = mkdtempSync(join(tmpdir(), "portcullis-npm-start-"));
	});
	after(() => rmSync(dir, { recursive: true, force: true }));

	test("`npm start` runs serve: banner, console, clean stop", async () => {
		// npm → sh → node (the built dist/): run it in its own process group and signal the whole group.
		const child = spawn("npm", ["start", "--silent", "--", "--data", dir, "--http", "127.0.0.1:0", "--ssh", "127.0.0.1:0"], {
			cwd: ROOT,
			env: cleanEnv(),
			detached: true,
			stdio: ["pipe", "pipe", "pipe"],
		});
		const server = await startServer(child);
		try {
			await getLogin(server.url);
			assert.equal(server.output().match(BANNER_USER)?.length, 1);
		} finally {
			// What a terminal's Ctrl-C or a service manager does: signal the whole group. npm itself
			// dies of the signal (its status is not ours); the server must stop cleanly, once.
			process.kill(-child.pid!, "SIGTERM");
			const { stderr } = await server.exited;
			assert.equal(stderr, "", "nothing on stderr");
			assert.equal(server.output().match(/^Portcullis stopping \(SIGTERM\)$/gm)?.length, 1);
			// npm leaves just after its child: give it a moment.
			const groupAlive = () => {
				try {
					process.kill(-child.pid!, 0);
					return true;
				} catch {
					return false;
				}
			};
			for (let wait = 0; wait < 1200 && groupAlive(); wait++) await new Promise((resolve) => setTimeout(resolve, 50));
			assert.equal(groupAlive(), false, "no process of the group is left");
		}
	});
});

describe("portcullis serve started by the machine's node", () => {
	let dir: string;
	before(async () => {
		await ensureBuilt();
		dir = mkdtempSync(join(tmpdir(), "portcullis-handover-"));
	});
	after(() => rmSync(dir, { recursive: true, force: true }));

	test("hands over to the pinned Node.js; SIGTERM to its process group stops the server cleanly, and the launcher exits with its status", async () => {
		// bin/portcullis.js on a Node of another major (Node 20 here, where the native addons built
		// for 24 cannot load) runs itself again on the pinned one. A service manager or a terminal
		// signals the whole group: the server must stop cleanly, once, and the launcher report it.
		const child = spawn(systemNode(), [BIN, "serve", "--data", dir, "--http", "127.0.0.1:0", "--ssh", "127.0.0.1:0"], {
			cwd: ROOT,
			env: cleanEnv(),
			detached: true,
			stdio: ["pipe", "pipe", "pipe"],
		});
		const server = await startServer(child);
		await getLogin(server.url);
		process.kill(-child.pid!, "SIGTERM");
		const { code, signal, stderr } = await server.exited;
		assert.equal(stderr, "", "nothing on stderr");
		assert.deepEqual({ code, signal }, { code: 0, signal: null });
		assert.equal(server.output().match(/^Portcullis stopping \(SIGTERM\)$/gm)?.length, 1);
	});
});
