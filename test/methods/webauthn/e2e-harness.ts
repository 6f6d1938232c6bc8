/**
 * Headless Chromium against a console reached as http://localhost:<port> (browsers refuse IP
 * addresses as WebAuthn RP ids; localhost is a secure context without TLS), with a CDP virtual
 * authenticator (docs/dependencies.md, WebAuthn) standing in for a USB security key, and optionally the real SSH
 * gateway on the same app. Used by test/e2e/webauthn-*.test.ts and scripts/screenshots.ts.
 */
import { createServer, type AddressInfo } from "node:net";
import type { FastifyInstance } from "fastify";
import { chromium, type Browser, type CDPSession, type Page } from "playwright-core";
import { startSshGateway, type SshGateway } from "../../../src/ssh/gateway.ts";
import { buildWebServer } from "../../../src/web/server.ts";
import { webServices } from "../../../src/app/web-services.ts";
import { CHROMIUM_ARGS, CHROMIUM_PATH, chromiumMissing, logIn, unhurried } from "../../e2e/web-harness.ts";

/** The console's own login and logout steps, shared with the other browser tests. */
export { logIn, logOut } from "../../e2e/web-harness.ts";
import { createTestApp, type TestApp } from "../../helpers/test-app.ts";
import { standInChannels, type ChannelLog } from "../../ssh/auth-fixtures.ts";

export { chromiumMissing };

export interface KeyConsole extends TestApp {
	server: FastifyInstance;
	baseUrl: string;
	browser: Browser;
	gateway: SshGateway | null;
	sshPort: number;
	channels: ChannelLog;
	/** Browser console messages that mention the Content Security Policy (must stay empty). */
	cspViolations: string[];
	close(): Promise<void>;
}

async function freePort(): Promise<number> {
	const probe = createServer();
	await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
	const { port } = probe.address() as AddressInfo;
	await new Promise<void>((resolve) => probe.close(() => resolve()));
	return port;
}

export async function startKeyConsole(options: { ssh?: boolean; config?: Record<string, unknown> } = {}): Promise<KeyConsole> {
	const port = await freePort();
	const t = await createTestApp({ config: { http: { listen: `127.0.0.1:${port}`, public_url: `http://localhost:${port}` }, ...(options.config ?? {}) } });
	const server = await buildWebServer(webServices(t.app));
	await server.listen({ host: "127.0.0.1", port });
	const channels: ChannelLog = { calls: [] };
	const gateway = options.ssh ? await startSshGateway(t.app.ssh, { listen: "127.0.0.1:0", attachChannels: standInChannels(channels) }) : null;
	// "localhost" resolves to 127.0.0.1 only, where the console listens (not ::1).
	const browser = await chromium.launch({
		executablePath: CHROMIUM_PATH,
		headless: true,
		args: [...CHROMIUM_ARGS, "--host-resolver-rules=MAP localhost 127.0.0.1"],
	});
	return {
		...t,
		server,
		baseUrl: `http://localhost:${port}`,
		browser,
		gateway,
		sshPort: gateway?.address.port ?? 0,
		channels,
		cspViolations: [],
		async close() {
			await browser.close().catch(() => undefined);
			await gateway?.close();
			await server.close();
			await t.cleanup();
		},
	};
}

export interface KeyPage {
	page: Page;
	cdp: CDPSession;
	authenticatorId: string;
}

/** A fresh browser context (own cookies) with a virtual CTAP2 USB key that answers by itself. */
export async function newKeyPage(c: KeyConsole): Promise<KeyPage> {
	const context = await c.browser.newContext({ baseURL: c.baseUrl, viewport: { width: 1200, height: 860 } });
	unhurried(context);
	const page = await context.newPage();
	page.on("console", (message) => {
		if (/Content.Security.Policy/i.test(message.text())) c.cspViolations.push(message.text());
	});
	const cdp = await context.newCDPSession(page);
	await cdp.send("WebAuthn.enable", { enableUI: false });
	const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
		options: { protocol: "ctap2", transport: "usb", hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
	});
	return { page, cdp, authenticatorId };
}

