/**
 * Servers by name for any client (docs/ssh-relay.md "Servers by name"): `alice:db1@gw` binds the
 * connection to db1, after the same login (password, second factor, per-server step-up, grants)
 * as the menu and -J. REAL OpenSSH ssh/sftp/scp through the REAL gateway to REAL sshd targets.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import ssh2 from "ssh2";
import { totpCodeAt } from "../../src/methods/totp/totp-method.ts";
import { loadOrCreateGatewayKey } from "../../src/servers/gateway-key.ts";
import { serverService } from "../../src/servers/server-service.ts";
import { base32Decode } from "../helpers/base32.ts";
import { createOpenSshClient, type OpenSshClient } from "../helpers/relay-openssh.ts";
import { startRelayGateway, type RelayGateway } from "../helpers/relay-gateway.ts";
import { sshdSkipReason, startSshd, type Sshd } from "../helpers/sshd-target.ts";
import { ADMIN_ACTOR, createTestApp, type TestApp } from "../helpers/test-app.ts";

const PASSWORD = "correct horse battery";

async function eventually<T>(probe: () => Promise<T | undefined | null | false>, what: string, timeoutMs = 60_000): Promise<T> {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		const value = await probe();
		if (value) return value;
		if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
		await new Promise((resolveWait) => setTimeout(resolveWait, 50));
	}
}
const skip = sshdSkipReason(["sftp", "scp"]);

describe("target in the user name (OpenSSH ssh/sftp/scp → gateway → OpenSSH sshd)", { skip }, () => {
	let t: TestApp;
	let client: OpenSshClient;
	let db1: Sshd;
	let db2: Sshd;
	let prod: Sshd;
	let gw: RelayGateway;
	let carolSecret: Buffer;

	const audit = (event: string) => t.app.stores.audit.query({ event });
	const code = () => {
		t.clock.advance(30_000); // each TOTP code once (replay protection)
		return { PORTCULLIS_TEST_CODE: totpCodeAt(carolSecret, t.clock.now().getTime()) };
	};
	const gwArgs = (user: string) => ["-o", `User=${user}`, "-P", String(gw.port), "127.0.0.1"];

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

	test("ssh alice:db1@gw runs a command on db1 verbatim, and a shell without a PTY is db1's shell", async () => {
		// The command's first word is NOT a server name here: `echo` runs on db1.
		const exec = await client.run("ssh", ["-p", String(gw.port), "alice:db1@127.0.0.1", "echo", "on-db1", "&&", "echo", "$SSH_CONNECTION"], {
			password: PASSWORD,
		});
		assert.equal(exec.code, 0, exec.stderr);
		const [first, connection] = exec.stdout.toString().trim().split("\n");
		assert.equal(first, "on-db1");
		assert.match(connection!, new RegExp(` ${db1.port}$`), "the command ran on db1's sshd");
		const shell = await client.run("ssh", ["-T", "-p", String(gw.port), "alice:db1@127.0.0.1"], { password: PASSWORD, input: "echo shell-$((6*7))\nexit 3\n" });
		assert.equal(shell.stdout.toString(), "shell-42\n", shell.stderr);
		assert.equal(shell.code, 3, "the exit status comes from db1's shell");
		const starts = (await audit("ssh.session-start")).filter((row) => row.username === "alice").map((row) => JSON.parse(String(row.detail)));
		assert.ok(starts.some((detail) => detail.server === "db1" && detail.bound === true && detail.command === "echo on-db1 && echo $SSH_CONNECTION"));
	});

	test("sftp -o User=alice:db1 gw uploads and downloads through db1's sftp subsystem", async () => {
		const data = randomBytes(300_000);
		const name = `up-${randomBytes(4).toString("hex")}`;
		writeFileSync(join(client.dir, name), data);
		const target = join(db1.dir, name);
		const result = await client.run("sftp", gwArgs("alice:db1"), {
			password: PASSWORD,
			input: `put ${join(client.dir, name)} ${target}\nget ${target} ${join(client.dir, `${name}.back`)}\nls -l ${target}\nbye\n`,
		});
		assert.equal(result.code, 0, result.stderr);
		assert.ok(readFileSync(target).equals(data), "the file landed on db1");
		assert.ok(readFileSync(join(client.dir, `${name}.back`)).equals(data), "and came back intact");
		const starts = (await audit("ssh.session-start")).map((row) => JSON.parse(String(row.detail)));
		assert.ok(starts.some((detail) => detail.server === "db1" && detail.subsystem === "sftp"));
		// The audit trail: each file with its path, mode and bytes; written once the target answered.
		const ops = await eventually(async () => {
			const rows = (await audit("ssh.sftp"))
				.filter((row) => row.username === "alice")
				.map((row) => ({ ...JSON.parse(String(row.detail)), outcome: row.outcome }));
			return rows.filter((row) => row.op === "close" && row.path === target).length >= 2 ? rows : null;
		}, "sftp audit events");
		const closes = ops.filter((row) => row.op === "close" && row.path === target);
		assert.ok(
			closes.some((row) => row.bytesWritten === data.length && row.bytesRead === 0 && row.flags.includes("write")),
			JSON.stringify(closes),
		);
		assert.ok(
			closes.some((row) => row.bytesRead === data.length && row.bytesWritten === 0 && row.flags.includes("read")),
			JSON.stringify(closes),
		);
		assert.ok(ops.some((row) => row.op === "open" && row.path === target && row.outcome === "success" && row.server === "db1" && row.connection));
		// The URI form (RFC 3986 userinfo, ":" percent-encoded): `sftp alice:db1@gw` would read "alice" as the host.
		const uri = await client.run("sftp", [`sftp://alice%3Adb1@127.0.0.1:${gw.port}`], { password: PASSWORD, input: `ls ${target}\nbye\n` });
		assert.equal(uri.code, 0, uri.stderr);
		assert.match(uri.stdout.toString(), new RegExp(name));
	});

	test("rename, remove, mkdir, rmdir, chmod and a refused open are in the audit trail with their outcome; no content is stored", async () => {
		const dir = join(db1.dir, `d-${randomBytes(4).toString("hex")}`);
		const secret = `secret-${randomBytes(8).toString("hex")}`;
		writeFileSync(join(client.dir, "payload"), secret);
		const result = await client.run("sftp", gwArgs("alice:db1"), {
			password: PASSWORD,
			input: [
				`mkdir ${dir}`,
				`put ${join(client.dir, "payload")} ${dir}/a`,
				`chmod 600 ${dir}/a`,
				`rename ${dir}/a ${dir}/b`,
				`rm ${dir}/b`,
				`rmdir ${dir}`,
				`put ${join(client.dir, "payload")} ${dir}-missing/c`,
				"bye",
				"",
			].join("\n"),
		});
		assert.match(result.stderr, /not found|No such file/i);
		const rows = await eventually(
			async () => {
				const found = (await audit("ssh.sftp")).map((row) => ({ ...JSON.parse(String(row.detail)), outcome: row.outcome }));
				return found.some((row) => row.op === "rmdir" && row.path === dir) && found.some((row) => row.op === "open" && row.outcome === "failure")
					? found
					: null;
			},
			"the operations",
			10_000,
		);
		const find = (op: string, key: string, value: string) => rows.find((row) => row.op === op && row[key] === value);
		assert.equal(find("mkdir", "path", dir)?.outcome, "success");
		assert.equal(find("setstat", "path", `${dir}/a`)?.attrs.permissions, "600");
		assert.equal(find("rename", "from", `${dir}/a`)?.to, `${dir}/b`);
		assert.equal(find("remove", "path", `${dir}/b`)?.outcome, "success");
		assert.equal(find("rmdir", "path", dir)?.outcome, "success");
		const missing = find("open", "path", `${dir}-missing/c`);
		assert.equal(missing?.outcome, "failure");
		assert.equal(missing?.status, "no-such-file");
		const all = JSON.stringify(await t.app.stores.audit.query({}));
		assert.ok(!all.includes(secret), "file content never reaches the audit log");
	});

	test("an SFTP stream that lies about its lengths ends the channel (fail closed) and is audited; the connection survives", async () => {
		const conn = new ssh2.Client();
		try {
			await new Promise<void>((resolveReady, reject) => {
				conn.once("ready", () => resolveReady());
				conn.once("error", reject);
				conn.connect({ host: "127.0.0.1", port: gw.port, username: "alice:db1", password: PASSWORD });
			});
			const closed = await new Promise<string>((resolveClosed, reject) => {
				conn.subsys("sftp", (error, channel) => {
					if (error) return reject(error);
					let received = "";
					channel.on("data", (chunk: Buffer) => (received += chunk.toString("hex")));
					channel.on("close", () => resolveClosed(received));
					// A valid INIT, then a packet that claims 4 GiB.
					channel.write(Buffer.from("0000000501" + "00000003" + "ffffffff06", "hex"));
				});
			});
			assert.ok(closed.length < 200, "at most the VERSION reply came back");
			const refusal = await eventually(async () => (await audit("ssh.sftp-refused")).find((row) => row.username === "alice"), "the refusal");
			assert.match(String(refusal.detail), /client: packet length 4294967295/);
			// The twin: a new channel on the same connection still works.
			const echoed = await new Promise<string>((resolveRun, reject) =>
				conn.exec("echo still-here", (error, channel) => {
					if (error) return reject(error);
					let out = "";
					channel.on("data", (chunk: Buffer) => (out += chunk.toString()));
					channel.on("close", () => resolveRun(out));
				}),
			);
			assert.equal(echoed, "still-here\n");
		} finally {
			conn.end();
		}
	});

	test("a client that disconnects mid-upload: the open file is audited with the bytes that went through, and the session ends", async () => {
		const conn = new ssh2.Client();
		const path = join(db1.dir, `cut-${randomBytes(4).toString("hex")}`);
		await new Promise<void>((resolveReady, reject) => {
			conn.once("ready", () => resolveReady());
			conn.once("error", reject);
			conn.connect({ host: "127.0.0.1", port: gw.port, username: "alice:db1", password: PASSWORD });
		});
		conn.on("error", () => undefined);
		const sftp = await new Promise<ssh2.SFTPWrapper>((resolveSftp, reject) => conn.sftp((error, wrapper) => (error ? reject(error) : resolveSftp(wrapper))));
		const handle = await new Promise<Buffer>((resolveOpen, reject) => sftp.open(path, "w", (error, opened) => (error ? reject(error) : resolveOpen(opened))));
		const chunk = Buffer.alloc(10_000, 1);
		for (let offset = 0; offset < 30_000; offset += chunk.length)
			await new Promise<void>((resolveWrite, reject) =>
				sftp.write(handle, chunk, 0, chunk.length, offset, (error) => (error ? reject(error) : resolveWrite())),
			);
		const before = (await audit("ssh.session-end")).length;
		// Gone without CLOSE, without closing the channel: the TCP connection just ends.
		conn.destroy();
		const cut = await eventually(
			async () => (await audit("ssh.sftp")).map((row) => JSON.parse(String(row.detail))).find((detail) => detail.op === "close" && detail.path === path),
			"the close at channel end",
		);
		assert.equal(cut.closedBy, "channel-end");
		assert.equal(cut.bytesWritten, 30_000);
		await eventually(async () => (await audit("ssh.session-end")).length > before, "the session end");
		assert.equal(readFileSync(path).length, 30_000, "what was written before the cut is on db1");
	});

	test("scp works both ways: the SFTP protocol (default) and the legacy scp -t/-f protocol (-O)", async () => {
		for (const legacy of [false, true]) {
			const data = randomBytes(100_000);
			const name = `scp-${legacy ? "legacy" : "sftp"}-${randomBytes(4).toString("hex")}`;
			writeFileSync(join(client.dir, name), data);
			const flags = [...(legacy ? ["-O"] : []), "-o", "User=alice:db1", "-P", String(gw.port)];
			const up = await client.run("scp", [...flags, join(client.dir, name), `127.0.0.1:${join(db1.dir, name)}`], { password: PASSWORD });
			assert.equal(up.code, 0, up.stderr);
			assert.ok(readFileSync(join(db1.dir, name)).equals(data));
			const down = await client.run("scp", [...flags, `127.0.0.1:${join(db1.dir, name)}`, join(client.dir, `${name}.back`)], { password: PASSWORD });
			assert.equal(down.code, 0, down.stderr);
			assert.ok(readFileSync(join(client.dir, `${name}.back`)).equals(data));
		}
		const commands = (await audit("ssh.session-start")).map((row) => JSON.parse(String(row.detail)).command).filter(Boolean);
		assert.ok(
			commands.some((command: string) => /^scp -t /.test(command)),
			"scp -t is audited as its command line",
		);
		assert.ok(commands.some((command: string) => /^scp -f /.test(command)));
	});

	test("a server that is not granted and one that does not exist get the same refusal, and nothing runs", async () => {
		const answers: string[] = [];
		for (const user of ["alice:db2", "alice:nosuch"]) {
			const exec = await client.run("ssh", ["-p", String(gw.port), `${user}@127.0.0.1`, "echo", "should-not-run"], { password: PASSWORD });
			assert.equal(exec.code, 1);
			assert.doesNotMatch(exec.stdout.toString(), /should-not-run/);
			answers.push(exec.stderr.replace(/db2|nosuch/g, "NAME"));
			const sftp = await client.run("sftp", gwArgs(user), { password: PASSWORD, input: "ls\nbye\n" });
			assert.notEqual(sftp.code, 0);
		}
		assert.equal(answers[0], answers[1], "no oracle of server names");
		assert.match(answers[0]!, /no server named "NAME" is available to you/);
		const refused = (await audit("ssh.target-refused")).map((row) => JSON.parse(String(row.detail)));
		assert.ok(refused.some((detail) => detail.requested === "db2" && detail.subsystem === "sftp"));
		assert.ok(refused.some((detail) => detail.requested === "nosuch"));
		// The twin: the same user reaches db1.
		const ok = await client.run("ssh", ["-p", String(gw.port), "alice:db1@127.0.0.1", "echo", "granted"], { password: PASSWORD });
		assert.equal(ok.stdout.toString(), "granted\n", ok.stderr);
	});

	test("per-server step-up: alice:db-prod without a factor is refused at login; carol:db-prod is asked for the code and gets through", async () => {
		const bob = await client.run("sftp", gwArgs("alice:db-prod"), { password: PASSWORD, input: "ls\nbye\n" });
		assert.notEqual(bob.code, 0);
		const wrong = await client.run("ssh", ["-p", String(gw.port), "carol:db-prod@127.0.0.1", "echo", "no"], {
			password: PASSWORD,
			env: { PORTCULLIS_TEST_CODE: "000000" },
		});
		assert.notEqual(wrong.code, 0);
		assert.doesNotMatch(wrong.stdout.toString(), /no/);
		const name = `prod-${randomBytes(4).toString("hex")}`;
		writeFileSync(join(prod.dir, name), "from prod\n");
		const result = await client.run("sftp", gwArgs("carol:db-prod"), {
			password: PASSWORD,
			env: code(),
			input: `get ${join(prod.dir, name)} ${join(client.dir, name)}\nbye\n`,
		});
		assert.equal(result.code, 0, result.stderr);
		assert.equal(readFileSync(join(client.dir, name), "utf8"), "from prod\n");
	});

	test("per-server step-up freshness: a bound connection whose factor got older than the window is refused on its next channel", async () => {
		await serverService(t.app).update(ADMIN_ACTOR, "db-prod", { freshMinutes: 5 });
		const { PORTCULLIS_TEST_CODE: totp } = code();
		const conn = new ssh2.Client();
		try {
			await new Promise<void>((resolveReady, reject) => {
				conn.once("ready", () => resolveReady());
				conn.once("error", reject);
				conn.on("keyboard-interactive", (_name, _instructions, _lang, prompts, finish) => finish(prompts.map(() => totp)));
				conn.connect({ host: "127.0.0.1", port: gw.port, username: "carol:db-prod", password: PASSWORD, tryKeyboard: true });
			});
			const run = (command: string) =>
				new Promise<{ stdout: string; stderr: string; code: number | null }>((resolveRun, reject) => {
					conn.exec(command, (error, channel) => {
						if (error) return reject(error);
						let stdout = "";
						let stderr = "";
						let exit: number | null = null;
						channel.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
						channel.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
						channel.on("exit", (status: number | null) => (exit = status));
						channel.on("close", () => resolveRun({ stdout, stderr, code: exit }));
					});
				});
			const fresh = await run("echo fresh");
			assert.equal(fresh.stdout, "fresh\n", fresh.stderr);
			t.clock.advance(6 * 60_000);
			const stale = await run("echo should-not-run");
			assert.equal(stale.code, 1);
			assert.equal(stale.stdout, "");
			assert.match(stale.stderr, /second factor is older than 5 minutes/);
		} finally {
			conn.end();
			await serverService(t.app).update(ADMIN_ACTOR, "db-prod", { freshMinutes: null });
		}
	});
});
