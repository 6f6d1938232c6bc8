/**
 * RadiusClient against the hostile UDP stub (docs/security-matrix.md row E3): every hostile reply is
 * refused (never an accept), timeouts and failover fail closed, the legacy flag relaxes exactly
 * one check, and what we send is what RFC 2865 / RFC 3579 ask for.
 */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { isPortcullisError } from "../../../src/core/errors.ts";
import type { Random } from "../../../src/core/random.ts";
import { RADIUS_ATTR, findAttribute } from "../../../src/methods/radius/packet.ts";
import {
	RadiusClient,
	sanitizeReplyMessage,
	type RadiusClientOptions,
	type RadiusDropReason,
	type RadiusEvent,
	type RadiusServerConfig,
} from "../../../src/methods/radius/radius-client.ts";
import {
	HOSTILE_MODES_THAT_MUST_BE_REFUSED,
	startHostileRadiusServer,
	type HostileMode,
	type HostileRadiusServer,
} from "../../helpers/hostile-radius-server.ts";
import { reserveUdpPort } from "../../helpers/freeradius.ts";

const stubs: HostileRadiusServer[] = [];
after(async () => {
	await Promise.all(stubs.map((stub) => stub.close()));
});

async function stub(mode: HostileMode, delayMs = 0): Promise<HostileRadiusServer> {
	const server = await startHostileRadiusServer({ mode, delayMs });
	stubs.push(server);
	return server;
}

function entry(server: HostileRadiusServer, extra: Partial<RadiusServerConfig> = {}): RadiusServerConfig {
	return { host: server.host, port: server.port, secret: server.secret, ...extra };
}

function client(servers: RadiusServerConfig[], extra: Partial<RadiusClientOptions> = {}): { client: RadiusClient; events: RadiusEvent[] } {
	const events: RadiusEvent[] = [];
	const radius = new RadiusClient({
		servers,
		nasIdentifier: "portcullis-test",
		timeoutMs: 150,
		retries: 1,
		onEvent: (event) => events.push(event),
		...extra,
	});
	return { client: radius, events };
}

const isUnavailable = (error: unknown): boolean => isPortcullisError(error, "ERR_METHOD_UNAVAILABLE");
const isConfigInvalid = (error: unknown): boolean => isPortcullisError(error, "ERR_CONFIG_INVALID");
const drops = (events: RadiusEvent[]): RadiusDropReason[] => events.flatMap((event) => (event.type === "reply-dropped" ? [event.reason] : []));

const ALICE = { username: "alice", password: "password" };

/** What each hostile mode must be dropped for. */
const EXPECTED_DROP: Record<string, RadiusDropReason | null> = {
	"forged-accept": "bad-response-authenticator",
	"accept-without-message-authenticator": "missing-message-authenticator",
	"accept-wrong-message-authenticator": "bad-message-authenticator",
	"accept-duplicate-message-authenticator": "message-authenticator-duplicate",
	"wrong-identifier": "unknown-identifier",
	"bad-length": "length-exceeds-datagram",
	"attribute-overrun": "attribute-overruns-packet",
	oversized: "datagram-too-long",
	"wrong-source-port": "unexpected-source",
	"not-an-access-reply": "not-a-reply",
	"never-answer": null,
};

test("positive control: the stub's correct Accept and Reject are honoured", async () => {
	const accept = await stub("valid-accept");
	const { client: c1, events } = client([entry(accept)]);
	const result = await c1.authenticate(ALICE);
	assert.equal(result.kind, "accept");
	assert.equal(result.serverIndex, 0);
	assert.deepEqual(drops(events), []);

	const reject = await stub("valid-reject");
	const { client: c2 } = client([entry(reject)]);
	const rejected = await c2.authenticate(ALICE);
	assert.equal(rejected.kind, "reject");
	assert.equal(rejected.kind === "reject" && rejected.reason, "server-reject");
});

