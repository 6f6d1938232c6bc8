/**
 * Web test helpers: a real Portcullis (test-app.ts, FakeClock) behind buildWebServer, and a tiny
 * cookie-jar "browser" over app.inject() that follows the console's forms (CSRF token included).
 */
import assert from "node:assert/strict";
import type { FastifyInstance, LightMyRequestResponse } from "fastify";
import { totpCodeAt } from "../../src/methods/totp/totp-method.ts";
import { buildWebServer } from "../../src/web/server.ts";
import { webServices } from "../../src/app/web-services.ts";
import { ADMIN_ACTOR, createTestApp, type TestApp } from "../helpers/test-app.ts";
import { base32Decode } from "../helpers/base32.ts";

export const PASSWORD = "correct horse battery";

export interface WebTest extends TestApp {
	server: FastifyInstance;
	close(): Promise<void>;
}

export async function createWebTest(options: Parameters<typeof createTestApp>[0] = {}): Promise<WebTest> {
	const t = await createTestApp(options);
	const server = await buildWebServer(webServices(t.app));
	await server.ready();
	return {
		...t,
		server,
		async close() {
			await server.close();
			await t.cleanup();
		},
	};
}

export function decodeHtml(text: string): string {
	return text
		.replace(/&quot;/g, '"')
		.replace(/&#39;/g, "'")
		.replace(/&lt;/g, "<")
		.replace(/&gt;/g, ">")
		.replace(/&amp;/g, "&");
}

/** A cookie jar over inject(): remembers Set-Cookie, extracts the last page's CSRF token. */
export class Browser {
	readonly cookies = new Map<string, string>();
	last: LightMyRequestResponse | null = null;

	/** `remoteAddress`: the peer address the server sees (default: light-my-request's 127.0.0.1). */
	constructor(
		readonly server: FastifyInstance,
		readonly remoteAddress?: string,
	) {}

	private get peer(): { remoteAddress?: string } {
		return this.remoteAddress === undefined ? {} : { remoteAddress: this.remoteAddress };
	}

	private cookieHeader(): string | undefined {
		if (this.cookies.size === 0) return undefined;
		return [...this.cookies].map(([name, value]) => `${name}=${value}`).join("; ");
	}

	private remember(response: LightMyRequestResponse): void {
		for (const cookie of response.cookies as { name: string; value: string; maxAge?: number; expires?: Date }[]) {
			const expired =
				cookie.value === "" || (cookie.maxAge !== undefined && cookie.maxAge <= 0) || (cookie.expires !== undefined && cookie.expires.getTime() < Date.now());
			if (expired) this.cookies.delete(cookie.name);
			else this.cookies.set(cookie.name, cookie.value);
		}
		this.last = response;
		const match = /name="_csrf" value="([^"]+)"/.exec(response.body);
		if (match) this.seenToken = { token: match[1] as string, cookies: `${this.cookies.get("pc_session") ?? ""}|${this.cookies.get("pc_pre") ?? ""}` };
	}

	async get(url: string, headers: Record<string, string> = {}): Promise<LightMyRequestResponse> {
		const cookie = this.cookieHeader();
		const response = await this.server.inject({ method: "GET", url, headers: { ...(cookie ? { cookie } : {}), ...headers }, ...this.peer });
		this.remember(response);
		return response;
	}

	/** Follows redirects (GET) up to 5 times. */
	async follow(response: LightMyRequestResponse): Promise<LightMyRequestResponse> {
		let current = response;
		for (let hop = 0; hop < 5 && current.statusCode >= 300 && current.statusCode < 400; hop++) {
			current = await this.get(String(current.headers.location));
		}
		return current;
	}

	/** The token of the last page, or of an earlier page seen with the same cookies (after a redirect). */
	private seenToken: { token: string; cookies: string } | null = null;

	csrf(): string {
		const match = /name="_csrf" value="([^"]+)"/.exec(this.last?.body ?? "");
		const cookies = `${this.cookies.get("pc_session") ?? ""}|${this.cookies.get("pc_pre") ?? ""}`;
		if (match) return match[1] as string;
		if (this.seenToken !== null && this.seenToken.cookies === cookies) return this.seenToken.token;
		assert.fail(`no CSRF token on the last page:\n${this.last?.body.slice(0, 500)}`);
	}

	/** Posts a form; by default with the CSRF token of the last page. */
	async post(
		url: string,
		fields: Record<string, string | string[]>,
		options: { csrf?: string | null; headers?: Record<string, string>; raw?: string; contentType?: string } = {},
	): Promise<LightMyRequestResponse> {
		const cookie = this.cookieHeader();
		let payload: string;
		if (options.raw !== undefined) {
			payload = options.raw;
		} else {
			const params = new URLSearchParams();
			const token = options.csrf === undefined ? this.csrf() : options.csrf;
			if (token !== null) params.append("_csrf", token);
			for (const [name, value] of Object.entries(fields)) {
				for (const item of Array.isArray(value) ? value : [value]) params.append(name, item);
			}
			payload = params.toString();
		}
		const response = await this.server.inject({
			...this.peer,
			method: "POST",
			url,
			payload,
			headers: { "content-type": options.contentType ?? "application/x-www-form-urlencoded", ...(cookie ? { cookie } : {}), ...(options.headers ?? {}) },
		});
		this.remember(response);
		return response;
	}

	session(): string | undefined {
		return this.cookies.get("pc_session");
	}

	/** Loads /login and submits the password; returns the redirect response. */
	async login(username: string, password = PASSWORD): Promise<LightMyRequestResponse> {
		await this.get("/login");
		return this.post("/login", { username, password });
	}
}

