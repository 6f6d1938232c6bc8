/**
 * Console fixes an admin asked for, through HTTP (the Chromium twins are in test/e2e/web-forms-and-first-login.test.ts):
 * refused admin forms keep what was typed and mark the field; TOTP setup pages survive a reload
 * and a wrong code; a user whose password an admin set changes it before enrolling, then gets the
 * recovery codes; the password policy on the console.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
	ADMIN_ACTOR,
	Browser,
	createWebTest,
	decodeHtml,
	factorIdFromPage,
	mainOf,
	PASSWORD,
	totpCodeAt,
	totpSecretFromPage,
	type WebTest,
} from "./helpers.ts";

/** The <input>/<select> element named `name` inside the form posting to `action`. */
function control(body: string, action: string, name: string): string {
	const form = new RegExp(`<form method="post" action="${action.replace(/[/]/g, "\\/")}"[\\s\\S]*?</form>`).exec(body)?.[0];
	assert.ok(form, `no form ${action}`);
	const element =
		new RegExp(`<select[^>]*name="${name}"[^>]*>[\\s\\S]*?</select>`).exec(form)?.[0] ?? new RegExp(`<input[^>]*name="${name}"[^>]*>`).exec(form)?.[0];
	assert.ok(element, `no field ${name} in ${action}`);
	return element;
}

