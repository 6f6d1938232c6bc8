/**
 * `npm run screenshots`: drives the web console in headless Chromium (the same set-up as
 * test/e2e/web-enforce-2fa.test.ts) and writes PNGs of the main pages to docs/screenshots/.
 */
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Page } from "playwright-core";
import { ADMIN_ACTOR } from "../test/helpers/test-app.ts";
import { answerTotp, chromiumMissing, enrolTotp, logIn, logOut, newPage, PASSWORD, startConsole } from "../test/e2e/web-harness.ts";
import { webauthnScreenshots } from "../test/methods/webauthn/e2e-harness.ts";

const OUT = resolve(import.meta.dirname, "..", "docs", "screenshots");

async function shot(page: Page, name: string): Promise<void> {
	const file = join(OUT, `${name}.png`);
	await page.screenshot({ path: file, fullPage: true });
	console.log(`wrote ${file}`);
}

async function main(): Promise<void> {
	const missing = chromiumMissing();
	if (missing !== null) throw new Error(missing);
	mkdirSync(OUT, { recursive: true });
	const c = await startConsole();
	try {
		await c.app.admin.createUser(ADMIN_ACTOR, { username: "admin", password: PASSWORD, isAdmin: true, groups: [] });
		await c.app.admin.createGroup(ADMIN_ACTOR, { name: "ops", forceTwoFactor: true, allowedMethods: null });
		await c.app.admin.createGroup(ADMIN_ACTOR, { name: "contractors", forceTwoFactor: true, allowedMethods: ["totp", "recovery-code"] });
		await c.app.admin.createUser(ADMIN_ACTOR, { username: "alice", password: PASSWORD, isAdmin: false, groups: ["ops"] });
		await c.app.admin.createUser(ADMIN_ACTOR, { username: "bob", password: PASSWORD, isAdmin: false, groups: [] });
		await c.app.admin.createUser(ADMIN_ACTOR, { username: "carol", password: PASSWORD, isAdmin: false, groups: ["contractors"] });

		const alice = await newPage(c);
		await alice.goto("/login");
		await alice.getByLabel("Username").fill("alice");
		await shot(alice, "login");

		await logIn(alice, "alice");
		await shot(alice, "enroll-choose");
		await alice.getByLabel("Label (optional)").first().fill("work phone");
		await alice.getByRole("button", { name: "Set up authenticator app" }).click();
		await alice.locator("#totp-key").waitFor();
		await shot(alice, "enroll-totp");
		await alice.goto("/login/enroll");
		await alice.getByLabel("Label (optional)").first().fill("work phone");
		const secret = await enrolTotp(c, alice);
		await alice.getByRole("button", { name: "Create recovery codes" }).click();
		await alice.locator("#recovery-codes").waitFor();
		await shot(alice, "recovery-codes");
		await logOut(alice);

		c.clock.advance(30_000);
		await logIn(alice, "alice");
		await shot(alice, "second-factor");
		await answerTotp(c, alice, secret);
		await alice.getByText("SSH logins will ask for:").waitFor();
		await shot(alice, "account");

		const admin = await newPage(c);
		await logIn(admin, "admin");
		await admin.goto("/admin/settings");
		await shot(admin, "admin-settings");
		await admin.goto("/admin/users");
		await shot(admin, "admin-users");
		await admin.goto("/admin/group?name=contractors");
		await shot(admin, "admin-group");
		await admin.goto("/admin/audit");
		await shot(admin, "admin-audit");
	} finally {
		await c.close();
	}
	// Security key registration and the SSH approval page (a console reached as localhost).
	await webauthnScreenshots(shot);
}

main().catch((error: unknown) => {
	console.error(error);
	process.exitCode = 1;
});
