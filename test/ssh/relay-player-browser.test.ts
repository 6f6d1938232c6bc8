/**
 * The recording player in a real browser (headless Chromium via playwright-core): the ES module
 * loads under the console's strict CSP (no violations reported), fetches the cast and renders the
 * session's output into the <pre>, with the controls working.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { serverService } from "../../src/servers/server-service.ts";
import { SessionRecorder, terminalLineEndings } from "../../src/ssh/recording.ts";
import { ADMIN_ACTOR } from "../helpers/test-app.ts";
import { chromiumMissing, logIn, newPage, startConsole, type Console } from "../e2e/web-harness.ts";

const missing = chromiumMissing();
if (missing !== null && process.env.PORTCULLIS_STRICT_PEERS === "1") throw new Error(missing);

describe("recording player in Chromium", { skip: missing ?? undefined }, () => {
	let c: Console;
	let recordingId: string;
	before(async () => {
		c = await startConsole();
		await c.app.admin.createUser(ADMIN_ACTOR, { username: "root", password: "correct horse battery", isAdmin: true, groups: [] });
		const alice = await c.app.admin.createUser(ADMIN_ACTOR, { username: "alice", password: "correct horse battery", isAdmin: false, groups: [] });
		const server = await serverService(c.app).add(ADMIN_ACTOR, { name: "db1", host: "127.0.0.1" });
		const recorder = await SessionRecorder.start(c.app.ssh, { userId: alice.id, username: "alice", cols: 60, rows: 8, term: "xterm" });
		recorder.output("\x1b[H\x1b[2JPortcullis: servers for alice\r\n");
		await recorder.enterServer(server);
		recorder.output("\x1b[H\x1b[2Jroot@db1:~# ls\r\nfile-one  file-two\r\nroot@db1:~# \x1b[1;32mecho done\x1b[0m\r\ndone\r\n");
		await recorder.finish();
		recordingId = recorder.id;
	});
	after(async () => c?.close());

	test("a session without a PTY (`ssh -T`) plays as lines, not a staircase: its bare LFs are recorded as CR LF", async () => {
		const alice = await c.app.stores.users.findByUsername("alice");
		const record = async (output: Buffer) => {
			const recorder = await SessionRecorder.start(c.app.ssh, { userId: alice?.id ?? "", username: "alice", cols: 60, rows: 8, term: "xterm" });
			recorder.output(output);
			await recorder.finish();
			return recorder.id;
		};
		// What a target writes without a PTY, as channels.ts records it (terminalLineEndings), and raw (the twin).
		const shell = Buffer.from("alpha line\nbeta line\ngamma end\n");
		const asLines = await record(terminalLineEndings(shell));
		const raw = await record(shell);
		const page = await newPage(c);
		await logIn(page, "root");
		const screen = async (id: string) => {
			await page.goto(`/admin/recordings/${id}`);
			await page.waitForFunction(() => document.getElementById("cast-screen")?.textContent?.includes("gamma end") === true, undefined, { timeout: 540_000 });
			return (await page.locator("#cast-screen").textContent()) ?? "";
		};
		assert.match(await screen(asLines), /^alpha line\nbeta line\ngamma end/m, "each line starts at the left edge");
		assert.match(await screen(raw), /alpha line\n {10}beta line/, "bare LFs draw a staircase (why they are converted)");
		await page.context().close();
	});

	test("plays the cast into the <pre> without CSP violations", async () => {
		const page = await newPage(c);
		const violations: string[] = [];
		page.on("console", (message) => {
			if (/Content Security Policy|Refused to/i.test(message.text())) violations.push(message.text());
		});
		await logIn(page, "root");
		await page.goto(`/admin/recordings/${recordingId}`);
		await page.waitForFunction(() => document.getElementById("cast-screen")?.textContent?.includes("done") === true, undefined, { timeout: 540_000 });
		const text = await page.locator("#cast-screen").textContent();
		assert.match(text ?? "", /root@db1:~# ls\nfile-one {2}file-two\nroot@db1:~# echo done\ndone/);
		assert.doesNotMatch(text ?? "", /servers for alice/, "the clear screen was applied");
		assert.match((await page.locator("#cast-time").textContent()) ?? "", /0:00 \/ 0:00/);
		await page.getByRole("button", { name: "Restart" }).click();
		await page.waitForFunction(() => document.getElementById("cast-screen")?.textContent?.includes("done") === true);
		if (process.env.PORTCULLIS_PLAYER_SCREENSHOT) await page.screenshot({ path: process.env.PORTCULLIS_PLAYER_SCREENSHOT, fullPage: true });
		assert.deepEqual(violations, []);
		await page.context().close();
	});
});