for (const mode of HOSTILE_MODES_THAT_MUST_BE_REFUSED) {
	test(`hostile mode "${mode}" is refused: no accept, fails closed with ERR_METHOD_UNAVAILABLE`, async () => {
		const server = await stub(mode);
		const { client: radius, events } = client([entry(server)]);
		await assert.rejects(radius.authenticate(ALICE), isUnavailable);
		const expected = EXPECTED_DROP[mode];
		assert.notEqual(expected, undefined, `no expectation for ${mode}`);
		if (expected === null) {
			assert.deepEqual(drops(events), []);
		} else {
			// One drop per transmission (1 + 1 retry), each for the expected reason.
			assert.deepEqual(drops(events), [expected, expected]);
			assert.equal(radius.droppedReplies, 2);
		}
		assert.equal(server.requests.length, 2, "first transmission plus one retransmission");
	});
}

test("legacy flag: an Accept WITHOUT Message-Authenticator is accepted only when set, and reported", async () => {
	const server = await stub("accept-without-message-authenticator");
	const strict = client([entry(server)]);
	await assert.rejects(strict.client.authenticate(ALICE), isUnavailable);

	const explicitFalse = client([entry(server, { legacyNoMessageAuthenticator: false })]);
	await assert.rejects(explicitFalse.client.authenticate(ALICE), isUnavailable);

	const legacy = client([entry(server, { legacyNoMessageAuthenticator: true })]);
	assert.deepEqual(legacy.events[0], { type: "legacy-server-configured", server: `127.0.0.1:${server.port}` });
	const result = await legacy.client.authenticate(ALICE);
	assert.equal(result.kind, "accept");
	assert.ok(legacy.events.some((event) => event.type === "unsigned-reply-accepted" && event.code === 2));
});

for (const mode of HOSTILE_MODES_THAT_MUST_BE_REFUSED.filter((m) => m !== "accept-without-message-authenticator")) {
	test(`legacy flag does not relax anything else: "${mode}" is still refused`, async () => {
		const server = await stub(mode);
		const { client: radius } = client([entry(server, { legacyNoMessageAuthenticator: true })], { retries: 0 });
		await assert.rejects(radius.authenticate(ALICE), isUnavailable);
	});
}

test("a forged Accept racing ahead of the genuine Reject is dropped; the Reject wins", async () => {
	const server = await stub("forged-then-reject");
	const { client: radius, events } = client([entry(server)]);
	const result = await radius.authenticate(ALICE);
	assert.equal(result.kind, "reject");
	assert.deepEqual(drops(events), ["bad-response-authenticator"]);
	assert.equal(server.requests.length, 1);
});

test("Access-Challenge without State is treated as Reject (RFC 2865 §4.4)", async () => {
	const server = await stub("challenge-without-state");
	const { client: radius, events } = client([entry(server)]);
	const result = await radius.authenticate(ALICE);
	assert.equal(result.kind, "reject");
	assert.equal(result.kind === "reject" && result.reason, "challenge-without-state");
	assert.equal(result.kind === "reject" && result.replyMessage, "Enter code");
	assert.ok(events.some((event) => event.type === "reply-rejected-locally"));
});

test("an Accept with an unsupported Service-Type is a Reject unless configured (RFC 2865 §5.6)", async () => {
	const server = await stub("accept-framed-service-type");
	const strict = client([entry(server)]);
	const result = await strict.client.authenticate(ALICE);
	assert.equal(result.kind === "reject" && result.reason, "unsupported-service-type");
	const lenient = client([entry(server)], { allowedServiceTypes: [2] });
	assert.equal((await lenient.client.authenticate(ALICE)).kind, "accept");
});

