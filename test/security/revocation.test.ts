/**
 * Instant revocation (docs/threat-model.md, "Slow revocation" and "Recovery-code session after the method was disallowed"; docs/security-matrix.md P1-P4; docs/threat-model.md, Live revocation goal): after a policy
 * change, a disable, a group membership or an admin reset, no new SSH channel, command or forward
 * and no web request succeeds, on any node; live connections close; removing a server's grant
 * closes the relays to it; a session proven with a recovery code steps up when recovery codes are
 * no longer allowed.
 *
 * The gate tests run with ssh.policy_poll_ms = 5000 and ssh.live_check_seconds = 30, so what
 * refuses the new work is the gate on the work itself, not the poll. Times are logged, never asserted.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type ssh2 from "ssh2";
import { createPortcullis, type Portcullis } from "../../src/app/portcullis.ts";
import { FakeClock } from "../../src/core/clock.ts";
import { totpCodeAt } from "../../src/methods/totp/totp-method.ts";
import { serverService } from "../../src/servers/server-service.ts";
import { startSshGateway, type SshGateway } from "../../src/ssh/gateway.ts";
import { loadOrCreateGatewayKey } from "../../src/servers/gateway-key.ts";
import { RawSsh } from "../helpers/ssh-client.ts";
import { sshdSkipReason, startSshd, type Sshd } from "../helpers/sshd-target.ts";
import { ADMIN_ACTOR, createPostgresDatabase, createTestApp, testConfig, type TestApp } from "../helpers/test-app.ts";
import { Browser, createWebTest, enrolTotp, PASSWORD, type WebTest } from "../web/helpers.ts";

const skip = sshdSkipReason();
/** Generous bound for "closed" events; never a pass/fail timing threshold. */
const CLOSE_BOUND_MS = 30_000;
const GATE_ONLY = { ssh: { live_check_seconds: 30, policy_poll_ms: 5000 } };

type ExecResult = { refused: true; reason: string } | { refused: false; stdout: string; stderr: string; code: number | null };

/** Opens a session channel and runs `command`; "refused" when the channel open or exec request fails. */
function execOn(client: ssh2.Client, command: string): Promise<ExecResult> {
	return new Promise((resolve) => {
		client.exec(command, (error, stream) => {
			if (error) return resolve({ refused: true, reason: error.message });
			let stdout = "";
			let stderr = "";
			let code: number | null = null;
			stream.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
			stream.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
			stream.on("exit", (status: number | null) => (code = status));
			stream.on("close", () => resolve({ refused: false, stdout, stderr, code }));
		});
	}).then(
		(result) => result as ExecResult,
		() => ({ refused: true, reason: "connection closed" }) as ExecResult,
	);
}

/** The command did not run on the target: refused, or ended by the gateway without the target's output. */
function assertNotRun(result: ExecResult, marker: string, what: string): void {
	if (!result.refused) assert.doesNotMatch(result.stdout, new RegExp(marker), `${what}: the command ran on the target (${JSON.stringify(result)})`);
}

async function passwordLogin(port: number, username: string): Promise<RawSsh> {
	const raw = await RawSsh.connect(port);
	raw.password(username, PASSWORD);
	assert.deepEqual(await raw.next(), { type: "success" }, `${username} logs in with a password only`);
	return raw;
}

async function totpLogin(port: number, app: Portcullis, clock: FakeClock, username: string, secret: Buffer): Promise<RawSsh> {
	const raw = await RawSsh.connect(port);
	raw.password(username, PASSWORD);
	const first = await raw.next();
	assert.equal(first.type, "failure", "partial success");
	clock.advance(30_000);
	raw.keyboard(username);
	assert.equal((await raw.next()).type, "info-request");
	raw.respond([totpCodeAt(secret, app.clock.now().getTime())]);
	assert.deepEqual(await raw.next(), { type: "success" });
	return raw;
}

async function revokedAudit(app: Portcullis, username: string): Promise<string | null> {
	const [row] = await app.stores.audit.query({ event: "ssh.revoked", username, limit: 1 });
	return row ? (JSON.parse(row.detail ?? "{}") as { reason: string }).reason : null;
}

