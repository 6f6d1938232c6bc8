/**
 * The SSH "remember" window with the real OpenSSH client, on SQLite and PostgreSQL: off by
 * default (every connection asks); once an admin allows it, a second connection from the same
 * address within the window gets no second-factor prompt (audited as remembered); each
 * revocation (a policy change, a password change, a factor removed, the user's "forget", the
 * window's end) makes the next connection ask again.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { requireOpenSsh, runOpenSsh, type OpenSshResult } from "../helpers/ssh-client.ts";
import { ADMIN_ACTOR } from "../helpers/test-app.ts";
import { addUser, enrolTotp, PASSWORD, startFixture, totpNow, type Fixture } from "./auth-fixtures.ts";

const PASSWORD_PROMPT = /'s password: $/;
const TOTP_PROMPT = /\) Authenticator app code \(TOTP\): $/;

function describeRun(result: OpenSshResult): string {
	return JSON.stringify(
		{ code: result.code, stdout: result.stdout, prompts: result.prompts, stderr: result.stderr.split("\n").filter((line) => !line.startsWith("debug")) },
		null,
		1,
	);
}

for (const engine of ["sqlite", "postgres"] as const)
	describe(`SSH remember window over OpenSSH (${engine})`, () => {
		let f: Fixture;
		let userId: string;
		let secret: Buffer;

		before(async () => {
			f = await startFixture({ engine });
			await f.app.admin.createGroup(ADMIN_ACTOR, { name: "ops", forceTwoFactor: true, allowedMethods: null });
			userId = await addUser(f, "remy", ["ops"]);
			secret = await enrolTotp(f, userId);
		});
		after(async () => {
			await f?.close();
		});

		/** One connection; returns the run and whether the TOTP code was asked. */
		async function connect(): Promise<{ result: OpenSshResult; asked: boolean }> {
			f.clock.advance(30_000); // a fresh TOTP step: a code is single use
			const result = await runOpenSsh({
				port: f.port,
				user: "remy",
				command: "id",
				preferred: "password,keyboard-interactive",
				answer: (prompt) => (PASSWORD_PROMPT.test(prompt) ? PASSWORD : TOTP_PROMPT.test(prompt) ? totpNow(f, secret) : null),
			});
			assert.equal(result.code, 0, describeRun(result));
			return { result, asked: result.prompts.some((prompt) => TOTP_PROMPT.test(prompt)) };
		}

		test("off by default: every connection asks for the second factor", async (t) => {
			if (!requireOpenSsh(t)) return;
			assert.equal((await connect()).asked, true);
			assert.equal((await connect()).asked, true, "no window, no grant");
			assert.equal((await f.app.stores.rememberedGrants.listLive(userId)).length, 0);
		});

		test("allowed: the second connection from the same address is not asked (audited); revocations make it ask again", async (t) => {
			if (!requireOpenSsh(t)) return;
			await f.app.admin.updateSettings(ADMIN_ACTOR, { rememberMinutes: 60 });
			assert.equal((await connect()).asked, true, "the first connection proves the factor");
			const second = await connect();
			assert.equal(second.asked, false, describeRun(second.result));
			assert.equal(second.result.stdout, "authenticated remy 2fa=totp epoch=0\n", "the connection carries the remembered method");
			const skips = await f.app.stores.audit.query({ username: "remy", event: "login.success" });
			const skip = skips.find((row) => (row.detail ?? "").includes('"secondFactor":"remembered"'));
			assert.ok(skip, "the skip is audited");
			assert.match(skip.detail ?? "", /"rememberedFrom":"\d{4}-\d{2}-\d{2}T[^"]+","rememberedSource":"127\.0\.0\.1"/);

			// A policy change affecting the user (here: a new group for them) revokes the grant at once.
			await f.app.admin.createGroup(ADMIN_ACTOR, { name: "dev", forceTwoFactor: false, allowedMethods: null });
			await f.app.admin.addMember(ADMIN_ACTOR, "dev", "remy");
			assert.equal((await connect()).asked, true, "policy change: asked again");
			assert.equal((await connect()).asked, false, "remembered again");

			// A password change bumps the session epoch: the grant is dead.
			await f.app.admin.setPassword(ADMIN_ACTOR, "remy", PASSWORD, false);
			assert.equal((await connect()).asked, true, "password change: asked again");
			assert.equal((await connect()).asked, false);

			// The user forgets the grant on the account page.
			const grants = await f.app.stores.rememberedGrants.listLive(userId);
			assert.equal(grants.length, 1);
			assert.equal(await f.app.enrollment.forgetRememberedGrant(userId, grants[0]?.id ?? ""), true);
			assert.equal((await connect()).asked, true, "forgotten: asked again");

			// The window ends.
			f.clock.advance(61 * 60_000);
			assert.equal((await connect()).asked, true, "expired: asked again");

			// A group that sets 0 switches it off for its members although the global window is open.
			await f.app.admin.updateGroup(ADMIN_ACTOR, "ops", { rememberMinutes: 0 });
			assert.equal((await connect()).asked, true);
			assert.equal((await connect()).asked, true, "the group's 0 wins over the global window");
		});
	});
