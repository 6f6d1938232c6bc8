/**
 * End to end with the real OpenSSH client against the gateway
 * (docs/product-decisions.md Decision 1 and floor item 7; docs/security-matrix.md S1, S3, S11, T3).
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { makeKey, type TestKey } from "../helpers/keys.ts";
import { requireOpenSsh, runOpenSsh, type OpenSshResult } from "../helpers/ssh-client.ts";
import { ADMIN_ACTOR, WEB } from "../helpers/test-app.ts";
import { addKey, addUser, enrolKeyword, enrolTotp, issueRecoveryCodes, keywordAnswer, PASSWORD, startFixture, totpNow, type Fixture } from "./auth-fixtures.ts";

const PASSWORD_PROMPT = /'s password: $/;
const TOTP_PROMPT = /\) Authenticator app code \(TOTP\): $/;
const KEYWORD_PROMPT = /\) Access keyword: characters \d+, \d+ and \d+: $/;
const RECOVERY_PROMPT = /\) Recovery code: $/;

function partialSuccess(result: OpenSshResult, method: "password" | "publickey"): boolean {
	return result.stderr.includes(`Authenticated using "${method}" with partial success.`);
}

function describeRun(result: OpenSshResult): string {
	return JSON.stringify(
		{
			code: result.code,
			stdout: result.stdout,
			prompts: result.prompts,
			stderr: result.stderr.split("\n").filter((line) => !line.startsWith("debug1: ") || /Authentic|partial/.test(line)),
		},
		null,
		1,
	);
}

describe("OpenSSH client against the gateway (SQLite)", () => {
	let f: Fixture;
	let dir: string;
	let aliceKey: TestKey;
	let secrets: Map<string, Buffer>;

	before(async () => {
		f = await startFixture();
		dir = mkdtempSync(join(tmpdir(), "portcullis-ssh-keys-"));
		aliceKey = makeKey(dir, "alice");
		secrets = new Map();
		await f.app.admin.createGroup(ADMIN_ACTOR, { name: "ops", forceTwoFactor: true, allowedMethods: null });
		// alice: TOTP + keyword + recovery codes, key and password.
		const alice = await addUser(f, "alice", ["ops"]);
		secrets.set("alice", await enrolTotp(f, alice));
		await enrolKeyword(f, alice);
		await addKey(f, alice, aliceKey.publicLine);
	});
	after(async () => {
		await f?.close();
		rmSync(dir, { recursive: true, force: true });
	});

	test("password + TOTP: partial success, then keyboard-interactive asks for the TOTP code", async (t) => {
		if (!requireOpenSsh(t)) return;
		const id = await addUser(f, "pat", ["ops"]);
		const secret = await enrolTotp(f, id);
		const result = await runOpenSsh({
			port: f.port,
			user: "pat",
			command: "whoami",
			preferred: "password,keyboard-interactive",
			answer: (prompt) => (PASSWORD_PROMPT.test(prompt) ? PASSWORD : TOTP_PROMPT.test(prompt) ? totpNow(f, secret) : null),
		});
		assert.equal(result.code, 0, describeRun(result));
		assert.ok(partialSuccess(result, "password"), describeRun(result));
		assert.match(result.stderr, /Authenticated to 127\.0\.0\.1 .*using "keyboard-interactive"/);
		assert.match(result.stderr, /Two-factor authentication is required by group ops\./);
		assert.equal(result.stdout, "authenticated pat 2fa=totp epoch=0\n");
		assert.equal(result.prompts.length, 2);
		assert.match(result.prompts[1] as string, TOTP_PROMPT);
	});

	test("public key + TOTP: the signed key gives partial success, never success on its own", async (t) => {
		if (!requireOpenSsh(t)) return;
		f.clock.advance(30_000);
		const secret = secrets.get("alice") as Buffer;
		const result = await runOpenSsh({
			port: f.port,
			user: "alice",
			command: "id",
			preferred: "publickey,keyboard-interactive",
			identityFile: aliceKey.file,
			answer: (prompt) => (TOTP_PROMPT.test(prompt) ? totpNow(f, secret) : null),
		});
		assert.equal(result.code, 0, describeRun(result));
		assert.ok(partialSuccess(result, "publickey"), describeRun(result));
		assert.equal(result.stdout, "authenticated alice 2fa=totp epoch=0\n");
		assert.deepEqual(result.prompts.length, 1);
	});

	test("a key alone (no keyboard-interactive allowed by the client) never gets in", async (t) => {
		if (!requireOpenSsh(t)) return;
		const before = f.channels.calls.length;
		const result = await runOpenSsh({ port: f.port, user: "alice", command: "id", preferred: "publickey", identityFile: aliceKey.file, answer: () => null });
		assert.equal(result.code, 255, describeRun(result));
		assert.ok(partialSuccess(result, "publickey"));
		assert.match(result.stderr, /Permission denied \(keyboard-interactive\)/);
		assert.equal(f.channels.calls.length, before, "nothing reached the channel layer");
	});

	test("Access Keyword: the prompt names three positions, the answer is those characters", async (t) => {
		if (!requireOpenSsh(t)) return;
		const id = await addUser(f, "kim", ["ops"]);
		await enrolKeyword(f, id);
		const result = await runOpenSsh({
			port: f.port,
			user: "kim",
			command: "id",
			preferred: "password,keyboard-interactive",
			answer: (prompt) => (PASSWORD_PROMPT.test(prompt) ? PASSWORD : KEYWORD_PROMPT.test(prompt) ? keywordAnswer(prompt) : null),
		});
		assert.equal(result.code, 0, describeRun(result));
		assert.match(result.prompts[1] as string, KEYWORD_PROMPT);
		assert.equal(result.stdout, "authenticated kim 2fa=access-keyword epoch=0\n");
	});

	test("recovery code: switch to it from the prompt (:recovery), it works once, and only once", async (t) => {
		if (!requireOpenSsh(t)) return;
		const id = await addUser(f, "rob", ["ops"]);
		await enrolTotp(f, id);
		const codes = await issueRecoveryCodes(f, id);
		const code = codes[0] as string;
		const login = () =>
			runOpenSsh({
				port: f.port,
				user: "rob",
				command: "id",
				preferred: "password,keyboard-interactive",
				answer: (prompt) => (PASSWORD_PROMPT.test(prompt) ? PASSWORD : TOTP_PROMPT.test(prompt) ? ":recovery" : RECOVERY_PROMPT.test(prompt) ? code : null),
			});
		const first = await login();
		assert.equal(first.code, 0, describeRun(first));
		assert.equal(first.stdout, "authenticated rob 2fa=recovery-code epoch=0\n");
		assert.match(first.stderr, /:recovery \(or :2\) for Recovery code/);
		const second = await login();
		assert.equal(second.code, 255, describeRun(second));
		assert.match(second.stderr, /That answer is not valid\./);
		assert.equal(second.stdout, "");
	});

	test("wrong code: re-prompted with the attempts left, then Permission denied; nothing reaches the channels", async (t) => {
		if (!requireOpenSsh(t)) return;
		const id = await addUser(f, "wes", ["ops"]);
		await enrolTotp(f, id);
		const before = f.channels.calls.length;
		const result = await runOpenSsh({
			port: f.port,
			user: "wes",
			command: "id",
			preferred: "password,keyboard-interactive",
			answer: (prompt) => (PASSWORD_PROMPT.test(prompt) ? PASSWORD : "000000"),
		});
		assert.equal(result.code, 255, describeRun(result));
		assert.match(result.stderr, /Permission denied/);
		assert.match(result.stderr, /That answer is not valid\. 2 attempts left\./);
		assert.match(result.stderr, /Too many wrong answers\./);
		assert.equal(result.prompts.filter((prompt) => TOTP_PROMPT.test(prompt)).length, 3);
		assert.equal(result.stdout, "");
		assert.equal(f.channels.calls.length, before);
		const failures = await f.app.stores.audit.query({ username: "wes", event: "second-factor.failure" });
		assert.equal(failures.length, 3, "each wrong answer counted on the shared counter");
	});

	test("replay: a TOTP code used on the web is refused on SSH, and a code used on SSH is refused on the web", async (t) => {
		if (!requireOpenSsh(t)) return;
		const id = await addUser(f, "ray", ["ops"]);
		const secret = await enrolTotp(f, id);
		// Web first.
		const code = totpNow(f, secret);
		const web = await f.app.login.submitPassword(WEB, "ray", PASSWORD);
		assert.equal(web.kind, "second-factor");
		if (web.kind !== "second-factor") return;
		assert.equal((await f.app.login.submitSecondFactor(web.attemptId, "totp", code)).kind, "authenticated");
		const replayOnSsh = await runOpenSsh({
			port: f.port,
			user: "ray",
			command: "id",
			preferred: "password,keyboard-interactive",
			answer: (prompt) => (PASSWORD_PROMPT.test(prompt) ? PASSWORD : code),
		});
		assert.equal(replayOnSsh.code, 255, describeRun(replayOnSsh));
		assert.equal(replayOnSsh.stdout, "");
		await f.app.admin.unlock(ADMIN_ACTOR, "ray");

		// Then SSH first, web second.
		f.clock.advance(30_000);
		const fresh = totpNow(f, secret);
		const ssh = await runOpenSsh({
			port: f.port,
			user: "ray",
			command: "id",
			preferred: "password,keyboard-interactive",
			answer: (prompt) => (PASSWORD_PROMPT.test(prompt) ? PASSWORD : fresh),
		});
		assert.equal(ssh.code, 0, describeRun(ssh));
		const webAgain = await f.app.login.submitPassword(WEB, "ray", PASSWORD);
		assert.equal(webAgain.kind, "second-factor");
		if (webAgain.kind !== "second-factor") return;
		assert.equal((await f.app.login.submitSecondFactor(webAgain.attemptId, "totp", fresh)).kind, "invalid");
	});

	test("forced but not enrolled: refused during authentication with the console URL", async (t) => {
		if (!requireOpenSsh(t)) return;
		await addUser(f, "newbie", ["ops"]);
		const result = await runOpenSsh({
			port: f.port,
			user: "newbie",
			command: "id",
			preferred: "password,keyboard-interactive",
			answer: (prompt) => (PASSWORD_PROMPT.test(prompt) ? PASSWORD : null),
		});
		assert.equal(result.code, 255, describeRun(result));
		assert.match(result.stderr, /required by group ops\. You have not set up a second factor yet\. Log in to http:\/\/127\.0\.0\.1:8080 to set one up/);
		assert.match(result.stderr, /Permission denied/);
		assert.equal(result.stdout, "");
		assert.equal(result.prompts.length, 1, describeRun(result));
	});

	test("a user no policy forces and without a factor logs in with the password alone", async (t) => {
		if (!requireOpenSsh(t)) return;
		await addUser(f, "casual");
		const result = await runOpenSsh({
			port: f.port,
			user: "casual",
			command: "id",
			preferred: "password,keyboard-interactive",
			answer: (prompt) => (PASSWORD_PROMPT.test(prompt) ? PASSWORD : null),
		});
		assert.equal(result.code, 0, describeRun(result));
		assert.ok(!partialSuccess(result, "password"));
		assert.match(result.stderr, /Authenticated to 127\.0\.0\.1 .*using "password"/);
		assert.equal(result.stdout, "authenticated casual 2fa=none epoch=0\n");
	});

	test("the SSH prompt follows the method of the last web login (keyword, then TOTP again)", async (t) => {
		if (!requireOpenSsh(t)) return;
		const id = await addUser(f, "wendy", ["ops"]);
		const secret = await enrolTotp(f, id);
		await enrolKeyword(f, id);
		const sshPrompts = async () => {
			const result = await runOpenSsh({
				port: f.port,
				user: "wendy",
				command: "id",
				preferred: "password,keyboard-interactive",
				answer: (prompt) =>
					PASSWORD_PROMPT.test(prompt) ? PASSWORD : TOTP_PROMPT.test(prompt) ? totpNow(f, secret) : KEYWORD_PROMPT.test(prompt) ? keywordAnswer(prompt) : null,
			});
			assert.equal(result.code, 0, describeRun(result));
			return result;
		};
		// No web login yet: the fixed order puts TOTP first.
		assert.match((await sshPrompts()).prompts[1] as string, TOTP_PROMPT);

		// Web login with the access keyword → SSH now asks for the keyword.
		const web = await f.app.login.submitPassword(WEB, "wendy", PASSWORD);
		assert.equal(web.kind, "second-factor");
		if (web.kind !== "second-factor") return;
		const challenge = await f.app.login.startChallenge(web.attemptId, "access-keyword");
		assert.equal(challenge.kind, "prompt");
		if (challenge.kind !== "prompt") return;
		const answer = keywordAnswer(`${challenge.prompt}:`);
		assert.equal((await f.app.login.submitSecondFactor(web.attemptId, "access-keyword", answer)).kind, "authenticated");
		const keywordRun = await sshPrompts();
		assert.match(keywordRun.prompts[1] as string, KEYWORD_PROMPT);
		assert.match(keywordRun.stdout, /2fa=access-keyword/);
		assert.match(keywordRun.stderr, /Using Access keyword\. To switch, type :totp \(or :2\) for Authenticator app \(TOTP\)\./);

		// Web login with TOTP → back to TOTP.
		f.clock.advance(30_000);
		const web2 = await f.app.login.submitPassword(WEB, "wendy", PASSWORD);
		if (web2.kind !== "second-factor") return assert.fail(web2.kind);
		assert.equal((await f.app.login.submitSecondFactor(web2.attemptId, "totp", totpNow(f, secret))).kind, "authenticated");
		f.clock.advance(30_000);
		assert.match((await sshPrompts()).prompts[1] as string, TOTP_PROMPT);
	});

	test("method switching from the prompt: ':keyword' and ':2' re-prompt without charging a failure", async (t) => {
		if (!requireOpenSsh(t)) return;
		const id = await addUser(f, "sam", ["ops"]);
		await enrolTotp(f, id);
		await enrolKeyword(f, id);
		let switched = 0;
		const result = await runOpenSsh({
			port: f.port,
			user: "sam",
			command: "id",
			preferred: "password,keyboard-interactive",
			answer: (prompt) => {
				if (PASSWORD_PROMPT.test(prompt)) return PASSWORD;
				if (TOTP_PROMPT.test(prompt)) return ":keyword";
				if (KEYWORD_PROMPT.test(prompt)) {
					switched += 1;
					// First keyword prompt: an unknown switch command (reported, not charged), then the answer.
					return switched === 1 ? ":bogus" : keywordAnswer(prompt);
				}
				return null;
			},
		});
		assert.equal(result.code, 0, describeRun(result));
		assert.match(result.stderr, /There is no method ":bogus" for your account\./);
		assert.equal(result.stdout, "authenticated sam 2fa=access-keyword epoch=0\n");
		assert.equal((await f.app.stores.audit.query({ username: "sam", event: "second-factor.failure" })).length, 0);

		const byNumber = await runOpenSsh({
			port: f.port,
			user: "sam",
			command: "id",
			preferred: "password,keyboard-interactive",
			answer: (prompt) =>
				PASSWORD_PROMPT.test(prompt) ? PASSWORD : TOTP_PROMPT.test(prompt) ? ":2" : KEYWORD_PROMPT.test(prompt) ? keywordAnswer(prompt) : null,
		});
		assert.equal(byNumber.code, 0, describeRun(byNumber));
		assert.match(byNumber.stdout, /2fa=access-keyword/);
	});
});
