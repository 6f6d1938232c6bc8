/**
 * docs/security-matrix.md W2/W3, docs/threat-model.md I3: every registered route × every session kind. A route the guard refuses
 * answers with a redirect to the login / second-factor / account page or a 401/403, never a 200
 * with data; a route the class admits is not refused by the guard. The route table comes from the
 * server's own onRoute collection, so a new route is covered automatically, and a route without
 * an access class cannot be registered at all.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { buildWebServer } from "../../src/web/server.ts";
import { webServices } from "../../src/app/web-services.ts";
import type { RouteInfo } from "../../src/web/context.ts";
import { createWebTest, type WebTest } from "./helpers.ts";
import { allowedKinds, concreteUrl, createFixture, SESSION_KINDS, type Fixture } from "./sessions.ts";

/** Deliberate allowlists: adding a route reachable before full login must be a visible change here. */
const PUBLIC_ROUTES = [
	"GET /",
	"HEAD /",
	"GET /login",
	"HEAD /login",
	"POST /login",
	"POST /logout",
	"GET /enroll-link/:token",
	"HEAD /enroll-link/:token",
	"GET /static/app.css",
	"HEAD /static/app.css",
	// The tab icon (every page links it) and the access keyword boxes' script (the second-factor page).
	"GET /static/favicon.svg",
	"HEAD /static/favicon.svg",
	"GET /favicon.ico",
	"HEAD /favicon.ico",
	"GET /static/keyword-boxes.js",
	"HEAD /static/keyword-boxes.js",
	// One-time password links (src/web/routes/password-link.tsx): the holder of the link has no session.
	"GET /password-link/:token",
	"HEAD /password-link/:token",
	"POST /password-link/:token",
	// WebAuthn page script and @simplewebauthn/browser (src/web/routes/webauthn.tsx): the second-factor page needs them before full login.
	"GET /static/webauthn.js",
	"HEAD /static/webauthn.js",
	"GET /static/simplewebauthn/*",
	"HEAD /static/simplewebauthn/*",
	// Duo's Universal Prompt redirects back cross-site, without the SameSite=Strict session cookie; the handler
	// bounces once through this origin and then needs the half (or step-up) session (src/web/routes/duo-universal.tsx).
	"GET /login/duo/callback",
	"HEAD /login/duo/callback",
	// The REST API's OpenAPI document: it describes the routes and holds no data (src/web/api/plugin.ts).
	"GET /api/v1/openapi.json",
	"HEAD /api/v1/openapi.json",
];
const HALF_ROUTES = [
	// The new password before enrolment when an admin set the old one (src/web/routes/enroll.tsx).
	"GET /login/password",
	"HEAD /login/password",
	"POST /login/password",
	"GET /login/2fa",
	"HEAD /login/2fa",
	"POST /login/2fa",
	"GET /login/enroll",
	"HEAD /login/enroll",
	"GET /login/enroll/totp",
	"HEAD /login/enroll/totp",
	"POST /login/enroll/totp",
	"GET /login/enroll/totp/confirm",
	"HEAD /login/enroll/totp/confirm",
	"POST /login/enroll/totp/confirm",
	"POST /login/enroll/keyword",
	// Backend methods' forced enrolment (src/web/routes/methods-enroll.tsx).
	"GET /login/enroll/yubikey-otp",
	"HEAD /login/enroll/yubikey-otp",
	"POST /login/enroll/yubikey-otp",
	"GET /login/enroll/duo",
	"HEAD /login/enroll/duo",
	"POST /login/enroll/duo",
	"GET /login/enroll/radius",
	"HEAD /login/enroll/radius",
	"POST /login/enroll/radius",
	"POST /login/enroll/radius/confirm",
	// WebAuthn (src/web/routes/webauthn.tsx): forced enrolment, and the key as the second factor.
	"GET /login/enroll/webauthn",
	"HEAD /login/enroll/webauthn",
	"POST /login/enroll/webauthn",
	"GET /login/2fa/webauthn/options",
	"HEAD /login/2fa/webauthn/options",
	"POST /login/2fa/webauthn",
	// Duo's Universal Prompt: "Continue to Duo" (src/web/routes/duo-universal.tsx).
	"POST /login/2fa/duo",
];
const DENIAL_LOCATIONS = new Set(["/login", "/login/2fa", "/account", "/account/password"]);

