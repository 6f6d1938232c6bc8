/**
 * `portcullis audit | head -2`: when the reader of the output goes away, the command
 * stops quietly, exit 0, no stack trace (README "Never a stack trace"; src/cli/main.ts).
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cleanEnv, openApp, spawnCli } from "./run-cli.ts";

let dir: string;

before(async () => {
	dir = mkdtempSync(join(tmpdir(), "portcullis-pipe-"));
	// Far more output than a pipe holds (64 KiB on Linux), so the command is still writing when the reader leaves.
	const app = await openApp(dir);
	try {
		for (let index = 0; index < 600; index++)
			await app.admin.createGroup({ name: "cli", channel: "cli", source: "local" }, { name: `group-${index}`, forceTwoFactor: false, allowedMethods: null });
	} finally {
		await app.close();
	}
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** Starts the command, reads its first chunk, then closes the reading end like `head -2` does. */
async function readThenHangUp(args: readonly string[]): Promise<{ code: number | null; signal: NodeJS.Signals | null; first: string; stderr: string }> {
	const child = await spawnCli([...args, "--data", dir], cleanEnv());
	child.stdin?.end();
	let stderr = "";
	child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
	const first = await new Promise<string>((resolve) =>
		child.stdout?.once("data", (chunk: Buffer) => {
			child.stdout?.destroy();
			resolve(chunk.toString("utf8"));
		}),
	);
	const [code, signal] = (await new Promise((resolve) => child.on("close", (...result) => resolve(result)))) as [number | null, NodeJS.Signals | null];
	return { code, signal, first, stderr };
}

for (const args of [["audit"], ["audit", "--json"], ["group", "list"]] as const) {
	test(`portcullis ${args.join(" ")} whose reader hangs up: exit 0, nothing on stderr`, async () => {
		const result = await readThenHangUp(args);
		assert.ok(result.first.length > 0, "the command wrote before the reader left");
		assert.equal(result.stderr, "", "no stack trace, no message");
		assert.equal(result.signal, null);
		assert.equal(result.code, 0);
	});
}

test("portcullis serve whose output reader goes away keeps serving (a service must not stop with its log collector); SIGTERM still stops it cleanly", async () => {
	const child = await spawnCli(["serve", "--http", "127.0.0.1:0", "--ssh", "127.0.0.1:0", "--data", dir], cleanEnv());
	child.stdin?.end();
	let stderr = "";
	child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
	const closed = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on("close", (...result) => resolve(result)));
	let stdout = "";
	const url = await new Promise<string>((resolve, reject) => {
		child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
			stdout += chunk;
			const found = /^Portcullis console: (http:\/\/127\.0\.0\.1:\d+\/)$/m.exec(stdout)?.[1];
			if (found !== undefined) resolve(found);
		});
		child.once("exit", (code) => reject(new Error(`serve exited (${code}) before it listened: ${stderr}`)));
	});
	child.stdout?.destroy();
	// Each request is logged to the closed stdout; the console answers every one of them.
	for (let request = 0; request < 20; request++) {
		const response = await fetch(new URL("login", url));
		assert.equal(response.status, 200);
		await response.text();
	}
	assert.equal(child.exitCode, null, "still running");
	child.kill("SIGTERM");
	const [code, signal] = await closed;
	assert.equal(signal, null);
	assert.equal(code, 0, stderr);
});
