/**
 * sshd-style limits (docs/threat-model.md, Bad input: "resource exhaustion"): LoginGraceTime,
 * MaxAuthTries and MaxStartups end connections cleanly, are audited, and the gateway keeps serving
 * legitimate logins afterwards.
 */
import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { after, before, describe, test } from "node:test";
import { RawSsh } from "../helpers/ssh-client.ts";
import { ADMIN_ACTOR } from "../helpers/test-app.ts";
import { addUser, enrolTotp, eventually, PASSWORD, startFixture, totpNow, type Fixture } from "./auth-fixtures.ts";

function tcp(port: number): Promise<{ socket: Socket; closed: Promise<number>; data: () => string }> {
	return new Promise((resolve, reject) => {
		const started = Date.now();
		let received = "";
		const socket = connect({ host: "127.0.0.1", port }, () => resolve({ socket, closed, data: () => received }));
		const closed = new Promise<number>((done) => socket.once("close", () => done(Date.now() - started)));
		socket.on("data", (chunk) => (received += chunk.toString("latin1")));
		socket.on("error", () => undefined);
		socket.once("error", reject);
	});
}

describe("SSH limits", () => {
	let f: Fixture;
	let secret: Buffer;

	before(async () => {
		f = await startFixture({ config: { ssh: { login_grace_seconds: 5, max_auth_tries: 3, max_startups: "3" } } });
		await f.app.admin.createGroup(ADMIN_ACTOR, { name: "ops", forceTwoFactor: true, allowedMethods: null });
		secret = await enrolTotp(f, await addUser(f, "alice", ["ops"]));
	});
	after(async () => f?.close());

	const legitLogin = async () => {
		f.clock.advance(30_000);
		const raw = await RawSsh.connect(f.port);
		raw.password("alice", PASSWORD);
		assert.deepEqual(await raw.next(), { type: "failure", methods: ["keyboard-interactive"], partial: true });
		raw.keyboard("alice");
		assert.equal((await raw.next()).type, "info-request");
		raw.respond([totpNow(f, secret)]);
		assert.deepEqual(await raw.next(), { type: "success" });
		return raw;
	};

	test("MaxAuthTries: the 4th counted request (max 3) is refused and the connection ends", async () => {
		const raw = await RawSsh.connect(f.port);
		raw.none("alice"); // OpenSSH's opening probe is not counted (as in sshd)
		assert.equal((await raw.next()).type, "failure");
		for (let index = 0; index < 3; index += 1) {
			raw.password("alice", `wrong-${index}`);
			assert.deepEqual(await raw.next(), { type: "failure", methods: ["publickey", "password"], partial: false });
		}
		raw.password("alice", PASSWORD);
		assert.deepEqual(await raw.next(), { type: "failure", methods: [], partial: false });
		assert.ok(await raw.waitClosed());
		await eventually(
			async () => (await f.app.stores.audit.query({ event: "ssh.limit" })).some((row) => row.detail?.includes("max-auth-tries")),
			60_000,
			"ssh.limit max-auth-tries audited",
		);
		(await legitLogin()).end();
	});

	test("MaxStartups: beyond 3 unauthenticated connections new ones are closed at once; slots free up again", async () => {
		await eventually(() => f.gateway.unauthenticatedCount() === 0, 60_000, "no unauthenticated connections left over");
		const idle = await Promise.all([tcp(f.port), tcp(f.port), tcp(f.port)]);
		await eventually(() => f.gateway.unauthenticatedCount() === 3, 60_000, "three admitted");
		const refused = await tcp(f.port);
		const closedAfter = await refused.closed;
		console.log(`refused connection closed after ${closedAfter} ms`);
		assert.equal(refused.data(), "", "not even the SSH identification string was sent");
		// An authenticated connection does not hold a slot: free one, log in, then the slot is free again.
		idle[0]?.socket.destroy();
		await eventually(() => f.gateway.unauthenticatedCount() === 2, 60_000, "slot released");
		const session = await legitLogin();
		assert.equal(f.gateway.unauthenticatedCount(), 2);
		for (const connection of idle) connection.socket.destroy();
		session.end();
		await eventually(() => f.gateway.unauthenticatedCount() === 0, 60_000, "all released");
		const limits = await f.app.stores.audit.query({ event: "ssh.limit" });
		assert.ok(limits.some((row) => row.detail?.includes("max-startups")));
	});

	test("LoginGraceTime (5 s): a silent TCP client and a client parked at the 2FA prompt are both disconnected", async () => {
		const silent = await tcp(f.port);
		const parked = await RawSsh.connect(f.port);
		parked.password("alice", PASSWORD);
		assert.equal((await parked.next()).type, "failure");
		parked.keyboard("alice");
		assert.equal((await parked.next()).type, "info-request");
		const [silentMs, parkedClosed] = await Promise.all([silent.closed, parked.waitClosed(120_000)]);
		// Not before the grace time (a lower bound is semantics; no upper bound: a loaded machine is slow, not wrong).
		assert.ok(silentMs >= 4500, `silent client closed after ${silentMs} ms`);
		assert.ok(parkedClosed, "client at the prompt was disconnected");
		assert.ok(!parked.events.some((event) => event.type === "success"));
		const graces = (await f.app.stores.audit.query({ event: "ssh.limit" })).filter((row) => row.detail?.includes("login-grace"));
		assert.ok(graces.length >= 2, JSON.stringify(graces));
		// Authenticated connections are not subject to the grace time.
		const session = await legitLogin();
		await new Promise((resolve) => setTimeout(resolve, 5500));
		assert.ok(!session.closed, "an authenticated connection outlives the grace time");
		session.end();
	});
});
