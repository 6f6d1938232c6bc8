/**
 * CSRF on every POST route (from the server's own route table): no token, a wrong token, another
 * session's token, a foreign Origin or a cross-site fetch → 403; the right token → not 403.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { RouteInfo } from "../../src/web/context.ts";
import { Browser, createWebTest, type WebTest } from "./helpers.ts";
import { allowedKinds, concreteUrl, createFixture, type Fixture, type SessionKind } from "./sessions.ts";

/** A session kind the route's class admits, and for which the handler itself does not refuse. */
function kindFor(route: RouteInfo): SessionKind {
	const kinds = allowedKinds(route);
	for (const preferred of ["admin", "full", "half-enroll", "anonymous"] as const) if (kinds.includes(preferred)) return preferred;
	return kinds[0] ?? "anonymous";
}

describe("CSRF on every POST route", () => {
	let w: WebTest;
	let fixture: Fixture;
	let posts: RouteInfo[];
	before(async () => {
		w = await createWebTest();
		fixture = await createFixture(w);
		// The REST API (access "api") is Bearer-only: no cookie authenticates it, so there is nothing
		// for CSRF to ride on; test/web/api.test.ts shows a cookie-only POST there is 401.
		posts = w.server.portcullisRoutes.filter((route) => route.method === "POST" && route.access !== "api");
	});
	after(async () => w.close());

	test("there are POST routes to check", () => {
		assert.ok(posts.length >= 20, `only ${posts.length} POST routes`);
	});

	test("without a token → 403", async () => {
		for (const route of posts) {
			const browser = await fixture.mint(kindFor(route));
			const response = await browser.post(concreteUrl(route), {}, { csrf: null });
			assert.equal(response.statusCode, 403, `${route.url}: ${response.statusCode}`);
			assert.equal(response.headers["x-csrf-refused"], "token");
			assert.match(response.body, /did not come from this site/);
		}
	});

	test("with a wrong token → 403", async () => {
		for (const route of posts) {
			const browser = await fixture.mint(kindFor(route));
			for (const token of ["x".repeat(43), "", browser.csrf().slice(0, 42) + (browser.csrf().endsWith("A") ? "B" : "A"), `${browser.csrf()}A`]) {
				const response = await browser.post(concreteUrl(route), {}, { csrf: token });
				assert.equal(response.statusCode, 403, `${route.url} with ${JSON.stringify(token)}: ${response.statusCode}`);
			}
		}
	});

	test("with another session's token → 403", async () => {
		for (const route of posts) {
			const kind = kindFor(route);
			const victim = await fixture.mint(kind);
			const other = await fixture.mint(kind === "anonymous" ? "full" : kind);
			const response = await victim.post(concreteUrl(route), {}, { csrf: other.csrf() });
			assert.equal(response.statusCode, 403, `${route.url}: ${response.statusCode}`);
		}
	});

	test("with duplicated tokens (array) → 403", async () => {
		for (const route of posts) {
			const browser = await fixture.mint(kindFor(route));
			const token = browser.csrf();
			const response = await browser.post(concreteUrl(route), { _csrf: [token, token] }, { csrf: null });
			assert.equal(response.statusCode, 403, route.url);
		}
	});

	test("with the right token → not 403 (and not refused by the guard)", async () => {
		for (const route of posts) {
			const browser = await fixture.mint(kindFor(route));
			const response = await browser.post(concreteUrl(route), {});
			assert.equal(response.headers["x-csrf-refused"], undefined, `${route.url}: ${String(response.headers["x-csrf-refused"])}`);
			// Only a handler may still say 403 (e.g. W3(d) "you already have a factor"), never the CSRF check.
			if (response.statusCode === 403) assert.doesNotMatch(response.body, /did not come from this site/, route.url);
			assert.equal(response.headers["x-access-denied"], undefined, route.url);
			assert.ok(response.statusCode < 500, `${route.url}: ${response.statusCode}`);
		}
	});

	test("the right token from a foreign origin or a cross-site fetch → 403", async () => {
		for (const route of posts) {
			const variants: Record<string, string>[] = [
				{ origin: "https://evil.example" },
				{ origin: "null" },
				{ "sec-fetch-site": "cross-site" },
				{ "sec-fetch-site": "same-site" },
			];
			for (const headers of variants) {
				const browser = await fixture.mint(kindFor(route));
				const response = await browser.post(concreteUrl(route), {}, { headers });
				assert.equal(response.statusCode, 403, `${route.url} ${JSON.stringify(headers)}: ${response.statusCode}`);
			}
		}
	});

	test("the right token from the console's own origin → accepted", async () => {
		const browser = await fixture.mint("anonymous");
		const response = await browser.post(
			"/login",
			{ username: "nobody", password: "wrong password" },
			{ headers: { origin: "http://127.0.0.1:8080", "sec-fetch-site": "same-origin" } },
		);
		assert.equal(response.statusCode, 401);
		const second = await fixture.mint("anonymous");
		const viaHost = await second.post(
			"/login",
			{ username: "nobody", password: "wrong password" },
			{ headers: { origin: "http://localhost:80", host: "localhost:80" } },
		);
		assert.equal(viaHost.statusCode, 401);
	});

	test("a login form token works after the session cookie appears (pre-session token on public routes only)", async () => {
		const browser = await fixture.mint("full");
		const anonymous = new Browser(w.server);
		await anonymous.get("/login");
		const preToken = anonymous.csrf();
		// The pre-session token is accepted on /logout (public) with the same pre cookie...
		browser.cookies.set("pc_pre", anonymous.cookies.get("pc_pre") ?? "");
		const logout = await browser.post("/logout", {}, { csrf: preToken });
		assert.equal(logout.statusCode, 303);
		// ...but never on an authenticated route.
		const again = await fixture.mint("full");
		again.cookies.set("pc_pre", anonymous.cookies.get("pc_pre") ?? "");
		const refused = await again.post("/account/recovery-codes", {}, { csrf: preToken });
		assert.equal(refused.statusCode, 403);
	});

	test("pages carry security headers (CSP without inline script, no framing)", async () => {
		const browser = new Browser(w.server);
		const page = await browser.get("/login");
		const csp = String(page.headers["content-security-policy"]);
		for (const directive of ["default-src 'self'", "script-src 'self'", "object-src 'none'", "frame-ancestors 'none'", "form-action 'self'"])
			assert.ok(csp.includes(directive), directive);
		assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
		assert.equal(page.headers["x-frame-options"], "SAMEORIGIN");
		assert.equal(page.headers["cache-control"], "no-store");
		const cookie = String(page.headers["set-cookie"]);
		assert.match(cookie, /pc_pre=.*HttpOnly/);
		assert.match(cookie, /SameSite=Strict/);
		assert.doesNotMatch(page.body, /<script|style=/);
	});
});
