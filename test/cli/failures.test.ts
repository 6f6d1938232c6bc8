/**
 * Operational failures (not the user's input) exit 1 with one line `portcullis: <reason>`, never a
 * stack trace: an unreachable database, an unusable key file, a port that is taken.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:net";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cleanEnv, runCli, runCliProcess, type CliResult } from "./run-cli.ts";

let dir: string;
before(() => {
	dir = mkdtempSync(join(tmpdir(), "portcullis-fail-"));
});
after(() => rmSync(dir, { recursive: true, force: true }));

function assertFailure(result: CliResult, reason: RegExp): void {
	assert.equal(result.code, 1, `exit ${result.code}; stderr: ${result.stderr}`);
	assert.match(result.stderr, /^portcullis: [^\n]+\n$/, `one line, got ${JSON.stringify(result.stderr)}`);
	assert.doesNotMatch(result.stderr, /\bat .+:\d+:\d+|node:internal/, "no stack trace");
	assert.match(result.stderr, reason);
}

test("an unreachable PostgreSQL: exit 1, one line with the cause", async () => {
	// Port 1 on loopback: nothing listens there, the connection is refused at once.
	const result = await runCli(["user", "list", "--data", join(dir, "pg")], {
		env: cleanEnv({ PORTCULLIS_DATABASE_URL: "postgres://postgres@127.0.0.1:1/none" }),
	});
	assertFailure(result, /database .*ECONNREFUSED/);
	assert.equal(result.stdout, "");
});

test("a key file that does not hold a key: exit 1, one line naming the file", async () => {
	const data = join(dir, "badkey");
	assert.equal((await runCli(["user", "list", "--data", data])).code, 0);
	writeFileSync(join(data, "secret.key"), "not a key\n", { mode: 0o600 });
	assertFailure(await runCli(["user", "list", "--data", data]), /secret\.key/);
});

test("serve on a port that is taken: exit 1, one line", async () => {
	const blocker: Server = createServer();
	await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
	const port = (blocker.address() as { port: number }).port;
	try {
		// The real process: serve installs signal handlers and owns the process's exit.
		const result = await runCliProcess(["serve", "--quiet", "--http", `127.0.0.1:${port}`, "--ssh", "127.0.0.1:0", "--data", join(dir, "serve")]);
		assertFailure(result, /EADDRINUSE/);
	} finally {
		blocker.close();
	}
});