describe("instant revocation on the SSH gateway (one node)", { skip }, () => {
	let t: TestApp;
	let db1: Sshd;
	let gateway: SshGateway;

	before(async () => {
		t = await createTestApp({ config: GATE_ONLY });
		db1 = await startSshd({ authorizedKeys: [loadOrCreateGatewayKey(t.app.config).publicKey] });
		await t.app.admin.createGroup(ADMIN_ACTOR, { name: "ops", forceTwoFactor: false, allowedMethods: null });
		await t.app.admin.createGroup(ADMIN_ACTOR, { name: "secure", forceTwoFactor: true, allowedMethods: null });
		await serverService(t.app).add(ADMIN_ACTOR, { name: "db1", host: db1.host, port: db1.port, loginUser: db1.user, groups: ["ops"] });
		gateway = await startSshGateway(t.app.ssh, { listen: "127.0.0.1:0" });
	});
	after(async () => {
		await gateway?.close();
		await db1?.stop();
		await t?.cleanup();
	});

	const addUser = (username: string) => t.app.admin.createUser(ADMIN_ACTOR, { username, password: PASSWORD, isAdmin: false, groups: ["ops"] });

	/**
	 * The shared shape of (a): the connection works, the change is made, the very next exec is not
	 * run and the connection is closed (by the gate, not by the 5 s poll).
	 */
	async function nextExecRefused(username: string, raw: RawSsh, change: () => Promise<unknown>, expectedReason: string): Promise<void> {
		const okBefore = await execOn(raw.client, "db1 -- echo before-change");
		assert.equal(okBefore.refused, false);
		assert.match(okBefore.refused ? "" : okBefore.stdout, /before-change/, "works before the change");
		await change();
		const started = Date.now();
		assertNotRun(await execOn(raw.client, "db1 -- echo after-change"), "after-change", username);
		assert.ok(await raw.waitClosed(CLOSE_BOUND_MS), "the connection is closed");
		console.log(`# ${username}: closed ${Date.now() - started} ms after the change`);
		assert.equal(await revokedAudit(t.app, username), expectedReason);
	}

	// docs/threat-model.md, "Slow revocation": a password-only connection kept opening channels for 6-10 s after force-2FA.
	test("force-2FA switched on: a password-only connection's next exec is refused and the connection closed", async () => {
		await addUser("rev-force");
		const raw = await passwordLogin(gateway.address.port, "rev-force");
		try {
			await nextExecRefused("rev-force", raw, () => t.app.admin.updateSettings(ADMIN_ACTOR, { forceTwoFactor: true }), "step-up");
		} finally {
			await t.app.admin.updateSettings(ADMIN_ACTOR, { forceTwoFactor: false });
		}
	});

	// docs/threat-model.md, "Slow revocation": a disabled user's connection kept opening channels until the poll.
	test("user disabled: the next channel open is refused, a ProxyJump forward too, and the connection closed", async () => {
		await addUser("rev-disabled");
		const raw = await passwordLogin(gateway.address.port, "rev-disabled");
		const forwarded = (): Promise<string> =>
			new Promise((resolve) =>
				raw.client.forwardOut("127.0.0.1", 5000, "db1", 22, (error, stream) => {
					if (error) return resolve(`refused: ${error.message}`);
					stream.destroy();
					resolve("opened");
				}),
			);
		assert.equal(await forwarded(), "opened", "ProxyJump works before the change");
		await t.app.admin.setDisabled(ADMIN_ACTOR, "rev-disabled", true);
		assert.match(await forwarded(), /^refused/, "no forward after the disable");
		assertNotRun(await execOn(raw.client, "db1 -- echo after-disable"), "after-disable", "rev-disabled");
		assert.ok(await raw.waitClosed(CLOSE_BOUND_MS), "the connection is closed");
		assert.equal(await revokedAudit(t.app, "rev-disabled"), "revoked");
	});

	// docs/threat-model.md, "Slow revocation": adding a user to a forced group did not stop new commands at once.
	test("user added to a forced group: the next exec is refused and the connection closed", async () => {
		await addUser("rev-member");
		const raw = await passwordLogin(gateway.address.port, "rev-member");
		await nextExecRefused("rev-member", raw, () => t.app.admin.addMember(ADMIN_ACTOR, "secure", "rev-member"), "step-up");
	});

	// docs/threat-model.md, "Slow revocation": an admin reset did not stop the user's live connection at once.
	test("admin 2FA reset: a TOTP connection's next exec is refused and the connection closed", async () => {
		const user = await addUser("rev-reset");
		const secret = await enrolTotp(t, user.id);
		const raw = await totpLogin(gateway.address.port, t.app, t.clock, "rev-reset", secret);
		await nextExecRefused("rev-reset", raw, () => t.app.admin.resetTwoFactor(ADMIN_ACTOR, "rev-reset", "next-login"), "revoked");
	});

	// docs/threat-model.md, "Slow revocation": removing a server's grant left open relays to it running.
	test("removing a server's grant closes the open relay to it; the connection and a relay still granted stay", async () => {
		const servers = serverService(t.app);
		await servers.add(ADMIN_ACTOR, { name: "db1b", host: "localhost", port: db1.port, loginUser: db1.user, groups: ["ops"] });
		await addUser("rev-grant");
		const raw = await passwordLogin(gateway.address.port, "rev-grant");
		const open = (server: string) =>
			new Promise<ssh2.ClientChannel>((resolve, reject) =>
				raw.client.exec(`${server} -- echo up; exec sleep 300`, (error, stream) => (error ? reject(error) : resolve(stream))),
			);
		const [revoked, kept] = [await open("db1"), await open("db1b")];
		// The gateway ends the user's channel (exit status + EOF) when the relay behind it is closed.
		const closed = (stream: ssh2.ClientChannel) =>
			new Promise<true>((resolve) => {
				stream.once("exit", () => resolve(true));
				stream.once("close", () => resolve(true));
			});
		const [revokedClosed, keptClosed] = [closed(revoked), closed(kept)];
		for (const stream of [revoked, kept]) {
			await new Promise<void>((resolve) => {
				const onData = (chunk: Buffer) => {
					if (!chunk.toString().includes("up")) return;
					stream.off("data", onData);
					resolve();
				};
				stream.on("data", onData);
			});
		}
		assert.equal(await servers.revoke(ADMIN_ACTOR, "db1", "ops"), true);
		const started = Date.now();
		// Nothing new is asked of the connection: the node's poll (policy_poll_ms) must find the change.
		const outcome = await Promise.race([revokedClosed, new Promise<false>((resolve) => setTimeout(() => resolve(false), CLOSE_BOUND_MS).unref())]);
		assert.equal(outcome, true, "the relay to the server no longer granted is closed");
		console.log(`# grant removal: relay closed ${Date.now() - started} ms after the change`);
		const [row] = await t.app.stores.audit.query({ event: "ssh.relay-revoked", username: "rev-grant", limit: 1 });
		assert.ok(row, "ssh.relay-revoked audited");
		assert.ok(!raw.closed, "the connection itself stays (the user may still use other servers)");
		assert.equal(await Promise.race([keptClosed, Promise.resolve(false)]), false, "the relay to db1b (still granted) stays open");
		const after = await execOn(raw.client, "db1 -- echo again");
		assertNotRun(after, "again", "db1 after the grant removal");
		kept.close();
		raw.end();
		await servers.grant(ADMIN_ACTOR, "db1", "ops");
	});
});