test("the request: Message-Authenticator first and valid, password hidden, NAS and caller identity sent", async () => {
	const server = await stub("valid-accept");
	const { client: radius } = client([entry(server)], { nasIpAddress: "192.0.2.1" });
	await radius.authenticate({ ...ALICE, callingStationId: "198.51.100.9", state: Buffer.from("st") });
	const request = server.requests[0];
	assert.ok(request);
	assert.equal(request.messageAuthenticatorFirst, true);
	assert.equal(request.messageAuthenticator, "valid");
	assert.equal(request.password, "password");
	const text = (type: number): string | undefined => findAttribute(request.packet, type)?.value.toString("utf8");
	assert.equal(text(RADIUS_ATTR.UserName), "alice");
	assert.equal(text(RADIUS_ATTR.NasIdentifier), "portcullis-test");
	assert.equal(text(RADIUS_ATTR.CallingStationId), "198.51.100.9");
	assert.equal(text(RADIUS_ATTR.State), "st");
	assert.deepEqual([...(findAttribute(request.packet, RADIUS_ATTR.NasIpAddress)?.value ?? [])], [192, 0, 2, 1]);
	// The password never travels in clear.
	assert.equal(request.packet.raw.includes(Buffer.from("password")), false);
});

/** Deterministic Random: identifiers and authenticators we can recognise on the wire. */
function countingRandom(): Random & { calls: string[] } {
	let next = 1;
	const calls: string[] = [];
	return {
		calls,
		bytes: (length) => {
			calls.push(`bytes(${length})`);
			return Buffer.alloc(length, next++);
		},
		int: (min, max) => {
			calls.push(`int(${min},${max})`);
			return 200 + next++;
		},
	};
}

test("Request Authenticator and Identifier come from the injected Random; retransmits reuse them, failover renews them", async () => {
	const silent = await stub("never-answer");
	const good = await stub("valid-accept");
	const random = countingRandom();
	const { client: radius, events } = client([entry(silent), entry(good)], { random, retries: 2, timeoutMs: 80 });
	const result = await radius.authenticate(ALICE);
	assert.equal(result.kind, "accept");
	assert.equal(result.serverIndex, 1);
	// Silent server: 3 identical transmissions (RFC 5080 §2.2.1).
	assert.equal(silent.requests.length, 3);
	const first = silent.requests.map((r) => r.packet.raw.toString("hex"));
	assert.equal(new Set(first).size, 1);
	assert.equal(silent.requests[0]?.packet.identifier, 201);
	assert.deepEqual(silent.requests[0]?.packet.authenticator, Buffer.alloc(16, 2));
	// Failover: a new Identifier and a new Request Authenticator.
	assert.equal(good.requests[0]?.packet.identifier, 203);
	assert.deepEqual(good.requests[0]?.packet.authenticator, Buffer.alloc(16, 4));
	assert.deepEqual(random.calls, ["int(0,256)", "bytes(16)", "int(0,256)", "bytes(16)"]);
	assert.deepEqual(
		events.filter((event) => event.type === "retransmit").map((event) => event.type === "retransmit" && event.attempt),
		[1, 2],
	);
	assert.ok(events.some((event) => event.type === "server-failed" && event.reason === "timeout"));
});

test("timeout: no answer from any server → ERR_METHOD_UNAVAILABLE after every retransmission", async () => {
	const a = await stub("never-answer");
	const b = await stub("never-answer");
	const { client: radius, events } = client([entry(a), entry(b)], { timeoutMs: 100, retries: 2 });
	const started = Date.now();
	await assert.rejects(radius.authenticate(ALICE), (error: unknown) => {
		assert.ok(isUnavailable(error));
		assert.match((error as Error).message, /timeout/);
		return true;
	});
	assert.ok(Date.now() - started >= 550, "waited 2 servers × 3 transmissions × 100 ms");
	assert.equal(a.requests.length, 3);
	assert.equal(b.requests.length, 3);
	assert.equal(events.filter((event) => event.type === "server-failed").length, 2);
});

test("failover: a dead port first, a hostile forger second, an honest server third", async () => {
	const dead = await reserveUdpPort();
	after(() => dead.release());
	const forger = await stub("forged-accept");
	const honest = await stub("valid-reject");
	const { client: radius, events } = client([{ host: "127.0.0.1", port: dead.port, secret: "dead-server-secret" }, entry(forger), entry(honest)]);
	const result = await radius.authenticate(ALICE);
	assert.equal(result.kind, "reject");
	assert.equal(result.serverIndex, 2);
	assert.deepEqual(drops(events), ["bad-response-authenticator", "bad-response-authenticator"]);
});

