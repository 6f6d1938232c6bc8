/**
 * Users are told about their own security events on the account page: a wrong second-factor
 * answer (someone knows their password) and an admin reset are listed, other users' events are not.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { WEB } from "../helpers/test-app.ts";
import { ADMIN_ACTOR, Browser, createWebTest, enrolTotp, loginWithTotp, mainOf, PASSWORD } from "./helpers.ts";

test("the account page lists the user's own recent security events, and only theirs", async () => {
	const w = await createWebTest();
	try {
		const alice = await w.app.admin.createUser(ADMIN_ACTOR, { username: "alice", password: PASSWORD, isAdmin: false, groups: [] });
		await w.app.admin.createUser(ADMIN_ACTOR, { username: "bob", password: PASSWORD, isAdmin: false, groups: [] });
		const secret = await enrolTotp(w, alice.id);
		w.clock.advance(30_000);
		// Someone with alice's password fails her second factor.
		const step = await w.app.login.submitPassword(WEB, "alice", PASSWORD);
		assert.equal(step.kind, "second-factor");
		if (step.kind === "second-factor") assert.equal((await w.app.login.submitSecondFactor(step.attemptId, "totp", "000000")).kind, "invalid");
		// Bob's failures must not show on alice's page.
		await w.app.login.submitPassword(WEB, "bob", "wrong password here");

		const browser = new Browser(w.server);
		const page = await loginWithTotp(w, browser, "alice", secret);
		const account = page.headers.location === undefined && page.body.includes("My account") ? page : await browser.get("/account");
		const main = mainOf(account.body);
		assert.match(main, /Recent security events/);
		assert.match(main, /Wrong second-factor answer/);
		assert.match(main, /Logged in/);
		assert.doesNotMatch(main, /Password login attempt/, "bob's failed password is not on alice's page");
	} finally {
		await w.close();
	}
});
