/**
 * Console usability, in headless Chromium against the real server: the favicon (no 404 on any
 * page), the access keyword boxes (one character each, auto-advance, paste split across the boxes,
 * Backspace goes back; a static script under the strict CSP), the audit log (times to the second
 * with the zone, detail as labelled fields, prefix filter, pages of 50 with newer/older links) and a
 * user's recent security events in words; the methods page (collapsible sections, errors in admin
 * language, the connection test's result next to its button).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Page } from "playwright-core";
import { ADMIN_ACTOR } from "../helpers/test-app.ts";
import { enrolKeyword } from "../ssh/auth-fixtures.ts";
import { chromiumMissing, logIn, newPage, PASSWORD, startConsole, type Console } from "./web-harness.ts";

const missing = chromiumMissing();
const strict = process.env.PORTCULLIS_STRICT_PEERS === "1";
if (missing !== null && !strict) console.log(`# SKIP web e2e: ${missing}`);

const KEYWORD = "Tangerine-42";

describe("console usability (Chromium)", { skip: missing !== null && !strict ? missing : false }, () => {
	let c: Console;
	let admin: Page;
	let kim: Page;
	const notFound: string[] = [];

	function watch404(page: Page): void {
		page.on("response", (response) => {
			if (response.status() === 404) notFound.push(response.url());
		});
	}

	before(async () => {
		if (missing !== null) throw new Error(`PORTCULLIS_STRICT_PEERS=1 and ${missing}`);
		c = await startConsole();
		await c.app.admin.createUser(ADMIN_ACTOR, { username: "root", password: PASSWORD, isAdmin: true, groups: [] });
		await c.app.admin.createGroup(ADMIN_ACTOR, { name: "ops", forceTwoFactor: true, allowedMethods: null });
		await c.app.admin.createUser(ADMIN_ACTOR, { username: "kim", password: PASSWORD, isAdmin: false, groups: ["ops"] });
		const kimRow = await c.app.stores.users.findByUsername("kim");
		assert.ok(kimRow);
		await enrolKeyword(c, kimRow.id, KEYWORD);
		admin = await newPage(c);
		kim = await newPage(c);
		watch404(admin);
		watch404(kim);
	});
	after(async () => {
		if (c) await c.close();
	});

	async function askedPositions(page: Page): Promise<number[]> {
		const labels = await page.locator(".char-field label").allTextContents();
		return labels.map((label) => Number(/Character (\d+)/.exec(label)?.[1]));
	}

	const chars = Array.from(KEYWORD);
	const active = (page: Page) => page.evaluate(() => document.activeElement?.id ?? "");
	const values = (page: Page) => page.evaluate(() => ["c1", "c2", "c3"].map((id) => (document.getElementById(id) as HTMLInputElement).value));

	test("keyword boxes: one character each, the cursor moves on, Backspace goes back, a paste is split", async () => {
		await logIn(kim, "kim");
		assert.match(kim.url(), /\/login\/2fa/);
		const positions = await askedPositions(kim);
		assert.equal(positions.length, 3);
		const wanted = positions.map((position) => chars[position - 1]!);
		// Typing: each key fills one box and moves on.
		await kim.locator("#c1").focus();
		await kim.keyboard.type(wanted[0]!);
		assert.equal(await active(kim), "c2", "auto-advance after one character");
		await kim.keyboard.type(wanted[1]!);
		assert.equal(await active(kim), "c3");
		assert.deepEqual((await values(kim)).slice(0, 2), wanted.slice(0, 2));
		// Backspace in the empty third box clears the second and goes back to it.
		await kim.keyboard.press("Backspace");
		assert.equal(await active(kim), "c2");
		assert.deepEqual(await values(kim), [wanted[0], "", ""]);
		// Typing into a filled box replaces its character, it does not carry two.
		await kim.locator("#c1").focus();
		await kim.keyboard.type("x");
		assert.deepEqual(await values(kim), ["x", "", ""]);
		// A virtual keyboard (no usable keydown) appends to the filled box: the new character replaces the old one.
		await kim.evaluate(() => {
			const box = document.getElementById("c1") as HTMLInputElement;
			box.value = "xz";
			box.dispatchEvent(new Event("input", { bubbles: true }));
		});
		assert.deepEqual(await values(kim), ["z", "", ""]);
		assert.equal(await active(kim), "c2");
		// A paste into the first box is split across all three.
		await kim.locator("#c1").focus();
		await kim.evaluate((text) => {
			const data = new DataTransfer();
			data.setData("text/plain", text);
			document.getElementById("c1")!.dispatchEvent(new ClipboardEvent("paste", { clipboardData: data, bubbles: true, cancelable: true }));
		}, wanted.join(""));
		assert.deepEqual(await values(kim), wanted);
		assert.equal(await active(kim), "c3");
		// Still no inline script: the page loads the static asset.
		assert.equal(await kim.evaluate(() => [...document.querySelectorAll("script")].filter((script) => !script.src).length), 0);
		await kim.getByRole("button", { name: "Verify" }).click();
		await kim.waitForLoadState("domcontentloaded");
		assert.match(kim.url(), /\/account/);
	});

	test("a wrong keyword answer shows in the user's recent security events in words, not as event names", async () => {
		await kim.getByRole("button", { name: "Log out" }).click();
		await kim.waitForURL(/\/login/);
		await logIn(kim, "kim");
		const positions = await askedPositions(kim);
		const wrong = positions.map((position) => (chars[position - 1] === "#" ? "$" : "#"));
		for (const [index, character] of wrong.entries()) await kim.locator(`#c${index + 1}`).fill(character);
		await kim.getByRole("button", { name: "Verify" }).click();
		await kim.waitForLoadState("domcontentloaded");
		const again = await askedPositions(kim);
		for (const [index, position] of again.entries()) await kim.locator(`#c${index + 1}`).fill(chars[position - 1]!);
		await kim.getByRole("button", { name: "Verify" }).click();
		await kim.waitForURL(/\/account/);
		const events = (await kim.locator("section[aria-labelledby='events-heading']").textContent()) ?? "";
		assert.match(events, /Wrong second-factor answer · Access keyword/);
		assert.match(events, /Logged in/);
		assert.match(events, /On the web from 127\.0\.0\.1/);
		assert.doesNotMatch(events, /\b(second-factor|login)\.[a-z-]+/, "no raw event names");
	});

	test("audit log: seconds and zone, detail as fields, prefix filter, pages of 50 with newer and older links", async () => {
		// 130 more events, each a second apart, with a structured detail.
		for (let index = 0; index < 130; index++) {
			c.clock.advance(1_000);
			await c.app.stores.audit.write({
				event: "ssh.forward-refused",
				outcome: "failure",
				username: "kim",
				channel: "ssh",
				source: "192.0.2.9",
				detail: { targetHost: "db.internal", port: 5432 + index, reason: "not granted" },
			});
		}
		await logIn(admin, "root");
		await admin.goto("/admin/audit");
		const rows = admin.locator("table.audit tbody tr");
		assert.equal(await rows.count(), 50, "one page is 50 events");
		const firstTime = (await rows.first().locator("td").first().textContent()) ?? "";
		assert.match(firstTime, /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC$/, "to the second, zone named");
		const detail = rows.filter({ hasText: "ssh.forward-refused" }).first().locator("td.detail");
		assert.equal(await detail.locator("dt").first().textContent(), "target host");
		assert.match((await detail.textContent()) ?? "", /target host:?db\.internal/);
		assert.doesNotMatch((await detail.textContent()) ?? "", /[{}"]/, "no raw JSON");
		const firstPageIds = await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute("data-event-id")));
		assert.equal(await admin.getByRole("link", { name: /Newer events/ }).count(), 0, "the newest page has no newer link");
		await admin
			.getByRole("link", { name: /Older events/ })
			.first()
			.click();
		await admin.waitForLoadState("domcontentloaded");
		assert.equal(await rows.count(), 50);
		const secondPageIds = await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute("data-event-id")));
		assert.ok(Number(secondPageIds[0]) < Number(firstPageIds[49]), "older page continues below the first");
		await admin
			.getByRole("link", { name: /Newer events/ })
			.first()
			.click();
		await admin.waitForLoadState("domcontentloaded");
		assert.deepEqual(await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute("data-event-id"))), firstPageIds, "newer goes back to the same page");
		// Prefix filter: "login" finds login.* events (and nothing else, not logout).
		await admin.getByLabel("Event").fill("login");
		await admin.getByRole("button", { name: "Filter" }).click();
		await admin.waitForLoadState("domcontentloaded");
		const events = await admin.locator("table.audit tbody tr td:nth-child(2)").allTextContents();
		assert.ok(events.length > 0);
		assert.ok(
			events.every((event) => event.startsWith("login.")),
			events.join(" "),
		);
		assert.ok(events.includes("login.success") && events.includes("login.first-factor"), events.join(" "));
		// A full name still finds that event only.
		await admin.getByLabel("Event").fill("login.success");
		await admin.getByRole("button", { name: "Filter" }).click();
		await admin.waitForLoadState("domcontentloaded");
		const exact = await admin.locator("table.audit tbody tr td:nth-child(2)").allTextContents();
		assert.ok(exact.length > 0 && exact.every((event) => event === "login.success"), exact.join(" "));
	});

	test("methods page: collapsible sections, errors in admin language inside the method's section, the test result next to its button", async () => {
		await admin.goto("/admin/methods");
		const radius = admin.locator("details#settings-radius");
		assert.equal(await admin.locator("details.method-section[open]").count(), 0, "all closed until one is opened");
		await radius.locator("summary").click();
		await admin.locator("#radius-host-1").fill("127.0.0.1");
		await admin.locator("#radius-port-1").fill("9");
		await admin.locator("#radius-secret-1").fill("short");
		await admin.getByRole("button", { name: "Save RADIUS settings" }).click();
		await admin.waitForLoadState("domcontentloaded");
		assert.equal(await radius.getAttribute("open"), "", "the section acted on is open");
		const error = (await radius.locator(".alert-error").first().textContent()) ?? "";
		assert.match(error, /RADIUS server 1, shared secret: must have at least 16 characters; use a long random one/);
		assert.doesNotMatch(error, /radius\.servers|docs\/|§/);
		await admin.locator("#radius-host-1").fill("127.0.0.1");
		await admin.locator("#radius-port-1").fill("9");
		await admin.locator("#radius-secret-1").fill("a-radius-secret-of-some-length");
		await admin.locator("#radius-timeout").fill("100");
		await admin.locator("#radius-retries").fill("0");
		await admin.getByRole("button", { name: "Save RADIUS settings" }).click();
		await admin.waitForLoadState("domcontentloaded");
		assert.match(admin.url(), /#settings-radius$/);
		assert.equal(await radius.getAttribute("open"), "");
		assert.match((await radius.textContent()) ?? "", /Saved\./);
		await radius.getByRole("button", { name: "Test connection" }).click();
		await admin.waitForLoadState("domcontentloaded");
		assert.match(admin.url(), /#test-radius$/, "the page opens at the result");
		const result = admin.locator("#test-radius .test-result");
		assert.match((await result.textContent()) ?? "", /Connection test (passed|failed)/);
		const button = await admin.locator("#test-radius").getByRole("button", { name: "Test connection" }).boundingBox();
		const box = await result.boundingBox();
		assert.ok(button !== null && box !== null);
		assert.ok(box.y >= button.y && box.y - (button.y + button.height) < 80, `the result sits right under its button (${JSON.stringify({ button, box })})`);
		assert.equal(await admin.locator("details.method-section[open]").count(), 1, "only the tested method is open");
	});

	test("users list: searchable and paged", async () => {
		for (let index = 1; index <= 55; index++) {
			await c.app.admin.createUser(ADMIN_ACTOR, { username: `member-${String(index).padStart(2, "0")}`, password: PASSWORD, isAdmin: false, groups: [] });
		}
		await admin.goto("/admin/users");
		const names = () => admin.locator("main table tbody tr td:first-child a").allTextContents();
		// 57 users (root, kim and 55 members): 50 on the first page, in name order.
		assert.equal((await names()).length, 50);
		assert.match((await admin.locator("#user-count").textContent()) ?? "", /^57 users$/);
		assert.match((await admin.locator("nav.pager").first().textContent()) ?? "", /Page 1 of 2/);
		await admin.getByRole("link", { name: "Next →" }).first().click();
		await admin.waitForLoadState("domcontentloaded");
		assert.deepEqual(await names(), ["member-50", "member-51", "member-52", "member-53", "member-54", "member-55", "root"]);
		await admin.getByLabel("Find users").fill("MEMBER-0");
		await admin.getByRole("button", { name: "Search" }).click();
		await admin.waitForLoadState("domcontentloaded");
		assert.deepEqual(await names(), ["member-01", "member-02", "member-03", "member-04", "member-05", "member-06", "member-07", "member-08", "member-09"]);
		assert.match((await admin.locator("#user-count").textContent()) ?? "", /9 users matching “MEMBER-0”/);
		assert.equal(await admin.locator("nav.pager").count(), 0, "one page: no pager");
	});

	test("password reset from the console: a one-time link, the user chooses the password, the link then stops working, the second factor is still asked", async () => {
		await admin.goto("/admin/user?name=kim");
		await admin.getByRole("button", { name: "Create a one-time password link" }).click();
		await admin.waitForLoadState("domcontentloaded");
		const link = ((await admin.locator("#password-link").textContent()) ?? "").trim();
		assert.match(link, /^http:\/\/127\.0\.0\.1:8080\/password-link\/[A-Za-z0-9_-]{16,}$/);
		const path = new URL(link).pathname;
		// The link is only shown in that response: the user's page no longer has it.
		await admin.goto("/admin/user?name=kim");
		assert.equal(await admin.locator("#password-link").count(), 0);
		const stranger = await newPage(c);
		watch404(stranger);
		await stranger.goto(path);
		assert.match((await stranger.locator("main").textContent()) ?? "", /New password for kim/);
		await stranger.getByLabel("New password", { exact: true }).fill("violet quokka paddles");
		await stranger.getByLabel("New password again").fill("violet quokka paddle");
		await stranger.getByRole("button", { name: "Set the new password" }).click();
		await stranger.waitForLoadState("domcontentloaded");
		assert.match((await stranger.locator(".alert-error").textContent()) ?? "", /do not match/);
		await stranger.getByLabel("New password", { exact: true }).fill("violet quokka paddles");
		await stranger.getByLabel("New password again").fill("violet quokka paddles");
		await stranger.getByRole("button", { name: "Set the new password" }).click();
		await stranger.waitForURL(/\/login\?m=password-changed$/);
		// Used once: the same link is refused now.
		const again = await stranger.goto(path);
		assert.equal(again?.status(), 410);
		const replay = await stranger.request.post(path, { form: { password: "another long passphrase", confirm: "another long passphrase" }, maxRedirects: 0 });
		assert.notEqual(replay.status(), 303, "a used link never sets a password again");
		// The old password is gone, the new one works, and the second factor is still asked.
		await logIn(stranger, "kim", PASSWORD);
		assert.doesNotMatch(stranger.url(), /\/login\/2fa/);
		await logIn(stranger, "kim", "violet quokka paddles");
		assert.match(stranger.url(), /\/login\/2fa/, "a password link is a first factor only");
		const events = await c.app.stores.audit.query({ username: "kim", event: "user.password*", limit: 10 });
		assert.ok(events.some((event) => event.event === "user.password-changed" && /password-link/.test(event.detail ?? "")));
		assert.ok((await c.app.stores.audit.query({ username: "kim", event: "user.password-link-issued", limit: 1 })).length === 1);
		await stranger.context().close();
	});

	test("favicon: every page links it, /favicon.ico answers, and no page load met a 404", async () => {
		await admin.goto("/admin/users");
		assert.equal(await admin.locator("link[rel=icon]").getAttribute("href"), "/static/favicon.svg");
		assert.equal(await admin.evaluate(async () => (await fetch("/static/favicon.svg")).status), 200);
		const icon = await admin.request.get("/favicon.ico");
		assert.equal(icon.status(), 200);
		assert.match(icon.headers()["content-type"] ?? "", /^image\/svg\+xml/);
		assert.deepEqual(notFound, []);
	});
});
