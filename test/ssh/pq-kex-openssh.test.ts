/**
 * Post-quantum key exchange on both legs against REAL OpenSSH (docs/decisions.md, "Post-quantum key
 * exchange"): OpenSSH 10.0 from Debian 13 and OpenSSH 10.1+ from Debian testing
 * (scripts/build-openssh-roots.sh) as the user's client, Debian 13's sshd as the target, the
 * machine's OpenSSH (Debian 12: 9.2, no ML-KEM) as the older client.
 *
 * - client → gateway: `ssh -v` says "kex: algorithm: mlkem768x25519-sha256" and Debian testing's
 *   OpenSSH prints no post-quantum warning, which it does print against a classical-only gateway;
 * - gateway → target: the target sshd's debug log says the same for the gateway's connection;
 * - the machine's OpenSSH 9.2 negotiates sntrup761x25519-sha512 (sntrup761-kex-openssh.test.ts has
 *   the details); a classical-only client still gets in (curve25519) by default, and with
 *   ssh.pq_only is refused at key exchange with OpenSSH's "no matching key exchange method" and an
 *   audited reason.
 */
import assert from "node:assert/strict";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { loadOrCreateGatewayKey } from "../../src/servers/gateway-key.ts";
import { serverService } from "../../src/servers/server-service.ts";
import { startSshGateway, type SshGateway } from "../../src/ssh/gateway.ts";
import { opensshBinDir, opensshRoot, opensshRootSkipReason, opensshVersion } from "../helpers/openssh-roots.ts";
import { createOpenSshClient, type OpenSshClient } from "../helpers/relay-openssh.ts";
import { sshdSkipReason, startSshd, type Sshd } from "../helpers/sshd-target.ts";
import { ADMIN_ACTOR, createTestApp, type TestApp } from "../helpers/test-app.ts";

const PASSWORD = "correct horse battery";
const PQ = "kex: algorithm: mlkem768x25519-sha256";
/** OpenSSH 10.1+ (sshconnect2.c) on a connection without a post-quantum key exchange. */
const PQ_WARNING = /not using a post-quantum key exchange/i;
const skip = sshdSkipReason() ?? opensshRootSkipReason("trixie", "testing");
const withPath = (dir: string) => ({ PATH: `${dir}:${process.env.PATH ?? "/usr/bin:/bin"}` });

async function setUp(config: Record<string, unknown> = {}): Promise<{ t: TestApp; gateway: SshGateway; target: Sshd }> {
	const t = await createTestApp({ config });
	const target = await startSshd({
		root: opensshRoot("trixie"),
		authorizedKeys: [loadOrCreateGatewayKey(t.app.config).publicKey],
		logLevel: "DEBUG",
		// OpenSSH 9.8+ penalises a source after failed or abandoned connections; every test connection comes from 127.0.0.1.
		extraConfig: ["PerSourcePenalties no"],
	});
	await t.app.admin.createGroup(ADMIN_ACTOR, { name: "ops", forceTwoFactor: false, allowedMethods: null });
	await t.app.admin.createUser(ADMIN_ACTOR, { username: "alice", password: PASSWORD, isAdmin: false, groups: ["ops"] });
	await serverService(t.app).add(ADMIN_ACTOR, {
		name: "db1",
		host: target.host,
		port: target.port,
		loginUser: target.user,
		description: "trixie",
		groups: ["ops"],
	});
	const gateway = await startSshGateway(t.app.ssh, { listen: "127.0.0.1:0" });
	return { t, gateway, target };
}

