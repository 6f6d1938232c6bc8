/**
 * End-to-end harness for the web console: a real Portcullis with a FakeClock, the real Fastify
 * server listening on 127.0.0.1 (port 0), and headless Debian Chromium driven by playwright-core.
 * Shared by test/e2e/web-enforce-2fa.test.ts and scripts/screenshots.ts.
 */
import { existsSync } from "node:fs";
import type { AddressInfo } from "node:net";
import type { FastifyInstance } from "fastify";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { totpCodeAt } from "../../src/methods/totp/totp-method.ts";
import { buildWebServer } from "../../src/web/server.ts";
import { webServices } from "../../src/app/web-services.ts";
import { createTestApp, type TestApp } from "../helpers/test-app.ts";
import { base32Decode } from "../helpers/base32.ts";

export const CHROMIUM_PATH = "/usr/bin/chromium";
export const CHROMIUM_ARGS = [
	"--headless",
	"--no-sandbox",
	"--disable-gpu",
	"--disable-quic",
	"--no-first-run",
	"--disable-background-networking",
	"--disable-component-update",
	"--disable-sync",
];
export const PASSWORD = "correct horse battery";

/** null when Chromium is present; otherwise why the browser test cannot run. */
export function chromiumMissing(): string | null {
	return existsSync(CHROMIUM_PATH) ? null : `${CHROMIUM_PATH} is missing (apt-get install chromium)`;
}

export interface Console extends TestApp {
	server: FastifyInstance;
	baseUrl: string;
	browser: Browser;
	close(): Promise<void>;
}

export async function startConsole(): Promise<Console> {
	const t = await createTestApp();
	const server = await buildWebServer(webServices(t.app));
	await server.listen({ host: "127.0.0.1", port: 0 });
	const { port } = server.server.address() as AddressInfo;
	const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_ARGS });
	return {
		...t,
		server,
		baseUrl: `http://127.0.0.1:${port}`,
		browser,
		async close() {
			await browser.close().catch(() => undefined);
			await server.close();
			await t.cleanup();
		},
	};
}

/** A fresh browser context (its own cookie jar) on the console. */
/**
 * Playwright's 30 s default waits are kill timers that a loaded CI machine can hit (a page that is
 * merely slow fails the test). Wait as long as the runner's hang limit (scripts/test.sh) instead.
 */
export function unhurried(context: BrowserContext): void {
	context.setDefaultTimeout(540_000);
	context.setDefaultNavigationTimeout(540_000);
}

export async function newPage(c: Console): Promise<Page> {
	const context = await c.browser.newContext({ baseURL: c.baseUrl, viewport: { width: 1200, height: 860 } });
	unhurried(context);
	return context.newPage();
}

export async function logIn(page: Page, username: string, password = PASSWORD): Promise<void> {
	await page.goto("/login");
	await page.getByLabel("Username").fill(username);
	await page.getByLabel("Password", { exact: true }).fill(password);
	await page.getByRole("button", { name: "Log in" }).click();
	await page.waitForLoadState("domcontentloaded");
}

export async function logOut(page: Page): Promise<void> {
	await page.getByRole("button", { name: "Log out" }).click();
	await page.waitForURL(/\/login\?m=logged-out$/);
}

/** On the enrolment page: start TOTP, read the key from the page, type the current code. */
export async function enrolTotp(c: Console, page: Page): Promise<Buffer> {
	await page.getByRole("button", { name: "Set up authenticator app" }).click();
	await page.locator("#totp-key").waitFor();
	const secret = base32Decode((await page.locator("#totp-key").textContent()) ?? "");
	await page.getByLabel("Code from the app").fill(totpCodeAt(secret, c.clock.now().getTime()));
	await page.getByRole("button", { name: "Confirm" }).click();
	await page.waitForLoadState("domcontentloaded");
	return secret;
}

export async function answerTotp(c: Console, page: Page, secret: Buffer): Promise<string> {
	const code = totpCodeAt(secret, c.clock.now().getTime());
	await page.getByLabel("Authenticator app code (TOTP)").fill(code);
	await page.getByRole("button", { name: "Verify" }).click();
	await page.waitForLoadState("domcontentloaded");
	return code;
}
