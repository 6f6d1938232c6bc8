/**
 * `portcullis token …` through the real binary (docs/api.md "Service accounts"): a service account
 * and its token are made on the host, the token is printed once and works on the API, list never
 * shows it, revoke ends it at once; a person gets no host-made token (the console's step-up only).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { webServices } from "../../src/app/web-services.ts";
import { buildWebServer } from "../../src/web/server.ts";
import { assertBadInput, assertOk, cleanEnv, openApp, runCli, type CliResult } from "./run-cli.ts";

describe("portcullis token", () => {
	let dir: string;
	const env = cleanEnv();
	const cli = (args: readonly string[]): Promise<CliResult> => runCli([...args, "--data", dir], { env });

	before(() => {
		dir = mkdtempSync(join(tmpdir(), "portcullis-token-cli-"));
	});
	after(() => rmSync(dir, { recursive: true, force: true }));

	test("service account, create (printed once), list, revoke; refused for a person", async () => {
		assertOk(await cli(["token", "service-account", "deploy-bot", "--admin"]), "service-account");
		const made = await cli(["token", "create", "deploy-bot", "--name", "ci", "--scope", "read", "--days", "30"]);
		assert.equal(made.code, 0, made.stderr);
		assert.match(made.stderr, /shown only now/);
		const token = made.stdout.trim();
		assert.match(token, /^pct_[A-Za-z0-9_-]{43}$/);
		const listed = await cli(["token", "list", "--json"]);
		assertOk(listed, "token list");
		assert.equal(listed.stdout.includes(token), false, "list never shows the token");
		const rows = JSON.parse(listed.stdout) as { id: string; username: string; scopes: string[]; state: string }[];
		assert.equal(rows.length, 1);
		assert.deepEqual([rows[0]?.username, rows[0]?.scopes, rows[0]?.state], ["deploy-bot", ["read"], "active"]);

		const app = await openApp(dir);
		const server = await buildWebServer(webServices(app));
		try {
			const get = () => server.inject({ method: "GET", url: "/api/v1/users", headers: { authorization: `Bearer ${token}` } });
			assert.equal((await get()).statusCode, 200);
			assertOk(await cli(["token", "revoke", rows[0]?.id ?? ""]), "token revoke");
			assert.equal((await get()).statusCode, 401);
		} finally {
			await server.close();
			await app.close();
		}

		assertBadInput(await cli(["token", "create", "deploy-bot", "--name", "x", "--scope", "read", "--days", "400"]), "over a year", /365 days/);
		assertBadInput(await cli(["token", "create", "deploy-bot", "--name", "x", "--scope", "tokens:write", "--days", "3"]), "unknown scope", /Unknown scope/);
		assertOk(await runCli(["user", "add", "alice", "--data", dir], { env, input: "correct horse battery\n" }), "user add");
		assertBadInput(await cli(["token", "create", "alice", "--name", "x", "--scope", "read", "--days", "3"]), "a person", /not a service account/);
	});
});
