/**
 * Console fixes an admin asked for, in headless Chromium against the real server (the HTTP twins are in
 * test/web/forms-and-first-login.test.ts): the first login of an admin-created account whose password the
 * admin knows goes password → enrolment → recovery codes; the TOTP setup page survives opening
 * its address again and a wrong code; a refused group form keeps what was typed and marks the
 * field; enabling WebAuthn on an IP-address console is refused on the settings page with the fix.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { totpCodeAt } from "../../src/methods/totp/totp-method.ts";
import { base32Decode } from "../helpers/base32.ts";
import { ADMIN_ACTOR } from "../helpers/test-app.ts";
import { chromiumMissing, logIn, newPage, PASSWORD, startConsole, type Console } from "./web-harness.ts";

const missing = chromiumMissing();
const strict = process.env.PORTCULLIS_STRICT_PEERS === "1";
if (missing !== null && !strict) console.log(`# SKIP web e2e: ${missing}`);

describe("refused forms, TOTP setup pages, first login order (Chromium)", { skip: missing !== null && !strict ? missing : false }, () => {
	let c: Console;

	before(async () => {
		if (missing !== null) throw new Error(`PORTCULLIS_STRICT_PEERS=1 and ${missing}`);
		c = await startConsole();
		await c.app.admin.createGroup(ADMIN_ACTOR, { name: "admins", forceTwoFactor: true, allowedMethods: null });
		await c.app.admin.createUser(ADMIN_ACTOR, { username: "root", password: PASSWORD, isAdmin: true, groups: [] });
		// Like the initial admin: a password the creator knows, to be changed at first login, in a forcing group.
		await c.app.admin.createUser(ADMIN_ACTOR, { username: "ada", password: PASSWORD, isAdmin: true, groups: ["admins"], mustChangePassword: true });
	});
	after(async () => {
		if (c) await c.close();
	});

	test("first login with an admin-set password: new password, then the authenticator app (page reopened, a wrong code), then recovery codes", async () => {
		const page = await newPage(c);
		await logIn(page, "ada");
		assert.match(page.url(), /\/login\/password$/, "the password comes first");
		await page.getByText("You must change your password before you continue.").waitFor();
		// The policy speaks before the server refuses: a breached password is named as such.
		await page.getByLabel("Current password").fill(PASSWORD);
		await page.getByLabel("New password", { exact: true }).fill("password1234");
		await page.getByLabel("New password again").fill("password1234");
		await page.getByRole("button", { name: "Change password" }).click();
		await page.getByText("This password is on a list of common or breached passwords").waitFor();
		await page.getByLabel("Current password").fill(PASSWORD);
		await page.getByLabel("New password", { exact: true }).fill("ochre lantern meadow");
		await page.getByLabel("New password again").fill("ochre lantern meadow");
		await page.getByRole("button", { name: "Change password" }).click();
		await page.waitForURL(/\/login\/enroll$/);

		await page.getByRole("button", { name: "Set up authenticator app" }).click();
		await page.locator("#totp-key").waitFor();
		const key = (await page.locator("#totp-key").textContent()) ?? "";
		// Opening the page's address again (Back, a bookmark, a reload after a refused POST) shows the same setup.
		await page.goto("/login/enroll/totp/confirm");
		assert.equal(await page.locator("#totp-key").textContent(), key);
		assert.equal(await page.getByRole("img", { name: "QR code with your authenticator key" }).count(), 1);
		// A wrong code keeps the QR code and the key.
		await page.getByLabel("Code from the app").fill("000000");
		await page.getByRole("button", { name: "Confirm" }).click();
		await page.getByText("That code is not valid").waitFor();
		assert.equal(await page.getByRole("img", { name: "QR code with your authenticator key" }).count(), 1);
		assert.equal(await page.locator("#totp-key").textContent(), key);
		await page.getByLabel("Code from the app").fill(totpCodeAt(base32Decode(key), c.clock.now().getTime()));
		await page.getByRole("button", { name: "Confirm" }).click();
		await page.waitForURL(/\/account\/recovery-codes\?welcome=1$/);
		await page.getByRole("button", { name: "Create recovery codes" }).waitFor();
		const ada = await c.app.stores.users.findByUsername("ada");
		assert.equal(ada?.must_change_password, 0);
	});

	test("a refused group keeps the name and the ticked boxes, and the name field is marked and focused", async () => {
		const page = await newPage(c);
		await logIn(page, "root");
		await page.goto("/admin/groups");
		await page.locator("#group-name").fill("night shift");
		await page.locator("#new-force").check();
		await page.getByRole("button", { name: "Create group" }).click();
		await page.getByText("Group names are 1-64 characters").waitFor();
		assert.equal(await page.locator("#group-name").inputValue(), "night shift");
		assert.equal(await page.locator("#group-name").getAttribute("aria-invalid"), "true");
		assert.equal(await page.evaluate(() => document.activeElement?.id), "group-name");
		assert.equal(await page.locator("#new-force").isChecked(), true);
		await page.locator("#group-name").fill("night-shift");
		await page.getByRole("button", { name: "Create group" }).click();
		await page.getByText("Created.").waitFor();
		assert.equal((await c.app.stores.groups.findByName("night-shift"))?.force_2fa, 1);
	});

	test("settings: WebAuthn cannot be enabled while the console is an IP address; the page says how to fix it", async () => {
		const page = await newPage(c);
		await logIn(page, "root");
		await page.goto("/admin/settings");
		await page.locator("#enabled-webauthn").check();
		await page.getByRole("button", { name: "Save settings" }).click();
		await page.getByText(/WebAuthn cannot work while the console is reached at http:\/\/127\.0\.0\.1:8080/).waitFor();
		await page.getByText(/Set http\.public_url to https:\/\//).waitFor();
		assert.equal(await page.locator("#enabled-webauthn").isChecked(), true, "the admin's choices are still on the form");
		assert.ok(!(await c.app.stores.settings.getTwoFactor()).enabledMethods.includes("webauthn"));
	});
});
