/**
 * Network rules on the web judge the client's address as the adapter believes it
 * (docs/threat-model.md "Proxy trust"): X-Forwarded-For counts only from `http.trusted_proxies`.
 * A client outside the trusted network cannot get in by claiming an inside address in the
 * header, and a trusted proxy's header is what the rule sees.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { ADMIN_ACTOR } from "../helpers/test-app.ts";
import { Browser, createWebTest, PASSWORD, type WebTest } from "../web/helpers.ts";

async function login(browser: Browser, forwardedFor: string): Promise<{ status: number; body: string }> {
	await browser.get("/login");
	const response = await browser.post("/login", { username: "sam", password: PASSWORD }, { headers: { "x-forwarded-for": forwardedFor } });
	return { status: response.statusCode, body: response.body };
}

describe("a deny-outside network rule on the web, with and without a trusted proxy", () => {
	let w: WebTest;
	before(async () => {
		w = await createWebTest({ config: { http: { trusted_proxies: ["198.51.100.1"] } } });
		await w.app.admin.createUser(ADMIN_ACTOR, { username: "sam", password: PASSWORD, isAdmin: false, groups: [], mustChangePassword: false });
		await w.app.networkRules.set(ADMIN_ACTOR, null, "deny-outside", ["10.0.0.0/8"]);
	});
	after(async () => w?.close());

	test("an outside client claiming an inside address in X-Forwarded-For is still refused", async () => {
		const refused = await login(new Browser(w.server, "203.0.113.50"), "10.1.2.3");
		assert.equal(refused.status, 401);
		assert.match(refused.body, /Logins from your network are not allowed/);
		const denied = (await w.app.stores.audit.query({ event: "login.denied" })).at(-1);
		assert.equal(denied?.source, "203.0.113.50");
	});

	test("through the trusted proxy, the forwarded inside address is let in and the outside one refused", async () => {
		const inside = await login(new Browser(w.server, "198.51.100.1"), "10.1.2.3");
		assert.equal(inside.status, 303);
		const outside = await login(new Browser(w.server, "198.51.100.1"), "203.0.113.60");
		assert.equal(outside.status, 401);
		assert.match(outside.body, /Logins from your network are not allowed/);
	});
});
