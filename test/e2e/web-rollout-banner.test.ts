/**
 * Staged 2FA rollout in headless Chromium against the real server: group ops forces 2FA with an
 * enrolment deadline 7 days ahead; member dana, who has no factor, logs in, lands on her account
 * and sees the banner with the days left on every page; its link takes her to her account page,
 * where factors are set up.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Page } from "playwright-core";
import { ADMIN_ACTOR } from "../helpers/test-app.ts";
import { chromiumMissing, logIn, newPage, PASSWORD, startConsole, type Console } from "./web-harness.ts";

const missing = chromiumMissing();
const strict = process.env.PORTCULLIS_STRICT_PEERS === "1";
if (missing !== null && !strict) console.log(`# SKIP web e2e: ${missing}`);

describe("staged rollout banner (Chromium)", { skip: missing !== null && !strict ? missing : false }, () => {
	let c: Console;
	let dana: Page;

	before(async () => {
		if (missing !== null) throw new Error(`PORTCULLIS_STRICT_PEERS=1 and ${missing}`);
		c = await startConsole();
		const deadline = c.clock.now().getTime() + 7 * 86_400_000;
		await c.app.admin.createGroup(ADMIN_ACTOR, { name: "ops", forceTwoFactor: true, allowedMethods: null, enrolmentDeadline: deadline });
		await c.app.admin.createUser(ADMIN_ACTOR, { username: "dana", password: PASSWORD, isAdmin: false, groups: ["ops"] });
		dana = await newPage(c);
	});
	after(async () => {
		if (c) await c.close();
	});

	test("a member without a factor gets in before the deadline and sees the banner on every page, with a link to set up", async () => {
		await logIn(dana, "dana", PASSWORD);
		assert.match(dana.url(), /\/account$/);
		const banner = dana.locator(".rollout-nudge");
		await banner.waitFor();
		assert.match((await banner.textContent()) ?? "", /required by group ops\. Set up a second factor at .* within 7 days/);
		await dana.goto("/account/password");
		await banner.waitFor();
		await banner.getByRole("link", { name: "Set up a second factor now" }).click();
		assert.match(dana.url(), /\/account$/);
	});
});
