/**
 * Forced-enrolment routes called by someone who may not enrol (a half-logged-in user who already
 * has a factor, or whose login attempt is gone): each must be refused, and no handler may go on
 * running (and throw) after it has answered. The refusal helpers used to return the FastifyReply
 * through an async function; a reply is a thenable, so the awaited value was undefined and the
 * handler threw "Cannot use 'in' operator" after every refusal (scripts/fuzz.ts, 2026-12, first run).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { FastifyBaseLogger } from "fastify";
import { buildWebServer } from "../../src/web/server.ts";
import { webServices } from "../../src/app/web-services.ts";
import { createTestApp } from "../helpers/test-app.ts";
import type { WebTest } from "../web/helpers.ts";
import { createFixture, type Fixture } from "../web/sessions.ts";

/** A logger that records error-level calls (fastify logs a handler's late throw with reply.log.error). */
function recordingLogger(errors: string[]): FastifyBaseLogger {
	const record = (...args: unknown[]) =>
		errors.push(
			args
				.map((arg) => (arg instanceof Error ? arg.message : JSON.stringify(arg, (_key, value: unknown) => (value instanceof Error ? value.message : value))))
				.join(" "),
		);
	const logger = {
		level: "info",
		error: record,
		fatal: record,
		warn: () => undefined,
		info: () => undefined,
		debug: () => undefined,
		trace: () => undefined,
		silent: () => undefined,
		child: () => logger,
	};
	return logger as unknown as FastifyBaseLogger;
}

describe("forced-enrolment routes refuse without throwing after the answer", () => {
	let w: WebTest;
	let fixture: Fixture;
	const errors: string[] = [];

	before(async () => {
		const t = await createTestApp();
		const server = await buildWebServer(webServices(t.app));
		const logger = recordingLogger(errors);
		server.addHook("onRequest", async (request, reply) => {
			request.log = logger;
			reply.log = logger;
		});
		await server.ready();
		w = {
			...t,
			server,
			close: async () => {
				await server.close();
				await t.cleanup();
			},
		};
		fixture = await createFixture(w);
	});
	after(async () => w?.close());

	const enrolRoutes = () =>
		w.server.portcullisRoutes.filter((route) => route.url.startsWith("/login/enroll") && (route.method === "GET" || route.method === "POST"));

	test("a half-logged-in user who already has a factor calls every /login/enroll route: redirected or 403, nothing thrown", async () => {
		assert.ok(enrolRoutes().length >= 8, "the forced-enrolment routes are registered");
		for (const route of enrolRoutes()) {
			errors.length = 0;
			const browser = await fixture.mint("half-2fa");
			const fields = Object.fromEntries(Object.entries(route.form ?? {}).map(([name]) => [name, "x"]));
			const response = route.method === "GET" ? await browser.get(route.url) : await browser.post(route.url, fields);
			if (route.method === "GET") {
				assert.equal(response.statusCode, 303, `${route.method} ${route.url}`);
				assert.equal(response.headers.location, "/login/2fa", `${route.method} ${route.url}`);
			} else {
				assert.equal(response.statusCode, 403, `${route.method} ${route.url}: ${response.body.slice(0, 200)}`);
			}
			// The late throw happens on the same tick chain as the answer; give it a turn to surface.
			await new Promise((resolve) => setImmediate(resolve));
			assert.deepEqual(errors, [], `${route.method} ${route.url} threw after answering`);
		}
	});

	test("a half session whose login attempt has expired calls every /login/enroll route: 401 login page, nothing thrown", async () => {
		for (const route of enrolRoutes()) {
			errors.length = 0;
			const browser = await fixture.mint("half-enroll");
			// The attempt lives 5 minutes (security.attempt_ttl_seconds), the session much longer.
			w.clock.advance(301_000);
			const fields = Object.fromEntries(Object.entries(route.form ?? {}).map(([name]) => [name, "x"]));
			const response = route.method === "GET" ? await browser.get(route.url) : await browser.post(route.url, fields);
			assert.equal(response.statusCode, 401, `${route.method} ${route.url}: ${response.body.slice(0, 200)}`);
			await new Promise((resolve) => setImmediate(resolve));
			assert.deepEqual(errors, [], `${route.method} ${route.url} threw after answering`);
		}
	});
});