export interface VirtualCredential {
	credentialId: string;
	isResidentCredential: boolean;
	rpId?: string;
	privateKey: string;
	userHandle?: string;
	signCount: number;
}

export async function credentials(key: KeyPage): Promise<VirtualCredential[]> {
	const { credentials: list } = await key.cdp.send("WebAuthn.getCredentials", { authenticatorId: key.authenticatorId });
	return list as VirtualCredential[];
}

/** Puts the key's credential back with another signature counter (a clone, or a counter reset). */
export async function setSignCount(key: KeyPage, signCount: number): Promise<void> {
	const [credential] = await credentials(key);
	if (credential === undefined) throw new Error("the virtual key holds no credential");
	await key.cdp.send("WebAuthn.removeCredential", { authenticatorId: key.authenticatorId, credentialId: credential.credentialId });
	await key.cdp.send("WebAuthn.addCredential", { authenticatorId: key.authenticatorId, credential: { ...credential, signCount } });
}

/** From the account page: open "Register a security key", name it, register with the virtual key. */
export async function registerKeyInBrowser(page: Page, name: string): Promise<void> {
	await page.getByRole("link", { name: "Register a security key" }).click();
	await page.waitForURL(/\/factors\/webauthn$|\/enroll\/webauthn$/);
	await page.getByLabel("Name of the key").fill(name);
	await page.getByRole("button", { name: "Register security key" }).click();
	await page.waitForURL((url) => !/webauthn$/.test(url.pathname));
}

/**
 * `npm run screenshots` (scripts/screenshots.ts): the key registration page and the SSH approval
 * page, on a console reached as localhost with a virtual key (the main screenshot console listens
 * on 127.0.0.1, where browsers refuse WebAuthn).
 */
export async function webauthnScreenshots(shot: (page: Page, name: string) => Promise<void>): Promise<void> {
	const c = await startKeyConsole();
	try {
		const { ADMIN_ACTOR } = await import("../../helpers/test-app.ts");
		const password = "correct horse battery";
		await c.app.admin.updateSettings(ADMIN_ACTOR, { enabledMethods: ["webauthn", "totp", "recovery-code"] });
		await c.app.admin.createGroup(ADMIN_ACTOR, { name: "ops", forceTwoFactor: true, allowedMethods: null });
		await c.app.admin.createUser(ADMIN_ACTOR, { username: "alice", password, isAdmin: false, groups: ["ops"] });
		const { page } = await newKeyPage(c);
		await logIn(page, "alice", password);
		await page.getByRole("link", { name: "Register a security key" }).click();
		await page.getByLabel("Name of the key").fill("blue YubiKey");
		await shot(page, "enroll-webauthn");
		await page.getByRole("button", { name: "Register security key" }).click();
		await page.waitForURL(/\/account\/recovery-codes/);
		// An SSH login waiting at its prompt, from 192.0.2.20: the page its link opens.
		const step = await c.app.login.submitPassword({ channel: "ssh", sourceAddress: "192.0.2.20" }, "alice", password);
		if (step.kind !== "second-factor") throw new Error(`SSH login: ${step.kind}`);
		const prompt = await c.app.login.startChallenge(step.attemptId, "webauthn");
		if (prompt.kind !== "prompt") throw new Error(`SSH challenge: ${prompt.kind}`);
		const link = /https?:\/\/\S+\/approve\/[A-Za-z0-9_-]+/.exec(prompt.prompt)?.[0];
		if (link === undefined) throw new Error("no approval link in the prompt");
		await page.goto(link);
		await page.getByRole("button", { name: "Approve with security key" }).waitFor();
		await shot(page, "approve-ssh");
	} finally {
		await c.close();
	}
}
