/**
 * Duo's Universal Prompt through the web console (app.inject, cookie-jar browser) against the fake
 * Duo's OIDC endpoints: "Continue to Duo" (POST with CSRF) → the page that opens Duo → the fake's
 * authorize redirect → the callback arriving cross-site without the session cookie (bounce page)
 * → the same request from this origin → authenticated with a rotated session. Deny, replayed and
 * mismatched answers, an id_token for another Duo user, Duo unreachable, the step-up page, the
 * admin form's Web SDK fields, and the typed Auth API prompt when no Web SDK is configured.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createMethodAdmin } from "../../src/methods/method-admin.ts";
import {
	DUO_IKEY,
	DUO_SKEY,
	DUO_WEB_CLIENT_ID,
	DUO_WEB_CLIENT_SECRET,
	type FakeDuoServer,
	startFakeDuoServer,
	visitAuthorize,
} from "../helpers/fake-duo-server.ts";
import { ENROL } from "../helpers/method-login.ts";
import { SSH } from "../helpers/test-app.ts";
import { opensslAvailable, opensslSkip, sharedTestCa } from "../helpers/test-ca.ts";
import { ADMIN_ACTOR, Browser, createWebTest, decodeHtml, mainOf, PASSWORD, type WebTest } from "./helpers.ts";

const skip = opensslSkip();

describe("Duo Universal Prompt on the web console", { skip }, () => {
	let w: WebTest;
	let duo: FakeDuoServer;
	let admin: Browser;
	const ca = opensslAvailable() ? sharedTestCa() : { caCert: "", serverCert: "", serverKey: "" };

	const settings = (extra: Record<string, string> = {}) => ({
		apiHost: `localhost:${duo.port}`,
		integrationKey: DUO_IKEY,
		secretKey: DUO_SKEY,
		timeoutMs: "1000",
		caPem: ca.caCert,
		webClientId: DUO_WEB_CLIENT_ID,
		webClientSecret: DUO_WEB_CLIENT_SECRET,
		...extra,
	});

	/** Password, then "Continue to Duo": returns Duo's URL from the page that opens it. */
	async function continueToDuo(browser: Browser, username: string, action = "/login/2fa/duo", fields: Record<string, string> = {}): Promise<string> {
		if (action === "/login/2fa/duo") {
			assert.equal((await browser.login(username)).headers.location, "/login/2fa");
			const page = await browser.get("/login/2fa?method=duo");
			assert.match(page.body, /action="\/login\/2fa\/duo"/);
		}
		const open = await browser.post(action, fields);
		assert.equal(open.statusCode, 200, open.body.slice(0, 400));
		const url = decodeHtml(/http-equiv="refresh" content="0;url=([^"]+)"/.exec(open.body)?.[1] ?? "");
		assert.ok(url.startsWith(`https://localhost:${duo.port}/oauth/v1/authorize?`), url);
		assert.ok(open.body.includes(`href="${url.replace(/&/g, "&amp;")}"`), "a plain link to Duo as well");
		return url;
	}

	/** The browser at Duo: where Duo sends it back (path and query on this console). */
	async function atDuo(url: string): Promise<string> {
		const back = await visitAuthorize(url, ca.caCert);
		assert.equal(back.status, 302);
		const location = new URL(back.location ?? "");
		assert.equal(location.pathname, "/login/duo/callback");
		return `${location.pathname}${location.search}`;
	}

	const failures = async (username: string): Promise<number> => Number((await w.app.stores.users.findByUsername(username))!.tfa_failures);

	before(async () => {
		w = await createWebTest();
		duo = await startFakeDuoServer({
			ikey: DUO_IKEY,
			skey: DUO_SKEY,
			webClientId: DUO_WEB_CLIENT_ID,
			webClientSecret: DUO_WEB_CLIENT_SECRET,
			tls: { cert: ca.serverCert, key: ca.serverKey },
			clock: w.clock,
			users: { alice: { passcodes: ["123456"] }, bob: { universal: "deny" }, carol: {}, dora: {} },
		});
		await w.app.admin.createUser(ADMIN_ACTOR, { username: "root", password: PASSWORD, isAdmin: true, groups: [] });
		admin = new Browser(w.server);
		await admin.follow(await admin.login("root"));
	});
	after(async () => {
		await duo?.close();
		await w?.close();
	});

	test("admin: the Duo form has the Web SDK fields; a half-configured pair is refused; the secret is never rendered", async () => {
		const page = await admin.get("/admin/methods");
		assert.match(page.body, /name="webClientId"/);
		assert.match(page.body, /name="webClientSecret"/);
		const half = await admin.post("/admin/methods/duo", settings({ webClientSecret: "" }));
		assert.equal(half.statusCode, 400);
		assert.match(decodeHtml(half.body), /client ID needs its client secret/);
		const saved = await admin.post("/admin/methods/duo", settings());
		assert.equal(saved.statusCode, 303, saved.body.slice(0, 300));
		const shown = await admin.get("/admin/methods?m=saved");
		assert.ok(shown.body.includes(`value="${DUO_WEB_CLIENT_ID}"`));
		assert.match(shown.body, /A client secret is stored \(never shown\)/);
		assert.ok(!shown.body.includes(DUO_WEB_CLIENT_SECRET) && !shown.body.includes(DUO_SKEY));
		// Saving again with the secret fields empty keeps both secrets.
		assert.equal((await admin.post("/admin/methods/duo", settings({ secretKey: "", webClientSecret: "" }))).statusCode, 303);
		const tested = await admin.post("/admin/methods/duo/test", {});
		assert.match(decodeHtml(tested.body), /Connection test passed/);
		assert.match(decodeHtml(tested.body), /Web SDK, Universal Prompt/);
		assert.equal((await admin.post("/admin/settings", { method_totp: "on", method_duo: "on", "method_recovery-code": "on" })).statusCode, 303);
		for (const name of ["alice", "bob", "carol", "dora"]) {
			const user = await w.app.admin.createUser(ADMIN_ACTOR, { username: name, password: PASSWORD, isAdmin: false, groups: [] });
			assert.equal((await w.app.enrollment.begin(user.id, "duo", "Duo", {}, ENROL)).kind, "active");
		}
	});

	test("allow: showing the page starts nothing; Continue → Duo → callback (cross-site bounce) → logged in with a rotated session", async () => {
		const browser = new Browser(w.server);
		assert.equal((await browser.login("alice")).headers.location, "/login/2fa");
		duo.requests.length = 0;
		const page = await browser.get("/login/2fa");
		assert.match(mainOf(page.body), /Continue to Duo/);
		assert.doesNotMatch(mainOf(page.body), /name="code"/, "no typed answer on the web");
		assert.equal(duo.requests.length, 0, "rendering the page does not contact Duo");
		const halfToken = browser.session();

		const url = await continueToDuo(browser, "alice", "/login/2fa/duo");
		assert.ok(duo.requests.some((request) => request.path === "/oauth/v1/health_check"));
		const callback = await atDuo(url);

		// Duo's redirect is cross-site: the SameSite=Strict cookies do not come along.
		const arrival = await w.server.inject({ method: "GET", url: callback, headers: { "sec-fetch-site": "cross-site" } });
		assert.equal(arrival.statusCode, 200);
		const bounce = decodeHtml(/http-equiv="refresh" content="0;url=([^"]+)"/.exec(arrival.body)?.[1] ?? "");
		assert.ok(bounce.startsWith("/login/duo/callback?") && bounce.endsWith("&b=1"), bounce);
		assert.equal(await failures("alice"), 0);

		const done = await browser.get(bounce, { "sec-fetch-site": "same-origin" });
		assert.equal(done.statusCode, 303, done.body.slice(0, 400));
		assert.equal(done.headers.location, "/account");
		assert.notEqual(browser.session(), halfToken, "the session token rotated");
		const account = await browser.get("/account");
		assert.equal(account.statusCode, 200);
		const session = await w.app.stores.sessions.find(browser.session() ?? "");
		assert.equal(session?.state, "full");
		assert.equal(session?.second_factor_method, "duo");
		const stale = await w.server.inject({ method: "GET", url: "/account", headers: { cookie: `pc_session=${halfToken}` } });
		assert.equal(stale.statusCode, 303, "the half-session token is dead");

		// Back button: the same callback again finds nothing waiting and changes nothing.
		const again = await browser.get(bounce);
		assert.equal(again.statusCode, 303);
		assert.equal(again.headers.location, "/account");
	});

	test("deny at Duo: the 2FA page again with the attempts left; the counter is charged; the same answer again is refused without a charge", async () => {
		const browser = new Browser(w.server);
		const callback = await atDuo(await continueToDuo(browser, "bob"));
		const denied = await browser.get(callback);
		assert.equal(denied.statusCode, 401);
		assert.match(decodeHtml(denied.body), /4 attempts left/);
		assert.match(mainOf(denied.body), /Continue to Duo/);
		assert.equal(await failures("bob"), 1);

		const replay = await browser.get(callback);
		assert.equal(replay.statusCode, 400);
		assert.match(decodeHtml(replay.body), /does not belong to your current login/);
		assert.equal(await failures("bob"), 1, "a used answer is not charged again");
		const [audit] = await w.app.stores.audit.query({ username: "bob", event: "duo.callback-refused", limit: 1 });
		assert.equal(JSON.parse(audit?.detail ?? "{}").reason, "no-waiting-round");
		await w.app.admin.unlock(ADMIN_ACTOR, "bob");
	});

	test("a forged or stale callback (another round's state and code) is refused, not charged, and the real answer still works", async () => {
		const first = new Browser(w.server);
		const old = await atDuo(await continueToDuo(first, "carol"));
		const browser = new Browser(w.server);
		const current = await atDuo(await continueToDuo(browser, "carol"));
		const forged = await browser.get(old);
		assert.equal(forged.statusCode, 400);
		assert.match(decodeHtml(forged.body), /does not belong to your current login/);
		assert.equal(await failures("carol"), 0);
		const [audit] = await w.app.stores.audit.query({ username: "carol", event: "duo.callback-refused", limit: 1 });
		assert.equal(JSON.parse(audit?.detail ?? "{}").reason, "state-mismatch");
		// The real answer for this round still works: the forged one spent nothing.
		const ok = await browser.get(current);
		assert.equal(ok.statusCode, 303, ok.body.slice(0, 300));
		assert.equal(ok.headers.location, "/account");
	});

	test("an id_token for another Duo user is refused", async () => {
		duo.setUniversalTamper("other-username");
		try {
			const browser = new Browser(w.server);
			const response = await browser.get(await atDuo(await continueToDuo(browser, "dora")));
			assert.equal(response.statusCode, 401);
			assert.equal(await failures("dora"), 1);
		} finally {
			duo.setUniversalTamper("none");
			await w.app.admin.unlock(ADMIN_ACTOR, "dora");
		}
	});

	test("Duo unreachable: Continue to Duo shows the 'unavailable' message, audited, nothing charged", async () => {
		duo.setFault("hang", ["/oauth/v1/health_check"]);
		try {
			const browser = new Browser(w.server);
			assert.equal((await browser.login("dora")).headers.location, "/login/2fa");
			await browser.get("/login/2fa");
			const response = await browser.post("/login/2fa/duo", {});
			assert.equal(response.statusCode, 400);
			assert.match(decodeHtml(mainOf(response.body)), /cannot be checked right now/);
			assert.match(mainOf(response.body), /Continue to Duo/, "the user may try again");
			const [audit] = await w.app.stores.audit.query({ username: "dora", event: "duo.unavailable", limit: 1 });
			assert.equal(JSON.parse(audit?.detail ?? "{}").stage, "health-check");
			assert.equal(await failures("dora"), 0);
		} finally {
			duo.setFault("none");
		}
	});

	test("the callback without any session: bounced once, then the login page", async () => {
		const first = await w.server.inject({ method: "GET", url: "/login/duo/callback?state=abc&duo_code=def" });
		assert.equal(first.statusCode, 200);
		const second = await w.server.inject({ method: "GET", url: "/login/duo/callback?state=abc&duo_code=def&b=1" });
		assert.equal(second.statusCode, 401);
		assert.match(decodeHtml(second.body), /Please log in again/);
		const unknown = await w.server.inject({ method: "GET", url: "/login/duo/callback?state=abc&duo_code=def&extra=1" });
		assert.equal(unknown.statusCode, 400, "undeclared parameters are refused");
	});

	test("step-up with Duo: Continue on the step-up page → Duo → back to the page that asked, session rotated and fresh", async () => {
		const browser = new Browser(w.server);
		await browser.follow(await browser.get(await atDuo(await continueToDuo(browser, "alice"))));
		w.clock.advance(11 * 60_000); // past step_up_minutes (10), within the idle timeout (30)
		const page = await browser.get("/account/step-up?next=%2Faccount%2Fpassword&method=duo");
		assert.equal(page.statusCode, 200);
		assert.match(page.body, /action="\/account\/step-up\/duo"/);
		const before = browser.session();
		const url = await continueToDuo(browser, "alice", "/account/step-up/duo", { next: "/account/password" });
		const done = await browser.get(await atDuo(url));
		assert.equal(done.statusCode, 303, done.body.slice(0, 300));
		assert.equal(done.headers.location, "/account/password");
		assert.notEqual(browser.session(), before);
		const session = await w.app.stores.sessions.find(browser.session() ?? "");
		assert.equal(Number(session?.step_up_at), w.clock.now().getTime());
	});

	test("step-up with Duo failing at the code exchange: the denied attempt is forgotten and the page begins a new one", async () => {
		const browser = new Browser(w.server);
		await browser.follow(await browser.get(await atDuo(await continueToDuo(browser, "alice"))));
		w.clock.advance(11 * 60_000);
		assert.equal((await browser.get("/account/step-up?next=%2Faccount&method=duo")).statusCode, 200);
		const attemptOf = async () => (await w.app.stores.sessions.find(browser.session() ?? ""))?.attempt_id ?? null;
		const url = await continueToDuo(browser, "alice", "/account/step-up/duo", { next: "/account" });
		const denied = await attemptOf();
		assert.ok(denied !== null);
		duo.setFault("html-502", ["/oauth/v1/token"]);
		try {
			const back = await browser.get(await atDuo(url));
			assert.equal(back.statusCode, 400, back.body.slice(0, 300));
			assert.match(mainOf(back.body), /action="\/account\/step-up\/duo"/);
			const now = await attemptOf();
			assert.ok(now !== null, "the page began a new step-up attempt");
			assert.notEqual(now, denied, "the denied attempt is not shown again");
		} finally {
			duo.setFault("none");
		}
	});

	test("SSH keeps the Auth API prompt while the web uses the Universal Prompt", async () => {
		const step = await w.app.login.submitPassword(SSH, "alice", PASSWORD);
		assert.equal(step.kind, "second-factor");
		const prompt = step.kind === "second-factor" ? await w.app.login.startChallenge(step.attemptId, "duo") : null;
		assert.match(prompt?.kind === "prompt" ? prompt.prompt : "", /^Duo: enter a passcode, or 1 for push/);
	});

	test("without a Web SDK application the web keeps the typed Auth API prompt (a passcode works)", async () => {
		// (Through MethodAdmin: the admin's step-up went stale with the step-up test's clock.)
		const { webClientId: _id, webClientSecret: _secret, ...authApiOnly } = settings();
		await createMethodAdmin(w.app).update(ADMIN_ACTOR, "duo", authApiOnly);
		const view = (await createMethodAdmin(w.app).get("duo")).settings;
		assert.ok(view !== null && "webClientId" in view && view.webClientId === null && view.webClientSecretSet === false);
		const browser = new Browser(w.server);
		assert.equal((await browser.login("alice")).headers.location, "/login/2fa");
		const page = await browser.get("/login/2fa?method=duo");
		assert.doesNotMatch(mainOf(page.body), /Continue to Duo/);
		assert.match(decodeHtml(page.body), /Duo: enter a passcode, or 1 for push/);
		assert.doesNotMatch(/<input id="code"[^>]*>/.exec(page.body)?.[0] ?? "", /pattern=/, "no TOTP digit pattern on Duo's field");
		const ok = await browser.post("/login/2fa", { method: "duo", code: "123456" });
		assert.equal(ok.statusCode, 303);
		assert.equal(ok.headers.location, "/account");
	});
});
