/**
 * Storage of per-server step-up and network rules (migration 0015) on SQLite and PostgreSQL: the
 * rules a user gets (global + their groups'), fail-closed decoding of corrupt rows, and the policy
 * version bumped by trigger in the changing statement (instant revocation), but not by a host key
 * learned on first use.
 */
import assert from "node:assert/strict";
import { sql } from "kysely";
import { after, before, describe, test } from "node:test";
import { GLOBAL_SCOPE } from "../../src/storage/network-rule-store.ts";
import { serverService } from "../../src/servers/server-service.ts";
import { ADMIN_ACTOR, createTestApp, type TestApp } from "../helpers/test-app.ts";

for (const engine of ["sqlite", "postgres"] as const)
	describe(`step-up and network rule storage (${engine})`, () => {
		let t: TestApp;
		let aliceId: string;
		let opsId: string;
		const version = () => t.app.stores.policyVersion.current();

		before(async () => {
			t = await createTestApp({ engine });
			opsId = (await t.app.admin.createGroup(ADMIN_ACTOR, { name: "ops", forceTwoFactor: false, allowedMethods: null })).id;
			await t.app.admin.createGroup(ADMIN_ACTOR, { name: "dev", forceTwoFactor: false, allowedMethods: null });
			aliceId = (await t.app.admin.createUser(ADMIN_ACTOR, { username: "alice", password: "correct horse battery", isAdmin: false, groups: ["ops"] })).id;
		});
		after(async () => t?.cleanup());

		test("a user gets the global rules and those of their own groups only", async () => {
			await t.app.networkRules.set(ADMIN_ACTOR, null, "require-2fa-outside", ["192.0.2.0/24"]);
			await t.app.networkRules.set(ADMIN_ACTOR, "ops", "deny-outside", ["10.0.0.0/8"]);
			await t.app.networkRules.set(ADMIN_ACTOR, "dev", "deny-outside", ["172.16.0.0/12"]);
			const rules = await t.app.stores.networkRules.rulesForUser(aliceId);
			assert.deepEqual(rules.map((rule) => `${rule.group ?? "global"} ${rule.mode} ${rule.trusted.join(",")}`).sort(), [
				"global require-2fa-outside 192.0.2.0/24",
				"ops deny-outside 10.0.0.0/8",
			]);
		});

		test("corrupt rows decode to the strict side: an unknown mode denies, an unreadable list trusts nothing", async () => {
			await sql`UPDATE network_rules SET mode = 'whatever', trusted = 'not json' WHERE scope = ${opsId}`.execute(t.app.db);
			const rule = (await t.app.stores.networkRules.rulesForUser(aliceId)).find((entry) => entry.group === "ops");
			assert.deepEqual(rule, { group: "ops", mode: "deny-outside", trusted: [] });
			await sql`DELETE FROM network_rules WHERE scope = ${opsId}`.execute(t.app.db);
		});

		test("network rules and a server's step-up bump the policy version in the same statement; a learned host key does not", async () => {
			let before = await version();
			await t.app.networkRules.set(ADMIN_ACTOR, null, "deny-outside", ["198.51.100.0/24"]);
			assert.ok((await version()) > before, "set bumps");
			before = await version();
			await t.app.networkRules.clear(ADMIN_ACTOR, null, "deny-outside");
			assert.ok((await version()) > before, "clear bumps");

			const servers = serverService(t.app);
			const server = await servers.add(ADMIN_ACTOR, { name: "db-prod", host: "10.0.0.5", groups: ["ops"] });
			before = await version();
			await servers.update(ADMIN_ACTOR, "db-prod", { requireTwoFactor: true, freshMinutes: 5 });
			assert.ok((await version()) > before, "require 2FA bumps");
			before = await version();
			assert.equal(await servers.store.setHostKeyIfUnset(server.id, "AAAA"), true);
			await servers.update(ADMIN_ACTOR, "db-prod", { description: "primary" });
			assert.equal(await version(), before, "trust on first use and a description do not make every node re-check");
			assert.equal(GLOBAL_SCOPE, "");
		});
	});
