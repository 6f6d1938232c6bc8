/**
 * docs/threat-model.md, Bad input: "Web and JSON inputs": every form (from the route table's declared schemas) with
 * wrong types, duplicated fields, oversized values, missing fields and unknown fields → 400 with a
 * generic page; never a 500, never a stack trace. Plus oversized bodies, foreign content types and
 * malformed JSON, and the same for every GET route's query string.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { RouteInfo } from "../../src/web/context.ts";
import type { FormSchema } from "../../src/web/forms.ts";
import type { LightMyRequestResponse } from "fastify";
import { createWebTest, type WebTest } from "./helpers.ts";
import { allowedKinds, concreteUrl, createFixture, type Fixture, type SessionKind } from "./sessions.ts";

function kindFor(route: RouteInfo): SessionKind {
	const kinds = allowedKinds(route);
	for (const preferred of ["admin", "full", "half-enroll", "anonymous"] as const) if (kinds.includes(preferred)) return preferred;
	return kinds[0] ?? "anonymous";
}

/** Valid-looking values for every field but `except`, so the 400 is caused by the field under test. */
function baseline(schema: FormSchema, except: string): Record<string, string> {
	const fields: Record<string, string> = {};
	for (const [name, spec] of Object.entries(schema)) if (name !== except && spec.kind === "string") fields[name] = "x";
	return fields;
}

