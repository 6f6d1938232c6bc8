/**
 * One-time password links, on both engines: a link sets the password once (two uses at
 * the same time: one wins), expires, is replaced by a newer one, does nothing for a disabled
 * account, and ends the user's sessions; the change and its audit event commit together.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { verifyPassword } from "../../src/crypto/password-hash.ts";
import { ADMIN_ACTOR, createTestApp, type Engine, type TestApp } from "../helpers/test-app.ts";

const tokenOf = (link: string) => link.slice(link.lastIndexOf("/") + 1);

for (const engine of ["sqlite", "postgres"] as Engine[]) {
	describe(`password links (${engine})`, () => {
		let t: TestApp;

		before(async () => {
			t = await createTestApp({ engine });
			await t.app.admin.createUser(ADMIN_ACTOR, { username: "lena", password: "first long password", isAdmin: false, groups: [] });
		});
		after(async () => {
			if (t) await t.cleanup();
		});

		const passwordIs = async (password: string) => {
			const user = await t.app.stores.users.findByUsername("lena");
			return verifyPassword(user!.password_hash!, password);
		};

		test("two uses of one link at once: exactly one sets the password; the link is then gone", async () => {
			const { link } = await t.app.admin.issuePasswordLink(ADMIN_ACTOR, "lena");
			const token = tokenOf(link);
			assert.equal(await t.app.admin.passwordLinkUser(token), "lena");
			const results = await Promise.all([
				t.app.admin.setPasswordByLink(token, "second long password", "192.0.2.1"),
				t.app.admin.setPasswordByLink(token, "third long password!", "192.0.2.2"),
			]);
			assert.equal(results.filter((result) => result.kind === "changed").length, 1, JSON.stringify(results));
			assert.equal(await t.app.admin.passwordLinkUser(token), null);
			assert.ok((await passwordIs("second long password")) !== (await passwordIs("third long password!")));
			assert.equal(await passwordIs("first long password"), false);
			const events = await t.app.stores.audit.query({ username: "lena", event: "user.password-changed" });
			assert.equal(events.length, 1);
		});

		test("a short password is refused and leaves the link usable; a newer link replaces the older", async () => {
			const older = tokenOf((await t.app.admin.issuePasswordLink(ADMIN_ACTOR, "lena")).link);
			await assert.rejects(t.app.admin.setPasswordByLink(older, "short", "192.0.2.1"), { code: "ERR_INPUT" });
			assert.equal(await t.app.admin.passwordLinkUser(older), "lena");
			const newer = tokenOf((await t.app.admin.issuePasswordLink(ADMIN_ACTOR, "lena")).link);
			assert.deepEqual(await t.app.admin.setPasswordByLink(older, "fourth long password", "192.0.2.1"), { kind: "refused" });
			assert.equal(await t.app.admin.passwordLinkUser(newer), "lena");
		});

		test("an expired link and a disabled account's link are refused; garbage tokens are refused", async () => {
			const token = tokenOf((await t.app.admin.issuePasswordLink(ADMIN_ACTOR, "lena")).link);
			await t.app.admin.setDisabled(ADMIN_ACTOR, "lena", true);
			assert.deepEqual(await t.app.admin.setPasswordByLink(token, "fifth long password!", "192.0.2.1"), { kind: "refused" });
			await t.app.admin.setDisabled(ADMIN_ACTOR, "lena", false);
			t.clock.advance(8 * 86_400_000);
			assert.deepEqual(await t.app.admin.setPasswordByLink(token, "fifth long password!", "192.0.2.1"), { kind: "refused" });
			assert.equal(await passwordIs("fifth long password!"), false);
			assert.equal(await t.app.admin.passwordLinkUser("x"), null);
			assert.equal(await t.app.admin.passwordLinkUser("A".repeat(43)), null);
		});
	});
}
