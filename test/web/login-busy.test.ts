/**
 * "Busy" on the web (docs/decisions.md "Lockout accounting"): when answers still being checked
 * fill the account's second-factor budget, the login answers 429 with Retry-After and the same
 * page, counts nothing and locks nothing; the same attempt goes through once a slot is free.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Reservation } from "../../src/storage/user-store.ts";
import { ADMIN_ACTOR, Browser, createWebTest, decodeHtml, enrolTotp, totpCodeAt } from "./helpers.ts";

for (const engine of ["sqlite", "postgres"] as const) {
	test(`web second factor while the account is busy: 429, Retry-After, nothing counted; then the same attempt logs in (${engine})`, async () => {
		const w = await createWebTest({ engine, config: { security: { busy_wait_ms: 0 } } });
		try {
			const user = await w.app.admin.createUser(ADMIN_ACTOR, { username: "bianca", password: "correct horse battery", isAdmin: false, groups: [] });
			const secret = await enrolTotp(w, user.id);
			w.clock.advance(30_000);
			const browser = new Browser(w.server);
			const first = await browser.login("bianca");
			assert.equal(first.statusCode, 303);
			await browser.get("/login/2fa?method=totp");
			// Five answers are being checked elsewhere (other nodes, other tabs).
			const policy = { maxFailures: 5, windowMs: 900_000, lockMs: 900_000, maxLockMs: 86_400_000, leaseMs: 300_000 };
			const held: Reservation[] = [];
			for (let n = 0; n < 5; n++) {
				const reserved = await w.app.stores.users.reserveAttempt(user.id, "tfa", policy);
				if (reserved.kind === "ok") held.push(reserved.reservation);
			}
			assert.equal(held.length, 5);
			const busy = await browser.post("/login/2fa", { method: "totp", code: totpCodeAt(secret, w.clock.now().getTime()) });
			assert.equal(busy.statusCode, 429);
			assert.equal(busy.headers["retry-after"], "2");
			assert.match(decodeHtml(busy.body), /Too many sign-ins to this account are being checked right now\. Try again in a moment\./);
			assert.doesNotMatch(busy.body, /attempts? left|locked/i);
			assert.equal((await w.app.stores.audit.query({ event: "second-factor.busy", username: "bianca" })).length, 1);
			const row = (await w.app.stores.users.findById(user.id))!;
			assert.deepEqual([Number(row.tfa_failures), Number(row.tfa_locked_until)], [0, 0], "busy is neither a failure nor a lock");
			await w.app.stores.users.releaseAttempt(held.pop()!, policy);
			const done = await browser.post("/login/2fa", { method: "totp", code: totpCodeAt(secret, w.clock.now().getTime()) });
			assert.equal(done.statusCode, 303, done.body.slice(0, 300));
		} finally {
			await w.close();
		}
	});
}
