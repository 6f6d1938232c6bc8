/**
 * `portcullis backup` and `portcullis restore` (src/app/backup.ts, src/storage/sqlite-backup.ts;
 * docs/operations.md "Backup and restore"), with the real CLI: a backup taken while the
 * installation is open, the data directory wiped, a restore with the secret key kept apart, and a
 * real web login with TOTP on the restored installation. Beside it the refusals: a restore without
 * the key, with the wrong key, or into a non-empty data directory leaves nothing behind; a backup
 * never overwrites a file; a PostgreSQL deployment gets the pg_dump advice and exit 1.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import { webServices } from "../../src/app/web-services.ts";
import { totpCodeAt } from "../../src/methods/totp/totp-method.ts";
import { buildWebServer } from "../../src/web/server.ts";
import { base32Decode } from "../helpers/base32.ts";
import { webLogin } from "../helpers/login-clients.ts";
import { ADMIN_ACTOR } from "../helpers/test-app.ts";
import { cleanEnv, openApp, runCli } from "./run-cli.ts";

const PASSWORD = "correct horse battery staple";
const STEP_MS = 30_000;

describe("backup, wipe, restore, log in with TOTP (SQLite)", () => {
	let root: string;
	let data: string;
	let secret: Buffer;
	const backupFile = () => join(root, "portcullis-backup.sqlite");
	const keptKey = () => join(root, "apart", "secret.key");

	before(async () => {
		root = mkdtempSync(join(tmpdir(), "portcullis-backup-"));
		data = join(root, "data");
		const app = await openApp(data);
		try {
			const user = await app.admin.createUser(ADMIN_ACTOR, { username: "alice", password: PASSWORD, isAdmin: false, groups: [] });
			const context = { channel: "web", source: "test", duringLogin: false } as const;
			const begin = await app.enrollment.begin(user.id, "totp", "phone", {}, context);
			if (begin.kind !== "pending") throw new Error("TOTP enrolment did not start");
			secret = base32Decode(begin.display.secret ?? "");
			// Enrolled with the previous step's code, so the current step is free for the login after the restore.
			const done = await app.enrollment.complete(user.id, begin.factorId, { code: totpCodeAt(secret, Date.now() - STEP_MS) }, context);
			assert.equal(done.kind, "active");
			await app.admin.updateSettings(ADMIN_ACTOR, { forceTwoFactor: true });

			// Online: the backup runs while this installation holds the database open.
			const result = await runCli(["backup", backupFile(), "--data", data]);
			assert.equal(result.code, 0, result.stderr);
			assert.match(result.stdout, /^Backup written: .*portcullis-backup\.sqlite \(\d+ bytes, \d+ migrations, integrity checked\)$/m);
			assert.match(result.stdout, /The secret key is NOT in the backup\. It lives in .*data\/secret\.key\./);
			assert.match(result.stdout, /Back it up apart/);
		} finally {
			await app.close();
		}
		assert.equal(statSync(backupFile()).mode & 0o777, 0o600, "the backup holds password hashes and sealed secrets: private");
		assert.deepEqual(
			readdirSync(root).filter((name) => name.includes("partial")),
			[],
			"no temporary file left beside the backup",
		);
		// The key is backed up apart, then the installation is lost.
		mkdirSync(join(root, "apart"));
		copyFileSync(join(data, "secret.key"), keptKey());
		rmSync(data, { recursive: true, force: true });
	});
	after(() => rmSync(root, { recursive: true, force: true }));

	test("a backup never overwrites an existing file", async () => {
		const existing = join(root, "existing.sqlite");
		writeFileSync(existing, "keep me");
		const result = await runCli(["backup", existing, "--data", join(root, "other")]);
		assert.equal(result.code, 1);
		assert.match(result.stderr, /^portcullis: there is no database at/);
		mkdirSync(join(root, "other-live"));
		const app = await openApp(join(root, "other-live"));
		await app.close();
		const refused = await runCli(["backup", existing, "--data", join(root, "other-live")]);
		assert.equal(refused.code, 1);
		assert.match(refused.stderr, /^portcullis: .*existing\.sqlite already exists; refusing to overwrite it\n$/);
	});

	test("refused restores keep nothing: no key, the wrong key, a non-empty data directory", async () => {
		const target = join(root, "refused");
		const noKey = await runCli(["restore", backupFile(), "--data", target]);
		assert.equal(noKey.code, 1);
		assert.match(noKey.stderr, /^portcullis: no secret key: pass --key-file/);
		assert.equal(existsSync(target), false, "the data directory it made is gone again");

		const wrongKey = join(root, "wrong.key");
		writeFileSync(wrongKey, `${randomBytes(32).toString("base64")}\n`);
		const wrong = await runCli(["restore", backupFile(), "--data", target, "--key-file", wrongKey]);
		assert.equal(wrong.code, 1);
		assert.match(wrong.stderr, /does not verify with this secret key .*: the wrong key, or an altered backup; nothing was kept\n$/);
		assert.equal(existsSync(target), false);

		mkdirSync(target);
		writeFileSync(join(target, "notes.txt"), "someone's files");
		const busy = await runCli(["restore", backupFile(), "--data", target, "--key-file", keptKey()]);
		assert.equal(busy.code, 1);
		assert.match(busy.stderr, /is not empty \(notes\.txt\); restore only into an empty one/);
		assert.deepEqual(readdirSync(target), ["notes.txt"]);
	});

	test("restore into the wiped data directory with the key kept apart; alice logs in with TOTP on the web", async () => {
		const result = await runCli(["restore", backupFile(), "--data", data, "--key-file", keptKey()]);
		assert.equal(result.code, 0, result.stderr);
		assert.match(
			result.stdout,
			/^Restored .*portcullis\.sqlite \(1 users; the audit chain of \d+ events verifies with the secret key in .*data\/secret\.key\)\.$/m,
		);
		assert.equal(statSync(join(data, "secret.key")).mode & 0o777, 0o600);
		// A second restore over it is refused (the installation now lives there).
		const again = await runCli(["restore", backupFile(), "--data", data, "--key-file", keptKey()]);
		assert.equal(again.code, 1);

		const app = await openApp(data);
		const web = await buildWebServer(webServices(app), { logger: false });
		try {
			await web.listen({ host: "127.0.0.1", port: 0 });
			const base = `http://127.0.0.1:${(web.server.address() as AddressInfo).port}`;
			// Negative twin first: the right password and a wrong code are refused.
			const refused = await webLogin(base, "alice", PASSWORD, () => (Number(totpCodeAt(secret, Date.now())) ^ 1).toString().padStart(6, "0"));
			assert.equal(refused.ok, false);
			const login = await webLogin(base, "alice", PASSWORD, () => totpCodeAt(secret, Date.now()), ["/account"]);
			assert.ok(login.ok, login.error);
			assert.equal((await app.stores.audit.verify()).ok, true);
		} finally {
			await web.close();
			await app.close();
		}
	});
});

test("PostgreSQL: backup and restore print the pg_dump advice and exit 1", async () => {
	const env = cleanEnv({ PORTCULLIS_DATABASE_URL: "postgres://portcullis@127.0.0.1:5432/portcullis" });
	const dir = mkdtempSync(join(tmpdir(), "portcullis-backup-pg-"));
	try {
		for (const args of [
			["backup", join(dir, "b.sqlite")],
			["restore", join(dir, "b.sqlite")],
		]) {
			const result = await runCli([...args, "--data", join(dir, "data")], { env });
			assert.equal(result.code, 1, args[0]);
			assert.equal(result.stdout, "");
			assert.match(result.stderr, /^portcullis: this deployment uses PostgreSQL .*pg_dump --format=custom.*pg_restore.*back it up apart\n$/);
		}
		assert.deepEqual(readdirSync(dir), [], "nothing written");
	} finally {
		rmSync(dir, { recursive: true, force: true });
	}
});
