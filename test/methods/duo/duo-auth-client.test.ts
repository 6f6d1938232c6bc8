import assert from "node:assert/strict";
import { createServer } from "node:net";
import { after, before, describe, test } from "node:test";
import { FakeClock } from "../../../src/core/clock.ts";
import { isPortcullisError, type PortcullisError } from "../../../src/core/errors.ts";
import { DuoApiFailure, DuoAuthClient, sanitizeDuoText, type DuoAuthClientOptions } from "../../../src/methods/duo/duo-auth-client.ts";
import { decidePreauth, isDuoAllow } from "../../../src/methods/duo/duo-policy.ts";
import { DUO_IKEY, DUO_SKEY, type FakeDuoFault, type FakeDuoServer, startFakeDuoServer } from "../../helpers/fake-duo-server.ts";
import { makeTestCa, opensslSkip, sharedTestCa, type TestCa } from "../../helpers/test-ca.ts";

const PHONE = "DPFZRS9FB0D46QFTM891";

const skip = opensslSkip();

function isUnavailable(error: unknown): error is PortcullisError {
	return isPortcullisError(error, "ERR_METHOD_UNAVAILABLE");
}

function duoCode(error: unknown): number | null {
	return isUnavailable(error) && error.cause instanceof DuoApiFailure ? error.cause.duoCode : null;
}

