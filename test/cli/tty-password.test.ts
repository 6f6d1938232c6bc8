/**
 * `user add` on a terminal: the password is asked twice with echo off. A real pseudo-terminal
 * comes from util-linux `script`; without it the test skips, or fails under
 * PORTCULLIS_STRICT_PEERS=1 (a missing peer must never pass silently in CI).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BIN, cleanEnv, ensureBuilt, openApp, ROOT } from "./run-cli.ts";

const STRICT = process.env.PORTCULLIS_STRICT_PEERS === "1";
const HAVE_SCRIPT = spawnSync("script", ["--version"], { stdio: "ignore" }).status === 0;
const PASSWORD = "typed on a terminal";

const quote = (text: string) => `'${text.replace(/'/g, "'\\''")}'`;

interface Session {
	waitFor(text: string): Promise<void>;
	type(text: string): void;
	done: Promise<{ code: number | null; output: string }>;
}

/** Runs the CLI on a pseudo-terminal: we see what the terminal shows and type into it. */
function onTerminal(args: readonly string[]): Session {
	const command = [process.execPath, BIN, ...args].map(quote).join(" ");
	const child = spawn("script", ["-qec", command, "/dev/null"], { cwd: ROOT, env: cleanEnv({ TERM: "dumb" }), stdio: ["pipe", "pipe", "pipe"] });
	let output = "";
	child.stdout.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
	child.stderr.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
	const done = new Promise<{ code: number | null; output: string }>((resolve) => child.on("close", (code) => resolve({ code, output })));
	return {
		async waitFor(text) {
			// No deadline: on a loaded machine a cold start is slow, not wrong; a hang is caught by
			// the runner's whole-test limit (scripts/test.sh).
			while (!output.includes(text)) {
				if (child.exitCode !== null) assert.fail(`never saw ${JSON.stringify(text)}; terminal showed:\n${output}`);
				await new Promise((resolve) => setTimeout(resolve, 25));
			}
		},
		type(text) {
			child.stdin.write(text);
		},
		done,
	};
}

describe("user add on a terminal", { skip: !HAVE_SCRIPT && !STRICT ? "util-linux `script` is not installed" : false }, () => {
	let dir: string;
	before(async () => {
		assert.ok(HAVE_SCRIPT, "util-linux `script` is required (PORTCULLIS_STRICT_PEERS=1)");
		await ensureBuilt();
		dir = mkdtempSync(join(tmpdir(), "portcullis-tty-"));
	});
	after(() => rmSync(dir, { recursive: true, force: true }));

	test("prompts twice without echo and creates the user", async () => {
		const session = onTerminal(["user", "add", "bob", "--data", dir]);
		await session.waitFor("New password for bob: ");
		session.type(`${PASSWORD}\r`);
		await session.waitFor("Repeat the password: ");
		session.type(`${PASSWORD}\r`);
		const { code, output } = await session.done;
		assert.equal(code, 0, output);
		assert.match(output, /created user bob/);
		assert.ok(!output.includes(PASSWORD), `the password was echoed:\n${output}`);

		const app = await openApp(dir);
		try {
			const step = await app.login.submitPassword({ channel: "web", sourceAddress: "192.0.2.1" }, "bob", PASSWORD);
			assert.notEqual(step.kind, "denied");
		} finally {
			await app.close();
		}
	});

	test("two different answers: exit 2, nothing created", async () => {
		const session = onTerminal(["user", "add", "carol", "--data", dir]);
		await session.waitFor("New password for carol: ");
		session.type(`${PASSWORD}\r`);
		await session.waitFor("Repeat the password: ");
		session.type("something else entirely\r");
		const { code, output } = await session.done;
		assert.equal(code, 2, output);
		assert.match(output, /portcullis: the two passwords differ/);
	});

	test("Ctrl-C at the prompt cancels with exit 130", async () => {
		const session = onTerminal(["user", "add", "dave", "--data", dir]);
		await session.waitFor("New password for dave: ");
		session.type("half typed\u0003");
		const { code, output } = await session.done;
		assert.equal(code, 130, output);
		assert.match(output, /portcullis: cancelled/);

		const app = await openApp(dir);
		try {
			assert.deepEqual(
				(await app.stores.users.list()).map((user) => user.username),
				["bob"],
			);
		} finally {
			await app.close();
		}
	});
});
