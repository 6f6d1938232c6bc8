/**
 * Per-server step-up end to end, with the REAL OpenSSH client through the gateway to REAL sshd
 * targets (docs/decisions.md "Per-server step-up"): a server that requires 2FA for every
 * connection is refused on every path (ProxyJump, `ssh gw SERVER`, the menu) to a connection
 * whose own login proved no (fresh enough) second factor, with the reason and how to reconnect;
 * `USER+SERVER` asks for the factor on the server's behalf; turning the requirement on closes
 * relays that were opened without a factor.
 */
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { totpCodeAt } from "../../src/methods/totp/totp-method.ts";
import { loadOrCreateGatewayKey } from "../../src/servers/gateway-key.ts";
import { serverService } from "../../src/servers/server-service.ts";
import { base32Decode } from "../helpers/base32.ts";
import { createOpenSshClient, type OpenSshClient } from "../helpers/relay-openssh.ts";
import { startRelayGateway, type RelayGateway } from "../helpers/relay-gateway.ts";
import { sshdSkipReason, startSshd, type Sshd } from "../helpers/sshd-target.ts";
import { ADMIN_ACTOR, createTestApp, type TestApp } from "../helpers/test-app.ts";

const PASSWORD = "correct horse battery";
const skip = sshdSkipReason(["tmux"]);

async function eventually<T>(probe: () => Promise<T | undefined | null | false>, what: string, timeoutMs = 60_000): Promise<T> {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		const value = await probe();
		if (value) return value;
		if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
		await new Promise((resolveWait) => setTimeout(resolveWait, 50));
	}
}