test("a late but genuine answer from a server we failed over from is still accepted", async () => {
	// Server 1 gives up at 200 ms; its answer arrives at ~300 ms, while we wait for server 2 (200-400 ms).
	const slow = await stub("valid-accept", 300);
	const silent = await stub("never-answer");
	const { client: radius } = client([entry(slow), entry(silent)], { timeoutMs: 200, retries: 0 });
	const result = await radius.authenticate(ALICE);
	assert.equal(result.kind, "accept");
	assert.equal(result.serverIndex, 0);
	assert.equal(silent.requests.length, 1, "the second server was asked while waiting");
});

test("serverIndex puts the challenging server first; the others stay as failover", async () => {
	const first = await stub("valid-reject");
	const second = await stub("valid-accept");
	const { client: radius } = client([entry(first), entry(second)]);
	const result = await radius.authenticate({ ...ALICE, state: Buffer.from("s"), serverIndex: 1 });
	assert.equal(result.kind, "accept");
	assert.equal(first.requests.length, 0);
});

test("the shared secret must not be empty, and other invalid configuration is refused", () => {
	const good: RadiusClientOptions = { servers: [{ host: "127.0.0.1", secret: "0123456789abcdef" }], nasIdentifier: "n" };
	assert.doesNotThrow(() => new RadiusClient(good));
	const bad: Array<[string, RadiusClientOptions]> = [
		["empty string secret", { ...good, servers: [{ host: "127.0.0.1", secret: "" }] }],
		["empty Buffer secret", { ...good, servers: [{ host: "127.0.0.1", secret: Buffer.alloc(0) }] }],
		["no servers", { ...good, servers: [] }],
		["empty host", { ...good, servers: [{ host: " ", secret: "x" }] }],
		["port 0", { ...good, servers: [{ host: "127.0.0.1", port: 0, secret: "x" }] }],
		["port 70000", { ...good, servers: [{ host: "127.0.0.1", port: 70000, secret: "x" }] }],
		["no NAS identity", { servers: good.servers }],
		["empty NAS-Identifier", { ...good, nasIdentifier: "" }],
		["IPv6 NAS-IP-Address", { ...good, nasIpAddress: "::1" }],
		["timeout 0", { ...good, timeoutMs: 0 }],
		["negative retries", { ...good, retries: -1 }],
		["fractional retries", { ...good, retries: 1.5 }],
	];
	for (const [name, options] of bad) {
		assert.throws(() => new RadiusClient(options), isConfigInvalid, name);
	}
});

test("a short secret is accepted but reported (docs/threat-model.md, RADIUS: ≥ 16 characters)", () => {
	const events: RadiusEvent[] = [];
	new RadiusClient({ servers: [{ host: "10.0.0.1", secret: "short" }], nasIdentifier: "n", onEvent: (e) => events.push(e) });
	assert.deepEqual(events, [{ type: "weak-secret", server: "10.0.0.1:1812", length: 5 }]);
});

test("input that cannot be encoded is ERR_INPUT, before anything is sent", async () => {
	const server = await stub("valid-accept");
	const { client: radius } = client([entry(server)]);
	const isInput = (error: unknown): boolean => isPortcullisError(error, "ERR_INPUT");
	await assert.rejects(radius.authenticate({ username: "alice", password: "p".repeat(129) }), isInput);
	await assert.rejects(radius.authenticate({ username: "", password: "p" }), isInput);
	await assert.rejects(radius.authenticate({ ...ALICE, state: Buffer.alloc(0) }), isInput);
	await assert.rejects(radius.authenticate({ ...ALICE, serverIndex: 5 }), isInput);
	assert.equal(server.requests.length, 0);
	// Exactly 128 octets is fine.
	assert.equal((await radius.authenticate({ username: "alice", password: "p".repeat(128) })).kind, "accept");
});