describe("DuoAuthClient against the fake Duo server", { skip }, () => {
	let ca: TestCa;
	let server: FakeDuoServer;
	const clock = new FakeClock(Date.UTC(2026, 0, 1, 12, 0, 0));
	const sleeps: number[] = [];
	const sleep = async (ms: number): Promise<void> => {
		sleeps.push(ms);
		clock.advance(ms);
	};

	const client = (extra: Partial<DuoAuthClientOptions> = {}): DuoAuthClient =>
		new DuoAuthClient({
			integrationKey: DUO_IKEY,
			secretKey: DUO_SKEY,
			apiHost: server.host,
			port: server.port,
			ca: ca.caCert,
			clock,
			sleep,
			timeoutMs: 2_000,
			longPollTimeoutMs: 2_000,
			...extra,
		});

	before(async () => {
		ca = sharedTestCa();
		server = await startFakeDuoServer({
			ikey: DUO_IKEY,
			skey: DUO_SKEY,
			tls: { cert: ca.serverCert, key: ca.serverKey },
			clock,
			users: {
				alice: { passcodes: ["123456", "654321"] },
				bob: { push: "deny", phone: "deny" },
				carol: { push: "timeout" },
				dave: { preauth: "deny" },
				erin: { preauth: "enroll" },
				frank: { preauth: "allow" },
				gina: { push: "never" },
				henry: { waitingPolls: 3 },
				"jürgen.o'brien+x": {},
				ivan: {
					devices: [
						{ device: "DPTOKEN0000000000001", type: "token", display_name: "Token\u001b[2J\u0007 (D-100)", capabilities: ["mobile_otp", "future_thing"] },
						{ device: "DPPHONE0000000000002", type: "phone", display_name: "Landline", capabilities: ["phone"] },
					],
				},
			},
		});
	});
	after(() => server.close());

	test("check: signed GET, Date from the injected clock", async () => {
		const result = await client().check();
		assert.equal(result.time, Math.floor(clock.now().getTime() / 1000));
		const request = server.requests.at(-1)!;
		assert.equal(request.authCode, 0);
		assert.equal(request.method, "GET");
		assert.equal(request.date, "Thu, 01 Jan 2026 12:00:00 -0000");
	});

	test("preauth auth: devices and capabilities, ipaddr passed, form-encoded POST", async () => {
		const result = await client().preauth("alice", "192.0.2.44");
		assert.deepEqual(result, {
			result: "auth",
			statusMsg: "Account is active",
			devices: [{ device: PHONE, displayName: "iOS (XXX-XXX-0100)", capabilities: ["auto", "push", "sms", "phone", "mobile_otp"], type: "phone" }],
		});
		const request = server.requests.at(-1)!;
		assert.equal(request.authCode, 0);
		assert.equal(request.path, "/auth/v2/preauth");
		assert.deepEqual(request.params, { username: "alice", ipaddr: "192.0.2.44" });
		assert.equal(request.contentType, "application/x-www-form-urlencoded");
	});

	test("preauth: control characters in device names are stripped, unknown capabilities kept", async () => {
		const result = await client().preauth("ivan");
		assert.ok(result.result === "auth");
		assert.equal(result.devices[0]!.displayName, "Token[2J (D-100)");
		assert.deepEqual(result.devices[0]!.capabilities, ["mobile_otp", "future_thing"]);
	});

	test("preauth deny / enroll / allow (bypass) / unknown user", async () => {
		assert.deepEqual(await client().preauth("dave"), { result: "deny", statusMsg: "Your account is disabled" });
		assert.deepEqual(await client().preauth("erin"), {
			result: "enroll",
			statusMsg: "Enroll an authentication device to proceed",
			enrollPortalUrl: "https://localhost/portal?code=48bac5d9393fb2c2",
		});
		assert.deepEqual(await client().preauth("frank"), { result: "allow", statusMsg: "Allowing unknown user" });
		assert.equal((await client().preauth("nobody")).result, "enroll");
	});

	test("policy: enroll and deny are denials; bypass only with the admin opt-in", async () => {
		const off = { honourDuoBypass: false };
		const on = { honourDuoBypass: true };
		assert.deepEqual(decidePreauth(await client().preauth("alice"), off), { kind: "challenge" });
		assert.deepEqual(decidePreauth(await client().preauth("dave"), on), { kind: "deny", reason: "duo-deny" });
		assert.deepEqual(decidePreauth(await client().preauth("erin"), on), { kind: "deny", reason: "not-enrolled" });
		assert.deepEqual(decidePreauth(await client().preauth("frank"), off), { kind: "deny", reason: "bypass-not-allowed" });
		assert.deepEqual(decidePreauth(await client().preauth("frank"), on), { kind: "allow", reason: "duo-bypass" });
	});

	test("usernames with RFC 3986-reserved and non-ASCII characters are signed correctly", async () => {
		const result = await client().preauth("jürgen.o'brien+x", "2001:db8::1");
		assert.equal(result.result, "auth");
		assert.equal(server.requests.at(-1)!.authCode, 0);
		assert.equal(server.requests.at(-1)!.params.username, "jürgen.o'brien+x");
	});

	test("sync push: approved -> allow, denied -> deny, timed out -> deny", async () => {
		const allow = await client().auth({ username: "alice", factor: "push", device: PHONE, ipaddr: "192.0.2.44" });
		assert.deepEqual(allow, { kind: "decided", result: "allow", status: "allow", statusMsg: "Success. Logging you in..." });
		assert.deepEqual(server.requests.at(-1)!.params, { username: "alice", factor: "push", device: PHONE, ipaddr: "192.0.2.44" });
		const deny = await client().auth({ username: "bob", factor: "push", device: "auto" });
		assert.ok(deny.kind === "decided");
		assert.equal(deny.result, "deny");
		const timeout = await client().auth({ username: "carol", factor: "push", device: "auto" });
		assert.ok(timeout.kind === "decided");
		assert.deepEqual([timeout.result, timeout.status], ["deny", "timeout"]);
		assert.equal(isDuoAllow(allow as { result: "allow"; status: string }, { honourDuoBypass: false }), true);
		assert.equal(isDuoAllow(timeout, { honourDuoBypass: true }), false);
	});

	test("phone call: approved and denied", async () => {
		const ok = await client().auth({ username: "alice", factor: "phone", device: PHONE });
		assert.ok(ok.kind === "decided" && ok.result === "allow");
		const no = await client().auth({ username: "bob", factor: "phone", device: PHONE });
		assert.ok(no.kind === "decided" && no.result === "deny");
	});

	test("passcode: valid once, then deny (single use), wrong -> deny", async () => {
		const first = await client().auth({ username: "alice", factor: "passcode", passcode: "123456" });
		assert.ok(first.kind === "decided" && first.result === "allow");
		const again = await client().auth({ username: "alice", factor: "passcode", passcode: "123456" });
		assert.ok(again.kind === "decided" && again.result === "deny");
		const wrong = await client().auth({ username: "alice", factor: "passcode", passcode: "000000" });
		assert.deepEqual(wrong, { kind: "decided", result: "deny", status: "deny", statusMsg: "Incorrect passcode. Please try again." });
	});

	test("malformed passcodes are denied locally, without a request", async () => {
		const before = server.requests.length;
		for (const passcode of ["", "12 3456", "1".repeat(65), "x".repeat(1024 * 1024), "１２３４５６", "123\u0000456", "123\n456"]) {
			const result = await client().auth({ username: "alice", factor: "passcode", passcode });
			assert.deepEqual(result, { kind: "decided", result: "deny", status: "malformed-passcode", statusMsg: "That is not a Duo passcode." });
		}
		assert.equal(server.requests.length, before);
	});

	test("bypass user via /auth: allow/bypass needs the opt-in too", async () => {
		const result = await client().auth({ username: "frank", factor: "push", device: "auto" });
		assert.ok(result.kind === "decided");
		assert.deepEqual([result.result, result.status], ["allow", "bypass"]);
		assert.equal(isDuoAllow(result, { honourDuoBypass: false }), false);
		assert.equal(isDuoAllow(result, { honourDuoBypass: true }), true);
	});

	test("enroll and deny users are denied at /auth", async () => {
		for (const username of ["erin", "dave"]) {
			const result = await client().auth({ username, factor: "push", device: "auto" });
			assert.ok(result.kind === "decided");
			assert.equal(result.result, "deny");
		}
	});

	test("async push + waitForAuth: polls with the injected sleep until allow", async () => {
		const started = await client().auth({ username: "henry", factor: "push", device: "auto", async: true });
		assert.ok(started.kind === "pending");
		assert.equal(server.requests.at(-1)!.params.async, "1");
		sleeps.length = 0;
		const waiting: string[] = [];
		const decision = await client().waitForAuth(started.txid, { pollIntervalMs: 500, onWaiting: (s) => waiting.push(s.status) });
		assert.deepEqual(decision, { result: "allow", status: "allow", statusMsg: "Success. Logging you in..." });
		assert.deepEqual(sleeps, [500, 500, 500]);
		assert.deepEqual(waiting, ["pushed", "pushed", "pushed"]);
		const poll = server.requests.at(-1)!;
		assert.equal(poll.method, "GET");
		assert.equal(poll.path, "/auth/v2/auth_status");
		assert.deepEqual(poll.params, { txid: started.txid });
	});

	test("async push denied and async passcode", async () => {
		const denied = await client().auth({ username: "bob", factor: "push", device: "auto", async: true });
		assert.ok(denied.kind === "pending");
		assert.equal((await client().waitForAuth(denied.txid)).result, "deny");
		const passcode = await client().auth({ username: "alice", factor: "passcode", passcode: "654321", async: true });
		assert.ok(passcode.kind === "pending");
		assert.equal((await client().waitForAuth(passcode.txid)).result, "allow");
	});

	test("a push nobody answers ends as deny/timeout at maxWait (fake clock)", async () => {
		const started = await client().auth({ username: "gina", factor: "push", device: "auto", async: true });
		assert.ok(started.kind === "pending");
		sleeps.length = 0;
		const begin = clock.now().getTime();
		const decision = await client().waitForAuth(started.txid, { maxWaitMs: 10_000, pollIntervalMs: 1_000 });
		assert.deepEqual(decision, { result: "deny", status: "timeout", statusMsg: "No answer from Duo in time." });
		assert.equal(sleeps.length, 10);
		assert.ok(clock.now().getTime() - begin <= 10_000);
	});

	test("auth_status single poll returns waiting as a value", async () => {
		const started = await client().auth({ username: "gina", factor: "push", device: "auto", async: true });
		assert.ok(started.kind === "pending");
		assert.deepEqual(await client().authStatus(started.txid), {
			result: "waiting",
			status: "pushed",
			statusMsg: "Pushed a login request to your device...",
		});
	});

	test("an unknown txid (400 40002) fails closed", async () => {
		await assert.rejects(client().authStatus("no-such-tx"), (error) => isUnavailable(error) && duoCode(error) === 40002);
	});

	test("push to a device the user does not have (400) fails closed; missing device is ERR_INPUT", async () => {
		await assert.rejects(client().auth({ username: "alice", factor: "push", device: "DPOTHERDEVICE0000000" }), (error) => isUnavailable(error));
		await assert.rejects(client().auth({ username: "ivan", factor: "push", device: "DPPHONE0000000000002" }), (error) => isUnavailable(error));
		await assert.rejects(client().auth({ username: "alice", factor: "push" }), (error) => isPortcullisError(error, "ERR_INPUT"));
		await assert.rejects(client().auth({ username: "alice", factor: "push", device: "../x" }), (error) => isPortcullisError(error, "ERR_INPUT"));
		await assert.rejects(client().auth({ username: "alice", factor: "sms" as "push", device: "auto" }), (error) => isPortcullisError(error, "ERR_INPUT"));
		await assert.rejects(client().preauth("bad\nname"), (error) => isPortcullisError(error, "ERR_INPUT"));
	});

	describe("request authentication as Duo checks it", () => {
		test("wrong secret key -> 401 40103 -> ERR_METHOD_UNAVAILABLE", async () => {
			await assert.rejects(client({ secretKey: "Zh5eGmUq9zpfQnyUIu5OL9iWoMMv5ZNmk3zLJ4Eq" }).preauth("alice"), (error) => duoCode(error) === 40103);
			assert.equal(server.requests.at(-1)!.authCode, 40103);
		});

		test("wrong integration key -> 401 40102", async () => {
			await assert.rejects(client({ integrationKey: "DIXXXXXXXXXXXXXXXXXX" }).check(), (error) => duoCode(error) === 40102);
		});

		test("client clock 10 minutes off -> 401 40103; 4 minutes off is accepted", async () => {
			const skewed = new FakeClock(clock.now().getTime() - 10 * 60_000);
			await assert.rejects(client({ clock: skewed }).check(), (error) => duoCode(error) === 40103);
			const ahead = new FakeClock(clock.now().getTime() + 4 * 60_000);
			assert.equal(typeof (await client({ clock: ahead }).check()).time, "number");
		});

		test("the signed host is the configured API host, case-insensitively", async () => {
			assert.equal(typeof (await client({ apiHost: "LOCALHOST" }).check()).time, "number");
		});
	});

	describe("fault modes fail closed", () => {
		const faults: FakeDuoFault[] = [
			"garbage-json",
			"html-502",
			"html-200",
			"huge",
			"huge-chunked",
			"bad-types",
			"unknown-result",
			"stat-fail",
			"json-500",
			"no-content-type",
			"hang",
		];
		const calls: [string, (c: DuoAuthClient) => Promise<unknown>][] = [
			["check", (c) => c.check()],
			["preauth", (c) => c.preauth("alice")],
			["auth push", (c) => c.auth({ username: "alice", factor: "push", device: "auto" })],
			["auth passcode", (c) => c.auth({ username: "alice", factor: "passcode", passcode: "999999" })],
			["auth async", (c) => c.auth({ username: "alice", factor: "push", device: "auto", async: true })],
			["auth_status", (c) => c.authStatus("45f7c92b-f45f-4862-8545-000000000001")],
		];
		for (const fault of faults) {
			test(`${fault}: every endpoint throws ERR_METHOD_UNAVAILABLE`, async () => {
				server.setFault(fault);
				try {
					// "unknown-result" only concerns endpoints that answer with a result.
					const relevant = fault === "unknown-result" ? calls.filter(([name]) => name !== "check" && name !== "auth async") : calls;
					for (const [name, call] of relevant) {
						await assert.rejects(call(client({ timeoutMs: 200, longPollTimeoutMs: 200 })), (error) => isUnavailable(error), `${fault} ${name}`);
					}
				} finally {
					server.setFault("none");
				}
			});
		}

		test("a hang only on auth_status: the push starts, the wait throws (no silent allow)", async () => {
			const started = await client().auth({ username: "alice", factor: "push", device: "auto", async: true });
			assert.ok(started.kind === "pending");
			server.setFault("hang", ["/auth/v2/auth_status"]);
			try {
				const begin = Date.now();
				await assert.rejects(client({ longPollTimeoutMs: 250 }).waitForAuth(started.txid), (error) => isUnavailable(error));
				assert.ok(Date.now() - begin < 2_000);
			} finally {
				server.setFault("none");
			}
		});

		test("oversized body error names the cap", async () => {
			server.setFault("huge");
			try {
				await assert.rejects(client().check(), (error) => isUnavailable(error) && /too-large/.test(error.message));
			} finally {
				server.setFault("none");
			}
		});
	});

	describe("transport", () => {
		test("a certificate from another CA is refused", async () => {
			const other = makeTestCa("Unrelated CA");
			await assert.rejects(client({ ca: other.caCert }).check(), (error) => isUnavailable(error));
		});

		test("without a CA option the system roots do not trust the test server", async () => {
			await assert.rejects(client({ ca: undefined }).check(), (error) => isUnavailable(error));
		});

		test("nothing listening -> ERR_METHOD_UNAVAILABLE", async () => {
			const probe = createServer();
			await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
			const port = (probe.address() as { port: number }).port;
			await new Promise<void>((resolve) => probe.close(() => resolve()));
			await assert.rejects(client({ port }).check(), (error) => isUnavailable(error));
		});

		test("HTTP(S)_PROXY in the environment has no effect (DUO-PSA-2017-002)", async () => {
			const saved = { http: process.env.HTTP_PROXY, https: process.env.HTTPS_PROXY };
			process.env.HTTP_PROXY = "http://127.0.0.1:9";
			process.env.HTTPS_PROXY = "http://127.0.0.1:9";
			try {
				assert.equal((await client().preauth("alice")).result, "auth");
			} finally {
				if (saved.http === undefined) delete process.env.HTTP_PROXY;
				else process.env.HTTP_PROXY = saved.http;
				if (saved.https === undefined) delete process.env.HTTPS_PROXY;
				else process.env.HTTPS_PROXY = saved.https;
			}
		});
	});
});

