/**
 * The backend methods' web pages: /admin/methods (settings saved through MethodAdmin, refusals as
 * form errors, secrets never rendered, test connection), forced enrolment of a YubiKey followed by
 * a YubiKey login on /login/2fa, and a RADIUS enrolment on the account page that answers the
 * server's Access-Challenge on a second page, then a RADIUS login with the "continue" round.
 */
import assert from "node:assert/strict";
import dgram from "node:dgram";
import { after, before, describe, test } from "node:test";
import { RADIUS_ATTR, RADIUS_CODE, decodePacket, encodeResponse, findAttribute, revealPassword } from "../../src/methods/radius/packet.ts";
import { simulatedYubikey } from "../helpers/yubikey-keys.ts";
import { ADMIN_ACTOR, Browser, createWebTest, decodeHtml, mainOf, PASSWORD, type WebTest } from "./helpers.ts";

const RADIUS_SECRET = "web-test-radius-secret-0123";
const STATE = Buffer.from("web-test-state");

/** A signed RADIUS stub: password "pw" → Access-Challenge("Enter the code", State); with the State, "424242" → Accept. */
async function challengeServer(): Promise<{ port: number; close(): Promise<void> }> {
	const socket = dgram.createSocket("udp4");
	await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
	const secret = Buffer.from(RADIUS_SECRET);
	socket.on("message", (message, rinfo) => {
		const decoded = decodePacket(message);
		if (!decoded.ok) return;
		const packet = decoded.packet;
		const hidden = findAttribute(packet, RADIUS_ATTR.UserPassword);
		const password = hidden === undefined ? "" : (revealPassword(hidden.value, secret, packet.authenticator)?.toString("utf8") ?? "");
		const state = findAttribute(packet, RADIUS_ATTR.State)?.value;
		let code: number = RADIUS_CODE.AccessReject;
		const attributes = [];
		if (state !== undefined) {
			if (state.equals(STATE) && password === "424242") code = RADIUS_CODE.AccessAccept;
		} else if (password === "pw") {
			code = RADIUS_CODE.AccessChallenge;
			attributes.push({ type: RADIUS_ATTR.ReplyMessage, value: Buffer.from("Enter the code") }, { type: RADIUS_ATTR.State, value: STATE });
		}
		socket.send(
			encodeResponse({ code, identifier: packet.identifier, requestAuthenticator: packet.authenticator, secret, attributes, messageAuthenticator: "first" }),
			rinfo.port,
			rinfo.address,
		);
	});
	return { port: socket.address().port, close: () => new Promise<void>((resolve) => socket.close(() => resolve())) };
}

