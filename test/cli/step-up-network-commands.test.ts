/**
 * `portcullis server add|update --require-2fa [--fresh-minutes N]` and `portcullis network …`
 * through the real binary, on SQLite and PostgreSQL: valid changes are stored and audited with
 * before/after, contradictory ones exit 2 with one line and change nothing, and the network rules
 * reach the login flow (docs/decisions.md "Per-server step-up", "Network rules").
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { assertBadInput, assertOk, cliEngine, openApp, runCli, type CliResult } from "./run-cli.ts";

const PASSWORD = "correct horse battery";

function jsonLines<T>(text: string): T[] {
	return text
		.split("\n")
		.filter((line) => line.trim() !== "")
		.map((line) => JSON.parse(line) as T);
}

for (const engine of ["sqlite", "postgres"] as const)
	describe(`portcullis server step-up and network rules (${engine})`, () => {
		let dir: string;
		let databaseUrl: string | undefined;
		let drop: (() => Promise<void>) | undefined;
		let env: NodeJS.ProcessEnv;

		const cli = (args: readonly string[], input?: string): Promise<CliResult> =>
			runCli([...args, "--data", dir], { env, ...(input !== undefined ? { input } : {}) });
		const servers = async () => {
			const result = await cli(["server", "list", "--json"]);
			assertOk(result, "server list");
			return JSON.parse(result.stdout) as { name: string; requireTwoFactor: boolean; freshMinutes: number | null }[];
		};
		const rules = async () => {
			const result = await cli(["network", "list", "--json"]);
			assertOk(result, "network list");
			return (JSON.parse(result.stdout) as { group: string | null; mode: string; trusted: string[] }[]).map(({ group, mode, trusted }) => ({
				group,
				mode,
				trusted,
			}));
		};

		before(async () => {
			dir = mkdtempSync(join(tmpdir(), "portcullis-cli-"));
			({ env, databaseUrl, drop } = await cliEngine(engine));
			assertOk(await cli(["group", "add", "ops"]), "group add");
			assertOk(await cli(["user", "add", "alice", "--group", "ops"], `${PASSWORD}\n`), "user add");
		});
		after(async () => {
			await drop?.();
			rmSync(dir, { recursive: true, force: true });
		});

		test("server step-up: set, shown, validated (exit 2), audited before/after", async () => {
			assertOk(await cli(["server", "add", "db-prod", "--host", "10.0.0.5", "--group", "ops", "--require-2fa", "--fresh-minutes", "10"]), "server add");
			assert.deepEqual(
				(await servers()).map(({ name, requireTwoFactor, freshMinutes }) => ({ name, requireTwoFactor, freshMinutes })),
				[{ name: "db-prod", requireTwoFactor: true, freshMinutes: 10 }],
			);
			const listed = await cli(["server", "list"]);
			assert.match(listed.stdout, /every connection, within 10 min/);

			assertBadInput(
				await cli(["server", "update", "db-prod", "--no-require-2fa", "--fresh-minutes", "5"]),
				"window without requirement",
				/needs the server to require 2FA/,
			);
			assertBadInput(await cli(["server", "add", "db2", "--host", "10.0.0.6", "--fresh-minutes", "5"]), "window on add without requirement", /require 2FA/);
			assertBadInput(await cli(["server", "update", "db-prod", "--fresh-minutes", "0"]), "zero window", /1 to 1440/);
			assertBadInput(await cli(["server", "update", "db-prod", "--fresh-minutes", "2000"]), "too long", /1 to 1440/);
			assertBadInput(await cli(["server", "update", "db-prod", "--fresh-minutes", "soon"]), "not a number", /--fresh-minutes/);
			assert.deepEqual((await servers())[0]?.freshMinutes, 10, "nothing changed");

			assertOk(await cli(["server", "update", "db-prod", "--fresh-minutes", "any"]), "any age");
			assertOk(await cli(["server", "update", "db-prod", "--no-require-2fa"]), "off");
			assert.deepEqual(
				(await servers()).map(({ requireTwoFactor, freshMinutes }) => ({ requireTwoFactor, freshMinutes })),
				[{ requireTwoFactor: false, freshMinutes: null }],
			);
			const audit = await cli(["audit", "--event", "server.updated", "--json"]);
			assertOk(audit, "audit");
			const details = jsonLines<{ detail: { stepUp?: unknown } }>(audit.stdout)
				.map((row) => row.detail.stepUp)
				.filter(Boolean);
			assert.deepEqual(details, [
				{ before: { requireTwoFactor: true, freshMinutes: 10 }, after: { requireTwoFactor: true, freshMinutes: null } },
				{ before: { requireTwoFactor: true, freshMinutes: null }, after: { requireTwoFactor: false, freshMinutes: null } },
			]);
		});

		test("network rules: bypass refused with a clear message, bad CIDR and empty lists refused, valid lists canonical and effective", async () => {
			assertBadInput(await cli(["network", "set", "--global", "--mode", "bypass-inside", "--network", "10.0.0.0/8"]), "bypass", /cannot switch 2FA off/);
			assertBadInput(await cli(["network", "set", "--global", "--mode", "deny-outside"]), "empty deny list", /would refuse every login/);
			assertBadInput(await cli(["network", "set", "--global", "--mode", "deny-outside", "--network", "10.0.0.0/33"]), "bad CIDR", /not a network/);
			assertBadInput(await cli(["network", "set", "--mode", "deny-outside", "--network", "10.0.0.0/8"]), "no scope", /--global and --group/);
			assertBadInput(await cli(["network", "set", "--group", "nope", "--mode", "deny-outside", "--network", "10.0.0.0/8"]), "unknown group");
			assert.deepEqual(await rules(), [], "nothing stored");

			assertOk(
				await cli(["network", "set", "--group", "ops", "--mode", "require-2fa-outside", "--network", "10.1.2.3/16", "--network", "2001:DB8:0::/32"]),
				"set",
			);
			assert.deepEqual(await rules(), [{ group: "ops", mode: "require-2fa-outside", trusted: ["10.1.0.0/16", "2001:db8::/32"] }]);

			const app = await openApp(dir, databaseUrl);
			try {
				const inside = await app.login.submitPassword({ channel: "ssh", sourceAddress: "10.1.9.9" }, "alice", PASSWORD);
				assert.equal(inside.kind, "authenticated", "inside the trusted network: nothing added");
				const outside = await app.login.submitPassword({ channel: "ssh", sourceAddress: "203.0.113.5" }, "alice", PASSWORD);
				assert.equal(outside.kind, "denied");
				if (outside.kind === "denied") assert.match(outside.message, /required from outside the trusted networks of group ops/);
			} finally {
				await app.close();
			}

			assertOk(await cli(["network", "set", "--global", "--mode", "deny-outside", "--network", "10.0.0.0/8", "--network", "::ffff:192.0.2.1"]), "deny");
			const app2 = await openApp(dir, databaseUrl);
			try {
				const refused = await app2.login.submitPassword({ channel: "web", sourceAddress: "198.51.100.7" }, "alice", PASSWORD);
				assert.equal(refused.kind, "denied");
				if (refused.kind === "denied") assert.equal(refused.reason, "network");
				const mapped = await app2.login.submitPassword({ channel: "ssh", sourceAddress: "::ffff:10.1.0.1" }, "alice", PASSWORD);
				assert.equal(mapped.kind, "authenticated", "an IPv4-mapped client inside both lists");
				const denied = await app2.stores.audit.query({ event: "login.denied" });
				assert.ok(denied.some((row) => /"reason":"network"/.test(String(row.detail))));
			} finally {
				await app2.close();
			}
			assert.match((await cli(["network", "clear", "--global", "--mode", "deny-outside"])).stdout, /rule removed/);
			const audit = await cli(["audit", "--event", "policy.network-rule-set", "--json"]);
			assertOk(audit, "audit");
			const set = jsonLines<{ detail: { scope: string; before: unknown; after: unknown } }>(audit.stdout);
			assert.equal(set.length, 2);
			assert.ok(set.some((row) => row.detail.scope === "ops" && row.detail.before === null));
		});
	});