describe("per-server step-up (OpenSSH client → gateway → OpenSSH sshd)", { skip }, () => {
	let t: TestApp;
	let client: OpenSshClient;
	let prod: Sshd;
	let dev: Sshd;
	let gw: RelayGateway;
	let carolSecret: Buffer;
	/** The client's config at OpenSSH's default LogLevel (INFO): what a user sees, refusal messages included. */
	let infoConfig: string;

	const jump = (user: string) => `${user}@127.0.0.1:${gw.port}`;
	const audit = (event: string) => t.app.stores.audit.query({ event });
	const code = () => {
		t.clock.advance(30_000); // each TOTP code once (replay protection)
		return { PORTCULLIS_TEST_CODE: totpCodeAt(carolSecret, t.clock.now().getTime()) };
	};

	before(async () => {
		t = await createTestApp();
		const gatewayKey = loadOrCreateGatewayKey(t.app.config);
		client = await createOpenSshClient();
		infoConfig = join(client.dir, "ssh_config_info");
		writeFileSync(infoConfig, readFileSync(client.configFile, "utf8").replace("LogLevel ERROR", "LogLevel INFO"));
		prod = await startSshd({ authorizedKeys: [gatewayKey.publicKey, client.publicKey] });
		dev = await startSshd({ authorizedKeys: [gatewayKey.publicKey, client.publicKey] });
		await t.app.admin.createGroup(ADMIN_ACTOR, { name: "ops", forceTwoFactor: false, allowedMethods: null });
		await t.app.admin.createUser(ADMIN_ACTOR, { username: "bob", password: PASSWORD, isAdmin: false, groups: ["ops"] });
		const carol = await t.app.admin.createUser(ADMIN_ACTOR, { username: "carol", password: PASSWORD, isAdmin: false, groups: ["ops"] });
		const context = { channel: "web" as const, source: "test", duringLogin: false };
		const begin = await t.app.enrollment.begin(carol.id, "totp", "phone", {}, context);
		if (begin.kind !== "pending") throw new Error("enrolment did not start");
		carolSecret = base32Decode(begin.display.secret ?? "");
		assert.equal(
			(await t.app.enrollment.complete(carol.id, begin.factorId, { code: totpCodeAt(carolSecret, t.clock.now().getTime()) }, context)).kind,
			"active",
		);
		const servers = serverService(t.app);
		await servers.add(ADMIN_ACTOR, { name: "db-prod", host: prod.host, port: prod.port, loginUser: prod.user, groups: ["ops"], requireTwoFactor: true });
		await servers.add(ADMIN_ACTOR, { name: "dev1", host: "localhost", port: dev.port, loginUser: dev.user, groups: ["ops"] });
		gw = await startRelayGateway(t.app);
	});

	after(async () => {
		await client?.cleanup();
		await gw?.close();
		await prod?.stop();
		await dev?.stop();
		await t?.cleanup();
	});

	test("a user without a second factor reaches ordinary servers, but -J and exec to the step-up server are refused with the reason", async () => {
		const devOk = await client.run("ssh", ["-J", jump("bob"), "-p", String(dev.port), `${dev.user}@localhost`, "echo", "dev-ok"], { password: PASSWORD });
		assert.equal(devOk.stdout.toString(), "dev-ok\n", devOk.stderr);

		// The last -F wins, and OpenSSH hands it to the `ssh -W` it runs for -J.
		const jumped = await client.run("ssh", ["-F", infoConfig, "-J", jump("bob"), `${prod.user}@db-prod`, "echo", "should-not-run"], { password: PASSWORD });
		assert.notEqual(jumped.code, 0);
		assert.doesNotMatch(jumped.stdout.toString(), /should-not-run/);
		assert.match(jumped.stderr, /server db-prod requires two-factor authentication for every connection/);
		assert.match(jumped.stderr, /Reconnect as bob\+db-prod/);

		const byAddress = await client.run("ssh", ["-J", jump("bob"), "-p", String(prod.port), `${prod.user}@127.0.0.1`, "echo", "should-not-run"], {
			password: PASSWORD,
		});
		assert.notEqual(byAddress.code, 0);
		assert.doesNotMatch(byAddress.stdout.toString(), /should-not-run/);

		const exec = await client.run("ssh", ["-p", String(gw.port), "bob@127.0.0.1", "db-prod", "--", "echo", "should-not-run"], { password: PASSWORD });
		assert.equal(exec.code, 1);
		assert.doesNotMatch(exec.stdout.toString(), /should-not-run/);
		assert.match(exec.stderr, /server db-prod requires two-factor authentication for every connection, and this connection logged in without one/);

		const refusals = (await audit("ssh.step-up-required")).filter((row) => row.username === "bob");
		assert.deepEqual(refusals.map((row) => JSON.parse(String(row.detail)).via).sort(), ["command", "direct-tcpip", "direct-tcpip"]);
	});

	test("USER+SERVER asks for the factor on the server's behalf: a user without one is told why and where to set one up", async () => {
		const result = await client.run("ssh", ["-F", infoConfig, "-J", jump("bob+db-prod"), `${prod.user}@db-prod`, "echo", "should-not-run"], {
			password: PASSWORD,
		});
		assert.notEqual(result.code, 0);
		assert.doesNotMatch(result.stdout.toString(), /should-not-run/);
		assert.match(result.stderr, /required by server db-prod for every connection\. You have not set up a second factor yet/);
	});

	test("a user with a factor is asked for it (USER+SERVER or not) and goes through; a wrong code does not", async () => {
		const wrong = await client.run("ssh", ["-J", jump("carol+db-prod"), `${prod.user}@db-prod`, "echo", "no"], {
			password: PASSWORD,
			env: { PORTCULLIS_TEST_CODE: "000000" },
		});
		assert.notEqual(wrong.code, 0);
		assert.doesNotMatch(wrong.stdout.toString(), /no/);
		const jumped = await client.run("ssh", ["-J", jump("carol+db-prod"), `${prod.user}@db-prod`, "echo", "carol-prod"], { password: PASSWORD, env: code() });
		assert.equal(jumped.stdout.toString(), "carol-prod\n", jumped.stderr);
		const exec = await client.run("ssh", ["-p", String(gw.port), "carol@127.0.0.1", "db-prod", "--", "echo", "carol-exec"], {
			password: PASSWORD,
			env: code(),
		});
		assert.equal(exec.stdout.toString(), "carol-exec\n", exec.stderr);
	});

	test("menu: with a freshness window, a connection whose factor is older is refused in the menu with how to reconnect", async () => {
		await serverService(t.app).update(ADMIN_ACTOR, "db-prod", { freshMinutes: 5 });
		const term = await client.terminal(["ssh", "-F", client.configFile, "-p", String(gw.port), "carol@127.0.0.1"], {
			cols: 100,
			rows: 30,
			password: PASSWORD,
			env: code(),
		});
		try {
			const menu = await term.waitFor(/Filter:/);
			assert.match(menu, /db-prod .*\[2FA\]/, "the menu marks servers that require 2FA");
			assert.doesNotMatch(menu, /dev1 .*\[2FA\]/);
			t.clock.advance(6 * 60_000);
			await term.type("db-prod\r");
			const screen = await term.waitFor(/Reconnect as carol\+db-prod/);
			assert.match(screen.replace(/\s+/g, " "), /second factor is older than 5 minutes/);
			assert.doesNotMatch(screen, /Connecting to db-prod/);
			// An ordinary server from the same menu still opens.
			await term.type("dev1\r");
			await term.waitFor(/Connecting to dev1/);
			await term.type("exit\r");
			await term.waitFor(/Connection to dev1 closed/);
		} finally {
			await term.close();
			await serverService(t.app).update(ADMIN_ACTOR, "db-prod", { freshMinutes: null });
		}
		const stale = (await audit("ssh.step-up-required")).filter((row) => row.username === "carol");
		assert.equal(stale.length, 1);
		assert.equal(JSON.parse(String(stale[0]!.detail)).problem, "stale");
	});

	test("live policy: requiring 2FA on a server closes a relay opened to it without a factor", async () => {
		const servers = serverService(t.app);
		await servers.update(ADMIN_ACTOR, "dev1", { requireTwoFactor: false });
		const running = client.run("ssh", ["-p", String(gw.port), "bob@127.0.0.1", "-tt", "dev1", "--", "sleep 53"], { password: PASSWORD });
		await eventually(async () => (await audit("ssh.session-start")).some((row) => row.username === "bob" && /dev1/.test(String(row.detail))), "bob's relay");
		await servers.update(ADMIN_ACTOR, "dev1", { requireTwoFactor: true });
		await gw.checkLivePolicy();
		const result = await running;
		assert.notEqual(result.code, 0);
		const revoked = await eventually(async () => (await audit("ssh.relay-revoked")).find((row) => row.username === "bob"), "the relay to be revoked");
		assert.match(String(revoked.detail), /server requires a second factor/);
		const updated = (await audit("server.updated")).find((row) => /"stepUp"/.test(String(row.detail)) && /dev1/.test(String(row.detail)));
		assert.ok(updated, "the change is audited with before and after");
		assert.deepEqual(JSON.parse(String(updated.detail)).stepUp, {
			before: { requireTwoFactor: false, freshMinutes: null },
			after: { requireTwoFactor: true, freshMinutes: null },
		});
		await servers.update(ADMIN_ACTOR, "dev1", { requireTwoFactor: false });
	});
});