describe("post-quantum key exchange with OpenSSH 10 on both legs", { skip }, () => {
	let client: OpenSshClient;
	let trixieBin: string;
	let testingBin: string;
	let t: TestApp;
	let gateway: SshGateway;
	let target: Sshd;
	const trixieSsh = (args: readonly string[]) =>
		client.run("ssh", ["-v", "-o", "LogLevel=DEBUG1", "-p", String(gateway.address.port), "alice@127.0.0.1", ...args], {
			password: PASSWORD,
			env: withPath(trixieBin),
		});

	before(async () => {
		client = await createOpenSshClient();
		trixieBin = opensshBinDir("trixie");
		testingBin = opensshBinDir("testing");
		({ t, gateway, target } = await setUp());
	});
	after(async () => {
		await gateway?.close();
		await target?.stop();
		await t?.cleanup();
		await client?.cleanup();
		for (const dir of [trixieBin, testingBin]) if (dir) rmSync(dir, { recursive: true, force: true });
	});

	test("OpenSSH 10 → gateway → OpenSSH 10 target: mlkem768x25519-sha256 on both legs, no post-quantum warning", async () => {
		const version = opensshVersion("trixie");
		assert.match(version, /^OpenSSH_(9\.9|[1-9]\d)/, version);

		const result = await trixieSsh(["db1", "--", "echo through-pq"]);
		assert.equal(result.stdout.toString(), "through-pq\n", result.stderr);
		assert.equal(result.code, 0, result.stderr);
		// Client leg, from the client's own debug output.
		assert.ok(result.stderr.includes(PQ), result.stderr);
		assert.doesNotMatch(result.stderr, PQ_WARNING);
		// The gateway audits which key exchange protected the login.
		const logins = await t.app.stores.audit.query({ event: "ssh.authenticated" });
		assert.deepEqual(
			logins.map((row) => (JSON.parse(row.detail ?? "{}") as { kex?: unknown }).kex),
			["mlkem768x25519-sha256"],
		);
		// Target leg, from the target sshd's debug log (the gateway is its only client here).
		assert.ok(target.log().includes(PQ), target.log().slice(-4000));
		assert.doesNotMatch(target.log(), /kex: algorithm: (?!mlkem768x25519-sha256)/);
	});

	test("Debian testing's OpenSSH (10.1+, the one that warns): ML-KEM and no warning here, the warning against a classical-only gateway", async () => {
		const version = opensshVersion("testing");
		assert.ok(
			readFileSync(join(opensshRoot("testing"), "usr/bin/ssh")).includes("not using a post-quantum key exchange"),
			`${version} has no post-quantum warning`,
		);
		const result = await client.run("ssh", ["-v", "-p", String(gateway.address.port), "alice@127.0.0.1", "db1", "--", "echo testing"], {
			password: PASSWORD,
			env: withPath(testingBin),
		});
		assert.equal(result.stdout.toString(), "testing\n", result.stderr);
		assert.ok(result.stderr.includes(PQ), result.stderr);
		assert.doesNotMatch(result.stderr, PQ_WARNING);
		// Control: the same client against a gateway configured without ML-KEM does warn, so the
		// assertion above can fail.
		const classical = await setUp({ ssh: { kex: ["curve25519-sha256"] } });
		try {
			// LogLevel INFO, the users' default (the test client's ssh_config says ERROR).
			const warned = await client.run(
				"ssh",
				["-o", "LogLevel=INFO", "-p", String(classical.gateway.address.port), "alice@127.0.0.1", "db1", "--", "echo classical"],
				{
					password: PASSWORD,
					env: withPath(testingBin),
				},
			);
			assert.equal(warned.stdout.toString(), "classical\n", warned.stderr);
			assert.match(warned.stderr, PQ_WARNING);
		} finally {
			await classical.gateway.close();
			await classical.target.stop();
			await classical.t.cleanup();
		}
	});

	test("the machine's OpenSSH without ML-KEM (Debian 12's 9.2) negotiates sntrup761x25519-sha512 by default, still post-quantum", async (context) => {
		const result = await client.run(
			"ssh",
			["-v", "-o", "LogLevel=DEBUG1", "-p", String(gateway.address.port), "alice@127.0.0.1", "db1", "--", "echo classical"],
			{
				password: PASSWORD,
			},
		);
		const kex = /kex: algorithm: (\S+)/.exec(result.stderr)?.[1];
		if (kex === "mlkem768x25519-sha256") {
			context.diagnostic("this machine's OpenSSH already has ML-KEM; nothing older to check");
			return;
		}
		// OpenSSH 8.5–9.8 put sntrup761 first (the client's order decides, RFC 4253 §7.1).
		assert.match(kex ?? "", /^sntrup761x25519-sha512(@openssh\.com)?$/, result.stderr);
		assert.equal(result.stdout.toString(), "classical\n", result.stderr);
		// And a client limited to classical methods still gets curve25519 (ssh.pq_only is off).
		const classical = await client.run(
			"ssh",
			[
				"-v",
				"-o",
				"LogLevel=DEBUG1",
				"-o",
				"KexAlgorithms=curve25519-sha256",
				"-p",
				String(gateway.address.port),
				"alice@127.0.0.1",
				"db1",
				"--",
				"echo classical",
			],
			{ password: PASSWORD },
		);
		assert.equal(/kex: algorithm: (\S+)/.exec(classical.stderr)?.[1], "curve25519-sha256", classical.stderr);
		assert.equal(classical.stdout.toString(), "classical\n", classical.stderr);
	});

	describe("ssh.pq_only", () => {
		let pq: { t: TestApp; gateway: SshGateway; target: Sshd };
		before(async () => {
			pq = await setUp({ ssh: { pq_only: true } });
		});
		after(async () => {
			await pq?.gateway.close();
			await pq?.target.stop();
			await pq?.t.cleanup();
		});

		test("OpenSSH 10 gets in with ML-KEM; a classical-only client is refused at key exchange, with a reason in the audit", async () => {
			const port = String(pq.gateway.address.port);
			const pqResult = await client.run("ssh", ["-v", "-p", port, "alice@127.0.0.1", "db1", "--", "echo pq-only"], {
				password: PASSWORD,
				env: withPath(trixieBin),
			});
			assert.equal(pqResult.stdout.toString(), "pq-only\n", pqResult.stderr);
			assert.ok(pqResult.stderr.includes(PQ), pqResult.stderr);

			const classical = await client.run(
				"ssh",
				["-v", "-p", port, "-o", "KexAlgorithms=curve25519-sha256,diffie-hellman-group14-sha256", "alice@127.0.0.1", "db1", "--", "echo no"],
				{
					password: PASSWORD,
				},
			);
			assert.notEqual(classical.code, 0);
			assert.equal(classical.stdout.toString(), "");
			assert.match(classical.stderr, /no matching key exchange method found\. Their offer: mlkem768x25519-sha256/, classical.stderr);
			let reasons: unknown[] = [];
			for (let attempt = 0; attempt < 200 && !reasons.some((reason) => String(reason).includes("pq_only")); attempt++) {
				reasons = (await pq.t.app.stores.audit.query({ event: "ssh.disconnect" })).map(
					(row) => (JSON.parse(row.detail ?? "{}") as { reason?: unknown }).reason,
				);
				await new Promise((resolveWait) => setTimeout(resolveWait, 25));
			}
			assert.ok(reasons.includes("refused: the client offers no post-quantum key exchange (ssh.pq_only)"), JSON.stringify(reasons));
		});
	});
});
