/**
 * SQLite cannot write (docs/operations.md "Outages"): another process holds the write lock
 * (BEGIN EXCLUSIVE on a second connection, as a stuck backup or a second node on the same file
 * would). Every login needs a write (the charged password check), so each is refused after
 * `database.sqlite_busy_timeout_ms` with the outage answers: 503 on the console, the one-line
 * message on SSH, readiness not-ready, one log line when it starts and one when the lock is gone;
 * then logins work again.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import BetterSqlite3 from "better-sqlite3";
import { SERVICE_UNAVAILABLE_MESSAGE } from "../../src/ssh/authenticate.ts";
import { requireOpenSsh, runOpenSsh } from "../helpers/ssh-client.ts";
import { ADMIN_ACTOR } from "../helpers/test-app.ts";
import { Browser, PASSWORD } from "../web/helpers.ts";
import { startOpsNode, until, type OpsNode } from "./ops-fixture.ts";

describe("SQLite locked by another writer", () => {
	let node: OpsNode;

	before(async () => {
		node = await startOpsNode("sqlite");
		await node.app.admin.createUser(ADMIN_ACTOR, { username: "alice", password: PASSWORD, isAdmin: false, groups: [] });
	});
	after(async () => node.close());

	test("503, SSH message, not ready, one line down and one up; logins work after the lock is released", async (t) => {
		if (!requireOpenSsh(t)) return;
		const ssh = () =>
			runOpenSsh({
				port: node.gateway.address.port,
				user: "alice",
				command: "whoami",
				preferred: "password",
				answer: () => PASSWORD,
			});
		assert.equal((await node.readyz()).status, 200);

		const other = new BetterSqlite3(join(node.app.config.data_dir, "portcullis.sqlite"));
		try {
			other.exec("BEGIN EXCLUSIVE");

			const browser = new Browser(node.web);
			await browser.get("/login");
			const refused = await browser.post("/login", { username: "alice", password: PASSWORD });
			assert.equal(refused.statusCode, 503, refused.body.slice(0, 300));
			assert.match(refused.body, /temporarily unavailable/i);
			assert.doesNotMatch(refused.body, /SQLITE|busy|locked/i);
			assert.equal(browser.session(), undefined);

			const denied = await ssh();
			assert.equal(denied.code, 255, denied.stderr);
			assert.equal(denied.stdout, "");
			assert.ok(denied.stderr.includes(`:11: ${SERVICE_UNAVAILABLE_MESSAGE}`), denied.stderr);

			const notReady = await node.readyz();
			assert.equal(notReady.status, 503);
			assert.equal((notReady.body.checks as Record<string, unknown>).database, false);
			assert.equal(node.linesStarting("database unavailable").length, 1);
			assert.equal(node.linesStarting("database available again").length, 0);
		} finally {
			other.exec("ROLLBACK");
			other.close();
		}

		await until(async () => (await node.readyz()).status === 200);
		await until(() => node.linesStarting("database available again").length === 1);
		assert.equal(node.linesStarting("database unavailable").length, 1, "one line for the whole outage");

		const browser = new Browser(node.web);
		const logged = await browser.login("alice");
		assert.equal(logged.statusCode, 303, logged.body.slice(0, 300));
		assert.notEqual(browser.session(), undefined);
		const back = await ssh();
		assert.equal(back.code, 0, back.stderr);
		assert.equal(back.stdout, "authenticated alice 2fa=none epoch=0\n");
	});
});