describe("instant revocation across two nodes on one PostgreSQL database", { skip }, () => {
	let database: { url: string; drop(): Promise<void> };
	let dir: string;
	let nodeA: Portcullis;
	let nodeB: Portcullis;
	let gatewayB: SshGateway;
	let db1: Sshd;

	before(async () => {
		database = await createPostgresDatabase();
		dir = mkdtempSync(join(tmpdir(), "portcullis-revocation-"));
		const config = testConfig(dir, GATE_ONLY);
		const clock = new FakeClock(Date.UTC(2026, 10, 28, 9, 0, 0));
		const secretKey = randomBytes(32);
		nodeA = await createPortcullis(config, { clock, database: { kind: "postgres", url: database.url }, secretKey });
		nodeB = await createPortcullis(config, { clock, database: { kind: "postgres", url: database.url }, secretKey });
		db1 = await startSshd({ authorizedKeys: [loadOrCreateGatewayKey(nodeB.config).publicKey] });
		await nodeA.admin.createGroup(ADMIN_ACTOR, { name: "ops", forceTwoFactor: false, allowedMethods: null });
		await nodeA.admin.createGroup(ADMIN_ACTOR, { name: "secure", forceTwoFactor: true, allowedMethods: null });
		await serverService(nodeA).add(ADMIN_ACTOR, { name: "db1", host: db1.host, port: db1.port, loginUser: db1.user, groups: ["ops"] });
		gatewayB = await startSshGateway(nodeB.ssh, { listen: "127.0.0.1:0" });
	});
	after(async () => {
		await gatewayB?.close();
		await db1?.stop();
		await nodeB?.close();
		await nodeA?.close();
		await database?.drop();
		if (dir) rmSync(dir, { recursive: true, force: true });
	});

	// docs/threat-model.md, "Slow revocation": revocation waited for each node's own poll.
	test("a change made on node A: a connection on node B refuses its next exec at once and is closed", async () => {
		for (const [username, change, reason] of [
			["node-member", () => nodeA.admin.addMember(ADMIN_ACTOR, "secure", "node-member"), "step-up"],
			["node-force", () => nodeA.admin.updateSettings(ADMIN_ACTOR, { forceTwoFactor: true }), "step-up"],
		] as const) {
			await nodeA.admin.createUser(ADMIN_ACTOR, { username, password: PASSWORD, isAdmin: false, groups: ["ops"] });
			const raw = await passwordLogin(gatewayB.address.port, username);
			const okBefore = await execOn(raw.client, "db1 -- echo before-change");
			assert.match(okBefore.refused ? "" : okBefore.stdout, /before-change/, "works on node B before the change");
			await change();
			assertNotRun(await execOn(raw.client, "db1 -- echo after-change"), "after-change", username);
			assert.ok(await raw.waitClosed(CLOSE_BOUND_MS), "node B closed the connection");
			assert.equal(await revokedAudit(nodeB, username), reason);
		}
		await nodeA.admin.updateSettings(ADMIN_ACTOR, { forceTwoFactor: false });
	});
});

