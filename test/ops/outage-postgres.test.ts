/**
 * PostgreSQL becomes unreachable under a live node (docs/operations.md "Outages"): the node's
 * connection to the shared test server runs through a TCP proxy that the test cuts ("refuse": a
 * stopped server) or turns into a black hole (a partition: only the deadlines end a request).
 *
 * Asserted: the console answers 503 "temporarily unavailable" with no internals; OpenSSH prints
 * "Portcullis: service temporarily unavailable" and a forced user does not get in (no cached
 * policy, no timeout that lets through); exactly one error line when the database goes away and
 * one when it is back; /readyz 503 then 200; logins work again after recovery.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { totpCodeAt } from "../../src/methods/totp/totp-method.ts";
import { SERVICE_UNAVAILABLE_MESSAGE } from "../../src/ssh/authenticate.ts";
import { requireOpenSsh, runOpenSsh } from "../helpers/ssh-client.ts";
import { ADMIN_ACTOR } from "../helpers/test-app.ts";
import { Browser, enrolTotp, PASSWORD } from "../web/helpers.ts";
import { startOpsNode, until, type OpsNode } from "./ops-fixture.ts";

const PASSWORD_PROMPT = /'s password: $/;
const TOTP_PROMPT = /Authenticator app code \(TOTP\): $/;

describe("PostgreSQL unreachable under a live node", () => {
	let node: OpsNode;
	let secret: Buffer;
	let aliceSecret: Buffer;

	before(async () => {
		node = await startOpsNode("postgres");
		const { app } = node;
		const alice = await app.admin.createUser(ADMIN_ACTOR, { username: "alice", password: PASSWORD, isAdmin: false, groups: [] });
		aliceSecret = await enrolTotp({ app, clock: node.clock, dir: "", cleanup: async () => undefined }, alice.id);
		const bob = await app.admin.createUser(ADMIN_ACTOR, { username: "bob", password: PASSWORD, isAdmin: false, groups: [] });
		secret = await enrolTotp({ app, clock: node.clock, dir: "", cleanup: async () => undefined }, bob.id);
		node.clock.advance(30_000);
		await app.admin.updateSettings(ADMIN_ACTOR, { forceTwoFactor: true });
	});
	after(async () => node.close());

	/** Password, then TOTP: the web login of a forced user. */
	async function webLogin(browser: Browser): Promise<number> {
		const first = await browser.login("alice");
		assert.equal(first.headers.location, "/login/2fa", `password step: ${first.statusCode}`);
		await browser.get("/login/2fa?method=totp");
		node.clock.advance(30_000);
		const second = await browser.post("/login/2fa", { method: "totp", code: totpCodeAt(aliceSecret, node.clock.now().getTime()) });
		return second.statusCode;
	}

	const sshBob = (answered: string[]) =>
		runOpenSsh({
			port: node.gateway.address.port,
			user: "bob",
			command: "whoami",
			preferred: "password,keyboard-interactive",
			answer: (prompt) => {
				answered.push(prompt);
				if (PASSWORD_PROMPT.test(prompt)) return PASSWORD;
				if (TOTP_PROMPT.test(prompt)) {
					node.clock.advance(30_000);
					return totpCodeAt(secret, node.clock.now().getTime());
				}
				return null;
			},
		});

	for (const mode of ["refuse", "blackhole"] as const)
		test(`${mode}: 503 page, SSH one-line message, nobody gets in, one log line down and one up, readiness follows, logins work again`, async (t) => {
			if (!requireOpenSsh(t)) return;
			const downBefore = node.linesStarting("database unavailable").length;
			const upBefore = node.linesStarting("database available again").length;

			// A session made while the database was up.
			const browser = new Browser(node.web);
			assert.equal(await webLogin(browser), 303);
			assert.equal((await browser.get("/account")).statusCode, 200);
			assert.equal((await node.readyz()).status, 200);

			node.proxy?.mode(mode);

			const started = Date.now();
			const page = await browser.get("/account");
			t.diagnostic(`${mode}: the console answered after ${Date.now() - started} ms`);
			assert.equal(page.statusCode, 503, page.body);
			assert.equal(page.headers["retry-after"], "5");
			assert.match(page.body, /temporarily unavailable/i);
			assert.match(page.body, /try again/i);
			assert.doesNotMatch(page.body, /ECONN|postgres|timeout|at .*\.ts|Error:/i, "no internals on the page");

			const fresh = new Browser(node.web);
			await fresh.get("/login");
			const refused = await fresh.post("/login", { username: "alice", password: PASSWORD });
			assert.equal(refused.statusCode, 503, "a login is refused, not waved through");
			assert.equal(fresh.session(), undefined, "no session is made");

			// SSH: a forced user with the right password (and a right code if ever asked) does not get in.
			const answered: string[] = [];
			const channelCalls = node.channels.calls.length;
			const sshStarted = Date.now();
			const ssh = await sshBob(answered);
			t.diagnostic(`${mode}: ssh ended after ${Date.now() - sshStarted} ms (exit ${ssh.code})`);
			assert.equal(ssh.code, 255, ssh.stderr);
			assert.equal(ssh.stdout, "", "no command ran");
			// OpenSSH prints the DISCONNECT description: "Received disconnect from 127.0.0.1 port N:11: Portcullis: …".
			assert.match(ssh.stderr, new RegExp(`Received disconnect from 127\\.0\\.0\\.1 port \\d+:11: ${SERVICE_UNAVAILABLE_MESSAGE}`), ssh.stderr);
			assert.ok(!answered.some((prompt) => TOTP_PROMPT.test(prompt)), "the second factor is never reached");
			assert.equal(node.channels.calls.length, channelCalls, "no channel was opened");

			const notReady = await node.readyz();
			assert.equal(notReady.status, 503);
			assert.deepEqual(notReady.body.checks, { database: false, migrations: false, secretKey: true, stopping: false });
			assert.equal(JSON.stringify(notReady.body).includes("127.0.0.1"), false, "no address in the answer");

			// Exactly one "down" line however many requests failed, with the documented code.
			assert.equal(node.linesStarting("database unavailable").length, downBefore + 1);
			const down = node.linesStarting("database unavailable").at(-1);
			assert.equal(down?.level, "error");
			assert.equal(down?.fields.code, "ERR_DATABASE_UNAVAILABLE");
			assert.equal(node.linesStarting("database available again").length, upBefore);

			node.proxy?.mode("forward");
			const waited = await until(async () => (await node.readyz()).status === 200);
			t.diagnostic(`${mode}: ready again ${waited} ms after the database came back`);
			await until(() => node.linesStarting("database available again").length > upBefore);
			assert.equal(node.linesStarting("database available again").length, upBefore + 1);
			assert.equal(node.linesStarting("database unavailable").length, downBefore + 1, "no flapping");

			// Logins work again on both channels.
			const again = new Browser(node.web);
			assert.equal(await webLogin(again), 303);
			assert.equal((await again.get("/account")).statusCode, 200);
			const callsBefore = node.channels.calls.length;
			const back = await sshBob([]);
			assert.equal(back.code, 0, back.stderr);
			assert.equal(back.stdout, "authenticated bob 2fa=totp epoch=0\n");
			assert.ok(node.channels.calls.length > callsBefore);
		});
});
