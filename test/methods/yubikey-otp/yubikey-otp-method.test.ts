/**
 * The YubiKey (Yubico OTP) method through the real LoginFlow and EnrollmentFlow: binding of the
 * public id to one user, another key's valid OTP refused, counters strictly rising (offline), the
 * cloud's signed answers (fake validation server) and every untrustworthy answer failing closed.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createMethodAdmin } from "../../../src/methods/method-admin.ts";
import { startFakeYubicoServer, type FakeYubicoMode, type FakeYubicoServer } from "../../helpers/fake-yubico-server.ts";
import { ENROL, challenge, lastAudit, loginWith, makeUser } from "../../helpers/method-login.ts";
import { ADMIN_ACTOR, SSH, WEB, createTestApp, type TestApp } from "../../helpers/test-app.ts";
import { simulatedYubikey, type SimulatedYubikey } from "../../helpers/yubikey-keys.ts";

async function enrolOffline(t: TestApp, userId: string, key: SimulatedYubikey) {
	return t.app.enrollment.begin(userId, "yubikey-otp", "my key", { otp: key.otp(), aesKey: key.aesKeyHex, privateId: key.privateIdHex }, ENROL);
}

for (const engine of ["sqlite", "postgres"] as const)
	describe(`YubiKey OTP, offline mode (${engine})`, () => {
		let t: TestApp;
		const alice = simulatedYubikey();
		const bob = simulatedYubikey();
		let aliceId: string;
		let bobId: string;

		before(async () => {
			t = await createTestApp({ engine });
			await createMethodAdmin(t.app).update(ADMIN_ACTOR, "yubikey-otp", { mode: "offline" });
			await t.app.admin.updateSettings(ADMIN_ACTOR, { enabledMethods: ["totp", "yubikey-otp", "recovery-code"] });
			aliceId = await makeUser(t, "alice");
			bobId = await makeUser(t, "bob");
			assert.equal((await enrolOffline(t, aliceId, alice)).kind, "active");
			assert.equal((await enrolOffline(t, bobId, bob)).kind, "active");
		});
		after(async () => t.cleanup());

		test("the public id is bound: a key of another account, or one already enrolled, is refused at enrolment", async () => {
			const carolId = await makeUser(t, "carol");
			const stolen = await enrolOffline(t, carolId, alice);
			assert.equal(stolen.kind, "rejected");
			assert.match(stolen.kind === "rejected" ? stolen.message : "", /another account/);
			const again = await enrolOffline(t, aliceId, alice);
			assert.equal(again.kind, "rejected");
			assert.match(again.kind === "rejected" ? again.message : "", /already set up for your account/);
			const factors = await t.app.stores.factors.findByPublicId("yubikey-otp", alice.publicId);
			assert.deepEqual(
				factors.map((factor) => factor.userId),
				[aliceId],
			);
		});

		test("enrolment verifies the OTP with the entered AES key and private id before storing anything", async () => {
			const daveId = await makeUser(t, "dave");
			const key = simulatedYubikey();
			const wrongAes = await t.app.enrollment.begin(
				daveId,
				"yubikey-otp",
				"k",
				{ otp: key.otp(), aesKey: "00".repeat(16), privateId: key.privateIdHex },
				ENROL,
			);
			assert.equal(wrongAes.kind, "rejected");
			const wrongPrivate = await t.app.enrollment.begin(
				daveId,
				"yubikey-otp",
				"k",
				{ otp: key.otp(), aesKey: key.aesKeyHex, privateId: "00".repeat(6) },
				ENROL,
			);
			assert.equal(wrongPrivate.kind, "rejected");
			for (const aesKey of ["", "abc", "zz".repeat(16), "00".repeat(17)]) {
				assert.equal(
					(await t.app.enrollment.begin(daveId, "yubikey-otp", "k", { otp: key.otp(), aesKey, privateId: key.privateIdHex }, ENROL)).kind,
					"rejected",
				);
			}
			assert.equal(
				(await t.app.enrollment.begin(daveId, "yubikey-otp", "k", { otp: "not an otp", aesKey: key.aesKeyHex, privateId: key.privateIdHex }, ENROL)).kind,
				"rejected",
			);
			assert.equal((await t.app.stores.factors.listActive(daveId)).length, 0);
			// Spaces and colons as printed by tools are accepted.
			const spaced = key.aesKeyHex.replace(/(..)/g, "$1 ");
			const ok = await t.app.enrollment.begin(
				daveId,
				"yubikey-otp",
				"k",
				{ otp: key.otp(), aesKey: spaced, privateId: key.privateIdHex.replace(/(..)(?!$)/g, "$1:") },
				ENROL,
			);
			assert.equal(ok.kind, "active");
			// The secret is sealed, never stored in clear.
			const [factor] = await t.app.stores.factors.listActive(daveId, "yubikey-otp");
			assert.ok(factor?.secretEnc?.startsWith("v1:") && !factor.secretEnc.includes(key.aesKeyHex));
		});

		test("a valid OTP of this user's key logs in, on SSH and on the web; the prompt says to touch the key", async () => {
			const { prompt } = await challenge(t, "alice", "yubikey-otp");
			assert.equal(prompt.kind === "prompt" && prompt.prompt, "YubiKey: touch your key");
			assert.equal((await loginWith(t, "alice", "yubikey-otp", alice.otp(), SSH)).kind, "authenticated");
			assert.equal((await loginWith(t, "alice", "yubikey-otp", alice.otp().toUpperCase(), WEB)).kind, "authenticated", "caps lock");
		});

		test("another key's VALID OTP is refused (it is bob's key, not alice's)", async () => {
			const result = await loginWith(t, "alice", "yubikey-otp", bob.otp());
			assert.equal(result.kind, "invalid");
			assert.equal((await lastAudit(t, "alice", "second-factor.failure"))?.reason, "wrong");
			// bob's key still works for bob: the refused OTP was not spent on his counter... but it
			// was a real touch, so take a fresh one as a real user would.
			assert.equal((await loginWith(t, "bob", "yubikey-otp", bob.otp())).kind, "authenticated");
			await t.app.admin.unlock(ADMIN_ACTOR, "alice");
		});

		test("counters must strictly rise: a replay and an older OTP are refused, also on the other channel", async () => {
			const otp = alice.otp();
			assert.equal((await loginWith(t, "alice", "yubikey-otp", otp, WEB)).kind, "authenticated");
			assert.equal((await loginWith(t, "alice", "yubikey-otp", otp, SSH)).kind, "invalid");
			assert.equal((await lastAudit(t, "alice", "second-factor.failure"))?.reason, "replayed");
			// A cryptographically valid OTP from before (lower session counter) is a regression.
			const older = alice.otpAt(alice.useCounter, Math.max(0, alice.sessionCounter - 3));
			assert.equal((await loginWith(t, "alice", "yubikey-otp", older)).kind, "invalid");
			assert.equal((await lastAudit(t, "alice", "second-factor.failure"))?.reason, "replayed");
			// A new power-up (use counter +1, session counter 0) is higher than anything before.
			alice.useCounter += 1;
			alice.sessionCounter = 0;
			assert.equal((await loginWith(t, "alice", "yubikey-otp", alice.otp())).kind, "authenticated");
			const [factor] = await t.app.stores.factors.listActive((await t.app.stores.users.findByUsername("alice"))!.id, "yubikey-otp");
			assert.equal(factor?.lastUsedCounter, alice.useCounter * 256 + alice.sessionCounter - 1);
			await t.app.admin.unlock(ADMIN_ACTOR, "alice");
		});

		test("the enrolment OTP cannot be replayed at login", async () => {
			const erinId = await makeUser(t, "erin");
			const key = simulatedYubikey();
			const first = key.otp();
			assert.equal(
				(await t.app.enrollment.begin(erinId, "yubikey-otp", "k", { otp: first, aesKey: key.aesKeyHex, privateId: key.privateIdHex }, ENROL)).kind,
				"active",
			);
			assert.equal((await loginWith(t, "erin", "yubikey-otp", first)).kind, "invalid");
			assert.equal((await loginWith(t, "erin", "yubikey-otp", key.otp())).kind, "authenticated");
		});

		test("two logins racing with one OTP: exactly one wins (compare-and-set)", async () => {
			const otp = alice.otp();
			const [a, b] = await Promise.all([challenge(t, "alice", "yubikey-otp", WEB), challenge(t, "alice", "yubikey-otp", SSH)]);
			const results = await Promise.all([
				t.app.login.submitSecondFactor(a.attemptId, "yubikey-otp", otp),
				t.app.login.submitSecondFactor(b.attemptId, "yubikey-otp", otp),
			]);
			assert.deepEqual(results.map((result) => result.kind).sort(), ["authenticated", "invalid"]);
			await t.app.admin.unlock(ADMIN_ACTOR, "alice");
		});

		test("bad input is a value, never a throw", async () => {
			for (const bad of ["", " ", "x".repeat(100_000), "cccccccccccc", `${alice.publicId}${"k".repeat(32)}`, "\u212a".repeat(44)]) {
				await t.app.admin.unlock(ADMIN_ACTOR, "alice");
				const result = await loginWith(t, "alice", "yubikey-otp", bad);
				assert.equal(result.kind, "invalid");
			}
			await t.app.admin.unlock(ADMIN_ACTOR, "alice");
		});
	});

describe("YubiKey OTP, cloud mode (fake validation server)", () => {
	let t: TestApp;
	let server: FakeYubicoServer;
	const API_KEY = Buffer.from("the fake server's key!").toString("base64");
	const keys: SimulatedYubikey[] = [];
	const alice = simulatedYubikey();
	const bob = simulatedYubikey();

	before(async () => {
		keys.push(alice, bob);
		server = await startFakeYubicoServer({ clients: { "87": API_KEY }, keys });
		t = await createTestApp();
		// http:// is allowed here only because the server is on this host (see method-settings.ts).
		await createMethodAdmin(t.app).update(ADMIN_ACTOR, "yubikey-otp", { mode: "cloud", urls: [server.url], clientId: "87", apiKey: API_KEY, timeoutMs: 1000 });
		await t.app.admin.updateSettings(ADMIN_ACTOR, { enabledMethods: ["totp", "yubikey-otp"] });
		for (const [name, key] of [
			["alice", alice],
			["bob", bob],
		] as const) {
			const id = await makeUser(t, name);
			const begin = await t.app.enrollment.begin(id, "yubikey-otp", "k", { otp: key.otp() }, ENROL);
			assert.equal(begin.kind, "active", JSON.stringify(begin));
		}
	});
	after(async () => {
		await server.close();
		await t.cleanup();
	});

	test("a valid OTP logs in; the request carried a nonce and a valid signature; the cloud's counter is stored", async () => {
		const before = server.requests.length;
		assert.equal((await loginWith(t, "alice", "yubikey-otp", alice.otp())).kind, "authenticated");
		const request = server.requests[before]!;
		assert.ok(request.signatureValid);
		assert.match(request.params.get("nonce") ?? "", /^[0-9a-f]{32}$/);
		const [factor] = await t.app.stores.factors.listActive((await t.app.stores.users.findByUsername("alice"))!.id, "yubikey-otp");
		assert.equal(factor?.lastUsedCounter, alice.useCounter * 256 + alice.sessionCounter - 1);
	});

	test("another key's valid OTP is refused without even being sent", async () => {
		const before = server.requests.length;
		assert.equal((await loginWith(t, "alice", "yubikey-otp", bob.otp())).kind, "invalid");
		assert.equal(server.requests.length, before);
		await t.app.admin.unlock(ADMIN_ACTOR, "alice");
	});

	test("a replayed OTP is refused (the server's REPLAYED_OTP)", async () => {
		const otp = alice.otp();
		assert.equal((await loginWith(t, "alice", "yubikey-otp", otp)).kind, "authenticated");
		assert.equal((await loginWith(t, "alice", "yubikey-otp", otp)).kind, "invalid");
		assert.equal((await lastAudit(t, "alice", "second-factor.failure"))?.reason, "replayed");
		await t.app.admin.unlock(ADMIN_ACTOR, "alice");
	});

	test("the counter check also holds when the server forgot (our compare-and-set)", async () => {
		const stale = alice.otpAt(alice.useCounter, 0);
		// A second, honest server that has never seen this key's counters says OK; we still refuse.
		const fresh = await startFakeYubicoServer({ clients: { "87": API_KEY }, keys });
		try {
			await createMethodAdmin(t.app).update(ADMIN_ACTOR, "yubikey-otp", { mode: "cloud", urls: [fresh.url], clientId: "87", timeoutMs: 1000 });
			assert.equal((await loginWith(t, "alice", "yubikey-otp", stale)).kind, "invalid");
			assert.equal((await lastAudit(t, "alice", "second-factor.failure"))?.reason, "replayed");
		} finally {
			await createMethodAdmin(t.app).update(ADMIN_ACTOR, "yubikey-otp", { mode: "cloud", urls: [server.url], clientId: "87", timeoutMs: 1000 });
			await fresh.close();
			await t.app.admin.unlock(ADMIN_ACTOR, "alice");
		}
	});

	const untrustworthy: FakeYubicoMode[] = [
		"unsigned",
		"wrong-h",
		"non-base64-h",
		"otp-mismatch",
		"nonce-mismatch",
		"garbage",
		"http-500",
		"duplicate-key",
		"unknown-status",
		"bad-signature-status",
		"lf-only",
		"huge",
		"huge-chunked",
	];
	for (const mode of untrustworthy) {
		test(`an untrustworthy answer (${mode}) fails closed: denied, audited, not charged`, async () => {
			server.mode = mode;
			try {
				const failuresBefore = (await t.app.stores.users.findByUsername("alice"))!.tfa_failures;
				const result = await loginWith(t, "alice", "yubikey-otp", alice.otp());
				assert.equal(result.kind, "denied");
				assert.ok(result.kind === "denied" && result.reason === "unavailable");
				const [event] = await t.app.stores.audit.query({ username: "alice", event: "login.error", limit: 1 });
				assert.match(event?.detail ?? "", /ERR_METHOD_UNAVAILABLE/);
				assert.equal((await t.app.stores.users.findByUsername("alice"))!.tfa_failures, failuresBefore);
			} finally {
				server.mode = "ok";
			}
		});
	}

	test("BAD_OTP is a wrong answer (charged), not an outage", async () => {
		assert.equal((await loginWith(t, "alice", "yubikey-otp", alice.forgedOtp())).kind, "invalid");
		assert.equal((await lastAudit(t, "alice", "second-factor.failure"))?.reason, "wrong");
		await t.app.admin.unlock(ADMIN_ACTOR, "alice");
	});

	test("a slow server times out and fails closed", async () => {
		server.mode = "slow";
		try {
			const result = await loginWith(t, "alice", "yubikey-otp", alice.otp());
			assert.ok(result.kind === "denied" && result.reason === "unavailable");
		} finally {
			server.mode = "ok";
		}
	});

	test("settings are read on every use: switching to offline mode stops cloud-enrolled keys at once", async () => {
		await createMethodAdmin(t.app).update(ADMIN_ACTOR, "yubikey-otp", { mode: "offline" });
		assert.equal((await loginWith(t, "bob", "yubikey-otp", bob.otp())).kind, "invalid", "no AES key stored for a cloud-enrolled key");
		await createMethodAdmin(t.app).update(ADMIN_ACTOR, "yubikey-otp", { mode: "cloud", urls: [server.url], clientId: "87", apiKey: API_KEY, timeoutMs: 1000 });
		assert.equal((await loginWith(t, "bob", "yubikey-otp", bob.otp())).kind, "authenticated");
	});

	test("enrolment in cloud mode: a key the server does not know is refused; a replayed OTP is refused", async () => {
		const carolId = await makeUser(t, "carol");
		const unknown = simulatedYubikey();
		const refused = await t.app.enrollment.begin(carolId, "yubikey-otp", "k", { otp: unknown.otp() }, ENROL);
		assert.equal(refused.kind, "rejected");
		const known = simulatedYubikey();
		keys.push(known);
		const otp = known.otp();
		assert.equal((await t.app.enrollment.begin(carolId, "yubikey-otp", "k", { otp }, ENROL)).kind, "active");
		// An OTP the server already validated: REPLAYED_OTP, refused with a message.
		const daveId = await makeUser(t, "dave");
		const other = simulatedYubikey();
		keys.push(other);
		const spent = other.otp();
		const first = await t.app.enrollment.begin(daveId, "yubikey-otp", "k", { otp: spent }, ENROL);
		assert.equal(first.kind, "active");
		assert.equal((await t.app.enrollment.remove(daveId, first.kind === "active" ? first.factorId : "", ENROL)).kind, "removed");
		const replayed = await t.app.enrollment.begin(daveId, "yubikey-otp", "k", { otp: spent }, ENROL);
		assert.equal(replayed.kind, "rejected");
		assert.match(replayed.kind === "rejected" ? replayed.message : "", /already used/);
	});

	test("the validation server unreachable at enrolment: rejected with a message, nothing stored", async () => {
		const erinId = await makeUser(t, "erin");
		const key = simulatedYubikey();
		keys.push(key);
		server.mode = "slow";
		try {
			const result = await t.app.enrollment.begin(erinId, "yubikey-otp", "k", { otp: key.otp() }, ENROL);
			assert.equal(result.kind, "rejected");
			assert.match(result.kind === "rejected" ? result.message : "", /cannot be reached|trustworthy/);
			assert.equal((await t.app.stores.factors.listActive(erinId)).length, 0);
		} finally {
			server.mode = "ok";
		}
	});
});