function assertGeneric400(response: LightMyRequestResponse, label: string): void {
	assert.equal(response.statusCode, 400, `${label}: ${response.statusCode} ${response.body.slice(0, 300)}`);
	assert.match(response.body, /The request was not valid/, label);
	assert.doesNotMatch(response.body, /\bat [\w.<>]+ \(|Error:|node_modules|\.ts:\d+/, `${label}: leaks internals`);
}

describe("bad input on every form and query", () => {
	let w: WebTest;
	let fixture: Fixture;
	let posts: RouteInfo[];
	let gets: RouteInfo[];
	before(async () => {
		w = await createWebTest();
		fixture = await createFixture(w);
		// The REST API (access "api") takes JSON validated by its route schemas, behind a Bearer token:
		// test/web/api.test.ts "bad input on every API route" holds it.
		posts = w.server.portcullisRoutes.filter((route) => route.method === "POST" && route.access !== "api");
		gets = w.server.portcullisRoutes.filter((route) => route.method === "GET" && route.access !== "api");
	});
	after(async () => w.close());

	test("every POST route declares its form, and every declared field fits in the route's body limit", () => {
		for (const route of posts) {
			assert.ok(route.form !== undefined, `${route.url} has no form schema`);
			for (const [name, spec] of Object.entries(route.form ?? {})) {
				// Room for the CSRF token, the other fields and URL-encoding; otherwise raise the route's bodyLimit.
				if (spec.kind === "string")
					assert.ok(
						spec.max + 1024 <= route.bodyLimit,
						`${route.url}: field ${name} (max ${spec.max}) cannot fit in the ${route.bodyLimit}-byte body limit; pass bodyLimit to postRoute`,
					);
			}
		}
	});

	test("duplicated, oversized, missing and unknown form fields → 400", async () => {
		let cases = 0;
		for (const route of posts) {
			const schema = route.form ?? {};
			const browser = await fixture.mint(kindFor(route));
			const url = concreteUrl(route);
			for (const [name, spec] of Object.entries(schema)) {
				const others = baseline(schema, name);
				const value = spec.kind === "checkbox" ? "on" : "y";
				assertGeneric400(await browser.post(url, { ...others, [name]: [value, value] }), `${url} duplicate ${name}`);
				if (spec.kind === "string") {
					assertGeneric400(await browser.post(url, { ...others, [name]: "z".repeat(spec.max + 1) }), `${url} oversized ${name}`);
					if (spec.required) assertGeneric400(await browser.post(url, others), `${url} missing ${name}`);
				} else {
					assertGeneric400(await browser.post(url, { ...others, [name]: "yes" }), `${url} checkbox ${name}=yes`);
				}
				cases++;
			}
			assertGeneric400(await browser.post(url, { ...baseline(schema, ""), isAdmin: "on" }), `${url} unknown field`);
			const polluted = new URLSearchParams({ _csrf: browser.csrf(), ...baseline(schema, "") });
			polluted.append("__proto__", "x");
			assertGeneric400(await browser.post(url, {}, { raw: polluted.toString() }), `${url} __proto__`);
			const nested = new URLSearchParams({ _csrf: browser.csrf(), ...baseline(schema, "") });
			nested.append("constructor[prototype][isAdmin]", "1");
			assertGeneric400(await browser.post(url, {}, { raw: nested.toString() }), `${url} constructor.prototype`);
		}
		assert.ok(cases >= 40, `only ${cases} field cases`);
	});

	test("wrong JSON types in every field → 400", async () => {
		for (const route of posts) {
			const schema = route.form ?? {};
			const browser = await fixture.mint(kindFor(route));
			const url = concreteUrl(route);
			const token = browser.csrf();
			for (const name of Object.keys(schema)) {
				for (const bad of [123456, true, null, [], {}, { $ne: "" }, ["a"]]) {
					const body = JSON.stringify({ _csrf: token, ...baseline(schema, name), [name]: bad });
					const response = await browser.post(url, {}, { raw: body, contentType: "application/json" });
					assertGeneric400(response, `${url} ${name}=${JSON.stringify(bad)}`);
				}
			}
			for (const body of ["[]", '"text"', "123", "null"]) {
				const response = await browser.post(url, {}, { raw: body, contentType: "application/json" });
				assert.ok([400, 403].includes(response.statusCode), `${url} body ${body}: ${response.statusCode}`);
			}
		}
	});

	test("oversized bodies, other content types, malformed JSON → 4xx, never 500", async () => {
		for (const route of posts) {
			const browser = await fixture.mint(kindFor(route));
			const url = concreteUrl(route);
			const huge = await browser.post(url, { field: "a".repeat(route.bodyLimit + 1000) });
			assert.equal(huge.statusCode, 413, `${url} huge: ${huge.statusCode}`);
			assert.doesNotMatch(huge.body, /Error:|node_modules/);
			const text = await browser.post(url, {}, { raw: "hello", contentType: "text/plain" });
			assert.equal(text.statusCode, 415, `${url} text/plain: ${text.statusCode}`);
			const json = await browser.post(url, {}, { raw: "{bad json", contentType: "application/json" });
			assert.equal(json.statusCode, 400, `${url} bad json: ${json.statusCode}`);
			const multipart = await browser.post(url, {}, { raw: "--x\r\n\r\n--x--", contentType: "multipart/form-data; boundary=x" });
			assert.equal(multipart.statusCode, 415, `${url} multipart: ${multipart.statusCode}`);
			const encoded = await browser.post(url, {}, { raw: `_csrf=${browser.csrf()}&%E0%A4%A=%zz&a=%FF%FE` });
			assert.ok(encoded.statusCode === 400, `${url} bad encoding: ${encoded.statusCode}`);
		}
	});

	test("every GET route: duplicated, oversized and unknown query parameters → 400", async () => {
		for (const route of gets) {
			if (route.url === "/static/app.css") continue; // not a page: no query is read
			const browser = await fixture.mint(kindFor(route));
			const url = concreteUrl(route);
			const schema = route.query ?? {};
			const others = new URLSearchParams(baseline(schema, ""));
			for (const [name, spec] of Object.entries(schema)) {
				if (spec.kind !== "string") continue;
				const dup = new URLSearchParams(baseline(schema, name));
				dup.append(name, "a");
				dup.append(name, "b");
				assertGeneric400(await browser.get(`${url}?${dup}`), `${url} duplicate ${name}`);
				const long = new URLSearchParams(baseline(schema, name));
				long.set(name, "z".repeat(spec.max + 1));
				assertGeneric400(await browser.get(`${url}?${long}`), `${url} oversized ${name}`);
			}
			others.set("unexpected", "1");
			assertGeneric400(await browser.get(`${url}?${others}`), `${url} unknown parameter`);
		}
	});

	test("classic OTP and keyword pitfalls on the second-factor form are refused as wrong answers, not errors", async () => {
		const browser = await fixture.mint("half-2fa");
		for (const code of ["123456abc", " 0x1E240 ", "1.23456e5", "١٢٣٤٥٦", "", "0".repeat(64), "' OR 1=1 --", "\u0000\u0000\u0000"]) {
			await browser.get("/login/2fa");
			const response = await browser.post("/login/2fa", { method: "totp", code });
			assert.ok(response.statusCode === 401 || response.statusCode === 403, `${JSON.stringify(code)}: ${response.statusCode}`);
			assert.doesNotMatch(response.body, /Error:|node_modules/);
			if (response.statusCode === 403) break; // locked after the configured number of failures
		}
		await w.app.admin.unlock({ name: "test", channel: "cli", source: "test" }, "tina");
	});

	test("refused input is audited as web.bad-request for a known user and for the login form", async () => {
		const admin = await fixture.mint("admin");
		await admin.post("/admin/users/create", { username: ["a", "b"], password: "x" });
		const anonymous = await fixture.mint("anonymous");
		await anonymous.post("/login", { username: "z".repeat(300), password: "x" });
		const events = await w.app.stores.audit.query({ event: "web.bad-request" });
		assert.ok(
			events.some((event) => event.username === "ada" && /duplicate/.test(event.detail ?? "")),
			"admin's bad request audited",
		);
		assert.ok(
			events.some((event) => event.username === null && /\/login/.test(event.detail ?? "") && /length/.test(event.detail ?? "")),
			"login bad request audited",
		);
		// Never the submitted values.
		assert.ok(events.every((event) => !(event.detail ?? "").includes("zzzz")));
	});
});
