/**
 * The RADIUS method through the real LoginFlow and EnrollmentFlow: against a REAL FreeRADIUS
 * (started once for this file) for plain accept/reject, the challenge user (Access-Challenge →
 * "continue" → accept, State carried) and failover; against the hostile stub for every forged,
 * unsigned or malformed answer (all refused, fail closed) and the legacy flag (only when set).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createMethodAdmin } from "../../../src/methods/method-admin.ts";
import dgram from "node:dgram";
import { MAX_ROUNDS } from "../../../src/methods/radius/radius-method.ts";
import { RADIUS_ATTR, RADIUS_CODE, decodePacket, encodeResponse, findAttribute } from "../../../src/methods/radius/packet.ts";
import { deadUdpPort } from "../../helpers/dead-ports.ts";
import { FREERADIUS_USERS, freeRadiusSkipReason, startFreeRadius, type FreeRadiusServer } from "../../helpers/freeradius.ts";
import { HOSTILE_MODES_THAT_MUST_BE_REFUSED, startHostileRadiusServer, type HostileRadiusServer } from "../../helpers/hostile-radius-server.ts";
import { ENROL, challenge, lastAudit, loginWith, makeUser } from "../../helpers/method-login.ts";
import { ADMIN_ACTOR, SSH, WEB, createTestApp, type TestApp } from "../../helpers/test-app.ts";

const skip = freeRadiusSkipReason();
const { alice, carol, dave } = FREERADIUS_USERS;

let radius: FreeRadiusServer | null = null;
after(async () => radius?.stop());
async function freeRadius(): Promise<FreeRadiusServer> {
	radius ??= await startFreeRadius();
	return radius;
}

describe("RADIUS method against a real FreeRADIUS", { skip }, () => {
	let t: TestApp;
	let server: FreeRadiusServer;
	const settings = (extra: Record<string, unknown> = {}) =>
		createMethodAdmin(t.app).update(ADMIN_ACTOR, "radius", {
			servers: [{ host: server.host, port: server.port, secret: server.secret }],
			timeoutMs: 1000,
			retries: 1,
			...extra,
		});

	before(async () => {
		server = await freeRadius();
		t = await createTestApp();
		await settings();
		await t.app.admin.updateSettings(ADMIN_ACTOR, { enabledMethods: ["totp", "radius"] });
	});
	after(async () => t.cleanup());

	test("enrolment needs one successful authentication; a wrong password is rejected and stores nothing", async () => {
		const id = await makeUser(t, "alice");
		const wrong = await t.app.enrollment.begin(id, "radius", "RADIUS", { password: "not-it" }, ENROL);
		assert.equal(wrong.kind, "rejected");
		assert.equal((await t.app.stores.factors.listActive(id)).length, 0);
		const ok = await t.app.enrollment.begin(id, "radius", "RADIUS", { password: alice.password }, ENROL);
		assert.equal(ok.kind, "active");
		assert.deepEqual(ok.kind === "active" && ok.display, { radiusUsername: "alice" });
		assert.equal((await t.app.enrollment.begin(id, "radius", "RADIUS", { password: alice.password }, ENROL)).kind, "rejected", "one RADIUS factor per user");
	});

	test("plain user: accept logs in (SSH and web), reject is a wrong answer; the prompt hides the input", async () => {
		const { attemptId, prompt } = await challenge(t, "alice", "radius");
		assert.ok(prompt.kind === "prompt" && prompt.prompt === "RADIUS: password or token code" && prompt.echo === false);
		assert.equal((await t.app.login.submitSecondFactor(attemptId, "radius", alice.password)).kind, "authenticated");
		assert.equal((await loginWith(t, "alice", "radius", alice.password, WEB)).kind, "authenticated");
		assert.equal((await loginWith(t, "alice", "radius", "nope")).kind, "invalid");
		assert.equal((await lastAudit(t, "alice", "second-factor.failure"))?.reason, "wrong");
		await t.app.admin.unlock(ADMIN_ACTOR, "alice");
	});

	test("a RADIUS username bound to another account is refused", async () => {
		const id = await makeUser(t, "mallory");
		const stolen = await t.app.enrollment.begin(id, "radius", "RADIUS", { username: "alice", password: alice.password }, ENROL);
		assert.equal(stolen.kind, "rejected");
		assert.match(stolen.kind === "rejected" ? stolen.message : "", /another account/);
	});

	test("challenge user at enrolment: password → the server's prompt → token → active", async () => {
		const id = await makeUser(t, "carol");
		const begin = await t.app.enrollment.begin(id, "radius", "token", { password: carol.password }, ENROL);
		assert.equal(begin.kind, "pending");
		if (begin.kind !== "pending") throw new Error("unreachable");
		assert.equal(begin.display.prompt, carol.prompt);
		const pending = await t.app.stores.factors.get(begin.factorId);
		assert.ok(pending?.secretEnc?.startsWith("v1:"), "the State is sealed");
		// A wrong token ends this enrolment (the State answers one request).
		const wrong = await t.app.enrollment.complete(id, begin.factorId, { code: "000000" }, ENROL);
		assert.equal(wrong.kind, "invalid");
		assert.equal((await t.app.enrollment.complete(id, begin.factorId, { code: carol.token }, ENROL)).kind, "expired");
		const again = await t.app.enrollment.begin(id, "radius", "token", { password: carol.password }, ENROL);
		assert.equal(again.kind, "pending");
		const done = await t.app.enrollment.complete(id, again.kind === "pending" ? again.factorId : "", { code: carol.token }, ENROL);
		assert.equal(done.kind, "active");
	});

	test("challenge user at login: password → 'continue' with the server's prompt → token (with State) → authenticated, nothing charged", async () => {
		const { attemptId } = await challenge(t, "carol", "radius");
		const first = await t.app.login.submitSecondFactor(attemptId, "radius", carol.password);
		assert.equal(first.kind, "continue");
		assert.ok(first.kind === "continue" && first.prompt === carol.prompt && first.echo === false);
		assert.equal((await t.app.stores.users.findByUsername("carol"))!.tfa_failures, 0);
		const second = await t.app.login.submitSecondFactor(attemptId, "radius", carol.token);
		assert.equal(second.kind, "authenticated");
	});

	test("challenge user: a wrong token is refused, and the State cannot be answered twice", async () => {
		const { attemptId } = await challenge(t, "carol", "radius");
		assert.equal((await t.app.login.submitSecondFactor(attemptId, "radius", carol.password)).kind, "continue");
		assert.equal((await t.app.login.submitSecondFactor(attemptId, "radius", "111111")).kind, "invalid");
		// The stored round was consumed: the right token now is not a token answer but a new first round.
		assert.notEqual((await t.app.login.submitSecondFactor(attemptId, "radius", carol.token)).kind, "authenticated");
		await t.app.admin.unlock(ADMIN_ACTOR, "carol");
	});

	test("an Accept with Service-Type Framed-User is refused (RFC 2865 §5.6)", async () => {
		const id = await makeUser(t, "dave");
		assert.equal((await t.app.enrollment.begin(id, "radius", "RADIUS", { password: dave.password }, ENROL)).kind, "rejected");
	});

	test("failover: a dead first server, FreeRADIUS second → still works; the dead one is audited", async () => {
		await settings({
			servers: [
				{ host: "127.0.0.1", port: await deadUdpPort(), secret: "s".repeat(20) },
				{ host: server.host, port: server.port },
			],
			timeoutMs: 300,
			retries: 0,
		});
		try {
			assert.equal((await loginWith(t, "alice", "radius", alice.password)).kind, "authenticated");
			assert.ok((await t.app.stores.audit.query({ event: "radius.server-failed" })).length >= 1);
		} finally {
			await settings();
		}
	});

	test("test connection: FreeRADIUS answers and signs; a dead port is reported", async () => {
		const admin = createMethodAdmin(t.app);
		const ok = await admin.testConnection(ADMIN_ACTOR, "radius");
		assert.equal(ok.ok, true, JSON.stringify(ok));
		await settings({ servers: [{ host: "127.0.0.1", port: await deadUdpPort(), secret: "s".repeat(20) }], timeoutMs: 200, retries: 0 });
		try {
			const bad = await admin.testConnection(ADMIN_ACTOR, "radius");
			assert.equal(bad.ok, false);
			assert.match(bad.checks[0]!.message, /no reply/);
		} finally {
			await settings();
		}
	});

	test("an unreachable server denies (fail closed), audits, and does not charge the user", async () => {
		await settings({ servers: [{ host: "127.0.0.1", port: await deadUdpPort(), secret: "s".repeat(20) }], timeoutMs: 200, retries: 0 });
		try {
			const result = await loginWith(t, "alice", "radius", alice.password);
			assert.ok(result.kind === "denied" && result.reason === "unavailable");
			assert.equal((await t.app.stores.users.findByUsername("alice"))!.tfa_failures, 0);
		} finally {
			await settings();
		}
	});
});

describe("RADIUS method against a hostile server", () => {
	let t: TestApp;
	let stub: HostileRadiusServer;
	const settings = (extra: Record<string, unknown> = {}) =>
		createMethodAdmin(t.app).update(ADMIN_ACTOR, "radius", {
			servers: [{ host: stub.host, port: stub.port, secret: stub.secret }],
			timeoutMs: 300,
			retries: 0,
			...extra,
		});

	before(async () => {
		stub = await startHostileRadiusServer({ mode: "valid-accept" });
		t = await createTestApp();
		await settings();
		await t.app.admin.updateSettings(ADMIN_ACTOR, { enabledMethods: ["totp", "radius"] });
		const id = await makeUser(t, "hugo");
		assert.equal((await t.app.enrollment.begin(id, "radius", "RADIUS", { password: "anything" }, ENROL)).kind, "active");
	});
	after(async () => {
		await stub.close();
		await t.cleanup();
	});

	test("positive control: a correctly signed Accept logs in; the request carries Message-Authenticator and Calling-Station-Id", async () => {
		stub.mode = "valid-accept";
		stub.requests.length = 0;
		assert.equal((await loginWith(t, "hugo", "radius", "pw", SSH)).kind, "authenticated");
		const request = stub.requests[0]!;
		assert.equal(request.messageAuthenticator, "valid");
		assert.equal(request.password, "pw");
		assert.equal(findAttribute(request.packet, RADIUS_ATTR.CallingStationId)?.value.toString(), SSH.sourceAddress);
	});

	for (const mode of HOSTILE_MODES_THAT_MUST_BE_REFUSED) {
		test(`${mode}: refused, fail closed (denied, audited, not charged)`, async () => {
			stub.mode = mode;
			try {
				const result = await loginWith(t, "hugo", "radius", "pw");
				assert.ok(result.kind === "denied" && result.reason === "unavailable", JSON.stringify(result));
				assert.equal((await t.app.stores.users.findByUsername("hugo"))!.tfa_failures, 0);
				assert.match((await t.app.stores.audit.query({ username: "hugo", event: "login.error", limit: 1 }))[0]?.detail ?? "", /ERR_METHOD_UNAVAILABLE/);
			} finally {
				stub.mode = "valid-accept";
			}
		});
	}

	test("forged replies are audited as dropped", async () => {
		assert.ok((await t.app.stores.audit.query({ event: "radius.reply-dropped" })).some((row) => /bad-response-authenticator/.test(row.detail ?? "")));
	});

	for (const mode of ["forged-then-reject", "challenge-without-state", "accept-framed-service-type", "valid-reject"] as const) {
		test(`${mode}: a (verified or local) reject, charged as a wrong answer`, async () => {
			stub.mode = mode;
			try {
				assert.equal((await loginWith(t, "hugo", "radius", "pw")).kind, "invalid");
			} finally {
				stub.mode = "valid-accept";
				await t.app.admin.unlock(ADMIN_ACTOR, "hugo");
			}
		});
	}

	test("legacy flag only when set: an unsigned Accept is refused by default, accepted (and audited, shown as a downgrade) only for a server marked legacy", async () => {
		stub.mode = "accept-without-message-authenticator";
		try {
			const refused = await loginWith(t, "hugo", "radius", "pw");
			assert.ok(refused.kind === "denied" && refused.reason === "unavailable");
			await settings({ servers: [{ host: stub.host, port: stub.port, legacyNoMessageAuthenticator: true }] });
			assert.equal((await loginWith(t, "hugo", "radius", "pw")).kind, "authenticated");
			assert.equal((await t.app.stores.audit.query({ event: "radius.unsigned-reply-accepted" })).length, 1);
			const view = await createMethodAdmin(t.app).get("radius");
			assert.match(view.downgrades.join(" "), /legacy.*BlastRADIUS/);
			// Even for a legacy server a forged Accept stays refused (Response Authenticator).
			stub.mode = "forged-accept";
			assert.equal((await loginWith(t, "hugo", "radius", "pw")).kind, "denied");
		} finally {
			stub.mode = "valid-accept";
			await settings();
		}
	});

	test("a server that challenges for ever is cut off after a few rounds (no endless free retries)", async () => {
		// A tiny signed server that answers every request with a fresh Access-Challenge + State.
		const secret = Buffer.from(stub.secret);
		const socket = dgram.createSocket("udp4");
		await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
		let round = 0;
		socket.on("message", (message, rinfo) => {
			const decoded = decodePacket(message);
			if (!decoded.ok) return;
			round += 1;
			const reply = encodeResponse({
				code: RADIUS_CODE.AccessChallenge,
				identifier: decoded.packet.identifier,
				requestAuthenticator: decoded.packet.authenticator,
				secret,
				attributes: [
					{ type: RADIUS_ATTR.ReplyMessage, value: Buffer.from(`Step ${round}\u001b[2J`) },
					{ type: RADIUS_ATTR.State, value: Buffer.from(`state-${round}`) },
				],
				messageAuthenticator: "first",
			});
			socket.send(reply, rinfo.port, rinfo.address);
		});
		await settings({ servers: [{ host: "127.0.0.1", port: socket.address().port, secret: stub.secret }] });
		try {
			const { attemptId } = await challenge(t, "hugo", "radius");
			let result = await t.app.login.submitSecondFactor(attemptId, "radius", "pw");
			for (let step = 1; result.kind === "continue" && step <= MAX_ROUNDS + 1; step++) {
				assert.equal(result.prompt, `Step ${step}[2J`, "the ESC (a terminal control) is stripped from the server's prompt");
				result = await t.app.login.submitSecondFactor(attemptId, "radius", "x");
			}
			assert.equal(result.kind, "invalid");
			assert.equal(round, MAX_ROUNDS + 1);
		} finally {
			socket.close();
			await settings();
			await t.app.admin.unlock(ADMIN_ACTOR, "hugo");
		}
	});
});
