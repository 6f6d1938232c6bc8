/**
 * The Duo method through the real LoginFlow, against the local fake Duo (HTTPS with a test CA,
 * Duo's signature checks): push approved / denied / timed out / never answered (bounded wait),
 * phone call, passcode, the pam_duo-like prompt, enrolment outcomes, "enroll" as deny for a forced
 * user, the bypass opt-in, and every broken answer failing closed without charging the user.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { MethodId } from "../../../src/core/method-id.ts";
import { createDuoMethod, duoPrompt } from "../../../src/methods/duo/duo-method.ts";
import type { SecondFactorMethod } from "../../../src/methods/method.ts";
import { createMethodAdmin } from "../../../src/methods/method-admin.ts";
import { MethodSettingsStore } from "../../../src/methods/method-settings.ts";
import { DUO_IKEY, DUO_SKEY, type FakeDuoFault, type FakeDuoServer, startFakeDuoServer } from "../../helpers/fake-duo-server.ts";
import { ENROL, challenge, lastAudit, loginWith, makeUser } from "../../helpers/method-login.ts";
import { ADMIN_ACTOR, SSH, WEB, createTestApp, type TestApp } from "../../helpers/test-app.ts";
import { makeTestCa, opensslSkip, sharedTestCa } from "../../helpers/test-ca.ts";

const skip = opensslSkip();

const PHONE = {
	device: "DPFZRS9FB0D46QFTM891",
	type: "phone",
	display_name: "iOS (XXX-XXX-0100)",
	capabilities: ["auto", "push", "sms", "phone", "mobile_otp"],
};

describe("Duo method against the fake Duo", { skip }, () => {
	let t: TestApp;
	let duo: FakeDuoServer;
	let polls = 0;

	async function settings(extra: Record<string, unknown> = {}): Promise<void> {
		await createMethodAdmin(t.app).update(ADMIN_ACTOR, "duo", {
			apiHost: `localhost:${duo.port}`,
			integrationKey: DUO_IKEY,
			secretKey: DUO_SKEY,
			timeoutMs: 1000,
			caPem: sharedTestCa().caCert,
			...extra,
		});
	}

	before(async () => {
		t = await createTestApp();
		const ca = sharedTestCa();
		duo = await startFakeDuoServer({
			ikey: DUO_IKEY,
			skey: DUO_SKEY,
			tls: { cert: ca.serverCert, key: ca.serverKey },
			clock: t.clock,
			users: {
				alice: { passcodes: ["123456", "234567"] },
				bob: { push: "deny", phone: "deny" },
				carol: { push: "timeout" },
				gina: { push: "never" },
				henry: { waitingPolls: 3 },
				ivan: {
					devices: [
						{ device: "DPTOKEN0000000000001", type: "token", display_name: "Token\u001b[2J (D-100)", capabilities: ["mobile_otp"] },
						{ device: "DPPHONE0000000000002", type: "phone", display_name: "Landline", capabilities: ["phone"] },
					],
				},
				"duo.jo": { passcodes: ["555555"] },
				erin: {},
				frank: { preauth: "allow" },
				dave: { preauth: "deny" },
				newbie: { preauth: "enroll" },
			},
		});
		await settings();
		await t.app.admin.updateSettings(ADMIN_ACTOR, { enabledMethods: ["totp", "duo", "recovery-code"] });
		// The pushes' auth_status polling runs on the fake clock (no real waiting), with a 10 s bound.
		const registry = t.app.methods as Map<MethodId, SecondFactorMethod>;
		registry.set(
			"duo",
			createDuoMethod({
				settings: new MethodSettingsStore(t.app.stores.settings, t.app.box),
				factors: t.app.stores.factors,
				clock: t.clock,
				pushMaxWaitMs: 10_000,
				sleep: async (ms) => {
					polls += 1;
					t.clock.advance(ms);
				},
				onEvent: (event) => void t.app.stores.audit.write({ ...event, method: "duo" }),
			}),
		);
		for (const name of ["alice", "bob", "carol", "gina", "henry", "ivan", "erin"]) {
			const id = await makeUser(t, name);
			const begin = await t.app.enrollment.begin(id, "duo", "Duo", {}, ENROL);
			assert.equal(begin.kind, "active", `${name}: ${JSON.stringify(begin)}`);
		}
	});
	after(async () => {
		await duo.close();
		await t.cleanup();
	});

	test("the prompt offers a passcode and only what the devices can do, like pam_duo", async () => {
		const { prompt } = await challenge(t, "alice", "duo");
		assert.equal(
			prompt.kind === "prompt" && prompt.prompt,
			"Duo: enter a passcode, or 1 for push to iOS (XXX-XXX-0100), 2 for phone call to iOS (XXX-XXX-0100)",
		);
		const ivan = await challenge(t, "ivan", "duo");
		assert.equal(ivan.prompt.kind === "prompt" && ivan.prompt.prompt, "Duo: enter a passcode, or 1 for phone call to Landline");
		await t.app.login.abandon(ivan.attemptId);
	});

	test("duoPrompt stays short with many devices and drops control characters", () => {
		const devices = Array.from({ length: 12 }, (_, index) => ({
			device: `DP${String(index).padStart(18, "0")}`,
			displayName: `Phone \u001b[31m${"x".repeat(60)} ${index}`,
			capabilities: ["push", "phone"],
			type: "phone",
		}));
		const { prompt, options } = duoPrompt(devices);
		assert.ok(prompt.length <= 190, prompt);
		assert.ok(options.length >= 1 && options.length <= 9);
		// biome-ignore lint/suspicious/noControlCharactersInRegex: the test looks for control characters
		assert.ok(!/[\u0000-\u001f]/.test(prompt));
	});

	test("push approved (by number and by word) logs in; ipaddr is passed to Duo", async () => {
		duo.requests.length = 0;
		assert.equal((await loginWith(t, "alice", "duo", "1", SSH)).kind, "authenticated");
		const auth = duo.requests.find((request) => request.path === "/auth/v2/auth")!;
		assert.deepEqual([auth.params.factor, auth.params.device, auth.params.async, auth.params.ipaddr], ["push", PHONE.device, "1", SSH.sourceAddress]);
		assert.ok(
			duo.requests.every((request) => request.authCode === 0),
			"every request correctly signed",
		);
		assert.equal((await loginWith(t, "alice", "duo", " Push ", WEB)).kind, "authenticated");
	});

	test("a push that needs several polls is waited for", async () => {
		polls = 0;
		assert.equal((await loginWith(t, "henry", "duo", "push")).kind, "authenticated");
		assert.ok(polls >= 3);
	});

	test("push denied is a wrong answer; push timed out at Duo is an expired one (both charged)", async () => {
		assert.equal((await loginWith(t, "bob", "duo", "1")).kind, "invalid");
		assert.equal((await lastAudit(t, "bob", "second-factor.failure"))?.reason, "wrong");
		assert.equal((await loginWith(t, "carol", "duo", "1")).kind, "invalid");
		assert.equal((await lastAudit(t, "carol", "second-factor.failure"))?.reason, "expired");
		assert.equal((await t.app.stores.users.findByUsername("carol"))!.tfa_failures, 1, "an unanswered push counts: this bounds push fatigue");
	});

	test("a push nobody answers ends after the bounded wait and is refused", async () => {
		const started = t.clock.now().getTime();
		assert.equal((await loginWith(t, "gina", "duo", "1")).kind, "invalid");
		assert.equal((await lastAudit(t, "gina", "second-factor.failure"))?.reason, "expired");
		assert.ok(t.clock.now().getTime() - started <= 11_000);
	});

	test("phone call by number, and a phone call denied", async () => {
		assert.equal((await loginWith(t, "alice", "duo", "2")).kind, "authenticated");
		assert.equal((await loginWith(t, "bob", "duo", "phone")).kind, "invalid");
		await t.app.admin.unlock(ADMIN_ACTOR, "bob");
	});

	test("passcodes: right once, then refused (Duo uses each once); a wrong one is refused", async () => {
		assert.equal((await loginWith(t, "alice", "duo", "234567")).kind, "authenticated");
		const auth = duo.requests.filter((request) => request.path === "/auth/v2/auth").at(-1)!;
		assert.equal(auth.params.factor, "passcode");
		assert.equal((await loginWith(t, "alice", "duo", "234567")).kind, "invalid");
		assert.equal((await loginWith(t, "alice", "duo", "000000")).kind, "invalid");
		await t.app.admin.unlock(ADMIN_ACTOR, "alice");
	});

	test("garbage answers from the user are refused locally, nothing is sent to /auth", async () => {
		for (const answer of ["", "7", "0", "\u0000\u001b[2J", "x".repeat(300), "push-me please"]) {
			await t.app.admin.unlock(ADMIN_ACTOR, "erin");
			const before = duo.requests.filter((request) => request.path === "/auth/v2/auth").length;
			const result = await loginWith(t, "erin", "duo", answer);
			assert.equal(result.kind, "invalid", JSON.stringify(answer));
			assert.equal(duo.requests.filter((request) => request.path === "/auth/v2/auth").length, before);
		}
		await t.app.admin.unlock(ADMIN_ACTOR, "erin");
	});

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
	for (const fault of faults) {
		test(`a broken Duo (${fault} on /auth) fails closed: denied, audited, not charged`, async () => {
			const { attemptId, prompt } = await challenge(t, "erin", "duo");
			assert.equal(prompt.kind, "prompt");
			duo.setFault(fault, ["/auth/v2/auth"]);
			try {
				const failures = (await t.app.stores.users.findByUsername("erin"))!.tfa_failures;
				const result = await t.app.login.submitSecondFactor(attemptId, "duo", "1");
				assert.ok(result.kind === "denied" && result.reason === "unavailable", JSON.stringify(result));
				assert.match((await t.app.stores.audit.query({ username: "erin", event: "login.error", limit: 1 }))[0]?.detail ?? "", /ERR_METHOD_UNAVAILABLE/);
				assert.equal((await t.app.stores.users.findByUsername("erin"))!.tfa_failures, failures);
			} finally {
				duo.setFault("none");
			}
		});
	}

	test("a broken preauth denies before any prompt (startChallenge)", async () => {
		duo.setFault("garbage-json", ["/auth/v2/preauth"]);
		try {
			const { prompt } = await challenge(t, "erin", "duo");
			assert.ok(prompt.kind === "denied" && prompt.reason === "unavailable");
		} finally {
			duo.setFault("none");
		}
	});

	test("a server certificate from another CA is refused (fail closed)", async () => {
		await settings({ caPem: makeTestCa("Some Other CA").caCert });
		try {
			const { prompt } = await challenge(t, "erin", "duo");
			assert.ok(prompt.kind === "denied" && prompt.reason === "unavailable");
		} finally {
			await settings();
		}
	});

	test("a wrong secret key: Duo answers 401, the login fails closed", async () => {
		await settings({ secretKey: "x".repeat(40) });
		try {
			const { prompt } = await challenge(t, "erin", "duo");
			assert.ok(prompt.kind === "denied" && prompt.reason === "unavailable");
		} finally {
			await settings();
		}
	});

	test("enrolment: preauth 'auth' → active with the device list; another Duo username; bound usernames refused", async () => {
		const joId = await makeUser(t, "jo");
		const begin = await t.app.enrollment.begin(joId, "duo", "Duo", { username: "duo.jo" }, ENROL);
		assert.equal(begin.kind, "active");
		assert.deepEqual(begin.kind === "active" && begin.display, { duoUsername: "duo.jo", devices: "iOS (XXX-XXX-0100)" });
		assert.equal((await loginWith(t, "jo", "duo", "555555")).kind, "authenticated");
		const again = await t.app.enrollment.begin(joId, "duo", "Duo", { username: "alice" }, ENROL);
		assert.equal(again.kind, "rejected", "one Duo factor per user");
		const kimId = await makeUser(t, "kim");
		const stolen = await t.app.enrollment.begin(kimId, "duo", "Duo", { username: "duo.jo" }, ENROL);
		assert.equal(stolen.kind, "rejected");
		assert.match(stolen.kind === "rejected" ? stolen.message : "", /another account/);
	});

	test("enrolment: 'enroll' is rejected with Duo's portal link, 'deny' is rejected, unreachable is rejected", async () => {
		const id = await makeUser(t, "newbie");
		const enroll = await t.app.enrollment.begin(id, "duo", "Duo", {}, ENROL);
		assert.equal(enroll.kind, "rejected");
		assert.match(enroll.kind === "rejected" ? enroll.message : "", /https:\/\/localhost\/portal\?code=48bac5d9393fb2c2/);
		const daveId = await makeUser(t, "dave");
		assert.equal((await t.app.enrollment.begin(daveId, "duo", "Duo", {}, ENROL)).kind, "rejected");
		duo.setFault("hang");
		try {
			const down = await t.app.enrollment.begin(daveId, "duo", "Duo", {}, ENROL);
			assert.match(down.kind === "rejected" ? down.message : "", /cannot be reached/);
		} finally {
			duo.setFault("none");
		}
		assert.equal((await t.app.stores.factors.listActive(daveId)).length + (await t.app.stores.factors.listActive(id)).length, 0);
	});

	test("'enroll' from preauth is a deny for a forced user who had enrolled Duo (never 'no factor needed')", async () => {
		const id = await makeUser(t, "lisa");
		duo.users.set("lisa", {});
		assert.equal((await t.app.enrollment.begin(id, "duo", "Duo", {}, ENROL)).kind, "active");
		await t.app.admin.createGroup(ADMIN_ACTOR, { name: "forced", forceTwoFactor: true, allowedMethods: null });
		await t.app.admin.addMember(ADMIN_ACTOR, "forced", "lisa");
		duo.users.set("lisa", { preauth: "enroll" });
		const { attemptId, prompt } = await challenge(t, "lisa", "duo");
		assert.ok(prompt.kind === "denied" && prompt.reason === "refused", JSON.stringify(prompt));
		assert.match((await t.app.stores.audit.query({ event: "login.error", limit: 1 }))[0]?.detail ?? "", /not-enrolled/);
		// Answering without a prompt is asked to Duo again: still a deny.
		const direct = await t.app.login.submitSecondFactor(attemptId, "duo", "1");
		assert.ok(direct.kind === "denied");
		duo.users.set("lisa", { preauth: "deny" });
		const denied = await challenge(t, "lisa", "duo");
		assert.ok(denied.prompt.kind === "denied");
	});

	test("Duo bypass ('allow' from preauth) is refused unless an admin opted in; then honoured and audited; withdrawn at once", async () => {
		const id = await makeUser(t, "frank");
		const refused = await t.app.enrollment.begin(id, "duo", "Duo", {}, ENROL);
		assert.equal(refused.kind, "rejected");
		assert.match(refused.kind === "rejected" ? refused.message : "", /bypass/);

		await settings({ honourDuoBypass: true });
		assert.equal((await t.app.enrollment.begin(id, "duo", "Duo", {}, ENROL)).kind, "active");
		const { attemptId, prompt } = await challenge(t, "frank", "duo");
		assert.match(prompt.kind === "prompt" ? prompt.prompt : "", /bypass mode; press Enter/);
		assert.equal((await t.app.login.submitSecondFactor(attemptId, "duo", "")).kind, "authenticated");
		assert.equal((await t.app.stores.audit.query({ username: "frank", event: "duo.bypass-honoured" })).length, 1);

		// The admin withdraws the opt-in while a prompt is open: the answer is refused.
		const open = await challenge(t, "frank", "duo");
		assert.equal(open.prompt.kind, "prompt");
		await settings({ honourDuoBypass: false });
		const late = await t.app.login.submitSecondFactor(open.attemptId, "duo", "");
		assert.ok(late.kind === "denied" && late.reason === "refused", JSON.stringify(late));
		assert.ok((await challenge(t, "frank", "duo")).prompt.kind === "denied");
		const audit = await t.app.stores.audit.query({ event: "method.settings-changed" });
		assert.ok(
			audit.some((row) => JSON.parse(row.detail ?? "{}").after?.honourDuoBypass === true),
			"the opt-in is audited",
		);
	});

	test("test connection: /auth/v2/check with the keys; a wrong key is reported", async () => {
		const admin = createMethodAdmin(t.app);
		const ok = await admin.testConnection(ADMIN_ACTOR, "duo");
		assert.equal(ok.ok, true, JSON.stringify(ok));
		await settings({ secretKey: "y".repeat(40) });
		try {
			const bad = await admin.testConnection(ADMIN_ACTOR, "duo");
			assert.equal(bad.ok, false);
			assert.match(bad.checks[0]!.message, /401|40103/);
		} finally {
			await settings();
		}
	});
});
