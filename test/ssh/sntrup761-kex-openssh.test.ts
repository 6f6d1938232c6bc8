/**
 * sntrup761x25519-sha512 (RFC 9941) on both legs against REAL OpenSSH: the machine's OpenSSH 9.2
 * (Debian 12: sntrup761 but no ML-KEM, the Debian 12 / Ubuntu 22.04 case) and OpenSSH 10 from the
 * Debian 13 root (scripts/build-openssh-roots.sh), for both names of the method.
 *
 * - client → gateway: `ssh -o KexAlgorithms=<name>` logs in with password + TOTP; `ssh -v` says
 *   "kex: algorithm: <name>", the menu says "Key exchange: <name> (post-quantum)" and the audit
 *   event ssh.authenticated carries the name;
 * - gateway → target: an sshd that allows only <name> runs the command, and its debug log says
 *   the same for the gateway's connection;
 * - negative twin: with ssh.kex without sntrup761 the same client is refused at key exchange.
 */
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { totpCodeAt } from "../../src/methods/totp/totp-method.ts";
import { loadOrCreateGatewayKey } from "../../src/servers/gateway-key.ts";
import { serverService } from "../../src/servers/server-service.ts";
import { startSshGateway, type SshGateway } from "../../src/ssh/gateway.ts";
import { base32Decode } from "../helpers/base32.ts";
import { opensshBinDir, opensshRoot, opensshRootSkipReason } from "../helpers/openssh-roots.ts";
import { createOpenSshClient, type OpenSshClient } from "../helpers/relay-openssh.ts";
import { sshdSkipReason, startSshd, type Sshd } from "../helpers/sshd-target.ts";
import { ADMIN_ACTOR, createTestApp, type TestApp } from "../helpers/test-app.ts";

const PASSWORD = "correct horse battery";
const NAMES = ["sntrup761x25519-sha512@openssh.com", "sntrup761x25519-sha512"] as const;
const withPath = (dir: string) => ({ PATH: `${dir}:${process.env.PATH ?? "/usr/bin:/bin"}` });

interface Setup {
	t: TestApp;
	gateway: SshGateway;
	/** A TOTP code for alice, each one fresh (replay protection). */
	code(): Record<string, string>;
}

/** A gateway whose group forces a second factor; alice has password + TOTP. */
async function setUp(config: Record<string, unknown> = {}): Promise<Setup> {
	const t = await createTestApp({ config });
	await t.app.admin.createGroup(ADMIN_ACTOR, { name: "ops", forceTwoFactor: true, allowedMethods: null });
	const alice = await t.app.admin.createUser(ADMIN_ACTOR, { username: "alice", password: PASSWORD, isAdmin: false, groups: ["ops"] });
	const context = { channel: "web" as const, source: "test", duringLogin: false };
	const begin = await t.app.enrollment.begin(alice.id, "totp", "phone", {}, context);
	if (begin.kind !== "pending") throw new Error("enrolment did not start");
	const secret = base32Decode(begin.display.secret ?? "");
	const completed = await t.app.enrollment.complete(alice.id, begin.factorId, { code: totpCodeAt(secret, t.clock.now().getTime()) }, context);
	assert.equal(completed.kind, "active");
	const gateway = await startSshGateway(t.app.ssh, { listen: "127.0.0.1:0" });
	return {
		t,
		gateway,
		code() {
			t.clock.advance(30_000);
			return { PORTCULLIS_TEST_CODE: totpCodeAt(secret, t.clock.now().getTime()) };
		},
	};
}

async function addTarget(t: TestApp, name: string, kex: string, root?: string): Promise<Sshd> {
	const target = await startSshd({
		...(root === undefined ? {} : { root }),
		authorizedKeys: [loadOrCreateGatewayKey(t.app.config).publicKey],
		logLevel: "DEBUG",
		// Only this method: the gateway must speak it or the relay fails. OpenSSH 9.8+ penalises a
		// source after failed connections; every test connection comes from 127.0.0.1.
		extraConfig: [`KexAlgorithms ${kex}`, ...(root === undefined ? [] : ["PerSourcePenalties no"])],
	});
	await serverService(t.app).add(ADMIN_ACTOR, { name, host: target.host, port: target.port, loginUser: target.user, description: kex, groups: ["ops"] });
	return target;
}

const kexOf = (log: string) => [...log.matchAll(/kex: algorithm: (\S+)/g)].map((match) => match[1]);

async function authenticatedKex(t: TestApp): Promise<unknown[]> {
	return (await t.app.stores.audit.query({ event: "ssh.authenticated" })).map((row) => (JSON.parse(row.detail ?? "{}") as { kex?: unknown }).kex);
}

