/**
 * Force 2FA for a group (docs/product-decisions.md, floor items 2 and 4), in headless Chromium against the real server:
 * an admin forces 2FA for group ops in the UI; member alice is made to enrol TOTP (the test reads
 * the key from the page and computes the code), logs out, logs in with a fresh code; a replayed
 * code is refused; bob (not in ops) logs in with his password only; the admin turns on global
 * force in the UI; bob is then made to enrol too (his open session is stepped up at once, and so is
 * the admin's own session).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Page } from "playwright-core";
import { ADMIN_ACTOR } from "../helpers/test-app.ts";
import { answerTotp, chromiumMissing, enrolTotp, logIn, logOut, newPage, PASSWORD, startConsole, type Console } from "./web-harness.ts";

const missing = chromiumMissing();
const strict = process.env.PORTCULLIS_STRICT_PEERS === "1";
if (missing !== null && !strict) console.log(`# SKIP web e2e: ${missing}`);

describe("web console enforces 2FA (Chromium)", { skip: missing !== null && !strict ? missing : false }, () => {
	let c: Console;
	let admin: Page;
	let alice: Page;
	let bob: Page;
	let aliceSecret: Buffer;
	let lastAliceCode = "";

	before(async () => {
		if (missing !== null) throw new Error(`PORTCULLIS_STRICT_PEERS=1 and ${missing}`);
		c = await startConsole();
		await c.app.admin.createUser(ADMIN_ACTOR, { username: "root", password: PASSWORD, isAdmin: true, groups: [] });
		await c.app.admin.createGroup(ADMIN_ACTOR, { name: "ops", forceTwoFactor: false, allowedMethods: null });
		await c.app.admin.createUser(ADMIN_ACTOR, { username: "alice", password: PASSWORD, isAdmin: false, groups: ["ops"] });
		await c.app.admin.createUser(ADMIN_ACTOR, { username: "bob", password: PASSWORD, isAdmin: false, groups: [] });
		admin = await newPage(c);
		alice = await newPage(c);
		bob = await newPage(c);
	});
	after(async () => {
		if (c) await c.close();
	});

	test("the admin logs in and forces 2FA for group ops in the UI", async () => {
		await logIn(admin, "root");
		assert.match(admin.url(), /\/account$/);
		await admin.getByRole("link", { name: "Groups" }).click();
		await admin.getByRole("link", { name: "ops" }).click();
		await admin.getByLabel("Force 2FA for members").check();
		await admin.getByRole("button", { name: "Save group policy" }).click();
		// Impact preview: alice gains the requirement, has no factor and never logged in on the web.
		await admin.getByRole("heading", { name: "Confirm the change" }).waitFor();
		assert.equal(await admin.locator('[data-count="gaining"]').textContent(), "1");
		assert.equal(await admin.locator('[data-count="no-factor"]').textContent(), "1");
		assert.equal(await admin.locator('[data-count="never-on-web"]').textContent(), "1");
		assert.equal((await c.app.stores.groups.findByName("ops"))?.force_2fa, 0, "nothing saved before the confirmation");
		await admin.getByRole("button", { name: "Save the change" }).click();
		await admin.getByText("Saved.").waitFor();
		const group = await c.app.stores.groups.findByName("ops");
		assert.equal(group?.force_2fa, 1);
		// The CSP held: no console errors about blocked inline content.
		assert.equal(await admin.evaluate(() => document.querySelectorAll("script, [style]").length), 0);
	});

	test("alice is made to enrol TOTP, sees only enrolment until it is verified", async () => {
		await logIn(alice, "alice");
		assert.match(alice.url(), /\/login\/enroll$/);
		await alice.getByText("Two-factor authentication is required by group ops.").waitFor();
		// Nothing else is reachable yet.
		await alice.goto("/account");
		assert.match(alice.url(), /\/login\/enroll$/);
		aliceSecret = await enrolTotp(c, alice);
		assert.match(alice.url(), /\/account\/recovery-codes\?welcome=1$/);
		await alice.getByRole("link", { name: "Skip for now and go to my account" }).click();
		await alice.getByText("SSH logins will ask for:").waitFor();
		assert.equal(await alice.locator("#ssh-method").textContent(), "Authenticator app (TOTP)");
		await logOut(alice);
	});

	test("alice logs in again with a fresh code", async () => {
		c.clock.advance(30_000);
		await logIn(alice, "alice");
		assert.match(alice.url(), /\/login\/2fa$/);
		await alice.getByText("Two-factor authentication is required by group ops.").waitFor();
		lastAliceCode = await answerTotp(c, alice, aliceSecret);
		assert.match(alice.url(), /\/account$/);
		await logOut(alice);
	});

	test("a replayed code is refused", async () => {
		await logIn(alice, "alice");
		await alice.getByLabel("Authenticator app code (TOTP)").fill(lastAliceCode);
		await alice.getByRole("button", { name: "Verify" }).click();
		await alice.getByText("That answer is not valid. 4 attempts left").waitFor();
		assert.match(alice.url(), /\/login\/2fa$/);
		await alice.goto("/account");
		assert.match(alice.url(), /\/login\/2fa$/);
		c.clock.advance(30_000);
		await answerTotp(c, alice, aliceSecret);
		assert.match(alice.url(), /\/account$/);
	});

	test("bob, not in ops, logs in with his password only", async () => {
		await logIn(bob, "bob");
		assert.match(bob.url(), /\/account$/);
		await bob.getByText("Two-factor authentication is optional for your account.").waitFor();
	});

	test("the admin turns on global force in the UI; bob is then made to enrol too", async () => {
		await admin.getByRole("link", { name: "Settings" }).click();
		await admin.getByLabel("Force 2FA for everyone").check();
		await admin.getByRole("button", { name: "Save settings" }).click();
		await admin.getByText("You are forcing two-factor authentication on yourself and have no usable second factor").waitFor();
		await admin.getByRole("button", { name: "Save the change" }).click();
		// The policy bites at once, for the admin too: without a factor, they are sent to enrolment.
		await admin.waitForURL(/\/login\/enroll$/);
		assert.equal((await c.app.stores.settings.getTwoFactor()).forceTwoFactor, true);
		await admin.getByText("Two-factor authentication is required for everyone.").waitFor();
		await enrolTotp(c, admin);
		await admin.getByRole("link", { name: "Skip for now and go to my account" }).click();
		await admin.getByRole("link", { name: "Settings" }).click();
		assert.equal(await admin.getByLabel("Force 2FA for everyone").isChecked(), true);

		// Bob's open session is stepped up at its next request.
		await bob.reload();
		assert.match(bob.url(), /\/login\/enroll$/);
		await bob.getByText("Two-factor authentication is required for everyone.").waitFor();
		// And a fresh login also lands on enrolment.
		await bob.getByRole("button", { name: "Log out" }).click();
		await logIn(bob, "bob");
		assert.match(bob.url(), /\/login\/enroll$/);
		await enrolTotp(c, bob);
		await bob.getByRole("link", { name: "Skip for now and go to my account" }).click();
		assert.match(bob.url(), /\/account$/);
		assert.equal(await bob.locator("#ssh-method").textContent(), "Authenticator app (TOTP)");
	});
});
