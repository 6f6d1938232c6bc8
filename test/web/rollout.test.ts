/**
 * Staged 2FA rollout in the web console: the admin sets an enrolment deadline on the settings and
 * group pages (validated, audited); before it a forced user without a factor logs in and sees a
 * banner with the days left and a link on every page; once it passes, the same session is sent to
 * enrolment at its next request (no policy change needed).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { ADMIN_ACTOR, Browser, createWebTest, enrolTotp, loginWithTotp, mainOf, PASSWORD, type WebTest } from "./helpers.ts";

const DAY = 86_400_000;

for (const engine of ["sqlite", "postgres"] as const)
	describe(`staged rollout in the console (${engine})`, () => {
		let w: WebTest;
		let adminSecret: Buffer;
		before(async () => {
			w = await createWebTest({ engine });
			const admin = await w.app.admin.createUser(ADMIN_ACTOR, { username: "root", password: PASSWORD, isAdmin: true, groups: [] });
			adminSecret = await enrolTotp(w, admin.id);
			await w.app.admin.createUser(ADMIN_ACTOR, { username: "newbie", password: PASSWORD, isAdmin: false, groups: [] });
			w.clock.advance(30_000);
		});
		after(async () => w.close());

		/** The admin logs in with a fresh TOTP step (a code is single use). */
		async function adminLogin(): Promise<Browser> {
			w.clock.advance(30_000);
			const admin = new Browser(w.server);
			await loginWithTotp(w, admin, "root", adminSecret);
			return admin;
		}

		test("impact preview: forcing 2FA shows who is affected and asks to confirm; the enrolment status lists who is not enrolled", async () => {
			await w.app.admin.createUser(ADMIN_ACTOR, { username: "sshonly", password: PASSWORD, isAdmin: false, groups: [] });
			const admin = await adminLogin();
			await admin.get("/admin/settings");
			const preview = await admin.post("/admin/settings", { force: "on", deadline: "", method_totp: "on", "method_recovery-code": "on" });
			assert.equal(preview.statusCode, 200);
			const main = mainOf(preview.body);
			assert.match(main, /Confirm the change/);
			assert.match(main, /data-count="gaining">2</, "newbie and sshonly gain the requirement (root has a factor)");
			assert.match(main, /data-count="no-factor">2</);
			assert.match(main, /data-count="never-on-web">2</);
			assert.match(main, /<a href="\/admin\/enrolment\?filter=not-enrolled">/);
			assert.match(main, /Without an enrolment deadline, users without a factor are stopped/);
			assert.doesNotMatch(main, /forcing two-factor authentication on yourself/, "root has a factor");
			assert.match(main, /name="confirm" value="on"/);
			assert.equal((await w.app.stores.settings.getTwoFactor()).forceTwoFactor, false, "nothing saved before the confirmation");

			const status = await admin.get("/admin/enrolment?filter=not-enrolled");
			assert.equal(status.statusCode, 200);
			assert.doesNotMatch(status.body, /data-user="root"/, "enrolled users are filtered out");
			assert.doesNotMatch(status.body, /data-user="newbie"/, "nothing is required yet: nobody is 'not enrolled'");
			const all = await admin.get("/admin/enrolment");
			assert.match(all.body, /data-user="root"/);
		});

		test("the admin sets the deadline on the settings page: bad values are refused with the reason, a good one is saved and audited", async () => {
			const admin = await adminLogin();
			await admin.get("/admin/settings");
			const bad = await admin.post("/admin/settings", { force: "on", deadline: "next week", method_totp: "on", "method_recovery-code": "on" });
			assert.equal(bad.statusCode, 400);
			assert.match(mainOf(bad.body), /The enrolment deadline must be a date/);
			const past = await admin.post("/admin/settings", { force: "on", deadline: "2001-01-01", method_totp: "on", "method_recovery-code": "on" });
			assert.equal(past.statusCode, 400);
			assert.match(mainOf(past.body), /must be in the future/);
			assert.equal((await w.app.stores.settings.getTwoFactor()).forceTwoFactor, false, "nothing saved");

			const saved = await admin.post("/admin/settings", { force: "on", deadline: "10d", method_totp: "on", "method_recovery-code": "on", confirm: "on" });
			assert.equal(saved.statusCode, 303, saved.body.slice(0, 300));
			const settings = await w.app.stores.settings.getTwoFactor();
			assert.equal(settings.enrolmentDeadline, w.clock.now().getTime() + 10 * DAY);
			const page = await admin.get("/admin/settings");
			assert.match(page.body, /name="deadline" [^>]*value="\d{4}-\d{2}-\d{2}T\d{2}:\d{2}Z"/);
			// Saving the form unchanged keeps the deadline as it is.
			await admin.post("/admin/settings", {
				force: "on",
				deadline: /value="(\d{4}-[^"]+)"/.exec(page.body)?.[1] ?? "",
				method_totp: "on",
				"method_recovery-code": "on",
			});
			assert.equal((await w.app.stores.settings.getTwoFactor()).enrolmentDeadline, settings.enrolmentDeadline);
			const notEnrolled = await admin.get("/admin/enrolment?filter=not-enrolled");
			assert.match(
				notEnrolled.body,
				/<tr data-user="newbie">.*?not enrolled.*?required for everyone.*?<td>none<\/td><td>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}Z<\/td><td>never<\/td>/s,
			);
			assert.doesNotMatch(notEnrolled.body, /data-user="root"/);
			const audit = await w.app.stores.audit.query({ event: "policy.settings-changed" });
			assert.ok(
				audit.some((row) =>
					(row.detail ?? "").includes(
						`"after":{"forceTwoFactor":true,"enabledMethods":["totp","recovery-code"],"enrolmentDeadline":${settings.enrolmentDeadline},`,
					),
				),
				"audited with the deadline after the change",
			);
		});

		test("before the deadline: a user without a factor gets in, with a banner on every page; after it: sent to enrolment", async () => {
			const browser = new Browser(w.server);
			const login = await browser.login("newbie");
			assert.equal(login.statusCode, 303);
			assert.equal(login.headers.location, "/account", "logged in without a second factor");
			for (const url of ["/account", "/account/password"]) {
				const page = await browser.get(url);
				assert.equal(page.statusCode, 200, url);
				assert.match(page.body, /class="alert alert-warning rollout-nudge"[^>]*data-days-left="10"/, url);
				assert.match(page.body, /within 10 days/, url);
				assert.match(page.body, /<a href="\/account">Set up a second factor now<\/a>/, url);
			}
			// The reminder is an audit event the user sees among their security events.
			assert.match(mainOf((await browser.get("/account")).body), /Reminder: set up a second factor before the enrolment deadline/);
			// Sessions time out long before days pass: log in again a minute before the deadline.
			w.clock.advance(10 * DAY - 60_000);
			const again = new Browser(w.server);
			assert.equal((await again.login("newbie")).headers.location, "/account");
			assert.match((await again.get("/account")).body, /within 1 day /, "the days left count down");

			w.clock.advance(60_000);
			const late = await again.get("/account");
			assert.equal(late.statusCode, 303, "the deadline passed: no more full session");
			assert.match(String(late.headers.location), /^\/login/);
			const enrol = await again.follow(late);
			assert.doesNotMatch(enrol.body, /rollout-nudge/);
		});

		test("a group deadline is set on the group page and refused where it contradicts the group's rule", async () => {
			const admin = await adminLogin();
			await admin.get("/admin/groups");
			const contradiction = await admin.post("/admin/groups/create", { name: "ops", deadline: "5d", unrestricted: "on" });
			assert.equal(contradiction.statusCode, 400);
			assert.match(mainOf(contradiction.body), /only applies when group ops forces 2FA/);
			const created = await admin.post("/admin/groups/create", { name: "ops", force: "on", deadline: "5d", unrestricted: "on" });
			assert.equal(created.statusCode, 303, created.body.slice(0, 300));
			const group = await w.app.stores.groups.findByName("ops");
			assert.equal(Number(group?.enrol_deadline), w.clock.now().getTime() + 5 * DAY);
			const page = await admin.get("/admin/group?name=ops");
			assert.match(page.body, /id="edit-deadline" name="deadline"/);
		});

		test("remember window: set on the settings page (validated); the account page lists live grants and forgets one", async () => {
			const admin = await adminLogin();
			await admin.get("/admin/settings");
			const base = { force: "on", method_totp: "on", "method_recovery-code": "on", confirm: "on" };
			const bad = await admin.post("/admin/settings", { ...base, remember: "an hour" });
			assert.equal(bad.statusCode, 400);
			assert.match(mainOf(bad.body), /whole number of minutes/);
			const tooLong = await admin.post("/admin/settings", { ...base, remember: "721" });
			assert.equal(tooLong.statusCode, 400);
			assert.match(mainOf(tooLong.body), /0 \(off\) to 720 \(12 hours\)/);
			assert.equal((await admin.post("/admin/settings", { ...base, remember: "90" })).statusCode, 303);
			assert.equal((await w.app.stores.settings.getTwoFactor()).rememberMinutes, 90);

			const root = await w.app.stores.users.findByUsername("root");
			assert.ok(root);
			await w.app.stores.rememberedGrants.remember({
				userId: root.id,
				source: "192.0.2.7",
				target: "",
				method: "totp",
				minutes: 90,
				sessionEpoch: Number(root.session_epoch),
				policyVersion: await w.app.stores.policyVersion.current(),
			});
			const page = await admin.get("/account");
			assert.match(mainOf(page.body), /Remembered SSH logins/);
			assert.match(mainOf(page.body), /<td>192\.0\.2\.7<\/td><td>Authenticator app \(TOTP\)<\/td>/);
			const grantId = /name="grantId" value="([^"]+)"/.exec(page.body)?.[1] ?? "";
			const forgot = await admin.post("/account/remembered/forget", { grantId });
			assert.equal(forgot.statusCode, 303);
			assert.equal((await w.app.stores.rememberedGrants.listLive(root.id)).length, 0, "forgotten at once");
			assert.doesNotMatch(mainOf((await admin.follow(forgot)).body), /Remembered SSH logins/);
			const audit = await w.app.stores.audit.query({ event: "second-factor.forgotten" });
			assert.equal(audit.length, 1);
		});
	});
