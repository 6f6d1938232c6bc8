/**
 * Staged 2FA rollout on the SSH gateway with the real OpenSSH client: before the enrolment
 * deadline a forced user without a factor gets one keyboard-interactive notice line inside
 * userauth (partial success, then an INFO_REQUEST without prompts) and the login continues;
 * after the deadline the same login is refused as today.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { makeKey, type TestKey } from "../helpers/keys.ts";
import { requireOpenSsh, runOpenSsh, type OpenSshResult } from "../helpers/ssh-client.ts";
import { ADMIN_ACTOR } from "../helpers/test-app.ts";
import { addKey, addUser, PASSWORD, startFixture, type Fixture } from "./auth-fixtures.ts";

const PASSWORD_PROMPT = /'s password: $/;
const DAY = 86_400_000;

function describeRun(result: OpenSshResult): string {
	return JSON.stringify(
		{ code: result.code, stdout: result.stdout, prompts: result.prompts, stderr: result.stderr.split("\n").filter((line) => !line.startsWith("debug")) },
		null,
		1,
	);
}

for (const engine of ["sqlite", "postgres"] as const)
	describe(`staged rollout nudge over OpenSSH (${engine})`, () => {
		let f: Fixture;
		let dir: string;
		let key: TestKey;

		before(async () => {
			f = await startFixture({ engine });
			dir = mkdtempSync(join(tmpdir(), "portcullis-rollout-ssh-"));
			key = makeKey(dir, "nina");
			const deadline = f.clock.now().getTime() + 5 * DAY;
			await f.app.admin.createGroup(ADMIN_ACTOR, { name: "ops", forceTwoFactor: true, allowedMethods: null, enrolmentDeadline: deadline });
			const nina = await addUser(f, "nina", ["ops"]);
			await addKey(f, nina, key.publicLine);
		});
		after(async () => {
			await f?.close();
			rmSync(dir, { recursive: true, force: true });
		});

		const password = () =>
			runOpenSsh({
				port: f.port,
				user: "nina",
				command: "id",
				preferred: "password,keyboard-interactive",
				answer: (prompt) => (PASSWORD_PROMPT.test(prompt) ? PASSWORD : null),
			});

		test("before the deadline: one notice line with the days left, then the login continues (password and public key)", async (t) => {
			if (!requireOpenSsh(t)) return;
			const result = await password();
			assert.equal(result.code, 0, describeRun(result));
			assert.ok(result.stderr.includes('Authenticated using "password" with partial success.'), describeRun(result));
			assert.match(result.stderr, /Two-factor authentication is required by group ops\. Set up a second factor at \S+\/account within 5 days/);
			assert.match(result.stderr, /Authenticated to 127\.0\.0\.1 .*using "keyboard-interactive"/);
			assert.equal(result.stdout, "authenticated nina 2fa=none epoch=0\n");
			assert.equal(result.prompts.length, 1, "only the password was asked: the notice has no prompt");

			const withKey = await runOpenSsh({
				port: f.port,
				user: "nina",
				command: "id",
				preferred: "publickey,keyboard-interactive",
				identityFile: key.file,
				answer: () => null,
			});
			assert.equal(withKey.code, 0, describeRun(withKey));
			assert.match(withKey.stderr, /within 5 days/);
			assert.equal(withKey.stdout, "authenticated nina 2fa=none epoch=0\n");
			assert.equal(withKey.prompts.length, 0);

			// Scripts (BatchMode=yes, as Ansible and rsync loops run) keep working during the rollout:
			// the notice has no prompt, so OpenSSH answers it without asking anyone.
			const batch = await runOpenSsh({
				port: f.port,
				user: "nina",
				command: "id",
				preferred: "publickey,keyboard-interactive",
				identityFile: key.file,
				extraArgs: ["-o", "BatchMode=yes"],
				answer: () => null,
			});
			assert.equal(batch.code, 0, describeRun(batch));
			assert.equal(batch.stdout, "authenticated nina 2fa=none epoch=0\n");

			const audit = await f.app.stores.audit.query({ username: "nina", event: "login.success" });
			assert.ok(
				audit.some((row) => (row.detail ?? "").includes("enrolment-pending")),
				"the nudged login is audited as enrolment pending",
			);
		});

		test("after the deadline: refused as without a deadline", async (t) => {
			if (!requireOpenSsh(t)) return;
			f.clock.advance(5 * DAY);
			const result = await password();
			assert.notEqual(result.code, 0, describeRun(result));
			assert.match(result.stderr, /You have not set up a second factor yet/);
			assert.equal(result.stdout, "");
		});
	});