describe("instant revocation on the web console", () => {
	let w: WebTest;

	before(async () => {
		w = await createWebTest();
		await w.app.admin.updateSettings(ADMIN_ACTOR, { enabledMethods: ["totp", "recovery-code"] });
		await w.app.admin.createGroup(ADMIN_ACTOR, { name: "secure", forceTwoFactor: true, allowedMethods: null });
	});
	after(async () => w?.close());

	// docs/threat-model.md, "Recovery-code session after the method was disallowed": a recovery-code session kept full access after recovery codes were disallowed.
	test("a session proven with a recovery code steps up when recovery codes are removed from the allowed methods; a TOTP session stays", async () => {
		const user = await w.app.admin.createUser(ADMIN_ACTOR, { username: "rec-web", password: PASSWORD, isAdmin: false, groups: [] });
		const secret = await enrolTotp(w, user.id);
		const issued = await w.app.enrollment.regenerateRecoveryCodes(user.id, { channel: "web", source: "test", duringLogin: false });
		assert.equal(issued.kind, "active");
		const code = (issued.kind === "active" ? (issued.display.codes ?? "") : "").split("\n").find((line) => line.length > 0) ?? "";

		const withCode = new Browser(w.server);
		assert.equal((await withCode.login("rec-web")).headers.location, "/login/2fa");
		await withCode.get("/login/2fa?method=recovery-code");
		const proved = await withCode.post("/login/2fa", { method: "recovery-code", code });
		assert.equal(proved.statusCode, 303, proved.body.slice(0, 300));
		assert.equal((await withCode.get("/account")).statusCode, 200, "full access with the recovery code");

		const withTotp = new Browser(w.server);
		await withTotp.login("rec-web");
		await withTotp.get("/login/2fa?method=totp");
		w.clock.advance(30_000);
		const totp = await withTotp.post("/login/2fa", { method: "totp", code: totpCodeAt(secret, w.clock.now().getTime()) });
		assert.equal(totp.statusCode, 303);
		assert.equal((await withTotp.get("/account")).statusCode, 200);

		await w.app.admin.updateSettings(ADMIN_ACTOR, { enabledMethods: ["totp"] });
		try {
			const after = await withCode.get("/account");
			assert.equal(after.statusCode, 303, "the recovery-code session no longer has full access");
			assert.equal(after.headers.location, "/login/2fa", "it is sent to the second-factor step");
			assert.equal((await withTotp.get("/account")).statusCode, 200, "the TOTP session stays");
		} finally {
			await w.app.admin.updateSettings(ADMIN_ACTOR, { enabledMethods: ["totp", "recovery-code"] });
		}
	});

	// docs/threat-model.md, "Slow revocation" (web guard): the request right after the change is already refused.
	test("a password-only web session is stepped up at its very next request after its user is added to a forced group", async () => {
		await w.app.admin.createUser(ADMIN_ACTOR, { username: "member-web", password: PASSWORD, isAdmin: false, groups: [] });
		const browser = new Browser(w.server);
		const login = await browser.login("member-web");
		assert.equal(login.statusCode, 303);
		assert.equal((await browser.get("/account")).statusCode, 200, "password-only access before the change");
		assert.equal((await browser.get("/account")).statusCode, 200, "and again (the session now carries the checked policy version)");
		await w.app.admin.addMember(ADMIN_ACTOR, "secure", "member-web");
		const after = await browser.get("/account");
		assert.equal(after.statusCode, 303, "no full access at the next request");
		assert.notEqual(after.headers.location, "/account");
	});
});