describe("sntrup761x25519-sha512 with the machine's OpenSSH 9.2 on both legs", { skip: sshdSkipReason() }, () => {
	let client: OpenSshClient;
	let s: Setup;
	const targets: Sshd[] = [];

	before(async () => {
		client = await createOpenSshClient();
		s = await setUp();
		for (const [index, name] of NAMES.entries()) targets.push(await addTarget(s.t, `deb12-${index}`, name));
	});
	after(async () => {
		await s?.gateway.close();
		for (const target of targets) await target.stop();
		await s?.t.cleanup();
		await client?.cleanup();
	});

	for (const [index, name] of NAMES.entries()) {
		test(`${name}: client leg with password + TOTP, target leg to an sshd that allows only it`, async () => {
			const logins = async () => (await authenticatedKex(s.t)).filter((kex) => kex === name).length;
			const before = await logins();
			const result = await client.run(
				"ssh",
				[
					"-v",
					"-o",
					"LogLevel=DEBUG1",
					"-o",
					`KexAlgorithms=${name}`,
					"-p",
					String(s.gateway.address.port),
					"alice@127.0.0.1",
					`deb12-${index}`,
					"--",
					"echo via-sntrup",
				],
				{ password: PASSWORD, env: s.code() },
			);
			assert.equal(result.stdout.toString(), "via-sntrup\n", result.stderr);
			assert.equal(result.code, 0, result.stderr);
			assert.deepEqual(kexOf(result.stderr), [name], result.stderr);
			// The login went through the second factor (keyboard-interactive after the password).
			assert.match(result.stderr, /Authenticated to 127\.0\.0\.1 .*using "keyboard-interactive"/, result.stderr);
			assert.equal(await logins(), before + 1, "ssh.authenticated carries the negotiated name");
			// Target leg: the only method that sshd allows, from its own log.
			const target = targets[index] as Sshd;
			assert.deepEqual(kexOf(target.log()), [name], target.log().slice(-4000));
		});
	}

	test("the menu says which key exchange protects the session", async () => {
		const result = await client.run("ssh", ["-T", "-o", `KexAlgorithms=${NAMES[0]}`, "-p", String(s.gateway.address.port), "alice@127.0.0.1"], {
			password: PASSWORD,
			env: s.code(),
			input: "q\n",
		});
		assert.match(
			result.stdout.toString(),
			/^Portcullis: servers for alice\nKey exchange: sntrup761x25519-sha512@openssh\.com \(post-quantum\)\n/,
			result.stderr,
		);
		const classical = await client.run("ssh", ["-T", "-o", "KexAlgorithms=curve25519-sha256", "-p", String(s.gateway.address.port), "alice@127.0.0.1"], {
			password: PASSWORD,
			env: s.code(),
			input: "q\n",
		});
		assert.match(classical.stdout.toString(), /\nKey exchange: curve25519-sha256 \(classical, not post-quantum\)\n/, classical.stderr);
	});

	test("negative twin: a gateway whose ssh.kex lacks sntrup761 refuses the same client at key exchange", async () => {
		const classical = await setUp({ ssh: { kex: ["mlkem768x25519-sha256", "curve25519-sha256"] } });
		try {
			// OpenSSH logs "Unable to negotiate" at INFO; the test client's ssh_config says ERROR.
			const result = await client.run(
				"ssh",
				["-o", "LogLevel=INFO", "-o", `KexAlgorithms=${NAMES.join(",")}`, "-p", String(classical.gateway.address.port), "alice@127.0.0.1", "x"],
				{
					password: PASSWORD,
					env: classical.code(),
				},
			);
			assert.notEqual(result.code, 0);
			assert.match(result.stderr, /no matching key exchange method found/, result.stderr);
			assert.deepEqual(await authenticatedKex(classical.t), []);
		} finally {
			await classical.gateway.close();
			await classical.t.cleanup();
		}
	});
});

describe("sntrup761x25519-sha512 with OpenSSH 10 (Debian 13) on both legs", { skip: sshdSkipReason() ?? opensshRootSkipReason("trixie") }, () => {
	let client: OpenSshClient;
	let trixieBin: string;
	let s: Setup;
	const targets: Sshd[] = [];

	before(async () => {
		client = await createOpenSshClient();
		trixieBin = opensshBinDir("trixie");
		s = await setUp();
		for (const [index, name] of NAMES.entries()) targets.push(await addTarget(s.t, `deb13-${index}`, name, opensshRoot("trixie")));
	});
	after(async () => {
		await s?.gateway.close();
		for (const target of targets) await target.stop();
		await s?.t.cleanup();
		await client?.cleanup();
		if (trixieBin) rmSync(trixieBin, { recursive: true, force: true });
	});

	for (const [index, name] of NAMES.entries()) {
		test(`${name}: OpenSSH 10 client and sshd`, async () => {
			const result = await client.run(
				"ssh",
				[
					"-v",
					"-o",
					"LogLevel=DEBUG1",
					"-o",
					`KexAlgorithms=${name}`,
					"-p",
					String(s.gateway.address.port),
					"alice@127.0.0.1",
					`deb13-${index}`,
					"--",
					"echo ten",
				],
				{ password: PASSWORD, env: { ...s.code(), ...withPath(trixieBin) } },
			);
			assert.equal(result.stdout.toString(), "ten\n", result.stderr);
			assert.match(result.stderr, /Authenticated to 127\.0\.0\.1 .*using "keyboard-interactive"/, result.stderr);
			assert.match(result.stderr, /OpenSSH_(9\.9|[1-9]\d)/, result.stderr);
			assert.deepEqual(kexOf(result.stderr), [name], result.stderr);
			const target = targets[index] as Sshd;
			assert.deepEqual(kexOf(target.log()), [name], target.log().slice(-4000));
		});
	}
});