describe("DuoAuthClient configuration", () => {
	const base: DuoAuthClientOptions = { integrationKey: DUO_IKEY, secretKey: DUO_SKEY, apiHost: "api-xxxxxxxx.duosecurity.com" };
	const bad: Partial<DuoAuthClientOptions>[] = [
		{ integrationKey: "" },
		{ integrationKey: "DI:bad" },
		{ secretKey: "short" },
		{ secretKey: "has space has space has space" },
		{ apiHost: "https://api-xxxxxxxx.duosecurity.com" },
		{ apiHost: "api-xxxxxxxx.duosecurity.com:443" },
		{ apiHost: "api/x" },
		{ apiHost: "" },
		{ port: 0 },
		{ port: 70000 },
		{ timeoutMs: -5 },
		{ longPollTimeoutMs: 1.5 },
	];
	for (const change of bad) {
		test(`rejects ${JSON.stringify(change)}`, () => {
			assert.throws(
				() => new DuoAuthClient({ ...base, ...change }),
				(error) => isPortcullisError(error, "ERR_CONFIG_INVALID"),
			);
		});
	}
	test("accepts a normal configuration", () => {
		new DuoAuthClient(base);
		new DuoAuthClient({ ...base, apiHost: "API-XXXXXXXX.DUOSECURITY.COM", port: 8443 });
	});
});

test("sanitizeDuoText strips terminal controls and bidi overrides, caps length", () => {
	assert.equal(sanitizeDuoText("ok\u001b[31mred\u0007\u009b\u202eevil"), "ok[31mredevil");
	assert.equal(sanitizeDuoText("x".repeat(2000)).length, 512);
});
