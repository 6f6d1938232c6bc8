/**
 * The Access Keyword is not enabled on a NEW installation (docs/decisions.md: a knowledge factor,
 * like the password), while an installation that existed before that choice keeps what it had:
 * migration 0005 writes the old defaults down for a database with users and no stored settings.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { sql } from "kysely";
import { createPortcullis } from "../../src/app/portcullis.ts";
import { FakeClock } from "../../src/core/clock.ts";
import type { DatabaseTarget } from "../../src/storage/open-database.ts";
import { ADMIN_ACTOR, createPostgresDatabase, testConfig } from "../helpers/test-app.ts";

for (const engine of ["sqlite", "postgres"] as const) {
	test(`keyword default (${engine}): off on a new installation, kept on an existing one`, async () => {
		const dir = mkdtempSync(join(tmpdir(), "portcullis-kwdefault-"));
		let drop: (() => Promise<void>) | null = null;
		let target: DatabaseTarget = { kind: "sqlite", file: join(dir, "portcullis.sqlite") };
		if (engine === "postgres") {
			const created = await createPostgresDatabase();
			drop = created.drop;
			target = { kind: "postgres", url: created.url };
		}
		const options = { clock: new FakeClock(Date.UTC(2026, 11, 2, 9)), database: target, secretKey: randomBytes(32) };
		try {
			let app = await createPortcullis(testConfig(dir), options);
			assert.deepEqual((await app.stores.settings.getTwoFactor()).enabledMethods, ["totp", "recovery-code"], "new installation");

			// Turn it into a database as it was before migration 0005: users, no stored 2FA settings.
			await app.admin.createUser(ADMIN_ACTOR, { username: "old-timer", password: "a long password", isAdmin: false, groups: [] });
			await sql`DELETE FROM settings WHERE key = 'two_factor'`.execute(app.db);
			await sql`DROP TABLE keyword_challenges`.execute(app.db);
			await sql`DELETE FROM kysely_migration WHERE name = '0005-keyword-challenges'`.execute(app.db);
			await app.close();

			app = await createPortcullis(testConfig(dir), options);
			try {
				assert.deepEqual(
					(await app.stores.settings.getTwoFactor()).enabledMethods,
					["totp", "access-keyword", "recovery-code"],
					"existing installation keeps the keyword",
				);
			} finally {
				await app.close();
			}
		} finally {
			if (drop) await drop();
			rmSync(dir, { recursive: true, force: true });
		}
	});
}