const key = (route: RouteInfo) => `${route.method} ${route.url}`;

describe("route access classes", () => {
	let w: WebTest;
	let fixture: Fixture;
	before(async () => {
		w = await createWebTest();
		fixture = await createFixture(w);
	});
	after(async () => w.close());

	test("the route table is collected and every route has a class", () => {
		const routes = w.server.portcullisRoutes;
		assert.ok(routes.length >= 40, `expected the whole console, got ${routes.length} routes`);
		for (const route of routes) assert.ok(route.access !== undefined, `${key(route)} has no access class`);
	});

	test("pre-auth routes are exactly the allowlisted ones", () => {
		const routes = w.server.portcullisRoutes;
		assert.deepEqual(
			routes
				.filter((route) => route.access === "public")
				.map(key)
				.sort(),
			[...PUBLIC_ROUTES].sort(),
		);
		assert.deepEqual(
			routes
				.filter((route) => route.access === "half")
				.map(key)
				.sort(),
			[...HALF_ROUTES].sort(),
		);
	});

	test("a route without an access class cannot be registered", async () => {
		const t = await createWebTest();
		const server = await buildWebServer(webServices(t.app));
		try {
			assert.throws(() => server.get("/unclassified", async () => "data"), /no access class/);
			assert.throws(() => server.post("/unclassified", { config: { access: "everyone" as never } }, async () => "data"), /no access class/);
		} finally {
			await server.close();
			await t.cleanup();
		}
	});

	test("every route × every session kind: the class decides", async () => {
		let checked = 0;
		for (const route of w.server.portcullisRoutes) {
			for (const kind of SESSION_KINDS) {
				const browser = await fixture.mint(kind);
				const url = concreteUrl(route);
				const label = `${key(route)} as ${kind}`;
				const response =
					route.method === "POST"
						? await browser.post(url, {})
						: await w.server.inject({
								method: route.method as "GET" | "HEAD",
								url,
								headers: { cookie: `pc_session=${browser.session() ?? ""}; pc_pre=${browser.cookies.get("pc_pre") ?? ""}` },
							});
				const denied = response.headers["x-access-denied"];
				assert.ok(response.statusCode < 500, `${label}: ${response.statusCode}\n${response.body.slice(0, 300)}`);
				if (allowedKinds(route).includes(kind)) {
					assert.equal(denied, undefined, `${label} was refused by the guard (${String(denied)})`);
				} else {
					assert.ok(denied !== undefined, `${label} was NOT refused (status ${response.statusCode})`);
					assert.ok([303, 401, 403].includes(response.statusCode), `${label}: status ${response.statusCode}`);
					if (response.statusCode === 303)
						assert.ok(DENIAL_LOCATIONS.has(String(response.headers.location)), `${label}: redirected to ${String(response.headers.location)}`);
					// Never data: a refusal page carries no user list, factor, audit row or code.
					const main = /<main[^>]*>([\s\S]*)<\/main>/.exec(response.body)?.[1] ?? "";
					assert.doesNotMatch(main, /<table|<form|recovery-codes|totp-key|audit/, `${label}: refusal page shows content`);
					if (kind === "anonymous")
						assert.ok(
							response.statusCode === 303 ? response.headers.location === "/login" : response.statusCode === 401,
							`${label}: anonymous must be sent to log in`,
						);
					if (kind === "half-enroll" || kind === "half-2fa") {
						// W2: a half-authenticated session is sent back to its second-factor step.
						assert.ok(
							response.statusCode === 401 || response.headers.location === "/login/2fa",
							`${label}: ${response.statusCode} ${String(response.headers.location)}`,
						);
					}
				}
				checked++;
			}
		}
		assert.equal(checked, w.server.portcullisRoutes.length * SESSION_KINDS.length);
	});

	test("unknown routes answer with the 404 page for every session kind", async () => {
		for (const kind of SESSION_KINDS) {
			const browser = await fixture.mint(kind);
			const response = await browser.get("/admin/nothing-here");
			assert.equal(response.statusCode, 404, kind);
			assert.match(response.body, /Page not found/);
		}
	});
});
