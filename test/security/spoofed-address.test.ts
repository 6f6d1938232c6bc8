/**
 * Client-address spoofing: a client sends X-Forwarded-For to make the console log (and anything
 * keyed on the address) believe it is someone else (JumpServer CVE-2023-46123, a forged
 * remote_addr). The header is believed only from a configured proxy (http.trusted_proxies).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { ADMIN_ACTOR } from "../helpers/test-app.ts";
import { Browser, createWebTest, PASSWORD, type WebTest } from "../web/helpers.ts";

async function loginSource(w: WebTest, browser: Browser, username: string, forwardedFor: string): Promise<string | null> {
	await browser.get("/login");
	const response = await browser.post("/login", { username, password: PASSWORD }, { headers: { "x-forwarded-for": forwardedFor } });
	assert.equal(response.statusCode, 303, `login: ${response.statusCode}`);
	const events = await w.app.stores.audit.query({ username, event: "login.success" });
	return events[0]?.source ?? null;
}

describe("X-Forwarded-For from a client that is not a trusted proxy", () => {
	let w: WebTest;
	before(async () => {
		w = await createWebTest();
		await w.app.admin.createUser(ADMIN_ACTOR, { username: "sam", password: PASSWORD, isAdmin: false, groups: [], mustChangePassword: false });
	});
	after(async () => w?.close());

	test("a forged X-Forwarded-For is ignored: the audit log names the real peer", async () => {
		assert.equal(await loginSource(w, new Browser(w.server, "198.51.100.7"), "sam", "203.0.113.9"), "198.51.100.7");
	});
});

describe("X-Forwarded-For from a configured proxy", () => {
	let w: WebTest;
	before(async () => {
		w = await createWebTest({ config: { http: { trusted_proxies: ["198.51.100.1"] } } });
		await w.app.admin.createUser(ADMIN_ACTOR, { username: "sam", password: PASSWORD, isAdmin: false, groups: [], mustChangePassword: false });
	});
	after(async () => w?.close());

	test("positive twin: the proxy's X-Forwarded-For is believed", async () => {
		assert.equal(await loginSource(w, new Browser(w.server, "198.51.100.1"), "sam", "203.0.113.9"), "203.0.113.9");
	});
});
