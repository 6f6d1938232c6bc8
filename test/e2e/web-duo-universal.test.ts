/**
 * Duo's Universal Prompt in headless Chromium: the console at http://localhost:<port>, the fake Duo
 * at https://127.0.0.1:<port> (another site; its test-CA certificate accepted by the context), in
 * "interactive" mode: Duo's page has an Approve link, so the way back is a navigation started by
 * Duo's page (cross-site), exactly where the SameSite=Strict session cookie stays behind. The
 * console bounces once through its own origin and the login completes; a denial comes back to the
 * second-factor page with the attempts left; no CSP violation on any page (the hop to Duo is a
 * meta refresh, outside form-action 'self').
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { BrowserContext, Page } from "playwright-core";
import { createMethodAdmin } from "../../src/methods/method-admin.ts";
import { DUO_IKEY, DUO_SKEY, DUO_WEB_CLIENT_ID, DUO_WEB_CLIENT_SECRET, type FakeDuoServer, startFakeDuoServer } from "../helpers/fake-duo-server.ts";
import { ENROL } from "../helpers/method-login.ts";
import { ADMIN_ACTOR } from "../helpers/test-app.ts";
import { opensslAvailable, sharedTestCa } from "../helpers/test-ca.ts";
import { chromiumMissing, logIn, startKeyConsole, type KeyConsole } from "../methods/webauthn/e2e-harness.ts";
import { unhurried } from "./web-harness.ts";

const PASSWORD = "correct horse battery";

const missing = chromiumMissing() ?? (opensslAvailable() ? null : "openssl is not installed");
const strict = process.env.PORTCULLIS_STRICT_PEERS === "1";
if (missing !== null && !strict) console.log(`# SKIP Duo Universal Prompt e2e: ${missing}`);

describe("Duo Universal Prompt in Chromium", { skip: missing !== null && !strict ? missing : false }, () => {
	let c: KeyConsole;
	let duo: FakeDuoServer;
	const contexts: BrowserContext[] = [];
	const cspViolations: string[] = [];
	const callbacks: { url: string; cookie: boolean }[] = [];

	async function newPage(): Promise<Page> {
		const context = await c.browser.newContext({ baseURL: c.baseUrl, viewport: { width: 1200, height: 860 }, ignoreHTTPSErrors: true });
		unhurried(context);
		contexts.push(context);
		const page = await context.newPage();
		page.on("console", (message) => {
			if (/Content.Security.Policy/i.test(message.text())) cspViolations.push(message.text());
		});
		page.on("request", (request) => {
			if (request.url().includes("/login/duo/callback"))
				void request.allHeaders().then((headers) => callbacks.push({ url: request.url(), cookie: /pc_session=/.test(headers.cookie ?? "") }));
		});
		return page;
	}

	before(async () => {
		if (missing !== null) throw new Error(`PORTCULLIS_STRICT_PEERS=1 and ${missing}`);
		c = await startKeyConsole();
		const ca = sharedTestCa();
		duo = await startFakeDuoServer({
			ikey: DUO_IKEY,
			skey: DUO_SKEY,
			apiHost: "127.0.0.1",
			webClientId: DUO_WEB_CLIENT_ID,
			webClientSecret: DUO_WEB_CLIENT_SECRET,
			interactive: true,
			tls: { cert: ca.serverCert, key: ca.serverKey },
			clock: c.clock,
			users: { alice: {}, bob: { universal: "deny" } },
		});
		await createMethodAdmin(c.app).update(ADMIN_ACTOR, "duo", {
			apiHost: `127.0.0.1:${duo.port}`,
			integrationKey: DUO_IKEY,
			secretKey: DUO_SKEY,
			caPem: ca.caCert,
			webClientId: DUO_WEB_CLIENT_ID,
			webClientSecret: DUO_WEB_CLIENT_SECRET,
		});
		await c.app.admin.updateSettings(ADMIN_ACTOR, { enabledMethods: ["totp", "duo", "recovery-code"] });
		for (const name of ["alice", "bob"]) {
			const user = await c.app.admin.createUser(ADMIN_ACTOR, { username: name, password: PASSWORD, isAdmin: false, groups: [] });
			assert.equal((await c.app.enrollment.begin(user.id, "duo", "Duo", {}, ENROL)).kind, "active");
		}
	});
	after(async () => {
		for (const context of contexts) await context.close().catch(() => undefined);
		await duo?.close();
		await c?.close();
	});

	test("alice: Continue to Duo → approve at Duo → back (cross-site, bounced once) → her account", async () => {
		const page = await newPage();
		await logIn(page, "alice", PASSWORD);
		assert.match(page.url(), /\/login\/2fa$/);
		assert.equal(await page.locator('input[name="code"]').count(), 0);
		await page.getByRole("button", { name: "Continue to Duo" }).click();
		await page.waitForURL(/^https:\/\/127\.0\.0\.1:\d+\/oauth\/v1\/authorize\?/);
		await page.getByText("Login request for alice").waitFor();
		await page.getByRole("link", { name: "Approve" }).click();
		await page.waitForURL(/\/account$/);
		await page.getByText("SSH logins will ask for:").waitFor();
		assert.equal(cspViolations.length, 0, cspViolations.join("\n"));
		// The arrival from Duo carried no session cookie; the same-origin repeat did.
		const [arrival, repeat] = callbacks;
		assert.ok(arrival !== undefined && !arrival.url.includes("b=1") && arrival.cookie === false, JSON.stringify(callbacks));
		assert.ok(repeat?.url.endsWith("&b=1") && repeat.cookie === true, JSON.stringify(callbacks));
		const [success] = await c.app.stores.audit.query({ username: "alice", event: "login.success", limit: 1 });
		assert.equal(JSON.parse(success?.detail ?? "{}").secondFactor, "duo");
	});

	test("bob: Duo denies → back on the second-factor page with the attempts left", async () => {
		const page = await newPage();
		await logIn(page, "bob", PASSWORD);
		await page.getByRole("button", { name: "Continue to Duo" }).click();
		await page.getByRole("link", { name: "Approve" }).click();
		await page.getByText("attempts left before the account is locked").waitFor();
		assert.match(page.url(), /\/login\/duo\/callback\?/);
		await page.getByRole("button", { name: "Continue to Duo" }).waitFor();
		assert.equal(Number((await c.app.stores.users.findByUsername("bob"))!.tfa_failures), 1);
		assert.equal(cspViolations.length, 0, cspViolations.join("\n"));
	});
});
