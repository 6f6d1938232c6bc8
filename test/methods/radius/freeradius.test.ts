/**
 * RadiusClient against a REAL FreeRADIUS 3.x (test/helpers/freeradius.ts): it requires
 * Message-Authenticator on our requests, signs its replies, and runs the carol challenge flow.
 * Skipped when FreeRADIUS is not installed, FAILS instead under PORTCULLIS_STRICT_PEERS=1.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { isPortcullisError } from "../../../src/core/errors.ts";
import { RadiusClient, type RadiusClientOptions, type RadiusEvent, type RadiusServerConfig } from "../../../src/methods/radius/radius-client.ts";
import {
	FREERADIUS_USERS,
	freeRadiusSkipReason,
	freeRadiusSystemConfigReadable,
	reserveUdpPort,
	startFreeRadius,
	type FreeRadiusServer,
	type UdpPortReservation,
} from "../../helpers/freeradius.ts";

const skip = freeRadiusSkipReason();
const { alice, carol, dave } = FREERADIUS_USERS;
const isUnavailable = (error: unknown): boolean => isPortcullisError(error, "ERR_METHOD_UNAVAILABLE");

function entry(server: FreeRadiusServer, extra: Partial<RadiusServerConfig> = {}): RadiusServerConfig {
	return { host: server.host, port: server.port, secret: server.secret, ...extra };
}

function makeClient(servers: RadiusServerConfig[], extra: Partial<RadiusClientOptions> = {}): { client: RadiusClient; events: RadiusEvent[] } {
	const events: RadiusEvent[] = [];
	const client = new RadiusClient({
		servers,
		nasIdentifier: "portcullis-test",
		timeoutMs: 1000,
		retries: 1,
		onEvent: (event) => events.push(event),
		...extra,
	});
	return { client, events };
}

describe("real FreeRADIUS, signing replies", { skip }, () => {
	let radius: FreeRadiusServer;
	let client: RadiusClient;
	let events: RadiusEvent[];

	before(async () => {
		radius = await startFreeRadius();
		({ client, events } = makeClient([entry(radius)]));
	});
	after(async () => {
		await radius?.stop();
	});

	test("alice with the right password is accepted, with the server's Reply-Message", async () => {
		// Default base "auto": the recipe in docs/dependencies.md, RADIUS (copy of /etc/freeradius/3.0) when readable.
		assert.equal(radius.base, freeRadiusSystemConfigReadable() ? "system-copy" : "minimal");
		const result = await client.authenticate({ username: alice.username, password: alice.password, callingStationId: "192.0.2.7" });
		assert.equal(result.kind, "accept");
		assert.equal(result.replyMessage, alice.replyMessage);
		// FreeRADIUS saw (and therefore verified, since it requires it) our Message-Authenticator,
		// plus NAS-Identifier and Calling-Station-Id.
		assert.match(radius.log(), /Message-Authenticator = 0x[0-9a-f]{32}/);
		assert.match(radius.log(), /NAS-Identifier = "portcullis-test"/);
		assert.match(radius.log(), /Calling-Station-Id = "192\.0\.2\.7"/);
	});

	test("alice with a wrong password is rejected", async () => {
		const result = await client.authenticate({ username: alice.username, password: "wrong" });
		assert.equal(result.kind, "reject");
		assert.equal(result.kind === "reject" && result.reason, "server-reject");
	});

	test("an unknown user is rejected", async () => {
		const result = await client.authenticate({ username: "mallory", password: "password" });
		assert.equal(result.kind, "reject");
	});

	test("a long (multi-block) password is hidden correctly: FreeRADIUS recovers it exactly", async () => {
		// Wrong for alice, so Reject; the proof is that FreeRADIUS logs the exact clear text.
		const long = "A-long-password-spanning-three-blocks-of-16";
		const result = await client.authenticate({ username: alice.username, password: long });
		assert.equal(result.kind, "reject");
		assert.ok(radius.log().includes(`User-Password = "${long}"`));
	});

	test("carol: password → Access-Challenge with prompt and State → token → accept", async () => {
		const first = await client.authenticate({ username: carol.username, password: carol.password });
		assert.equal(first.kind, "challenge");
		assert.ok(first.kind === "challenge");
		assert.equal(first.replyMessage, carol.prompt);
		assert.deepEqual(first.state, radius.carolState);
		const second = await client.authenticate({
			username: carol.username,
			password: carol.token,
			state: first.state,
			serverIndex: first.serverIndex,
		});
		assert.equal(second.kind, "accept");
	});

	test("carol: the wrong token is rejected", async () => {
		const first = await client.authenticate({ username: carol.username, password: carol.password });
		assert.ok(first.kind === "challenge");
		const second = await client.authenticate({ username: carol.username, password: "000000", state: first.state });
		assert.equal(second.kind, "reject");
	});

	test("carol: the right token with a forged State is rejected; a wrong first password never challenges", async () => {
		const forged = await client.authenticate({ username: carol.username, password: carol.token, state: Buffer.from("forged-state") });
		assert.equal(forged.kind, "reject");
		const wrong = await client.authenticate({ username: carol.username, password: "not-carols" });
		assert.equal(wrong.kind, "reject");
	});

	test("dave's Accept carries Service-Type = Framed-User and is turned into a Reject (RFC 2865 §5.6)", async () => {
		const result = await client.authenticate({ username: dave.username, password: dave.password });
		assert.equal(result.kind === "reject" && result.reason, "unsupported-service-type");
	});

	test("no reply was dropped: every FreeRADIUS answer verified strictly", () => {
		assert.deepEqual(
			events.filter((event) => event.type === "reply-dropped"),
			[],
		);
	});

	test("a wrong shared secret fails closed: FreeRADIUS drops our request (bad MA), we time out", async () => {
		const { client: wrong } = makeClient([entry(radius, { secret: "not-the-secret-at-all" })], { timeoutMs: 300, retries: 0 });
		await assert.rejects(wrong.authenticate({ username: alice.username, password: alice.password }), isUnavailable);
	});

	test("failover: a dead port first, then FreeRADIUS answers", async () => {
		let dead: UdpPortReservation | null = null;
		try {
			dead = await reserveUdpPort();
			const { client: failover, events: failoverEvents } = makeClient([{ host: "127.0.0.1", port: dead.port, secret: "dead-server-secret" }, entry(radius)], {
				timeoutMs: 200,
				retries: 1,
			});
			const result = await failover.authenticate({ username: alice.username, password: alice.password });
			assert.equal(result.kind, "accept");
			assert.equal(result.serverIndex, 1);
			assert.ok(failoverEvents.some((event) => event.type === "server-failed" && event.server === `127.0.0.1:${dead?.port}`));
		} finally {
			await dead?.release();
		}
	});

	test("testConnection: FreeRADIUS is reachable and verified (dummy user rejected); a dead port is not", async () => {
		const dead = await reserveUdpPort();
		try {
			const { client: probe } = makeClient(
				[entry(radius), { host: "127.0.0.1", port: dead.port, secret: "dead-server-secret" }, entry(radius, { secret: "wrong-secret-1234" })],
				{ timeoutMs: 200, retries: 0 },
			);
			const [ok, down, wrongSecret] = await probe.testConnection();
			assert.ok(ok && down && wrongSecret);
			assert.deepEqual([ok.reachable, ok.verified, ok.outcome, ok.problem], [true, true, "reject", null]);
			assert.deepEqual([down.reachable, down.verified], [false, false]);
			// FreeRADIUS silently drops a request signed with another secret: the hint says so.
			assert.deepEqual([wrongSecret.reachable, wrongSecret.verified], [false, false]);
			assert.match(wrongSecret.problem ?? "", /shared secret/);
		} finally {
			await dead.release();
		}
	});
});

describe("real FreeRADIUS that does NOT sign replies (legacy 3.2.1 default)", { skip }, () => {
	let radius: FreeRadiusServer;

	before(async () => {
		radius = await startFreeRadius({ signReplies: false });
	});
	after(async () => {
		await radius?.stop();
	});

	test("strict client: every unsigned answer is dropped, even a correct Accept → ERR_METHOD_UNAVAILABLE", async () => {
		const { client, events } = makeClient([entry(radius)], { timeoutMs: 300, retries: 1 });
		await assert.rejects(client.authenticate({ username: alice.username, password: alice.password }), isUnavailable);
		const reasons = events.flatMap((event) => (event.type === "reply-dropped" ? [event.reason] : []));
		assert.ok(reasons.length >= 1);
		assert.ok(reasons.every((reason) => reason === "missing-message-authenticator"));
	});

	test("legacy flag set: the unsigned Accept and Reject are honoured and reported", async () => {
		const { client, events } = makeClient([entry(radius, { legacyNoMessageAuthenticator: true })]);
		assert.equal((await client.authenticate({ username: alice.username, password: alice.password })).kind, "accept");
		assert.equal((await client.authenticate({ username: alice.username, password: "wrong" })).kind, "reject");
		assert.equal(events.filter((event) => event.type === "unsigned-reply-accepted").length, 2);
	});

	test("testConnection explains the missing Message-Authenticator", async () => {
		const { client } = makeClient([entry(radius)], { timeoutMs: 300, retries: 0 });
		const [probe] = await client.testConnection();
		assert.ok(probe);
		assert.deepEqual([probe.reachable, probe.verified], [true, false]);
		assert.match(probe.problem ?? "", /BlastRADIUS/);
	});
});

describe("real FreeRADIUS from the minimal configuration (the non-root CI path)", { skip }, () => {
	let radius: FreeRadiusServer;

	before(async () => {
		radius = await startFreeRadius({ base: "minimal" });
	});
	after(async () => {
		await radius?.stop();
	});

	test("alice accepted and carol challenged, exactly as with the system copy", async () => {
		assert.equal(radius.base, "minimal");
		const { client, events } = makeClient([entry(radius)]);
		assert.equal((await client.authenticate({ username: alice.username, password: alice.password })).kind, "accept");
		const first = await client.authenticate({ username: carol.username, password: carol.password });
		assert.ok(first.kind === "challenge");
		const second = await client.authenticate({ username: carol.username, password: carol.token, state: first.state });
		assert.equal(second.kind, "accept");
		assert.equal(events.filter((event) => event.type === "reply-dropped").length, 0);
	});
});

describe("FreeRADIUS helper", { skip }, () => {
	test("parallel starts get distinct ports and stop cleans up", async () => {
		const servers = await Promise.all([startFreeRadius({ base: "minimal" }), startFreeRadius({ base: "minimal" })]);
		try {
			const [a, b] = servers;
			assert.ok(a && b);
			assert.notEqual(a.port, b.port);
			for (const server of servers) {
				const { client } = makeClient([entry(server)]);
				assert.equal((await client.authenticate({ username: alice.username, password: alice.password })).kind, "accept");
			}
		} finally {
			await Promise.all(servers.map((server) => server.stop()));
		}
		const { existsSync } = await import("node:fs");
		for (const server of servers) assert.equal(existsSync(server.dir), false);
	});
});
