/**
 * `portcullis method …`: a backend method is configured from JSON on stdin (secrets never on the
 * command line), then can be enabled; bad settings exit 2 with one line and change nothing;
 * secrets never come back out.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { assertBadInput, assertOk, cleanEnv, runCli } from "./run-cli.ts";

let dir: string;
const env = cleanEnv();
const cli = (args: readonly string[], input?: string) => runCli([...args, "--data", dir], { env, ...(input !== undefined ? { input } : {}) });
const SECRET = "a-radius-secret-of-some-length";

before(() => {
	dir = mkdtempSync(join(tmpdir(), "portcullis-cli-method-"));
});
after(() => rmSync(dir, { recursive: true, force: true }));

test("radius cannot be enabled before it is configured; configure from stdin; then enable", async () => {
	const early = await cli(["settings", "update", "--methods", "totp,radius"]);
	assertBadInput(early, "enable unconfigured radius");
	// An error that names a console place also names the CLI command that does the same.
	assert.match(early.stderr, /configure radius first \(console: Admin → Methods; CLI: portcullis method configure radius\)/);
	assertBadInput(await cli(["method", "configure", "radius"], "{not json"), "bad json");
	const short = await cli(["method", "configure", "radius"], JSON.stringify({ servers: [{ host: "127.0.0.1", port: 1812, secret: "short" }] }));
	assertBadInput(short, "short secret");
	// Admin language: no documentation section cited at the admin.
	assert.match(short.stderr, /at least 16 characters; use a long random one/);
	assert.doesNotMatch(short.stderr, /docs\/|§/);
	assertBadInput(await cli(["method", "configure", "nosuch"], "{}"), "unknown method");
	const shown = await cli(["method", "show", "radius", "--json"]);
	assertOk(shown, "show");
	assert.equal((JSON.parse(shown.stdout) as { configured: boolean }).configured, false);

	assertOk(await cli(["method", "configure", "radius"], JSON.stringify({ servers: [{ host: "127.0.0.1", port: 1812, secret: SECRET }] })), "configure");
	const after = await cli(["method", "show", "radius", "--json"]);
	assertOk(after, "show after");
	assert.equal((JSON.parse(after.stdout) as { configured: boolean }).configured, true);
	assert.ok(!after.stdout.includes(SECRET), "the secret is never shown");
	assertOk(await cli(["settings", "update", "--methods", "totp,radius"]), "enable radius");
	const audit = await cli(["audit", "--json"]);
	assert.ok(!audit.stdout.includes(SECRET), "the secret is never audited");
	assert.match(audit.stdout, /method\.settings-changed/);
});
