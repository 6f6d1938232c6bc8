/**
 * The gateway on PostgreSQL (the production engine): migration 0002 and the key store, OpenSSH
 * key + TOTP, the cross-channel replay guard and the forced-enrolment refusal, and live policy.
 * PostgreSQL at 127.0.0.1:5432 is required (createTestApp fails, never skips, when it is down).
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { makeKey, type TestKey } from "../helpers/keys.ts";
import { RawSsh, requireOpenSsh, runOpenSsh } from "../helpers/ssh-client.ts";
import { ADMIN_ACTOR, WEB } from "../helpers/test-app.ts";
import { addKey, addUser, enrolTotp, PASSWORD, startFixture, totpNow, type Fixture } from "./auth-fixtures.ts";

const TOTP_PROMPT = /\) Authenticator app code \(TOTP\): $/;

describe("SSH gateway on PostgreSQL", () => {
	let f: Fixture;
	let dir: string;
	let key: TestKey;
	let secret: Buffer;
	let aliceId: string;

	before(async () => {
		f = await startFixture({ engine: "postgres", config: { ssh: { live_check_seconds: 1 } } });
		dir = mkdtempSync(join(tmpdir(), "portcullis-pg-ssh-"));
		key = makeKey(dir, "alice");
		await f.app.admin.createGroup(ADMIN_ACTOR, { name: "ops", forceTwoFactor: true, allowedMethods: null });
		aliceId = await addUser(f, "alice", ["ops"]);
		secret = await enrolTotp(f, aliceId);
		await addKey(f, aliceId, key.publicLine);
	});
	after(async () => {
		await f?.close();
		rmSync(dir, { recursive: true, force: true });
	});

	test("key store round trip on PostgreSQL", async () => {
		const [row] = await f.keys.list(aliceId);
		assert.equal(row?.algo, "ssh-ed25519");
		assert.ok(row && (await f.keys.findForUser(aliceId, Buffer.from(row.public_key, "base64"))));
		assert.equal(typeof row?.created_at, "number");
	});

	test("OpenSSH key + TOTP, then the same code is refused on the web (one consumption across channels)", async (t) => {
		if (!requireOpenSsh(t)) return;
		const code = totpNow(f, secret);
		const result = await runOpenSsh({
			port: f.port,
			user: "alice",
			command: "id",
			preferred: "publickey,keyboard-interactive",
			identityFile: key.file,
			answer: (prompt) => (TOTP_PROMPT.test(prompt) ? code : null),
		});
		assert.equal(result.code, 0, result.stderr);
		assert.ok(result.stderr.includes('Authenticated using "publickey" with partial success.'));
		assert.equal(result.stdout, "authenticated alice 2fa=totp epoch=0\n");
		const web = await f.app.login.submitPassword(WEB, "alice", PASSWORD);
		if (web.kind !== "second-factor") return assert.fail(web.kind);
		assert.equal((await f.app.login.submitSecondFactor(web.attemptId, "totp", code)).kind, "invalid");
	});

	test("forced but not enrolled: refused with the console URL", async (t) => {
		if (!requireOpenSsh(t)) return;
		await addUser(f, "nils", ["ops"]);
		const result = await runOpenSsh({
			port: f.port,
			user: "nils",
			command: "id",
			preferred: "password,keyboard-interactive",
			answer: (prompt) => (/password: $/.test(prompt) ? PASSWORD : null),
		});
		assert.equal(result.code, 255);
		assert.match(result.stderr, /Log in to http:\/\/127\.0\.0\.1:8080 to set one up/);
	});

	test("live policy: disabling the user closes the connection", async () => {
		f.clock.advance(30_000);
		const raw = await RawSsh.connect(f.port);
		raw.publicKey("alice", key.parsed, { sign: true });
		assert.deepEqual(await raw.next(), { type: "failure", methods: ["keyboard-interactive"], partial: true });
		raw.keyboard("alice");
		assert.equal((await raw.next()).type, "info-request");
		raw.respond([totpNow(f, secret)]);
		assert.deepEqual(await raw.next(), { type: "success" });
		await f.app.admin.setDisabled(ADMIN_ACTOR, "alice", true);
		assert.ok(await raw.waitClosed(30_000));
	});
});
