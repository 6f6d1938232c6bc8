/**
 * The WebAuthn web routes over HTTP (inject), with the software authenticator standing in for the
 * browser's navigator.credentials: forced enrolment, login, a second key on the account page,
 * step-up, the SSH approval page (access, CSRF, approve, deny), and the static scripts under the
 * strict CSP.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Browser, createWebTest, decodeHtml, mainOf, type WebTest } from "../../web/helpers.ts";
import { ADMIN_ACTOR, SSH } from "../../helpers/test-app.ts";
import { approvalToken, newSoft, PASSWORD, WEBAUTHN_CONFIG } from "./helpers.ts";
import type { SoftAuthenticator } from "./soft-authenticator.ts";

function attribute(body: string, name: string): string {
	const match = new RegExp(`${name}="([^"]*)"`).exec(body);
	assert.ok(match, `no ${name} on the page:\n${mainOf(body).slice(0, 600)}`);
	return decodeHtml(match[1] as string);
}

describe("WebAuthn web routes", () => {
	let w: WebTest;
	let alice: Browser;
	let aliceId: string;
	let soft: SoftAuthenticator;

	before(async () => {
		w = await createWebTest({ config: WEBAUTHN_CONFIG });
		await w.app.admin.updateSettings(ADMIN_ACTOR, { enabledMethods: ["webauthn", "totp", "recovery-code"] });
		await w.app.admin.createGroup(ADMIN_ACTOR, { name: "admins", forceTwoFactor: true, allowedMethods: ["webauthn", "recovery-code"] });
		aliceId = (await w.app.admin.createUser(ADMIN_ACTOR, { username: "alice", password: PASSWORD, isAdmin: false, groups: ["admins"] })).id;
		await w.app.admin.createUser(ADMIN_ACTOR, { username: "bob", password: PASSWORD, isAdmin: false, groups: [] });
		alice = new Browser(w.server);
		soft = newSoft();
	});
	after(async () => w.close());

	/** Loads a page with a data-webauthn="register" form and posts the soft authenticator's answer. */
	async function registerVia(browser: Browser, path: string, label: string) {
		const page = await browser.get(path);
		assert.equal(page.statusCode, 200, page.body.slice(0, 500));
		assert.match(page.body, /data-webauthn="register"/);
		assert.match(page.body, /<script type="module" src="\/static\/webauthn\.js"><\/script>/);
		const options = JSON.parse(attribute(page.body, "data-options")) as { challenge: string; rp: { id: string } };
		assert.equal(options.rp.id, "localhost");
		return browser.post(path, { label, challengeId: attribute(page.body, 'name="challengeId" value'), response: JSON.stringify(soft.register(options)) });
	}

	test("forced enrolment: alice (group admins: keys only) registers a key during login", async () => {
		const password = await alice.login("alice", PASSWORD);
		assert.equal(password.headers.location, "/login/enroll");
		const choose = await alice.get("/login/enroll");
		assert.match(choose.body, /href="\/login\/enroll\/webauthn"/);
		assert.match(choose.body, /Register a security key/);
		assert.doesNotMatch(choose.body, /cannot be set up in this console/);
		const done = await registerVia(alice, "/login/enroll/webauthn", "blue key");
		assert.equal(done.statusCode, 303, done.body.slice(0, 400));
		assert.equal(done.headers.location, "/account/recovery-codes?welcome=1");
		const account = await alice.get("/account");
		assert.equal(account.statusCode, 200);
		assert.match(account.body, /Security key \/ passkey \(WebAuthn\)/);
		assert.match(account.body, /blue key/);
		assert.equal(await w.app.stores.users.findById(aliceId).then((user) => user?.ssh_method), "webauthn");
	});

	test("login with the key: the 2FA page runs the ceremony, the answer logs in", async () => {
		await alice.post("/logout", {});
		let lastPageToken = "";
		const page = await alice.login("alice", PASSWORD);
		assert.equal(page.headers.location, "/login/2fa");
		const form = await alice.get("/login/2fa");
		lastPageToken = /name="_csrf" value="([^"]+)"/.exec(form.body)?.[1] ?? "";
		const options = (await alice.get("/login/2fa/webauthn/options")).json() as { challenge: string };
		// A wrong key first: refused with attempts left, and a new challenge is waiting.
		const stranger = newSoft();
		stranger.register({ challenge: "AAAA", rp: { id: "localhost" } });
		const forged = await alice.post(
			"/login/2fa/webauthn",
			{ response: JSON.stringify(stranger.assert({ ...options, allowCredentials: [] })) },
			{ csrf: lastPageToken },
		);
		assert.equal(forged.statusCode, 401);
		assert.match(forged.body, /not accepted\. 4 attempts left/);
		lastPageToken = /name="_csrf" value="([^"]+)"/.exec(forged.body)?.[1] ?? "";
		const next = (await alice.get("/login/2fa/webauthn/options")).json() as { challenge: string };
		assert.notEqual(next.challenge, options.challenge);
		const ok = await alice.post("/login/2fa/webauthn", { response: JSON.stringify(soft.assert(next)) }, { csrf: lastPageToken });
		assert.equal(ok.statusCode, 303, ok.body.slice(0, 300));
		assert.equal(ok.headers.location, "/account");
		// Spent: no options any more for this session.
		assert.equal((await alice.get("/account")).statusCode, 200);
	});

	test("a second key on the account page (fresh step-up), listed with its name", async () => {
		const added = await registerVia(alice, "/account/factors/webauthn", "red key");
		assert.equal(added.statusCode, 303, added.body.slice(0, 300));
		// No recovery codes yet: the console offers them first, as after any new factor.
		assert.equal(added.headers.location, "/account/recovery-codes?welcome=1");
		assert.match((await alice.get("/account")).body, /red key/);
		const keys = await w.app.stores.factors.listActive(aliceId, "webauthn");
		assert.deepEqual(keys.map((key) => key.label).sort(), ["blue key", "red key"]);
		// The account page lists the key page among the ways to add a factor.
		assert.match((await alice.get("/account")).body, /href="\/account\/factors\/webauthn"/);
	});

	test("step-up with the key: a stale session is asked for the key, then returns", async () => {
		w.clock.advance((w.app.config.security.step_up_minutes + 1) * 60_000);
		const stale = await alice.get("/account/factors/webauthn");
		assert.equal(stale.statusCode, 303);
		assert.equal(stale.headers.location, "/account/step-up?next=%2Faccount%2Ffactors%2Fwebauthn");
		const page = await alice.get(String(stale.headers.location));
		assert.match(page.body, /action="\/account\/step-up\/webauthn"/);
		assert.equal(attribute(page.body, "data-options-url"), "/account/step-up/webauthn/options");
		const token = /name="_csrf" value="([^"]+)"/.exec(page.body)?.[1] ?? "";
		const options = (await alice.get("/account/step-up/webauthn/options")).json() as { challenge: string };
		const done = await alice.post(
			"/account/step-up/webauthn",
			{ next: "/account/factors/webauthn", response: JSON.stringify(soft.assert(options)) },
			{ csrf: token },
		);
		assert.equal(done.statusCode, 303, done.body.slice(0, 300));
		assert.equal(done.headers.location, "/account/factors/webauthn");
		assert.equal((await alice.get("/account/factors/webauthn")).statusCode, 200);
	});

	test("SSH approval page: login required, same user only, CSRF, shows what is approved; approve then Enter logs in", async () => {
		const step = await w.app.login.submitPassword(SSH, "alice", PASSWORD);
		assert.equal(step.kind, "second-factor");
		if (step.kind !== "second-factor") return;
		const prompt = await w.app.login.startChallenge(step.attemptId, "webauthn");
		assert.equal(prompt.kind, "prompt");
		if (prompt.kind !== "prompt") return;
		const token = approvalToken(prompt.prompt);
		assert.match(prompt.prompt, new RegExp(`^Approve this login in your browser: http://localhost:8080/approve/${token} - then press Enter$`));

		const anonymous = new Browser(w.server);
		const refused = await anonymous.get(`/approve/${token}`);
		assert.equal(refused.statusCode, 303);
		assert.equal(refused.headers.location, "/login");
		const bob = new Browser(w.server);
		await bob.follow(await bob.login("bob", PASSWORD));
		const other = await bob.get(`/approve/${token}`);
		assert.equal(other.statusCode, 403);
		assert.doesNotMatch(other.body, /192\.0\.2\.20|alice/);

		const page = await alice.get(`/approve/${token}`);
		assert.equal(page.statusCode, 200);
		assert.match(mainOf(page.body), /SSH login as <span id="approval-user">alice<\/span> from <span id="approval-source">192\.0\.2\.20<\/span>/);
		assert.match(page.body, /id="approval-time">2026-11-28 \d\d:\d\d:\d\d UTC/);
		assert.match(page.body, /Deny: this was not me/);
		const options = JSON.parse(attribute(page.body, "data-options")) as { challenge: string };
		const challengeId = attribute(page.body, 'name="challengeId" value');
		const response = JSON.stringify(soft.assert(options));
		const noToken = await alice.post(`/approve/${token}`, { challengeId, response }, { csrf: null });
		assert.equal(noToken.statusCode, 403);
		assert.equal(noToken.headers["x-csrf-refused"], "token");
		const crossSite = await alice.post(`/approve/${token}`, { challengeId, response }, { headers: { origin: "http://evil.example" } });
		assert.equal(crossSite.statusCode, 403);
		await alice.get(`/approve/${token}`);
		assert.equal((await w.app.login.submitSecondFactor(step.attemptId, "webauthn", "")).kind, "continue", "not approved yet");
		const fresh = await alice.get(`/approve/${token}`);
		const approved = await alice.post(`/approve/${token}`, {
			challengeId: attribute(fresh.body, 'name="challengeId" value'),
			response: JSON.stringify(soft.assert(JSON.parse(attribute(fresh.body, "data-options")) as { challenge: string })),
		});
		assert.equal(approved.statusCode, 200, approved.body.slice(0, 400));
		assert.match(approved.body, /Approved\. Go back to your terminal and press Enter\./);
		const result = await w.app.login.submitSecondFactor(step.attemptId, "webauthn", "");
		assert.equal(result.kind, "authenticated");
		assert.match((await alice.get(`/approve/${token}`)).body, /cannot be used again/);
	});

	test("SSH approval page: deny ends the SSH login", async () => {
		const step = await w.app.login.submitPassword(SSH, "alice", PASSWORD);
		if (step.kind !== "second-factor") return assert.fail(step.kind);
		const prompt = await w.app.login.startChallenge(step.attemptId, "webauthn");
		if (prompt.kind !== "prompt") return assert.fail(prompt.kind);
		const token = approvalToken(prompt.prompt);
		await alice.get(`/approve/${token}`);
		const denied = await alice.post(`/approve/${token}/deny`, {});
		assert.equal(denied.statusCode, 200);
		assert.match(denied.body, /You denied this login/);
		assert.equal((await w.app.login.submitSecondFactor(step.attemptId, "webauthn", "")).kind, "invalid");
		assert.equal((await alice.get("/approve/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")).statusCode, 404);
	});

	test("scripts are served from this origin under the strict CSP; pages carry no inline script", async () => {
		const page = await alice.get("/account/factors/webauthn");
		assert.match(String(page.headers["content-security-policy"]), /script-src 'self'/);
		for (const tag of page.body.match(/<script[^>]*>[\s\S]*?<\/script>/g) ?? [])
			assert.match(tag, /^<script type="module" src="\/static\/webauthn\.js"><\/script>$/);
		const script = await alice.get("/static/webauthn.js");
		assert.equal(script.statusCode, 200);
		assert.match(String(script.headers["content-type"]), /text\/javascript/);
		assert.match(script.body, /from "\/static\/simplewebauthn\/index\.js"/);
		for (const file of ["index.js", "methods/startRegistration.js", "methods/startAuthentication.js", "helpers/webAuthnError.js"]) {
			const response = await new Browser(w.server).get(`/static/simplewebauthn/${file}`);
			assert.equal(response.statusCode, 200, file);
			assert.match(String(response.headers["content-type"]), /text\/javascript/);
		}
		for (const file of ["../package.json", "..%2Fpackage.json", "index.d.ts", "nope.js", ""]) {
			assert.equal((await new Browser(w.server).get(`/static/simplewebauthn/${file}`)).statusCode, 404, file);
		}
	});
});
