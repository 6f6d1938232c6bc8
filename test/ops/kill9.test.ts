/**
 * `kill -9` of a node under web and SSH login load, on SQLite (the embedded default), three times:
 * the database file stays intact (PRAGMA integrity_check), the node starts again on the same data
 * directory, and logins work right after (docs/operations.md "Soak and fault tests").
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import BetterSqlite3 from "better-sqlite3";
import { createPortcullis } from "../../src/app/portcullis.ts";
import { ADMIN_ACTOR, testConfig } from "../helpers/test-app.ts";
import { sshLogin, webLogin } from "../helpers/login-clients.ts";
import { startServeNode } from "../helpers/serve-node.ts";

const PASSWORD = "correct horse battery";

describe("kill -9 under load (SQLite)", () => {
	let dir: string;
	const key = randomBytes(32).toString("base64");

	before(async () => {
		dir = mkdtempSync(join(tmpdir(), "portcullis-kill9-"));
		const app = await createPortcullis(testConfig(dir), { secretKey: Buffer.from(key, "base64") });
		try {
			for (let i = 0; i < 4; i++) await app.admin.createUser(ADMIN_ACTOR, { username: `k${i}`, password: PASSWORD, isAdmin: false, groups: [] });
		} finally {
			await app.close();
		}
	});
	after(() => rmSync(dir, { recursive: true, force: true }));

	test("three kills mid-load: integrity ok, restart ok, logins work at once", async () => {
		for (let round = 0; round < 3; round++) {
			const node = await startServeNode({ dataDir: dir, secretKey: key });
			let stop = false;
			let completed = 0;
			const load = [0, 1, 2, 3].map(async (index) => {
				while (!stop) {
					const user = `k${index}`;
					const result =
						index % 2 === 0
							? await sshLogin({ port: node.sshPort, username: user, password: PASSWORD })
							: await webLogin(node.consoleUrl, user, PASSWORD, null, ["/account"]);
					if (result.ok) completed += 1;
				}
			});
			// Kill once logins are flowing, at a point that differs each round.
			while (completed < 5 + round * 7) await new Promise((resolve) => setTimeout(resolve, 10));
			node.child.kill("SIGKILL");
			const exit = await node.exited;
			stop = true;
			await Promise.all(load);
			assert.equal(exit.signal, "SIGKILL");

			const sqlite = new BetterSqlite3(join(dir, "portcullis.sqlite"));
			try {
				assert.deepEqual(sqlite.pragma("integrity_check"), [{ integrity_check: "ok" }]);
			} finally {
				sqlite.close();
			}
			console.log(`kill -9 round ${round + 1}: ${completed} logins before the kill; integrity ok`);
		}
		const node = await startServeNode({ dataDir: dir, secretKey: key });
		try {
			const ssh = await sshLogin({ port: node.sshPort, username: "k0", password: PASSWORD });
			assert.ok(ssh.ok, ssh.error);
			const web = await webLogin(node.consoleUrl, "k1", PASSWORD, null, ["/account"]);
			assert.ok(web.ok, web.error);
		} finally {
			node.child.kill("SIGTERM");
			assert.deepEqual(await node.exited, { code: 0, signal: null });
		}
	});
});
