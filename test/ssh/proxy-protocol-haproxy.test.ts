/**
 * The client's real address through a real HAProxy (Debian's haproxy, `send-proxy-v2`) in front of
 * the gateway, with the REAL OpenSSH client, and a network rule judged on that address
 * (docs/decisions.md "Network rules", docs/threat-model.md "Proxy trust"):
 *
 * - through haproxy from a trusted network: login goes through, audited with the client's address;
 * - through haproxy from outside: refused by the deny-outside rule, with the message;
 * - the trusted proxy's own address without a header: closed (never taken as "inside");
 * - an untrusted peer sending a PROXY header: not read, changes nothing.
 *
 * The clients bind distinct loopback addresses (ssh -b 127.0.0.x) so haproxy sees distinct sources.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect, createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { startSshGateway, type SshGateway } from "../../src/ssh/gateway.ts";
import { createOpenSshClient, type OpenSshClient } from "../helpers/relay-openssh.ts";
import { ADMIN_ACTOR, createTestApp, type TestApp } from "../helpers/test-app.ts";

const PASSWORD = "correct horse battery";
const haproxyMissing = spawnSync("sh", ["-c", "command -v haproxy"]).status !== 0;
// CI installs haproxy (.ci/run) and runs strict: a missing peer fails there instead of skipping.
const skip = haproxyMissing && process.env.PORTCULLIS_STRICT_PEERS !== "1" ? "haproxy is not installed" : false;

async function freePort(): Promise<number> {
	const server = createServer();
	await new Promise<void>((resolveListen) => server.listen(0, "127.0.0.1", resolveListen));
	const { port } = server.address() as AddressInfo;
	await new Promise<void>((resolveClose) => server.close(() => resolveClose()));
	return port;
}

async function eventually<T>(probe: () => Promise<T | undefined | null | false>, what: string, timeoutMs = 30_000): Promise<T> {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		const value = await probe();
		if (value) return value;
		if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
		await new Promise((resolveWait) => setTimeout(resolveWait, 50));
	}
}

describe("PROXY protocol v2 from a real haproxy, and a network rule on the client's address", { skip }, () => {
	let t: TestApp;
	let gw: SshGateway;
	let client: OpenSshClient;
	let haproxy: ChildProcess;
	let haproxyPort: number;
	let dir: string;

	const audit = (event: string) => t.app.stores.audit.query({ event });
	const viaHaproxy = (from: string, extra: readonly string[] = []) =>
		client.run("ssh", ["-o", "LogLevel=INFO", "-b", from, "-p", String(haproxyPort), "alice@127.0.0.1", ...extra, "nosuchserver"], { password: PASSWORD });

	before(async () => {
		t = await createTestApp({ config: { ssh: { trusted_proxies: ["127.0.0.1"] } } });
		await t.app.admin.createUser(ADMIN_ACTOR, { username: "alice", password: PASSWORD, isAdmin: false, groups: [] });
		await t.app.networkRules.set(ADMIN_ACTOR, null, "deny-outside", ["127.0.0.8/29"]);
		gw = await startSshGateway(t.app.ssh, { listen: "127.0.0.1:0" });
		client = await createOpenSshClient();
		dir = mkdtempSync(join(tmpdir(), "portcullis-haproxy-"));
		haproxyPort = await freePort();
		const config = join(dir, "haproxy.cfg");
		writeFileSync(
			config,
			[
				"global",
				"  maxconn 64",
				"defaults",
				"  mode tcp",
				"  timeout connect 5s",
				"  timeout client 120s",
				"  timeout server 120s",
				"frontend ssh",
				`  bind 127.0.0.1:${haproxyPort}`,
				"  default_backend gateway",
				"backend gateway",
				// haproxy connects from 127.0.0.1, the one trusted proxy.
				`  server gw 127.0.0.1:${gw.address.port} send-proxy-v2 source 127.0.0.1`,
				"",
			].join("\n"),
		);
		haproxy = spawn("haproxy", ["-db", "-f", config], { stdio: ["ignore", "ignore", "pipe"] });
		let haproxyErrors = "";
		haproxy.stderr?.on("data", (chunk: Buffer) => (haproxyErrors += chunk.toString()));
		await eventually(
			() =>
				new Promise<boolean>((resolveProbe) => {
					if (haproxy.exitCode !== null) throw new Error(`haproxy exited: ${haproxyErrors}`);
					const probe = connect({ host: "127.0.0.1", port: haproxyPort }, () => {
						probe.destroy();
						resolveProbe(true);
					});
					probe.on("error", () => resolveProbe(false));
				}),
			"haproxy to listen",
		);
	});

	after(async () => {
		if (haproxy !== undefined && haproxy.exitCode === null && haproxy.pid !== undefined) process.kill(haproxy.pid, "SIGTERM");
		await client?.cleanup();
		await gw?.close();
		await t?.cleanup();
		if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
	});

	test("through haproxy from a trusted network: logged in, and the gateway saw the client's own address", async () => {
		const result = await viaHaproxy("127.0.0.9");
		// Authenticated: the gateway answers the command (no such server) rather than refusing the login.
		assert.equal(result.code, 1, result.stderr);
		assert.match(result.stderr, /no server named "nosuchserver"/);
		const connects = await audit("ssh.connect");
		const seen = connects.find((row) => row.source === "127.0.0.9");
		assert.ok(seen, `a connection from 127.0.0.9: ${JSON.stringify(connects.map((row) => row.source))}`);
		assert.match(String(seen.detail), /"via":"127\.0\.0\.1"/);
		assert.match(String(seen.detail), /"proxyProtocol":2/);
		assert.ok((await audit("ssh.authenticated")).some((row) => row.source === "127.0.0.9"));
	});

	test("through haproxy from outside the trusted networks: refused by the deny-outside rule, with the message", async () => {
		const result = await viaHaproxy("127.0.0.20");
		assert.equal(result.code, 255);
		assert.match(result.stderr, /Logins from your network are not allowed for your account/);
		const denied = (await audit("login.denied")).find((row) => row.source === "127.0.0.20");
		assert.ok(denied, "audited with the client's address");
		assert.match(String(denied.detail), /"reason":"network"/);
	});

	test("the trusted proxy's own connection without a header is closed, never taken as the proxy's (inside) address", async () => {
		await t.app.networkRules.set(ADMIN_ACTOR, null, "deny-outside", ["127.0.0.1/32"]);
		try {
			const result = await client.run("ssh", ["-b", "127.0.0.1", "-p", String(gw.address.port), "alice@127.0.0.1", "nosuchserver"], { password: PASSWORD });
			assert.equal(result.code, 255);
			assert.doesNotMatch(result.stderr, /no server named/);
			await eventually(async () => (await audit("ssh.proxy-header-refused")).length > 0, "the refusal to be audited");
		} finally {
			await t.app.networkRules.set(ADMIN_ACTOR, null, "deny-outside", ["127.0.0.8/29"]);
		}
	});

	test("a PROXY header from an untrusted peer is not read: the connection keeps its own address and gets nowhere", async () => {
		const socket = connect({ host: "127.0.0.1", port: gw.address.port, localAddress: "127.0.0.30" });
		const received: Buffer[] = [];
		socket.on("data", (chunk: Buffer) => received.push(chunk));
		await new Promise<void>((resolveConnect) => socket.once("connect", () => resolveConnect()));
		// 127.0.0.13 is inside the trusted network of the deny-outside rule: exactly what a spoofer wants.
		socket.write("PROXY TCP4 127.0.0.13 127.0.0.1 40000 2222\r\nSSH-2.0-spoof\r\n");
		await new Promise<void>((resolveClose) => socket.once("close", () => resolveClose()));
		const connects = await audit("ssh.connect");
		assert.ok(
			connects.some((row) => row.source === "127.0.0.30" && !/"via"/.test(String(row.detail))),
			"audited with the peer's own address",
		);
		assert.ok(!(await audit("ssh.authenticated")).some((row) => row.source === "127.0.0.30"));
		assert.ok(!connects.some((row) => row.source === "127.0.0.13"), "the spoofed address was not believed");
	});
});
