/**
 * The real gateway and the real OpenSSH client: a deploy tool's parallel logins with the right
 * password all get in, and leave no lock, no failure and nothing in flight (docs/decisions.md
 * "Lockout accounting"; regression: 12 parallel right passwords used to be refused and lock the
 * account for 15 minutes). MaxStartups is raised here so that only the lockout accounting is
 * under test (by default sshd's limit of 10 unauthenticated connections per source applies).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { RawSsh, requireOpenSsh, runOpenSsh } from "../helpers/ssh-client.ts";
import type { Engine } from "../helpers/test-app.ts";
import { addUser, PASSWORD, startFixture } from "./auth-fixtures.ts";

const PASSWORD_PROMPT = /'s password: $/;

for (const engine of ["sqlite", "postgres"] as Engine[]) {
	describe(`parallel password logins through the SSH gateway (${engine})`, () => {
		test("12 ssh2 clients send the right password at the same moment: all succeed; no lock, nothing in flight", async () => {
			const f = await startFixture({ engine, config: { ssh: { max_startups: "100", per_source_max_startups: 100 }, security: { busy_wait_ms: 30_000 } } });
			const clients: RawSsh[] = [];
			try {
				await addUser(f, "forks");
				// Every client first completes key exchange, so the 12 password checks really overlap.
				clients.push(...(await Promise.all(Array.from({ length: 12 }, () => RawSsh.connect(f.port)))));
				for (const client of clients) client.password("forks", PASSWORD);
				// Generous: a hang guard only, never a timing assertion.
				const replies = await Promise.all(clients.map((client) => client.next(600_000)));
				assert.deepEqual(
					replies.map((reply) => reply.type),
					Array(12).fill("success"),
				);
				const user = (await f.app.stores.users.findByUsername("forks"))!;
				assert.deepEqual([user.pw_failures, user.pw_inflight, user.pw_locked_until].map(Number), [0, 0, 0]);
			} finally {
				for (const client of clients) client.end();
				await f.close();
			}
		});

		test("12 parallel OpenSSH logins with the right password all succeed; no lock, nothing in flight", async (t) => {
			if (!requireOpenSsh(t)) return;
			const f = await startFixture({
				engine,
				config: { ssh: { max_startups: "100", per_source_max_startups: 100 }, security: { busy_wait_ms: 30_000 } },
			});
			try {
				await addUser(f, "deploy");
				const started = performance.now();
				const runs = await Promise.all(
					Array.from({ length: 12 }, () =>
						runOpenSsh({
							port: f.port,
							user: "deploy",
							command: "id",
							preferred: "password",
							answer: (prompt) => (PASSWORD_PROMPT.test(prompt) ? PASSWORD : null),
						}),
					),
				);
				f.app.logger.info({ ms: Math.round(performance.now() - started) }, "12 parallel OpenSSH password logins");
				for (const run of runs) assert.equal(run.stdout, "authenticated deploy 2fa=none epoch=0\n", run.stderr.slice(-2000));
				const user = (await f.app.stores.users.findByUsername("deploy"))!;
				assert.deepEqual([user.pw_failures, user.pw_inflight, user.pw_locked_until, user.tfa_locked_until].map(Number), [0, 0, 0, 0]);
				const blocked = await f.app.db.selectFrom("password_throttle").selectAll().where("user_id", "=", user.id).where("blocked_until", ">", 0).execute();
				assert.deepEqual(blocked, []);
				assert.equal((await f.app.stores.audit.query({ event: "login.success", username: "deploy" })).length, 12);
			} finally {
				await f.close();
			}
		});
	});
}
