/**
 * A directory user over SSH with the real OpenSSH client (docs/identity.md): the password is checked
 * by a bind against a real slapd, the directory group "ops" maps to the Portcullis group that forces
 * 2FA, so the gateway answers partial success and asks for the TOTP code; with the directory down
 * the same login fails closed while the local admin still gets in.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { GROUPS, PEOPLE, SERVICE_DN, SERVICE_PASSWORD, type Slapd, slapdSkip, startSlapd } from "../helpers/slapd.ts";
import { requireOpenSsh, runOpenSsh, type OpenSshResult } from "../helpers/ssh-client.ts";
import { opensslSkip } from "../helpers/test-ca.ts";
import { ADMIN_ACTOR, WEB } from "../helpers/test-app.ts";
import { enrolTotp, eventually, type Fixture, PASSWORD, startFixture, totpNow } from "./auth-fixtures.ts";

const PASSWORD_PROMPT = /'s password: $/;
const TOTP_PROMPT = /\) Authenticator app code \(TOTP\): $/;

function describeRun(result: OpenSshResult): string {
	return JSON.stringify(
		{ code: result.code, stdout: result.stdout, prompts: result.prompts, stderr: result.stderr.split("\n").filter((l) => !l.startsWith("debug1: ")) },
		null,
		1,
	);
}

describe("directory user over SSH (OpenSSH + slapd)", { skip: slapdSkip() || opensslSkip() }, () => {
	let slapd: Slapd;
	let f: Fixture;
	let dir: string;
	let secret: Buffer;

	before(async () => {
		slapd = await startSlapd(
			[
				{ uid: "alice", password: "alice-directory-pw" },
				{ uid: "bob", password: "bob-directory-pw" },
			],
			[{ cn: "ops", members: ["alice"] }],
		);
		dir = mkdtempSync(join(tmpdir(), "portcullis-ldap-ssh-"));
		writeFileSync(join(dir, "ca.pem"), slapd.ca.caCert);
		f = await startFixture({
			config: {
				ldap: {
					url: slapd.ldapUrl,
					start_tls: true,
					ca_file: join(dir, "ca.pem"),
					bind_dn: SERVICE_DN,
					bind_password: SERVICE_PASSWORD,
					user_base: PEOPLE,
					group_base: GROUPS,
					group_map: { [slapd.groupDn("ops")]: "ops" },
					// Far from any real answer time: only a dead directory reaches it, even on a loaded machine.
					timeout_ms: 30_000,
				},
			},
		});
		await f.app.admin.createGroup(ADMIN_ACTOR, { name: "ops", forceTwoFactor: true, allowedMethods: null });
		await f.app.admin.createUser(ADMIN_ACTOR, { username: "root", password: PASSWORD, isAdmin: true, groups: [] });
		// alice's first login is on the web: the account is created and she enrols TOTP there.
		const first = await f.app.login.submitPassword(WEB, "alice", "alice-directory-pw");
		assert.equal(first.kind, "enroll");
		secret = await enrolTotp(f, first.kind === "enroll" ? first.userId : "");
	});
	after(async () => {
		await f?.close();
		await slapd?.close();
		if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
	});

	test("directory password (bind over StartTLS) + TOTP forced by the directory-mapped group", async (t) => {
		if (!requireOpenSsh(t)) return;
		const result = await runOpenSsh({
			port: f.port,
			user: "alice",
			command: "whoami",
			preferred: "password,keyboard-interactive",
			answer: (prompt) => (PASSWORD_PROMPT.test(prompt) ? "alice-directory-pw" : TOTP_PROMPT.test(prompt) ? totpNow(f, secret) : null),
		});
		assert.equal(result.code, 0, describeRun(result));
		assert.match(result.stderr, /Authenticated using "password" with partial success\./, describeRun(result));
		assert.match(result.stderr, /Two-factor authentication is required by group ops\./);
		assert.equal(result.stdout, "authenticated alice 2fa=totp epoch=0\n");
	});

	test("first login over SSH creates the account just in time (a directory user no group forces 2FA for)", async (t) => {
		if (!requireOpenSsh(t)) return;
		assert.equal(await f.app.stores.users.findByUsername("bob"), undefined);
		const result = await runOpenSsh({
			port: f.port,
			user: "bob",
			command: "whoami",
			preferred: "password,keyboard-interactive",
			answer: (prompt) => (PASSWORD_PROMPT.test(prompt) ? "bob-directory-pw" : null),
		});
		assert.equal(result.code, 0, describeRun(result));
		assert.equal(result.stdout, "authenticated bob 2fa=none epoch=0\n");
		assert.equal((await f.app.stores.users.findByUsername("bob"))?.source, "ldap");
	});

	test("a live SSH connection ends when the sync finds the user removed from the directory", async (t) => {
		if (!requireOpenSsh(t)) return;
		// -N: an authenticated connection with no channel, held open until the gateway ends it.
		const running = runOpenSsh({
			port: f.port,
			user: "bob",
			preferred: "password",
			extraArgs: ["-N"],
			answer: (prompt) => (PASSWORD_PROMPT.test(prompt) ? "bob-directory-pw" : null),
		});
		await eventually(
			async () => (await f.app.stores.audit.query({ event: "ssh.authenticated", username: "bob" })).length >= 2,
			60_000,
			"bob's second connection logged in",
		);
		await slapd.removeUser("bob");
		const report = await f.app.directory!.syncAll();
		assert.equal(report.unavailable, null);
		const ended = await running;
		assert.equal(ended.code, 255, describeRun(ended));
		assert.equal((await f.app.stores.users.findByUsername("bob"))?.directory_disabled, 1);
		const again = await f.app.login.submitPassword(WEB, "bob", "bob-directory-pw");
		assert.equal(again.kind, "denied");
	});

	test("the wrong directory password never reaches the second factor", async (t) => {
		if (!requireOpenSsh(t)) return;
		f.clock.advance(30_000);
		const result = await runOpenSsh({
			port: f.port,
			user: "alice",
			command: "whoami",
			preferred: "password,keyboard-interactive",
			answer: (prompt) => (PASSWORD_PROMPT.test(prompt) ? "not-the-password" : TOTP_PROMPT.test(prompt) ? totpNow(f, secret) : null),
		});
		assert.equal(result.code, 255, describeRun(result));
		assert.ok(!result.prompts.some((prompt) => TOTP_PROMPT.test(prompt)), describeRun(result));
	});

	test("directory down: the directory user is refused, the local admin still gets in", async (t) => {
		if (!requireOpenSsh(t)) return;
		f.clock.advance(30_000);
		await slapd.stop();
		try {
			const alice = await runOpenSsh({
				port: f.port,
				user: "alice",
				command: "whoami",
				preferred: "password,keyboard-interactive",
				answer: (prompt) => (PASSWORD_PROMPT.test(prompt) ? "alice-directory-pw" : TOTP_PROMPT.test(prompt) ? totpNow(f, secret) : null),
			});
			assert.equal(alice.code, 255, describeRun(alice));
			assert.match(alice.stderr, /company directory cannot be reached/, describeRun(alice));
			const audit = await f.app.stores.audit.query({ username: "alice", event: "login.password" });
			assert.ok(audit.some((row) => String(row.detail).includes("directory-unavailable")));
			const root = await runOpenSsh({
				port: f.port,
				user: "root",
				command: "whoami",
				preferred: "password,keyboard-interactive",
				answer: (prompt) => (PASSWORD_PROMPT.test(prompt) ? PASSWORD : null),
			});
			assert.equal(root.code, 0, describeRun(root));
			assert.equal(root.stdout, "authenticated root 2fa=none epoch=0\n");
		} finally {
			await slapd.start();
		}
	});
});
