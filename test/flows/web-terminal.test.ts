/**
 * WebTerminalService (src/flows/web-terminal.ts) without a browser: the open-time rules are the
 * SSH relay's (grant, per-server step-up with freshness), each negative beside its positive twin,
 * and the connector (the port to src/ssh/) is reached only when they pass. The live re-check
 * follows a grant removal. Chromium and sshd: test/e2e/web-terminal.test.ts.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { type TerminalConnector, WebTerminalService, type WebTerminalProof } from "../../src/flows/web-terminal.ts";
import { serverService } from "../../src/servers/server-service.ts";
import { ADMIN_ACTOR, createTestApp, type TestApp } from "../helpers/test-app.ts";

describe("WebTerminalService", () => {
	let t: TestApp;
	let service: WebTerminalService;
	const opened: string[] = [];
	let proof: WebTerminalProof;

	before(async () => {
		t = await createTestApp();
		await t.app.admin.createGroup(ADMIN_ACTOR, { name: "ops", forceTwoFactor: false, allowedMethods: null });
		await t.app.admin.createGroup(ADMIN_ACTOR, { name: "finance", forceTwoFactor: false, allowedMethods: null });
		const user = await t.app.admin.createUser(ADMIN_ACTOR, { username: "dora", password: "correct horse battery", isAdmin: false, groups: ["ops"] });
		const servers = serverService(t.app);
		await servers.add(ADMIN_ACTOR, { name: "dev1", host: "127.0.0.1", port: 22, loginUser: "", groups: ["ops"] });
		await servers.add(ADMIN_ACTOR, { name: "db-prod", host: "127.0.0.1", port: 22, loginUser: "", groups: ["ops"], requireTwoFactor: true, freshMinutes: 5 });
		await servers.add(ADMIN_ACTOR, { name: "ledger", host: "127.0.0.1", port: 22, loginUser: "", groups: ["finance"] });
		const connector: TerminalConnector = {
			async open(_proof, server) {
				opened.push(server.name);
				return { ok: true, terminal: { recordingId: null, input() {}, resize() {}, close() {} } };
			},
		};
		service = new WebTerminalService({ login: t.app.login, servers: t.app.servers, audit: t.app.stores.audit, clock: t.clock, connector, pollMs: 1000 });
		proof = {
			userId: user.id,
			username: "dora",
			sourceAddress: "192.0.2.10",
			connectionId: "0123456789abcdef",
			secondFactorMethod: "totp",
			provenAt: t.clock.now().getTime(),
			sessionEpoch: 0,
		};
	});

	after(async () => t?.cleanup());

	const size = { cols: 80, rows: 24 };
	const sink = { output: (_data: Buffer, done: () => void) => done(), ended: () => undefined };

	test("a granted server opens; one that is not granted is refused and audited, and nothing is opened", async () => {
		opened.length = 0;
		const granted = await service.open(proof, "dev1", size, sink);
		assert.ok("ok" in granted && granted.ok);
		const refused = await service.open(proof, "ledger", size, sink);
		assert.equal("kind" in refused ? refused.kind : null, "not-granted");
		assert.deepEqual(opened, ["dev1"]);
		assert.equal((await t.app.stores.audit.query({ event: "web.terminal-refused" })).length, 1);
	});

	test("a step-up server: a fresh factor opens; a stale one, or none, asks for a step-up with the SSH reason", async () => {
		opened.length = 0;
		assert.equal((await service.authorize(proof, "db-prod")).kind, "allowed");
		const stale = await service.authorize({ ...proof, provenAt: t.clock.now().getTime() - 6 * 60_000 }, "db-prod");
		assert.equal(stale.kind, "step-up");
		assert.match(
			stale.kind === "step-up" ? stale.message : "",
			/requires two-factor authentication for every connection \(within 5 minutes\), and this session's second factor is older than 5 minutes/,
		);
		const none = await service.open({ ...proof, secondFactorMethod: null }, "db-prod", size, sink);
		assert.equal("kind" in none ? none.kind : null, "step-up");
		assert.deepEqual(opened, []);
		const audited = await t.app.stores.audit.query({ event: "ssh.step-up-required" });
		assert.deepEqual(
			audited.map((row) => JSON.parse(String(row.detail)).via),
			["web-terminal", "web-terminal"],
		);
		assert.ok(audited.every((row) => row.channel === "web"));
	});

	test("the live re-check holds while granted and fails once the grant goes", async () => {
		assert.equal(await service.mayContinue(proof, "dev1"), true);
		await serverService(t.app).revoke(ADMIN_ACTOR, "dev1", "ops");
		assert.equal(await service.mayContinue(proof, "dev1"), false);
	});
});