describe("backend methods: web pages", () => {
	let w: WebTest;
	let radius: { port: number; close(): Promise<void> };
	let admin: Browser;
	const key = simulatedYubikey();

	before(async () => {
		w = await createWebTest();
		radius = await challengeServer();
		admin = new Browser(w.server);
		await w.app.admin.createUser(ADMIN_ACTOR, { username: "root", password: PASSWORD, isAdmin: true, groups: [] });
		await w.app.admin.createGroup(ADMIN_ACTOR, { name: "ops", forceTwoFactor: true, allowedMethods: null });
		await w.app.admin.createUser(ADMIN_ACTOR, { username: "ylva", password: PASSWORD, isAdmin: false, groups: ["ops"] });
		await w.app.admin.createUser(ADMIN_ACTOR, { username: "rita", password: PASSWORD, isAdmin: false, groups: [] });
		const login = await admin.login("root");
		assert.equal(login.statusCode, 303);
		await admin.follow(login);
	});
	after(async () => {
		await radius.close();
		await w.close();
	});

	test("admin: the methods page lists the three methods, unconfigured; saving invalid settings shows the reason", async () => {
		const page = await admin.get("/admin/methods");
		assert.equal(page.statusCode, 200);
		assert.match(page.body, /href="\/admin\/methods" aria-current="page"|href="\/admin\/methods"/);
		for (const label of ["YubiKey (Yubico OTP)", "Duo", "RADIUS"]) assert.ok(mainOf(page.body).includes(label));
		assert.equal((mainOf(page.body).match(/not configured/g) ?? []).length, 3);
		const refused = await admin.post("/admin/methods/radius", { host_1: "127.0.0.1", port_1: String(radius.port), secret_1: "short" });
		assert.equal(refused.statusCode, 400);
		assert.match(decodeHtml(refused.body), /at least 16 characters/);
		const http = await admin.post("/admin/methods/yubikey-otp", {
			mode: "cloud",
			urls: "http://api.yubico.com/wsapi/2.0/verify",
			clientId: "1",
			apiKey: Buffer.from("x".repeat(20)).toString("base64"),
		});
		assert.equal(http.statusCode, 400);
		assert.match(decodeHtml(http.body), /plain http/);
		// Enabling before configuring is refused on the settings page too.
		const enable = await admin.post("/admin/settings", { method_totp: "on", "method_yubikey-otp": "on" });
		assert.equal(enable.statusCode, 400);
		assert.match(decodeHtml(enable.body), /configure yubikey-otp first/);
	});

	test("admin: save YubiKey (offline) and RADIUS; the secret is never rendered; test connection reports", async () => {
		assert.equal(
			(await admin.post("/admin/methods/yubikey-otp", { mode: "offline" })).headers.location,
			"/admin/methods?m=saved&method=yubikey-otp#settings-yubikey-otp",
		);
		const saved = await admin.post("/admin/methods/radius", {
			host_1: "127.0.0.1",
			port_1: String(radius.port),
			secret_1: RADIUS_SECRET,
			timeoutMs: "500",
			retries: "0",
		});
		assert.equal(saved.statusCode, 303);
		const page = await admin.get("/admin/methods?m=saved");
		assert.ok(!page.body.includes(RADIUS_SECRET), "the secret must never be rendered");
		assert.match(page.body, /A secret is stored \(never shown\)/);
		// Saving again without the secret keeps it.
		assert.equal(
			(await admin.post("/admin/methods/radius", { host_1: "127.0.0.1", port_1: String(radius.port), timeoutMs: "500", retries: "0" })).statusCode,
			303,
		);
		const tested = await admin.post("/admin/methods/radius/test", {});
		assert.equal(tested.statusCode, 200);
		assert.match(decodeHtml(tested.body), /Connection test passed|Connection test failed/);
		assert.match(decodeHtml(tested.body), /reply verified/);
		const enable = await admin.post("/admin/settings", { method_totp: "on", "method_yubikey-otp": "on", method_radius: "on", "method_recovery-code": "on" });
		assert.equal(enable.statusCode, 303);
		const audit = JSON.stringify(await w.app.stores.audit.query({ event: "method.settings-changed" }));
		assert.match(audit, /"actor":"root"/);
		assert.ok(!audit.includes(RADIUS_SECRET));
	});

	test("forced enrolment: a YubiKey (offline) through the web, then a YubiKey login on /login/2fa", async () => {
		const browser = new Browser(w.server);
		const first = await browser.login("ylva");
		assert.equal(first.headers.location, "/login/enroll");
		const choose = await browser.get("/login/enroll");
		assert.match(choose.body, /href="\/login\/enroll\/yubikey-otp"/);
		const form = await browser.get("/login/enroll/yubikey-otp");
		assert.equal(form.statusCode, 200);
		assert.match(form.body, /name="aesKey"/);
		const wrong = await browser.post("/login/enroll/yubikey-otp", { otp: key.otp(), aesKey: "00".repeat(16), privateId: key.privateIdHex, label: "" });
		assert.equal(wrong.statusCode, 400);
		assert.match(decodeHtml(wrong.body), /does not match/);
		const done = await browser.post("/login/enroll/yubikey-otp", { otp: key.otp(), aesKey: key.aesKeyHex, privateId: key.privateIdHex, label: "blue key" });
		assert.equal(done.statusCode, 303, done.body.slice(0, 300));
		assert.equal(done.headers.location, "/account/recovery-codes?welcome=1");

		const again = new Browser(w.server);
		assert.equal((await again.login("ylva")).headers.location, "/login/2fa");
		const prompt = await again.get("/login/2fa?method=yubikey-otp");
		assert.match(prompt.body, /YubiKey: touch your key/);
		const ok = await again.post("/login/2fa", { method: "yubikey-otp", code: key.otp() });
		assert.equal(ok.statusCode, 303);
		assert.equal(ok.headers.location, "/account");
	});

	test("account page: RADIUS with a challenge (two pages), then a RADIUS login with the 'continue' round", async () => {
		const browser = new Browser(w.server);
		await browser.follow(await browser.login("rita"));
		const account = await browser.get("/account");
		assert.match(account.body, /href="\/account\/factors\/radius"/);
		await browser.get("/account/factors/radius");
		const challenge = await browser.post("/account/factors/radius", { password: "pw", label: "token" });
		assert.equal(challenge.statusCode, 200);
		assert.match(challenge.body, /Enter the code/);
		const factorId = /name="factorId" value="([^"]+)"/.exec(challenge.body)?.[1] ?? "";
		const done = await browser.post("/account/factors/radius/confirm", { factorId, code: "424242" });
		assert.equal(done.statusCode, 303, done.body.slice(0, 300));

		const login = new Browser(w.server);
		assert.equal((await login.login("rita")).headers.location, "/login/2fa");
		await login.get("/login/2fa?method=radius");
		const round = await login.post("/login/2fa", { method: "radius", code: "pw" });
		assert.equal(round.statusCode, 200);
		assert.match(round.body, /Enter the code/);
		const ok = await login.post("/login/2fa", { method: "radius", code: "424242" });
		assert.equal(ok.statusCode, 303);
		assert.equal(ok.headers.location, "/account");
	});
});
