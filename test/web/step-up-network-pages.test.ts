/**
 * Console pages for per-server step-up (server page) and network rules (/admin/network): shown,
 * set, refused with a visible reason (a freshness window without the requirement, a bypass mode, a
 * bad CIDR), admins only, and audited with before/after (docs/decisions.md "Per-server step-up",
 * "Network rules").
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { serverService } from "../../src/servers/server-service.ts";
import { ADMIN_ACTOR, Browser, createWebTest, mainOf, PASSWORD, type WebTest } from "./helpers.ts";

describe("step-up and network rule pages", () => {
	let w: WebTest;
	let admin: Browser;
	let joe: Browser;

	before(async () => {
		w = await createWebTest();
		await w.app.admin.createUser(ADMIN_ACTOR, { username: "root", password: PASSWORD, isAdmin: true, groups: [] });
		await w.app.admin.createUser(ADMIN_ACTOR, { username: "joe", password: PASSWORD, isAdmin: false, groups: [] });
		await w.app.admin.createGroup(ADMIN_ACTOR, { name: "ops", forceTwoFactor: false, allowedMethods: null });
		await serverService(w.app).add(ADMIN_ACTOR, { name: "db-prod", host: "10.0.0.5", groups: ["ops"] });
		admin = new Browser(w.server);
		await admin.follow(await admin.login("root"));
		await admin.get("/account/step-up");
		await admin.follow(await admin.post("/account/step-up", { password: PASSWORD, next: "/account" }));
		joe = new Browser(w.server);
		await joe.follow(await joe.login("joe"));
	});
	after(async () => w.close());

	test("server page: require 2FA with a freshness window is set, shown on the page and the list, and audited", async () => {
		let page = await admin.get("/admin/server?name=db-prod");
		assert.match(mainOf(page.body), /Second factor for this server/);
		assert.match(mainOf(page.body), /as the user's policy says/);
		const saved = await admin.post("/admin/servers/step-up", { name: "db-prod", require: "on", fresh: "15" });
		assert.equal(saved.statusCode, 303, saved.body.slice(0, 300));
		page = await admin.follow(saved);
		assert.match(mainOf(page.body), /required for every connection, within 15 minutes/);
		assert.match(mainOf((await admin.get("/admin/servers")).body), /required for every connection, within 15 minutes/);
		const row = await serverService(w.app).requireServer("db-prod");
		assert.equal(row.require_2fa, 1);
		assert.equal(row.fresh_minutes, 15);
		const audit = (await w.app.stores.audit.query({ event: "server.updated" })).at(-1);
		assert.equal(audit?.actor, "root");
		assert.deepEqual(JSON.parse(String(audit?.detail)).stepUp, {
			before: { requireTwoFactor: false, freshMinutes: null },
			after: { requireTwoFactor: true, freshMinutes: 15 },
		});
	});

	test("server page: a freshness window without the requirement is refused with the reason, nothing changes", async () => {
		const refused = await admin.post("/admin/servers/step-up", { name: "db-prod", fresh: "5" });
		assert.equal(refused.statusCode, 400);
		assert.match(mainOf(refused.body), /needs the server to require 2FA/);
		const bad = await admin.post("/admin/servers/step-up", { name: "db-prod", require: "on", fresh: "5000" });
		assert.equal(bad.statusCode, 400);
		const row = await serverService(w.app).requireServer("db-prod");
		assert.equal(row.require_2fa, 1);
		assert.equal(row.fresh_minutes, 15);
	});

	test("network page: set a group rule (canonical CIDRs), refuse a bypass and a bad block with the reason, remove it", async () => {
		let page = await admin.get("/admin/network");
		assert.equal(page.statusCode, 200);
		assert.match(mainOf(page.body), /No network rules/);
		assert.match(page.body, /<a href="\/admin\/network"[^>]*>Networks<\/a>/);

		const bypass = await admin.post("/admin/network/set", { scope: "", mode: "bypass-inside", networks: "10.0.0.0/8" });
		assert.equal(bypass.statusCode, 400);
		assert.match(mainOf(bypass.body), /cannot switch 2FA off/);
		const badBlock = await admin.post("/admin/network/set", { scope: "ops", mode: "deny-outside", networks: "10.0.0.0/33" });
		assert.equal(badBlock.statusCode, 400);
		assert.match(mainOf(badBlock.body), /is not a network/);
		assert.deepEqual(await w.app.networkRules.list(), []);

		const saved = await admin.post("/admin/network/set", {
			scope: "ops",
			mode: "require-2fa-outside",
			networks: "192.0.2.9/24\n2001:DB8:1::/48, 198.51.100.7",
		});
		assert.equal(saved.statusCode, 303, saved.body.slice(0, 300));
		page = await admin.follow(saved);
		assert.match(mainOf(page.body), /group ops/);
		assert.match(mainOf(page.body), /192\.0\.2\.0\/24, 2001:db8:1::\/48, 198\.51\.100\.7\/32/);
		const audit = (await w.app.stores.audit.query({ event: "policy.network-rule-set" })).at(-1);
		assert.equal(audit?.actor, "root");
		assert.deepEqual(JSON.parse(String(audit?.detail)).after, ["192.0.2.0/24", "2001:db8:1::/48", "198.51.100.7/32"]);

		const removed = await admin.post("/admin/network/clear", { scope: "ops", mode: "require-2fa-outside" });
		assert.equal(removed.statusCode, 303);
		assert.deepEqual(await w.app.networkRules.list(), []);
	});

	test("only admins reach the network page and its changes", async () => {
		assert.notEqual((await joe.get("/admin/network")).statusCode, 200);
		const attempt = await joe.post("/admin/network/set", { scope: "", mode: "deny-outside", networks: "10.0.0.0/8" });
		assert.notEqual(attempt.statusCode, 303);
		assert.deepEqual(await w.app.networkRules.list(), []);
	});
});
