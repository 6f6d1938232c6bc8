/**
 * The console's web terminal in REAL Chromium (playwright-core) to a REAL OpenSSH sshd target
 * (docs/decisions.md "Web terminal"): open, type a command and read its
 * output from xterm's buffer, UTF-8, paste, Ctrl-C, resize, live listing and an administrator's
 * terminate, close; the asciicast recording exists and parses. Per-connection policy equals SSH's:
 * a server not granted is refused (its twin, a granted one, opens); a step-up server without a
 * fresh factor is refused and sends the user through the step-up, after which it opens; the
 * WebSocket refuses a foreign Origin and a wrong CSRF token (twin: the page's own socket opens).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Page } from "playwright-core";
import { totpCodeAt } from "../../src/methods/totp/totp-method.ts";
import { loadOrCreateGatewayKey } from "../../src/servers/gateway-key.ts";
import { serverService } from "../../src/servers/server-service.ts";
import { parseCast } from "../../src/ssh/recording.ts";
import { base32Decode } from "../helpers/base32.ts";
import { sshdSkipReason, startSshd, type Sshd } from "../helpers/sshd-target.ts";
import { ADMIN_ACTOR } from "../helpers/test-app.ts";
import { answerTotp, chromiumMissing, logIn, newPage, PASSWORD, startConsole, type Console } from "./web-harness.ts";

const skip = process.env.PORTCULLIS_STRICT_PEERS === "1" ? undefined : (chromiumMissing() ?? sshdSkipReason());

/** Polls a condition (no timing in pass/fail: the runner's hang limit is the only bound). */
async function eventually<T>(probe: () => Promise<T | undefined | null | false>, what: string): Promise<T> {
	for (let i = 0; ; i++) {
		const value = await probe();
		if (value) return value;
		if (process.env.DEBUG_WEB_TERMINAL === "1" && i % 400 === 0) console.error(`waiting for ${what}`);
		if (i > 20_000) throw new Error(`gave up waiting for ${what}`);
		await new Promise((resolveWait) => setTimeout(resolveWait, 25));
	}
}

/** The terminal's whole buffer (scrollback and screen) as text, read from xterm.js in the page. */
function screen(page: Page): Promise<string> {
	return page.evaluate(() => {
		const term = (
			window as unknown as {
				portcullisTerminal?: { buffer: { active: { length: number; getLine(y: number): { translateToString(trim: boolean): string } | undefined } } };
			}
		).portcullisTerminal;
		if (term === undefined) return "";
		const lines: string[] = [];
		for (let y = 0; y < term.buffer.active.length; y++) lines.push(term.buffer.active.getLine(y)?.translateToString(true) ?? "");
		return lines.join("\n");
	});
}

function waitForScreen(page: Page, pattern: RegExp): Promise<string> {
	return eventually(async () => {
		const text = await screen(page);
		return pattern.test(text) ? text : null;
	}, `terminal text ${pattern}`);
}

async function typeLine(page: Page, text: string): Promise<void> {
	await page.locator("#terminal .xterm-helper-textarea").focus();
	await page.keyboard.type(text);
	await page.keyboard.press("Enter");
}