export function totpSecretFromPage(body: string): Buffer {
	const match = /id="totp-key"[^>]*>([^<]+)</.exec(body);
	assert.ok(match, "no TOTP key on the page");
	return base32Decode(decodeHtml(match[1] as string));
}

export function factorIdFromPage(body: string): string {
	const match = /name="factorId" value="([^"]+)"/.exec(body);
	assert.ok(match, "no factorId on the page");
	return match[1] as string;
}

/** Enrols TOTP for a user directly through the flow (not the web), returning the secret. */
export async function enrolTotp(t: TestApp, userId: string): Promise<Buffer> {
	const begin = await t.app.enrollment.begin(userId, "totp", "phone", {}, { channel: "web", source: "test", duringLogin: false });
	assert.equal(begin.kind, "pending");
	if (begin.kind !== "pending") throw new Error("unreachable");
	const secret = base32Decode(begin.display.secret ?? "");
	const done = await t.app.enrollment.complete(
		userId,
		begin.factorId,
		{ code: totpCodeAt(secret, t.clock.now().getTime()) },
		{ channel: "web", source: "test", duringLogin: false },
	);
	assert.equal(done.kind, "active");
	return secret;
}

export { ADMIN_ACTOR, totpCodeAt };

/** Password, then (if asked) a TOTP code; returns the final response after redirects. */
export async function loginWithTotp(w: WebTest, browser: Browser, username: string, secret: Buffer): Promise<LightMyRequestResponse> {
	const first = await browser.login(username);
	assert.equal(first.statusCode, 303, `password step for ${username}: ${first.statusCode}`);
	assert.equal(first.headers.location, "/login/2fa");
	await browser.get("/login/2fa?method=totp");
	const second = await browser.post("/login/2fa", { method: "totp", code: totpCodeAt(secret, w.clock.now().getTime()) });
	assert.equal(second.statusCode, 303, `second factor for ${username}: ${second.statusCode} ${second.body.slice(0, 200)}`);
	return browser.follow(second);
}

/** On the forced-enrolment page: set up TOTP through the web forms; returns the secret. */
export async function enrolTotpViaWeb(
	w: WebTest,
	browser: Browser,
	action = "/login/enroll/totp",
): Promise<{ secret: Buffer; response: LightMyRequestResponse }> {
	const page = await browser.post(action, { label: "phone" });
	assert.equal(page.statusCode, 200, `TOTP setup page: ${page.statusCode} ${page.body.slice(0, 300)}`);
	assert.match(page.body, /<svg/);
	assert.match(page.body, /otpauth:\/\/totp\//);
	const secret = totpSecretFromPage(page.body);
	const response = await browser.post(`${action}/confirm`, { factorId: factorIdFromPage(page.body), code: totpCodeAt(secret, w.clock.now().getTime()) });
	return { secret, response };
}

/** The main content of a page, without the header (which has navigation and the logout form). */
export function mainOf(body: string): string {
	return /<main[^>]*>([\s\S]*)<\/main>/.exec(body)?.[1] ?? "";
}
