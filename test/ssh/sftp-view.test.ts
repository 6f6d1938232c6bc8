/**
 * The gateway's own SFTP view (docs/ssh-relay.md "The gateway's SFTP view"): `sftp alice@gw`
 * lists alice's granted servers as folders; /db1/PATH is PATH on db1. REAL OpenSSH sftp through
 * the REAL gateway to REAL sshd targets.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { loadOrCreateGatewayKey } from "../../src/servers/gateway-key.ts";
import { serverService } from "../../src/servers/server-service.ts";
import { splitViewPath } from "../../src/ssh/sftp-view.ts";
import { createOpenSshClient, type OpenSshClient } from "../helpers/relay-openssh.ts";
import { startRelayGateway, type RelayGateway } from "../helpers/relay-gateway.ts";
import { sshdSkipReason, startSshd, type Sshd } from "../helpers/sshd-target.ts";
import { ADMIN_ACTOR, createTestApp, type TestApp } from "../helpers/test-app.ts";

const PASSWORD = "correct horse battery";
const skip = sshdSkipReason(["sftp"]);

async function eventually<T>(probe: () => Promise<T | undefined | null | false>, what: string, timeoutMs = 30_000): Promise<T> {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		const value = await probe();
		if (value) return value;
		if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
		await new Promise((resolveWait) => setTimeout(resolveWait, 50));
	}
}

test("view paths: normalised under the root, never above it", () => {
	assert.deepEqual(splitViewPath("/"), { server: null, remote: "/", virtual: "/" });
	assert.deepEqual(splitViewPath("."), { server: null, remote: "/", virtual: "/" });
	assert.deepEqual(splitViewPath("/db1"), { server: "db1", remote: "/", virtual: "/db1" });
	assert.deepEqual(splitViewPath("db1/etc/hosts"), { server: "db1", remote: "/etc/hosts", virtual: "/db1/etc/hosts" });
	assert.deepEqual(splitViewPath("/db1/../db2/x"), { server: "db2", remote: "/x", virtual: "/db2/x" });
	assert.deepEqual(splitViewPath("/../../db1/./a//b/"), { server: "db1", remote: "/a/b", virtual: "/db1/a/b" });
});

describe("the gateway's SFTP view (OpenSSH sftp → gateway → OpenSSH sshd)", { skip }, () => {
	let t: TestApp;
	let client: OpenSshClient;
	let db1: Sshd;
	let db2: Sshd;
	let prod: Sshd;
	let gw: RelayGateway;
	const sftp = (input: string) => client.run("sftp", ["-P", String(gw.port), "alice@127.0.0.1"], { password: PASSWORD, input });

	before(async () => {
		t = await createTestApp();
		const gatewayKey = loadOrCreateGatewayKey(t.app.config);
		client = await createOpenSshClient();
		db1 = await startSshd({ authorizedKeys: [gatewayKey.publicKey] });
		db2 = await startSshd({ authorizedKeys: [gatewayKey.publicKey] });
		prod = await startSshd({ authorizedKeys: [gatewayKey.publicKey] });
		await t.app.admin.createGroup(ADMIN_ACTOR, { name: "ops", forceTwoFactor: false, allowedMethods: null });
		await t.app.admin.createGroup(ADMIN_ACTOR, { name: "dev", forceTwoFactor: false, allowedMethods: null });
		await t.app.admin.createUser(ADMIN_ACTOR, { username: "alice", password: PASSWORD, isAdmin: false, groups: ["ops"] });
		const servers = serverService(t.app);
		await servers.add(ADMIN_ACTOR, { name: "db1", host: db1.host, port: db1.port, loginUser: db1.user, groups: ["ops"] });
		await servers.add(ADMIN_ACTOR, { name: "db2", host: db2.host, port: db2.port, loginUser: db2.user, groups: ["dev"] });
		await servers.add(ADMIN_ACTOR, { name: "db-prod", host: prod.host, port: prod.port, loginUser: prod.user, groups: ["ops"], requireTwoFactor: true });
		gw = await startRelayGateway(t.app);
	});

	after(async () => {
		await client?.cleanup();
		await gw?.close();
		await db1?.stop();
		await db2?.stop();
		await prod?.stop();
		await t?.cleanup();
	});

	test("the root lists the granted servers as folders, and only those", async () => {
		const result = await sftp("ls -1 /\nbye\n");
		assert.equal(result.code, 0, result.stderr);
		const listed = result.stdout
			.toString()
			.split("\n")
			.filter((line) => line && !line.startsWith("sftp>"))
			.map((line) => line.trim().replace(/^\//, ""));
		assert.deepEqual(listed.sort(), ["db-prod", "db1"]);
	});

	test("put and get through /db1/PATH, audited with path and bytes", async () => {
		const data = randomBytes(200_000);
		const name = `v-${randomBytes(4).toString("hex")}`;
		writeFileSync(join(client.dir, name), data);
		const remote = join(db1.dir, name);
		const result = await sftp(`put ${join(client.dir, name)} /db1${remote}\nget /db1${remote} ${join(client.dir, `${name}.back`)}\nls /db1${db1.dir}\nbye\n`);
		assert.equal(result.code, 0, result.stderr);
		assert.ok(readFileSync(remote).equals(data));
		assert.ok(readFileSync(join(client.dir, `${name}.back`)).equals(data));
		assert.match(result.stdout.toString(), new RegExp(name));
		const closes = await eventually(async () => {
			const rows = (await t.app.stores.audit.query({ event: "ssh.sftp" })).map((row) => JSON.parse(String(row.detail)));
			const found = rows.filter((row) => row.op === "close" && row.path === remote && row.server === "db1");
			return found.length >= 2 ? found : null;
		}, "the audited closes");
		assert.ok(closes.some((row) => row.bytesWritten === data.length));
		assert.ok(closes.some((row) => row.bytesRead === data.length));
	});

	test("a server that is not granted is not there, also through ..; nothing is read from it", async () => {
		const secret = join(db2.dir, "secret");
		writeFileSync(secret, "db2 only\n");
		const back = join(client.dir, "stolen");
		const result = await sftp(`get /db2${secret} ${back}\ncd /db1\nget ../db2${secret} ${back}\nls /db2\nbye\n`);
		assert.ok(!existsSync(back));
		assert.match(result.stderr, /not found|No such file/i);
		const refused = (await t.app.stores.audit.query({ event: "ssh.target-refused" })).map((row) => JSON.parse(String(row.detail)));
		assert.ok(refused.some((detail) => detail.requested === "db2" && detail.view === true));
		// The twin: db1 is readable.
		writeFileSync(join(db1.dir, "open"), "db1\n");
		const ok = await sftp(`get /db1${join(db1.dir, "open")} ${join(client.dir, "open")}\nbye\n`);
		assert.equal(ok.code, 0, ok.stderr);
		assert.equal(readFileSync(join(client.dir, "open"), "utf8"), "db1\n");
	});

	test("a step-up server is refused to a connection without a second factor; the root is read-only", async () => {
		writeFileSync(join(prod.dir, "prod"), "prod\n");
		const back = join(client.dir, "prod-back");
		const result = await sftp(`get /db-prod${join(prod.dir, "prod")} ${back}\nmkdir /newdir\nbye\n`);
		assert.ok(!existsSync(back));
		assert.match(result.stderr, /Permission denied/i);
		const stepUp = (await t.app.stores.audit.query({ event: "ssh.step-up-required" })).filter((row) => row.username === "alice");
		assert.ok(stepUp.length >= 1);
	});
});
