/**
 * The audit log's event filter and its pages, on both engines: a name finds that event,
 * a name without its tail finds every "name.*" event, a trailing "*" is a plain prefix, "_" and "%"
 * stay literal; `afterId` gives the page above an id, newest first.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createTestApp, type Engine, type TestApp } from "../helpers/test-app.ts";
import { eventMatch } from "../../src/storage/audit-log.ts";

for (const engine of ["sqlite", "postgres"] as Engine[]) {
	describe(`audit query (${engine})`, () => {
		let t: TestApp;
		const names = ["login.success", "login.first-factor", "logout", "login", "loginx.other", "user.password-change", "user.password-changed", "a_b.c", "axb.c"];

		before(async () => {
			t = await createTestApp({ engine });
			for (const event of names) await t.app.stores.audit.write({ event, outcome: "info", detail: { n: event } });
		});
		after(async () => {
			if (t) await t.cleanup();
		});

		const events = async (event: string) => (await t.app.stores.audit.query({ event, limit: 100 })).map((row) => row.event).sort();

		test("a name matches itself and its dotted children only", async () => {
			assert.deepEqual(await events("login"), ["login", "login.first-factor", "login.success"]);
			assert.deepEqual(await events("login."), ["login", "login.first-factor", "login.success"]);
			assert.deepEqual(await events("login.success"), ["login.success"]);
			assert.deepEqual(await events("user.password-change"), ["user.password-change"]);
		});

		test("a trailing * is a plain prefix; LIKE wildcards stay literal", async () => {
			assert.deepEqual(await events("user.password-change*"), ["user.password-change", "user.password-changed"]);
			assert.deepEqual(await events("log*"), ["login", "login.first-factor", "login.success", "loginx.other", "logout"]);
			assert.deepEqual(await events("a_b"), ["a_b.c"]);
			assert.deepEqual(await events("%"), []);
		});

		test("pages: beforeId goes down, afterId gives the page just above, newest first", async () => {
			const all = await t.app.stores.audit.query({ limit: 100 });
			const ids = all.map((row) => Number(row.id));
			const middle = ids[4]!;
			const above = await t.app.stores.audit.query({ afterId: middle, limit: 2 });
			assert.deepEqual(
				above.map((row) => Number(row.id)),
				ids.slice(2, 4),
			);
			const below = await t.app.stores.audit.query({ beforeId: middle, limit: 2 });
			assert.deepEqual(
				below.map((row) => Number(row.id)),
				ids.slice(5, 7),
			);
		});

		test("eventMatch spells the rule", () => {
			assert.deepEqual(eventMatch("login"), { exact: "login", prefix: "login." });
			assert.deepEqual(eventMatch("ssh.sess*"), { prefix: "ssh.sess" });
		});
	});
}
