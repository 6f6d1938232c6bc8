/**
 * WebAuthn on the web in headless Chromium with a CDP virtual authenticator (ctap2/usb): alice registers
 * a security key on her account page, logs out, logs in with the key; a cloned key (its signature
 * counter set back) is refused and audited; the strict CSP holds on every page (no violations).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { ADMIN_ACTOR } from "../helpers/test-app.ts";
import {
	chromiumMissing,
	credentials,
	logIn,
	logOut,
	newKeyPage,
	registerKeyInBrowser,
	setSignCount,
	startKeyConsole,
	type KeyConsole,
	type KeyPage,
} from "../methods/webauthn/e2e-harness.ts";

const PASSWORD = "correct horse battery";
const missing = chromiumMissing();
const strict = process.env.PORTCULLIS_STRICT_PEERS === "1";
if (missing !== null && !strict) console.log(`# SKIP webauthn e2e: ${missing}`);

describe("WebAuthn in Chromium (virtual authenticator)", { skip: missing !== null && !strict ? missing : false }, () => {
	let c: KeyConsole;
	let alice: KeyPage;

	before(async () => {
		if (missing !== null) throw new Error(`PORTCULLIS_STRICT_PEERS=1 and ${missing}`);
		c = await startKeyConsole();
		await c.app.admin.updateSettings(ADMIN_ACTOR, { enabledMethods: ["webauthn", "totp", "recovery-code"] });
		await c.app.admin.createUser(ADMIN_ACTOR, { username: "alice", password: PASSWORD, isAdmin: false, groups: [] });
		alice = await newKeyPage(c);
	});
	after(async () => {
		if (c) await c.close();
	});

	test("alice registers a security key on her account page", async () => {
		const { page } = alice;
		await logIn(page, "alice", PASSWORD);
		assert.match(page.url(), /\/account$/);
		await registerKeyInBrowser(page, "blue key");
		assert.match(page.url(), /\/account\/recovery-codes\?welcome=1$/);
		await page.goto("/account");
		await page.getByRole("cell", { name: "blue key", exact: true }).waitFor();
		assert.equal(await page.locator("#ssh-method").textContent(), "Security key / passkey (WebAuthn)");
		const [credential, ...more] = await credentials(alice);
		assert.equal(more.length, 0);
		assert.equal(credential?.rpId, "localhost");
		const factors = await c.app.stores.factors.listActive((await c.app.stores.users.findByUsername("alice"))!.id, "webauthn");
		assert.equal(factors.length, 1);
		// The virtual key's credential id is what the server bound to alice (Chromium: standard base64).
		assert.equal(Buffer.from(credential!.credentialId, "base64").toString("base64url"), factors[0]?.publicId);
		await logOut(page);
	});

	test("alice logs in with the key", async () => {
		const { page } = alice;
		await logIn(page, "alice", PASSWORD);
		assert.match(page.url(), /\/login\/2fa$/);
		await page.getByText("Security key: use your key in the browser").waitFor();
		assert.equal(await page.locator('input[name="code"]').count(), 0);
		await page.getByRole("button", { name: "Use security key" }).click();
		await page.waitForURL(/\/account$/);
		const [credential] = await credentials(alice);
		const factor = (await c.app.stores.factors.listActive((await c.app.stores.users.findByUsername("alice"))!.id, "webauthn"))[0];
		assert.ok((credential?.signCount ?? 0) >= 1);
		assert.equal(factor?.lastUsedCounter, credential?.signCount, "the server stored the key's counter");
		await logOut(page);
	});

	test("a sign-count regression (a cloned key) is refused and audited", async () => {
		const { page } = alice;
		const [before] = await credentials(alice);
		assert.ok(before && before.signCount >= 1);
		// The same private key with its counter set back: what a clone of the key would present.
		await setSignCount(alice, 0);
		await logIn(page, "alice", PASSWORD);
		await page.getByRole("button", { name: "Use security key" }).click();
		await page.getByText(/The security key's answer was not accepted\. 4 attempts left/).waitFor();
		assert.match(page.url(), /\/login\/2fa\/webauthn$/);
		const events = await c.app.stores.audit.query({ event: "webauthn.sign-count-regression", username: "alice" });
		assert.equal(events.length, 1);
		assert.match(events[0]?.detail ?? "", /"storedCounter":\d+,"receivedCounter":1/);
		// The genuine key (counter above the stored one) still works.
		await setSignCount(alice, before.signCount + 10);
		await page.getByRole("button", { name: "Use security key" }).click();
		await page.waitForURL(/\/account$/);
	});

	test("the pages ran under the strict CSP without a single violation", () => {
		assert.deepEqual(c.cspViolations, []);
	});
});