test("an IPv6 server works (udp6 socket, source check on ::1)", async () => {
	const server = await startHostileRadiusServer({ mode: "valid-accept", host: "::1" });
	stubs.push(server);
	const { client: radius, events } = client([entry(server)]);
	assert.equal((await radius.authenticate(ALICE)).kind, "accept");
	assert.deepEqual(drops(events), []);
	server.mode = "wrong-source-port";
	await assert.rejects(radius.authenticate(ALICE), isUnavailable);
	assert.deepEqual(drops(events), ["unexpected-source", "unexpected-source"]);
});

test("a host that does not resolve counts as a failed server", async () => {
	const good = await stub("valid-accept");
	const { client: radius, events } = client([{ host: "radius.invalid", secret: "x".repeat(16) }, entry(good)], {
		resolve: async (host) => {
			if (host === "radius.invalid") throw new Error("ENOTFOUND");
			return { address: host, family: 4 };
		},
	});
	assert.equal((await radius.authenticate(ALICE)).kind, "accept");
	assert.ok(events.some((event) => event.type === "server-failed" && event.reason === "resolve-failed"));
});

test("an audit hook that throws does not change the outcome", async () => {
	const server = await stub("forged-then-reject");
	const radius = new RadiusClient({
		servers: [entry(server)],
		nasIdentifier: "n",
		timeoutMs: 150,
		onEvent: () => {
			throw new Error("audit sink down");
		},
	});
	assert.equal((await radius.authenticate(ALICE)).kind, "reject");
	assert.equal(radius.droppedReplies, 1);
});

test("concurrent authentications do not cross (each has its own socket and Identifier space)", async () => {
	const accept = await stub("valid-accept");
	const reject = await stub("valid-reject");
	const { client: radius } = client([entry(accept)]);
	const { client: radiusReject } = client([entry(reject)]);
	const results = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? radius : radiusReject).authenticate(ALICE)));
	for (const [i, result] of results.entries()) assert.equal(result.kind, i % 2 === 0 ? "accept" : "reject");
});

test("Reply-Message is stripped of control and bidi characters", () => {
	assert.equal(sanitizeReplyMessage("Enter\u001b[2J code\r\n\u202Enext\u0007"), "Enter[2J code\nnext");
	assert.equal(sanitizeReplyMessage("x".repeat(5000)).length, 1024);
});

test("testConnection reports reachable/verified per server with a useful hint", async () => {
	const reject = await stub("valid-reject");
	const accept = await stub("valid-accept");
	const unsigned = await stub("accept-without-message-authenticator");
	const forger = await stub("forged-accept");
	const silent = await stub("never-answer");
	const malformed = await stub("bad-length");
	const { client: radius } = client([entry(reject), entry(accept), entry(unsigned), entry(forger), entry(silent), entry(malformed)], {
		retries: 0,
		timeoutMs: 100,
	});
	const [r, a, u, f, s, m] = await radius.testConnection();
	assert.ok(r && a && u && f && s && m);
	assert.deepEqual(
		{ reachable: r.reachable, verified: r.verified, outcome: r.outcome, problem: r.problem },
		{ reachable: true, verified: true, outcome: "reject", problem: null },
	);
	assert.ok(r.roundTripMs !== null && r.roundTripMs >= 0);
	assert.equal(a.outcome, "accept");
	assert.match(a.problem ?? "", /ACCEPTED a dummy user/);
	assert.deepEqual([u.reachable, u.verified], [true, false]);
	assert.match(u.problem ?? "", /Message-Authenticator/);
	assert.deepEqual([f.reachable, f.verified], [true, false]);
	assert.match(f.problem ?? "", /shared secret/);
	assert.deepEqual([s.reachable, s.verified, s.outcome], [false, false, null]);
	assert.match(s.problem ?? "", /no reply/);
	assert.deepEqual([m.reachable, m.verified], [true, false]);
	assert.match(m.problem ?? "", /malformed.*length-exceeds-datagram/);
	// The dummy user's password is random, not a fixed string someone could enrol.
	assert.equal(reject.requests[0]?.packet && findAttribute(reject.requests[0].packet, RADIUS_ATTR.UserName)?.value.toString(), "portcullis-connection-test");
	assert.match(reject.requests[0]?.password ?? "", /^[0-9a-f]{24}$/);
});
