import assert from "node:assert/strict";
import { test } from "node:test";
import { runMaintenance } from "../../src/app/maintenance.ts";
import { ADMIN_ACTOR, createTestApp } from "../helpers/test-app.ts";

for (const engine of ["sqlite", "postgres"] as const) {
	test(`maintenance removes expired sessions, attempts and abandoned pending factors, and nothing live (${engine})`, async () => {
		const t = await createTestApp({ engine });
		try {
			const user = await t.app.admin.createUser(ADMIN_ACTOR, { username: "mia", password: "a long password", isAdmin: false, groups: [] });
			const old = await t.app.stores.sessions.create({
				userId: user.id,
				attemptId: null,
				state: "full",
				secondFactorMethod: null,
				stepUpAt: null,
				sessionEpoch: 0,
				source: "x",
				ttlMs: 60_000,
			});
			await t.app.stores.attempts.create({ userId: user.id, channel: "web", purpose: "login", source: "x", ttlMs: 60_000, required: false });
			const pending = await t.app.stores.factors.insert(
				{ userId: user.id, method: "totp", label: "p", status: "pending", secretEnc: null },
				{ origin: null, generation: 0, linkHash: null },
			);
			t.clock.advance(25 * 3600_000);
			const live = await t.app.stores.sessions.create({
				userId: user.id,
				attemptId: null,
				state: "full",
				secondFactorMethod: null,
				stepUpAt: null,
				sessionEpoch: 0,
				source: "x",
				ttlMs: 60_000,
			});
			await runMaintenance(t.app);
			assert.equal(await t.app.stores.sessions.find(old.token), undefined);
			assert.ok(await t.app.stores.sessions.find(live.token));
			assert.equal(await t.app.stores.factors.get(pending!), null);
			const attempts = await t.app.db.selectFrom("login_attempts").select("id").execute();
			assert.equal(attempts.length, 0);
		} finally {
			await t.cleanup();
		}
	});
}
