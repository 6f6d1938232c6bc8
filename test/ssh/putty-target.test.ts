/**
 * Servers by name with PuTTY (plink, psftp, pscp from Debian's putty-tools 0.78): the clients
 * that cannot ProxyJump reach a server named in the user name (`alice:db1`), through the REAL
 * gateway to a REAL sshd, with the password alone (a user the policy asks no second factor of)
 * and with password + TOTP answered at PuTTY's console prompts (test/helpers/putty-client.ts).
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { totpCodeAt } from "../../src/methods/totp/totp-method.ts";
import { gatewayHostFingerprint } from "../../src/servers/gateway-host-key.ts";
import { loadOrCreateGatewayKey } from "../../src/servers/gateway-key.ts";
import { serverService } from "../../src/servers/server-service.ts";
import { base32Decode } from "../helpers/base32.ts";
import { createPuttyClient, type PuttyAnswer, type PuttyClient } from "../helpers/putty-client.ts";
import { startRelayGateway, type RelayGateway } from "../helpers/relay-gateway.ts";
import { sshdSkipReason, startSshd, type Sshd } from "../helpers/sshd-target.ts";
import { ADMIN_ACTOR, createTestApp, type TestApp } from "../helpers/test-app.ts";

const PASSWORD = "correct horse battery";
const skip = sshdSkipReason(["plink", "psftp", "pscp"]);

describe("target in the user name with PuTTY (plink/psftp/pscp → gateway → OpenSSH sshd)", { skip }, () => {
	let t: TestApp;
	let putty: PuttyClient;
	let db1: Sshd;
	let db2: Sshd;
	let gw: RelayGateway;
	let carolSecret: Buffer;

	const audit = (event: string) => t.app.stores.audit.query({ event });
	/** Password, then the TOTP code, each typed at its console prompt. */
	const withCode = (totp?: string): PuttyAnswer[] => {
		t.clock.advance(30_000); // each TOTP code once (replay protection)
		return [
			{ prompt: /password: $/m, answer: PASSWORD },
			{ prompt: /\(TOTP\): /, answer: totp ?? totpCodeAt(carolSecret, t.clock.now().getTime()) },
		];
	};
	const file = (dir: string, content: Buffer | string) => {
		const path = join(dir, `f-${randomBytes(4).toString("hex")}`);
		writeFileSync(path, content);
		return path;
	};

	before(async () => {
		t = await createTestApp();
		const gatewayKey = loadOrCreateGatewayKey(t.app.config);
		db1 = await startSshd({ authorizedKeys: [gatewayKey.publicKey] });
		db2 = await startSshd({ authorizedKeys: [gatewayKey.publicKey] });
		await t.app.admin.createGroup(ADMIN_ACTOR, { name: "ops", forceTwoFactor: false, allowedMethods: null });
		await t.app.admin.createGroup(ADMIN_ACTOR, { name: "dev", forceTwoFactor: false, allowedMethods: null });
		await t.app.admin.createUser(ADMIN_ACTOR, { username: "alice", password: PASSWORD, isAdmin: false, groups: ["ops"] });
		const carol = await t.app.admin.createUser(ADMIN_ACTOR, { username: "carol", password: PASSWORD, isAdmin: false, groups: ["ops"] });
		const context = { channel: "web" as const, source: "test", duringLogin: false };
		const begin = await t.app.enrollment.begin(carol.id, "totp", "phone", {}, context);
		if (begin.kind !== "pending") throw new Error("enrolment did not start");
		carolSecret = base32Decode(begin.display.secret ?? "");
		const done = await t.app.enrollment.complete(carol.id, begin.factorId, { code: totpCodeAt(carolSecret, t.clock.now().getTime()) }, context);
		assert.equal(done.kind, "active");
		const servers = serverService(t.app);
		await servers.add(ADMIN_ACTOR, { name: "db1", host: db1.host, port: db1.port, loginUser: db1.user, groups: ["ops"] });
		await servers.add(ADMIN_ACTOR, { name: "db2", host: db2.host, port: db2.port, loginUser: db2.user, groups: ["dev"] });
		gw = await startRelayGateway(t.app);
		const fingerprint = await gatewayHostFingerprint(t.app.stores.settings);
		assert.ok(fingerprint, "the gateway published its host key fingerprint");
		putty = await createPuttyClient(gw.port, fingerprint);
	});

	after(async () => {
		await putty?.cleanup();
		await gw?.close();
		await db1?.stop();
		await db2?.stop();
		await t?.cleanup();
	});

	test("psftp -batch -pw (no second factor asked): put and get through db1's sftp", async () => {
		const data = randomBytes(200_000);
		const local = file(putty.dir, data);
		const remote = join(db1.dir, "psftp-up");
		const back = join(putty.dir, "psftp-back");
		const batch = file(putty.dir, `put ${local} ${remote}\nget ${remote} ${back}\nquit\n`);
		const result = await putty.run("psftp", ["-batch", "-pw", PASSWORD, "-b", batch, "alice:db1@127.0.0.1"]);
		assert.equal(result.code, 0, result.stderr);
		assert.ok(readFileSync(remote).equals(data));
		assert.ok(readFileSync(back).equals(data));
	});

	test("pscp -batch -pw -l alice:db1, in SFTP mode and in legacy scp mode (-scp), both directions", async () => {
		for (const mode of ["-sftp", "-scp"]) {
			const data = randomBytes(100_000);
			const local = file(putty.dir, data);
			const remote = join(db1.dir, `pscp${mode}`);
			// pscp splits HOST:PATH at the first colon, so the user goes in -l, not in alice:db1@host.
			const up = await putty.run("pscp", [mode, "-batch", "-pw", PASSWORD, "-l", "alice:db1", local, `127.0.0.1:${remote}`]);
			assert.equal(up.code, 0, up.stderr);
			assert.ok(readFileSync(remote).equals(data), mode);
			const down = await putty.run("pscp", [mode, "-batch", "-pw", PASSWORD, "-l", "alice:db1", `127.0.0.1:${remote}`, `${local}.back`]);
			assert.equal(down.code, 0, down.stderr);
			assert.ok(readFileSync(`${local}.back`).equals(data), mode);
		}
		const commands = (await audit("ssh.session-start")).map((row) => JSON.parse(String(row.detail)).command).filter(Boolean);
		assert.ok(
			commands.some((command: string) => /^scp .*-t/.test(command)),
			`legacy pscp runs scp -t on db1: ${commands.join(" | ")}`,
		);
	});

	test("plink -batch -pw alice:db1@gw runs the command on db1", async () => {
		const result = await putty.run("plink", ["-batch", "-pw", PASSWORD, "alice:db1@127.0.0.1", "echo", "plink-on", "$SSH_CONNECTION"]);
		assert.equal(result.code, 0, result.stderr);
		assert.match(result.stdout, new RegExp(`^plink-on .* ${db1.port}\\n$`));
	});

	test("password + TOTP at the prompts: psftp downloads a file from db1, plink runs a command; a wrong code gets nothing", async () => {
		const remote = file(db1.dir, "from db1 with a code\n");
		const back = join(putty.dir, "psftp-totp-back");
		const batch = file(putty.dir, `get ${remote} ${back}\nquit\n`);
		const result = await putty.run("psftp", ["-b", batch, "carol:db1@127.0.0.1"], { answers: withCode() });
		assert.equal(result.code, 0, result.stderr);
		assert.match(result.stderr, /Authenticator app code \(TOTP\)/);
		assert.equal(readFileSync(back, "utf8"), "from db1 with a code\n");

		const plink = await putty.run("plink", ["carol:db1@127.0.0.1", "echo", "plink-totp"], { answers: withCode() });
		assert.equal(plink.stdout, "plink-totp\n", plink.stderr);

		const wrongBack = join(putty.dir, "psftp-wrong-back");
		const wrongBatch = file(putty.dir, `get ${remote} ${wrongBack}\nquit\n`);
		// A wrong code: the gateway asks again; PuTTY gets no more answers (stdin closed) and gives up.
		const wrong = await putty.run("psftp", ["-b", wrongBatch, "carol:db1@127.0.0.1"], { answers: withCode("000000") });
		assert.notEqual(wrong.code, 0);
		assert.ok(!existsSync(wrongBack));
	});

	test("a server that is not granted (db2) is refused to psftp and plink; nothing is transferred", async () => {
		const remote = file(db2.dir, "secret on db2\n");
		const back = join(putty.dir, "psftp-db2-back");
		const batch = file(putty.dir, `get ${remote} ${back}\nquit\n`);
		const sftp = await putty.run("psftp", ["-batch", "-pw", PASSWORD, "-b", batch, "alice:db2@127.0.0.1"]);
		assert.notEqual(sftp.code, 0);
		assert.ok(!existsSync(back));
		const plink = await putty.run("plink", ["-batch", "-pw", PASSWORD, "alice:db2@127.0.0.1", "echo", "should-not-run"]);
		assert.notEqual(plink.code, 0);
		assert.doesNotMatch(plink.stdout, /should-not-run/);
		assert.match(plink.stderr, /no server named "db2" is available to you/);
	});
});