describe("refused forms, TOTP setup pages, first login order (HTTP)", () => {
	let w: WebTest;
	let admin: Browser;

	before(async () => {
		w = await createWebTest();
		await w.app.admin.createUser(ADMIN_ACTOR, { username: "root", password: PASSWORD, isAdmin: true, groups: [] });
		await w.app.admin.createGroup(ADMIN_ACTOR, { name: "ops", forceTwoFactor: false, allowedMethods: null });
		admin = new Browser(w.server);
		assert.equal((await admin.login("root")).headers.location, "/account");
	});
	after(async () => w?.close());

	/** The group that forces enrolment (each test may run alone: `npm run test:guards`). */
	const forcedGroup = async () => {
		if ((await w.app.stores.groups.findByName("forced")) === undefined)
			await w.app.admin.createGroup(ADMIN_ACTOR, { name: "forced", forceTwoFactor: true, allowedMethods: null });
	};

	test("a refused group keeps its name, its boxes and its remember window, and the name is marked", async () => {
		await admin.get("/admin/groups");
		const refused = await admin.post("/admin/groups/create", { name: "no spaces here", force: "on", method_totp: "on", remember: "15" });
		assert.equal(refused.statusCode, 400);
		assert.match(refused.body, /Group names are 1-64 characters/);
		const name = control(refused.body, "/admin/groups/create", "name");
		assert.match(name, /value="no spaces here"/);
		assert.match(name, /aria-invalid="true"/);
		assert.match(control(refused.body, "/admin/groups/create", "force"), /checked/);
		assert.match(control(refused.body, "/admin/groups/create", "method_totp"), /checked/);
		assert.doesNotMatch(control(refused.body, "/admin/groups/create", "unrestricted"), /checked/, "an unticked box stays unticked");
		assert.match(control(refused.body, "/admin/groups/create", "remember"), /value="15"/);
		assert.doesNotMatch(control(refused.body, "/admin/groups/create", "remember"), /aria-invalid/, "only the field at fault is marked");
		// The twin: the same page without a refusal shows an empty form.
		const fresh = await admin.get("/admin/groups");
		assert.doesNotMatch(control(fresh.body, "/admin/groups/create", "name"), /value=|aria-invalid/);
	});

	test("a duplicate group name is marked too; another form on the page is not filled with it", async () => {
		await admin.get("/admin/groups");
		const duplicate = await admin.post("/admin/groups/create", { name: "ops", unrestricted: "on" });
		assert.equal(duplicate.statusCode, 409);
		assert.match(control(duplicate.body, "/admin/groups/create", "name"), /value="ops"[^>]*aria-invalid="true"|aria-invalid="true"[^>]*value="ops"/);
	});

	test("a refused user keeps the username, group and boxes, never the password; the password policy names the problem", async () => {
		await admin.get("/admin/users");
		const weak = await admin.post("/admin/users/create", { username: "Carol", password: "Password123", group: "ops", admin: "on" });
		assert.equal(weak.statusCode, 400);
		assert.match(weak.body, /list of common or breached passwords/);
		assert.match(control(weak.body, "/admin/users/create", "username"), /value="Carol"/);
		const password = control(weak.body, "/admin/users/create", "password");
		assert.doesNotMatch(password, /value=/, "the password is never sent back");
		assert.match(password, /aria-invalid="true"/);
		assert.match(control(weak.body, "/admin/users/create", "group"), /<option value="ops" selected/);
		assert.match(control(weak.body, "/admin/users/create", "admin"), /checked/);
		assert.doesNotMatch(control(weak.body, "/admin/users/create", "mustChange"), /checked/);
		const named = await admin.post("/admin/users/create", { username: "carol", password: "carol is my name", group: "" });
		assert.match(named.body, /must not contain the username/);
		assert.equal(await w.app.stores.users.findByUsername("carol"), undefined, "nothing was created");
	});

	test("a refused server keeps host and port; the port is marked", async () => {
		await admin.get("/admin/servers");
		const refused = await admin.post("/admin/servers/create", {
			name: "db9",
			host: "db9.internal",
			port: "99999",
			login: "",
			description: "main db",
			group: "",
		});
		assert.equal(refused.statusCode, 400);
		assert.match(control(refused.body, "/admin/servers/create", "port"), /value="99999"[^>]*aria-invalid="true"|aria-invalid="true"[^>]*value="99999"/);
		assert.match(control(refused.body, "/admin/servers/create", "host"), /value="db9.internal"/);
		assert.match(control(refused.body, "/admin/servers/create", "description"), /value="main db"/);
	});

	test("settings: enabling WebAuthn on an IP-address console is refused with the fix, and the boxes stay as ticked", async () => {
		await admin.get("/admin/settings");
		const refused = await admin.post("/admin/settings", { method_totp: "on", method_webauthn: "on", "method_recovery-code": "on" });
		assert.equal(refused.statusCode, 400);
		const text = decodeHtml(mainOf(refused.body));
		assert.match(text, /WebAuthn cannot work while the console is reached at http:\/\/127\.0\.0\.1:8080/);
		assert.match(text, /Set http\.public_url to https:\/\//);
		assert.match(control(refused.body, "/admin/settings", "method_webauthn"), /checked/);
		assert.ok(!(await w.app.stores.settings.getTwoFactor()).enabledMethods.includes("webauthn"));
	});

	test("TOTP setup: reloading the address shows the same setup; a wrong code keeps the QR code", async () => {
		await forcedGroup();
		await w.app.admin.createUser(ADMIN_ACTOR, { username: "tess", password: PASSWORD, isAdmin: false, groups: ["forced"] });
		const tess = new Browser(w.server);
		assert.equal((await tess.login("tess")).headers.location, "/login/enroll");
		await tess.get("/login/enroll");
		const setup = await tess.post("/login/enroll/totp", { label: "phone" });
		assert.equal(setup.statusCode, 200);
		const secret = totpSecretFromPage(setup.body);
		const factorId = factorIdFromPage(setup.body);
		for (const url of ["/login/enroll/totp/confirm", "/login/enroll/totp"]) {
			const again = await tess.get(url);
			assert.equal(again.statusCode, 200, `${url} answered ${again.statusCode}`);
			assert.match(again.body, /<svg/, "the QR code is shown again");
			assert.equal(totpSecretFromPage(again.body).toString("hex"), secret.toString("hex"), "the same key");
			assert.equal(factorIdFromPage(again.body), factorId);
		}
		const wrong = await tess.post("/login/enroll/totp/confirm", { factorId, code: "000000" });
		assert.equal(wrong.statusCode, 400);
		assert.match(wrong.body, /That code is not valid/);
		assert.match(wrong.body, /<svg/, "the QR code stays after a wrong code");
		assert.equal(totpSecretFromPage(wrong.body).toString("hex"), secret.toString("hex"));
		const done = await tess.post("/login/enroll/totp/confirm", { factorId, code: totpCodeAt(secret, w.clock.now().getTime()) });
		assert.equal(done.headers.location, "/account/recovery-codes?welcome=1");
		// With nothing pending, the address goes back to the start instead of a 404.
		const bob = new Browser(w.server);
		await w.app.admin.createUser(ADMIN_ACTOR, { username: "bobby", password: PASSWORD, isAdmin: false, groups: ["forced"] });
		await bob.login("bobby");
		assert.equal((await bob.get("/login/enroll/totp/confirm")).headers.location, "/login/enroll");
	});

	test("account page TOTP setup: the same (reload, wrong code)", async () => {
		const user = await w.app.admin.createUser(ADMIN_ACTOR, { username: "uma", password: PASSWORD, isAdmin: false, groups: [] });
		assert.ok(user);
		const uma = new Browser(w.server);
		assert.equal((await uma.login("uma")).headers.location, "/account");
		await uma.get("/account");
		const setup = await uma.post("/account/factors/totp", { label: "phone" });
		assert.equal(setup.statusCode, 200);
		const secret = totpSecretFromPage(setup.body);
		const again = await uma.get("/account/factors/totp/confirm");
		assert.equal(again.statusCode, 200);
		assert.equal(totpSecretFromPage(again.body).toString("hex"), secret.toString("hex"));
		const wrong = await uma.post("/account/factors/totp/confirm", { factorId: factorIdFromPage(setup.body), code: "000000" });
		assert.equal(wrong.statusCode, 400);
		assert.match(wrong.body, /<svg/);
	});

	test("admin-set password + forced enrolment: new password first, then the factor, then the recovery codes", async () => {
		await forcedGroup();
		await w.app.admin.createUser(ADMIN_ACTOR, { username: "nina", password: PASSWORD, isAdmin: false, groups: ["forced"], mustChangePassword: true });
		const nina = new Browser(w.server);
		assert.equal((await nina.login("nina")).headers.location, "/login/enroll");
		const enrol = await nina.get("/login/enroll");
		assert.equal(enrol.headers.location, "/login/password", "no enrolment before the admin-known password is replaced");
		// A direct POST to an enrolment form is refused the same way, and binds nothing.
		await nina.get("/no-such-page"); // any page carries this session's CSRF token
		const early = await nina.post("/login/enroll/totp", { label: "phone" });
		assert.equal(early.headers.location, "/login/password");
		const ninaId = (await w.app.stores.users.findByUsername("nina"))?.id ?? "";
		assert.equal((await w.app.stores.factors.listActive(ninaId)).length, 0);

		const page = await nina.get("/login/password");
		assert.equal(page.statusCode, 200);
		assert.match(page.body, /You must change your password/);
		const weak = await nina.post("/login/password", { current: PASSWORD, password: "iloveyou123", confirm: "iloveyou123" });
		assert.equal(weak.statusCode, 400);
		assert.match(weak.body, /list of common or breached passwords/);
		const changed = await nina.post("/login/password", { current: PASSWORD, password: "ochre lantern meadow", confirm: "ochre lantern meadow" });
		assert.equal(changed.statusCode, 303, changed.body.slice(0, 300));
		assert.equal(changed.headers.location, "/login/enroll");
		assert.equal((await w.app.stores.users.findByUsername("nina"))?.must_change_password, 0);

		await nina.get("/login/enroll");
		const setup = await nina.post("/login/enroll/totp", { label: "phone" });
		const secret = totpSecretFromPage(setup.body);
		const done = await nina.post("/login/enroll/totp/confirm", { factorId: factorIdFromPage(setup.body), code: totpCodeAt(secret, w.clock.now().getTime()) });
		assert.equal(done.headers.location, "/account/recovery-codes?welcome=1", "the recovery-code offer comes last");
		assert.equal((await nina.follow(done)).statusCode, 200);
	});

	test("a user who already has a factor proves it before changing the admin-set password (no password page half-authenticated)", async () => {
		await forcedGroup();
		await w.app.admin.createUser(ADMIN_ACTOR, { username: "omar", password: PASSWORD, isAdmin: false, groups: ["forced"], mustChangePassword: true });
		const omarId = (await w.app.stores.users.findByUsername("omar"))?.id ?? "";
		const { enrolTotp } = await import("./helpers.ts");
		await enrolTotp(w, omarId);
		const omar = new Browser(w.server);
		assert.equal((await omar.login("omar")).headers.location, "/login/2fa");
		assert.equal((await omar.get("/login/password")).headers.location, "/login/2fa");
		await omar.get("/no-such-page");
		const refused = await omar.post("/login/password", { current: PASSWORD, password: "ochre lantern meadow", confirm: "ochre lantern meadow" });
		assert.equal(refused.headers.location, "/login/2fa");
		assert.equal((await w.app.stores.users.findByUsername("omar"))?.must_change_password, 1, "not changed without the second factor");
	});
});
