/**
 * `portcullis server …` run as a real subprocess (bin/portcullis.js), the way an admin does.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { serverService } from "../../src/servers/server-service.ts";
import { assertBadInput, assertOk, openApp, runCli } from "../cli/run-cli.ts";

describe("portcullis server (CLI)", () => {
	let dir: string;
	const cli = (...args: string[]) => runCli([...args, "--data", dir]);
	const cliWithInput = (input: string, ...args: string[]) => runCli([...args, "--data", dir], { input });

	before(async () => {
		dir = mkdtempSync(join(tmpdir(), "portcullis-server-cli-"));
		assertOk(await cli("group", "add", "ops"), "group add ops");
		assertOk(await cli("group", "add", "dev"), "group add dev");
	});
	after(() => rmSync(dir, { recursive: true, force: true }));

	test("add with --group (repeatable), --login and --description; list as a table and as JSON", async () => {
		const added = await cli(
			"server",
			"add",
			"db1",
			"--host",
			"10.0.0.5",
			"--port",
			"2201",
			"--login",
			"root",
			"--group",
			"ops",
			"--group",
			"dev",
			"--description",
			"primary database",
		);
		assertOk(added, "server add");
		assert.equal(added.stdout, "added server db1 (10.0.0.5:2201), granted to ops, dev\n");
		assertOk(await cli("server", "add", "web1", "--host", "web1.internal"), "server add web1");
		const listed = await cli("server", "list");
		assertOk(listed, "server list");
		assert.match(listed.stdout, /^SERVER +ADDRESS +LOGIN +GROUPS +CREDENTIAL +HOST KEY +2FA +RECORDING +SFTP CONTENT +DESCRIPTION$/m);
		assert.match(listed.stdout, /^db1 +10\.0\.0\.5:2201 +root +dev,ops +gateway-key +\(first use\) +- +default +not kept +primary database$/m);
		assert.match(listed.stdout, /^web1 +web1\.internal:22 +\(user's name\) +- +gateway-key/m);
		// SFTP content capture: off by default, on and off again per server (docs/ssh-relay.md "Content capture").
		assertOk(await cli("server", "update", "web1", "--capture-sftp-content"), "capture on");
		assert.match((await cli("server", "list")).stdout, /^web1 .* default +captured *$/m);
		assertOk(await cli("server", "update", "web1", "--no-capture-sftp-content"), "capture off");
		assert.match((await cli("server", "list")).stdout, /^web1 .* default +not kept *$/m);
		const asJson = await cli("server", "list", "--json");
		assertOk(asJson, "server list --json");
		const rows = JSON.parse(asJson.stdout) as { name: string; port: number; groups: string[] }[];
		assert.deepEqual(
			rows.map((row) => [row.name, row.port, row.groups]),
			[
				["db1", 2201, ["dev", "ops"]],
				["web1", 22, []],
			],
		);
	});

	test("grant / revoke / remove, audited with the CLI actor", async () => {
		assert.equal((await cli("server", "grant", "web1", "ops")).stdout, "granted web1 to ops\n");
		assert.equal((await cli("server", "grant", "web1", "ops")).stdout, "granted web1 to ops (no change)\n");
		assert.equal((await cli("server", "revoke", "db1", "dev")).stdout, "revoked db1 from dev\n");
		assertOk(await cli("server", "update", "web1", "--port", "2222", "--description", "frontend"), "server update");
		assertOk(await cli("server", "add", "tmp", "--host", "tmp.internal"), "server add tmp");
		assert.equal((await cli("server", "remove", "tmp")).stdout, "removed server tmp\n");
		const app = await openApp(dir);
		try {
			const view = await serverService(app).list();
			assert.deepEqual(
				view.map((row) => [row.name, row.port, row.groups, row.description]),
				[
					["db1", 2201, ["ops"], "primary database"],
					["web1", 2222, ["ops"], "frontend"],
				],
			);
			const events = await app.stores.audit.query({});
			for (const event of ["server.created", "server.granted", "server.revoked", "server.updated", "server.deleted"]) {
				const row = events.find((candidate) => candidate.event === event);
				assert.ok(row, event);
				assert.match(row.actor ?? "", /^cli:/);
				assert.equal(row.channel, "cli");
			}
		} finally {
			await app.close();
		}
	});

	test("bad input: exit 2 with one line, nothing written", async () => {
		assertBadInput(await cli("server", "add", "bad name", "--host", "h"), "bad name", /Server names are/);
		assertBadInput(await cli("server", "add", "x", "--host", "not a host"), "bad host", /host must be/);
		assertBadInput(await cli("server", "add", "x", "--host", "h", "--port", "70000"), "bad port", /--port must be/);
		assertBadInput(await cli("server", "add", "x", "--host", "h", "--group", "nosuch"), "unknown group", /no group named/);
		assertBadInput(await cli("server", "add", "db1", "--host", "h"), "duplicate", /already exists/);
		assertBadInput(await cli("server", "add", "x"), "missing --host");
		assertBadInput(await cli("server", "grant", "nosuch", "ops"), "unknown server", /no server named/);
		assertBadInput(await cli("server", "update", "db1"), "nothing to change", /nothing to change/);
		assertBadInput(await cli("server", "set-credential", "db1"), "no credential option", /exactly one/);
		const listed = JSON.parse((await cli("server", "list", "--json")).stdout) as unknown[];
		assert.equal(listed.length, 2);
	});

	test("pubkey prints the gateway key (created 0600 on first use, stable afterwards)", async () => {
		const first = await cli("server", "pubkey");
		assertOk(first, "server pubkey");
		assert.match(first.stdout, /^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5[A-Za-z0-9+/=]+ portcullis-gateway\n$/);
		assert.equal((await cli("server", "pubkey")).stdout, first.stdout);
		assert.equal(statSync(join(dir, "gateway_ed25519_key")).mode & 0o777, 0o600);
	});

	test("set-credential seals a password read from stdin; forget-hostkey and --pin", async () => {
		const set = await cliWithInput("target-secret-pw\n", "server", "set-credential", "db1", "--password-stdin");
		assertOk(set, "set-credential");
		assert.equal(set.stdout, "db1 now uses its own password\n");
		const pin = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIugxZ782lNyQAKHIYNraN8y1SMlkq+iQRhqYK9crIZc";
		assertOk(await cli("server", "forget-hostkey", "db1", "--pin", pin), "pin");
		const app = await openApp(dir);
		try {
			const row = await serverService(app).requireServer("db1");
			assert.ok(row.credential_enc !== null && !row.credential_enc.includes("target-secret-pw"));
			assert.deepEqual(serverService(app).credentialOf(row), { kind: "password", password: "target-secret-pw" });
			assert.equal(row.host_key, pin.split(" ")[1]);
			assert.ok(!JSON.stringify(await app.stores.audit.query({})).includes("target-secret-pw"), "never in the audit log");
		} finally {
			await app.close();
		}
		assertOk(await cli("server", "forget-hostkey", "db1"), "forget");
		assert.match((await cli("server", "list")).stdout, /^db1 .*password +\(first use\)/m);
		assertOk(await cli("server", "set-credential", "db1", "--gateway-key"), "back to the gateway key");
		assert.match((await cli("server", "list")).stdout, /^db1 .*gateway-key/m);
	});
});