describe("web terminal (Chromium → console → OpenSSH sshd)", { skip }, () => {
	let c: Console;
	let target: Sshd;
	let carolSecret: Buffer;

	before(async () => {
		c = await startConsole();
		const gatewayKey = loadOrCreateGatewayKey(c.app.config);
		target = await startSshd({ authorizedKeys: [gatewayKey.publicKey] });
		await c.app.admin.createGroup(ADMIN_ACTOR, { name: "ops", forceTwoFactor: false, allowedMethods: null });
		await c.app.admin.createGroup(ADMIN_ACTOR, { name: "finance", forceTwoFactor: false, allowedMethods: null });
		await c.app.admin.createUser(ADMIN_ACTOR, { username: "bob", password: PASSWORD, isAdmin: false, groups: ["ops"] });
		const carol = await c.app.admin.createUser(ADMIN_ACTOR, { username: "carol", password: PASSWORD, isAdmin: false, groups: ["ops"] });
		const context = { channel: "web" as const, source: "test", duringLogin: false };
		const begin = await c.app.enrollment.begin(carol.id, "totp", "phone", {}, context);
		if (begin.kind !== "pending") throw new Error("enrolment did not start");
		carolSecret = base32Decode(begin.display.secret ?? "");
		const done = await c.app.enrollment.complete(carol.id, begin.factorId, { code: totpCodeAt(carolSecret, c.clock.now().getTime()) }, context);
		assert.equal(done.kind, "active");
		const servers = serverService(c.app);
		const common = { host: target.host, port: target.port, loginUser: target.user };
		await servers.add(ADMIN_ACTOR, { name: "dev1", ...common, groups: ["ops"] });
		await servers.add(ADMIN_ACTOR, { name: "db-prod", ...common, groups: ["ops"], requireTwoFactor: true, freshMinutes: 5 });
		await servers.add(ADMIN_ACTOR, { name: "ledger", ...common, groups: ["finance"] });
	});

	after(async () => {
		await c?.close();
		await target?.stop();
	});

	test("open a granted server, type, UTF-8, paste, Ctrl-C, resize, live listing, close; the recording exists and parses", async () => {
		const page = await newPage(c);
		if (process.env.DEBUG_WEB_TERMINAL === "1") {
			page.on("console", (message) => console.error("console:", message.text()));
			page.on("pageerror", (error) => console.error("pageerror:", error.message));
		}
		await logIn(page, "bob");
		await page.getByRole("link", { name: "Terminal", exact: true }).click();
		await page.getByRole("link", { name: "dev1" }).click();
		await page.waitForURL(/\/terminal\/dev1$/);
		await eventually(async () => /Connected to dev1/.test((await page.locator("#terminal-status").textContent()) ?? ""), "the socket to open");

		await typeLine(page, "echo web-$((6*7))-é✓");
		await waitForScreen(page, /web-42-é✓/);

		// A paste arrives as one piece of input (xterm's paste path, as a user's Ctrl-V; bash's bracketed paste waits for Enter).
		await page.evaluate(() => (window as unknown as { portcullisTerminal: { paste(text: string): void } }).portcullisTerminal.paste("echo pasted-$((2+3))"));
		await page.keyboard.press("Enter");
		await waitForScreen(page, /pasted-5/);

		// Ctrl-C interrupts a foreground command on the target's PTY.
		await typeLine(page, "sleep 600; echo never-printed");
		await page.keyboard.press("Control+C");
		await typeLine(page, "echo after-$((1+1))");
		const afterCtrlC = await waitForScreen(page, /after-2/);
		assert.doesNotMatch(afterCtrlC, /^never-printed$/m);

		// Resize: the fit addon follows the box; the target's PTY gets the new size.
		const before = await page.evaluate(() => (window as unknown as { portcullisTerminal: { cols: number } }).portcullisTerminal.cols);
		await page.setViewportSize({ width: 800, height: 700 });
		const cols = await eventually(async () => {
			const now = await page.evaluate(() => (window as unknown as { portcullisTerminal: { cols: number } }).portcullisTerminal.cols);
			return now !== before ? now : null;
		}, "xterm to refit");
		await typeLine(page, "echo size=$(stty size)");
		await waitForScreen(page, new RegExp(`size=\\d+ ${cols}\\b`));

		// Visible live like any session: a "web-terminal" channel to dev1.
		const live = await eventually(async () => (await c.app.liveSessions.list()).find((row) => row.username === "bob"), "the live-session row");
		assert.equal(live.firstFactor, "web session");
		await eventually(async () => {
			const row = (await c.app.liveSessions.list()).find((one) => one.id === live.id);
			return row?.channels.some((channel) => channel.kind === "web-terminal" && channel.server === "dev1");
		}, "the web-terminal channel row");

		// Close: leaving the page closes the socket, which ends the target session.
		await page.goto("/account");
		const ended = await eventually(
			async () => (await c.app.stores.audit.query({ event: "ssh.session-end" })).find((row) => row.username === "bob"),
			"ssh.session-end",
		);
		const detail = JSON.parse(String(ended.detail)) as { recording: string | null; server: string };
		assert.equal(detail.server, "dev1");
		assert.ok(detail.recording !== null);
		const started = (await c.app.stores.audit.query({ event: "ssh.session-start" })).find((row) => row.username === "bob");
		assert.equal(JSON.parse(String(started?.detail)).mode, "web-terminal");
		await eventually(async () => (await c.app.liveSessions.list()).every((row) => row.username !== "bob"), "the live row to go");

		// The recording: asciicast v2, the typed command's output in it, and the resize.
		const row = await eventually(async () => {
			const found = await c.app.stores.recordings.find(detail.recording ?? "");
			return found !== undefined && found.ended_at !== null ? found : null;
		}, "the finished recording");
		let text = "";
		for await (const piece of c.app.stores.recordings.read(row)) text += piece;
		const cast = parseCast(text);
		assert.equal(cast.header.version, 2);
		const output = cast.events
			.filter((event) => event[1] === "o")
			.map((event) => event[2])
			.join("");
		assert.match(output, /web-42-é✓/);
		assert.match(output, /after-2/);
		assert.ok(cast.events.some((event) => event[1] === "r" && event[2].startsWith(`${cols}x`)));
		await page.context().close();
	});

	test("a server that is not granted is refused (twin: dev1 above opens)", async () => {
		const page = await newPage(c);
		await logIn(page, "bob");
		const response = await page.goto("/terminal/ledger");
		assert.equal(response?.status(), 404);
		await page.getByText('No server named "ledger" is available to you.').waitFor();
		const refused = (await c.app.stores.audit.query({ event: "web.terminal-refused" })).find((row) => row.username === "bob");
		assert.ok(refused);
		await page.context().close();
	});

	test("a step-up server: no factor → refused with the reason; a stale factor → step-up first; a fresh one → opens", async () => {
		// bob has no second factor: the same reason SSH gives, and nothing opens.
		const bobPage = await newPage(c);
		await logIn(bobPage, "bob");
		const refused = await bobPage.goto("/terminal/db-prod");
		assert.equal(refused?.status(), 403);
		await bobPage
			.getByText(/Server db-prod requires two-factor authentication for every connection \(within 5 minutes\), and this session logged in without one/)
			.waitFor();
		await bobPage.context().close();

		// carol proved TOTP at login; ten minutes later it is older than db-prod's five.
		const page = await newPage(c);
		await logIn(page, "carol");
		c.clock.advance(30_000); // past the step the enrolment used (replay protection)
		await answerTotp(c, page, carolSecret);
		c.clock.advance(10 * 60_000);
		await page.goto("/terminal/db-prod");
		if (process.env.DEBUG_WEB_TERMINAL === "1") console.error("at", page.url(), (await page.locator("main").textContent())?.slice(0, 300));
		await page.waitForURL(/\/account\/step-up\?next=%2Fterminal%2Fdb-prod$/);
		const stale = (await c.app.stores.audit.query({ event: "ssh.step-up-required" })).find((row) => row.username === "carol");
		assert.equal(JSON.parse(String(stale?.detail)).problem, "stale");
		assert.equal(JSON.parse(String(stale?.detail)).via, "web-terminal");

		c.clock.advance(30_000); // a new TOTP step (replay protection)
		await page.getByLabel("Authenticator app code (TOTP)").fill(totpCodeAt(carolSecret, c.clock.now().getTime()));
		await page.getByRole("button", { name: "Confirm" }).click();
		await page.waitForURL(/\/terminal\/db-prod$/);
		await eventually(async () => /Connected to db-prod/.test((await page.locator("#terminal-status").textContent()) ?? ""), "the socket to open");
		await typeLine(page, "echo prod-$((40+2))");
		await waitForScreen(page, /prod-42/);
		await page.context().close();
	});

	test("an administrator's terminate ends a web terminal, like an SSH session", async () => {
		const page = await newPage(c);
		await logIn(page, "bob");
		await page.goto("/terminal/dev1");
		await eventually(async () => /Connected to dev1/.test((await page.locator("#terminal-status").textContent()) ?? ""), "the socket to open");
		const live = await eventually(async () => (await c.app.liveSessions.list()).find((row) => row.username === "bob"), "the live-session row");
		await c.app.liveSessions.terminate(ADMIN_ACTOR, { connectionId: live.id, reason: "test" });
		await waitForScreen(page, /an administrator ended this connection/);
		await eventually(async () => /Disconnected/.test((await page.locator("#terminal-status").textContent()) ?? ""), "the terminal to close");
		await page.context().close();
	});

	test("logging out of the console ends its web terminals", async () => {
		const page = await newPage(c);
		await logIn(page, "bob");
		await page.goto("/terminal/dev1");
		await eventually(async () => /Connected to dev1/.test((await page.locator("#terminal-status").textContent()) ?? ""), "the socket to open");
		await typeLine(page, "echo before-logout");
		await waitForScreen(page, /^before-logout$/m);
		// Another tab of the same browser logs out: the terminal's session is gone at the next live check.
		const other = await page.context().newPage();
		await other.goto("/account");
		await other.getByRole("button", { name: "Log out" }).click();
		await waitForScreen(page, /your web session ended, so the terminal was closed/);
		await page.context().close();
	});

	test("the WebSocket refuses a foreign Origin and a wrong CSRF token (twin: the page's own socket opens above)", async () => {
		const page = await newPage(c);
		await logIn(page, "bob");
		await page.goto("/terminal/dev1");
		await eventually(async () => /Connected to dev1/.test((await page.locator("#terminal-status").textContent()) ?? ""), "the socket to open");
		const csrf = await page.locator("#terminal").getAttribute("data-csrf");
		const cookies = await page.context().cookies();
		const cookie = cookies.map((one) => `${one.name}=${one.value}`).join("; ");
		for (const [origin, token, reason] of [
			["http://evil.example", csrf ?? "", "origin"],
			[c.baseUrl, "not-the-token", "token"],
		] as const) {
			const refusedBefore = (await c.app.stores.audit.query({ event: "web.csrf-refused" })).length;
			const messages = await socketMessages(c, `/terminal/dev1/ws?csrf=${encodeURIComponent(token)}&cols=80&rows=24`, {
				cookie,
				origin,
				host: new URL(c.baseUrl).host,
			});
			assert.match(messages.join("\n"), /"type":"refused"/, reason);
			const rows = await c.app.stores.audit.query({ event: "web.csrf-refused" });
			assert.equal(rows.length, refusedBefore + 1);
			assert.ok(rows.some((row) => JSON.parse(String(row.detail)).reason === reason));
		}
		await page.context().close();
	});
});

/**
 * Opens the socket from Node (undici's WebSocket, whose init takes headers: a browser cannot forge
 * Origin) and collects text frames until it closes.
 */
async function socketMessages(c: Console, path: string, headers: Record<string, string>): Promise<string[]> {
	const url = `${c.baseUrl.replace(/^http/, "ws")}${path}`;
	// Node's WebSocket (undici) takes headers in its init; the DOM typing does not know it.
	const socket = new WebSocket(url, { headers } as unknown as string[]);
	const messages: string[] = [];
	return new Promise((resolveMessages) => {
		socket.addEventListener("message", (event) => messages.push(String(event.data)));
		socket.addEventListener("close", () => resolveMessages(messages));
		socket.addEventListener("error", () => undefined);
	});
}
