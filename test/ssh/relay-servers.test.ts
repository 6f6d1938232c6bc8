import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { isPortcullisError } from "../../src/core/errors.ts";
import { serverService, type ServerService } from "../../src/servers/server-service.ts";
import { ADMIN_ACTOR, createTestApp, type TestApp } from "../helpers/test-app.ts";

const PASSWORD = "correct horse battery";

for (const engine of ["sqlite", "postgres"] as const)
	describe(`servers and grants (${engine})`, () => {
		let t: TestApp;
		let servers: ServerService;
		let alice: string;
		let bob: string;
		before(async () => {
			t = await createTestApp({ engine });
			servers = serverService(t.app);
			await t.app.admin.createGroup(ADMIN_ACTOR, { name: "ops", forceTwoFactor: false, allowedMethods: null });
			await t.app.admin.createGroup(ADMIN_ACTOR, { name: "dev", forceTwoFactor: false, allowedMethods: null });
			alice = (await t.app.admin.createUser(ADMIN_ACTOR, { username: "alice", password: PASSWORD, isAdmin: false, groups: ["ops"] })).id;
			bob = (await t.app.admin.createUser(ADMIN_ACTOR, { username: "bob", password: PASSWORD, isAdmin: false, groups: ["dev"] })).id;
		});
		after(async () => t.cleanup());

		test("add with groups, list with grants, audited with the actor", async () => {
			await servers.add(ADMIN_ACTOR, {
				name: "DB1",
				host: "10.0.0.5",
				port: 2201,
				loginUser: "root",
				description: "primary\u001b[31m database",
				groups: ["ops"],
			});
			await servers.add(ADMIN_ACTOR, { name: "web1", host: "web1.internal", description: "frontend" });
			const list = await servers.list();
			assert.deepEqual(
				list.map((s) => [s.name, s.host, s.port, s.loginUser, s.groups, s.credential, s.hostKeyFingerprint]),
				[
					["db1", "10.0.0.5", 2201, "root", ["ops"], "gateway-key", null],
					["web1", "web1.internal", 22, "", [], "gateway-key", null],
				],
			);
			assert.equal(list[0]!.description, "primary [31m database", "control characters never reach a terminal");
			const events = await t.app.stores.audit.query({ event: "server.created" });
			assert.equal(events.length, 2);
			assert.equal(events[0]!.actor, ADMIN_ACTOR.name);
		});

		test("bad input is refused with ERR_INPUT; duplicates with ERR_CONFLICT; unknown with ERR_NOT_FOUND", async () => {
			for (const input of [
				{ name: "has space", host: "h" },
				{ name: "a@b", host: "h" },
				{ name: "ok", host: "bad host" },
				{ name: "ok", host: "h", port: 0 },
				{ name: "ok", host: "h", port: 70000 },
				{ name: "ok", host: "h", loginUser: "root;rm" },
			]) {
				await assert.rejects(servers.add(ADMIN_ACTOR, input), (error) => isPortcullisError(error, "ERR_INPUT"), JSON.stringify(input));
			}
			await assert.rejects(servers.add(ADMIN_ACTOR, { name: "db1", host: "h" }), (error) => isPortcullisError(error, "ERR_CONFLICT"));
			await assert.rejects(servers.grant(ADMIN_ACTOR, "nope", "ops"), (error) => isPortcullisError(error, "ERR_NOT_FOUND"));
			await assert.rejects(servers.grant(ADMIN_ACTOR, "db1", "nope"), (error) => isPortcullisError(error, "ERR_NOT_FOUND"));
		});

		test("a group grants its servers to its members only", async () => {
			assert.deepEqual(
				(await servers.listForUser(alice)).map((s) => s.name),
				["db1"],
			);
			assert.deepEqual(
				(await servers.listForUser(bob)).map((s) => s.name),
				[],
			);
			assert.equal(await servers.grant(ADMIN_ACTOR, "web1", "dev"), true);
			assert.equal(await servers.grant(ADMIN_ACTOR, "web1", "dev"), false, "granting twice changes nothing");
			assert.deepEqual(
				(await servers.listForUser(bob)).map((s) => s.name),
				["web1"],
			);
			assert.equal((await servers.findForUser(bob, "web1"))?.name, "web1");
			assert.equal(await servers.findForUser(bob, "db1"), undefined);
			assert.equal(await servers.revoke(ADMIN_ACTOR, "web1", "dev"), true);
			assert.deepEqual(
				(await servers.listForUser(bob)).map((s) => s.name),
				[],
			);
			assert.equal((await t.app.stores.audit.query({ event: "server.revoked" })).length, 1);
		});

		test("ProxyJump destinations resolve by configured host:port or by name, never by anything else", async () => {
			assert.equal((await servers.resolveForward(alice, "10.0.0.5", 2201))?.name, "db1");
			assert.equal((await servers.resolveForward(alice, "db1", 2201))?.name, "db1");
			assert.equal((await servers.resolveForward(alice, "DB1.", 22))?.name, "db1", "name with the default port stands for the configured port");
			assert.equal(await servers.resolveForward(alice, "10.0.0.5", 22), undefined, "address with another port");
			assert.equal(await servers.resolveForward(alice, "10.0.0.5", 2202), undefined);
			assert.equal(await servers.resolveForward(alice, "10.0.0.6", 2201), undefined);
			assert.equal(await servers.resolveForward(alice, "web1.internal", 22), undefined, "not granted");
			assert.equal(await servers.resolveForward(bob, "10.0.0.5", 2201), undefined, "not granted to bob");
		});

		test("per-server credentials are sealed at rest and bound to the server", async () => {
			await servers.setCredential(ADMIN_ACTOR, "db1", { kind: "password", password: "s3cret-target" });
			const row = await servers.requireServer("db1");
			assert.ok(row.credential_enc && !row.credential_enc.includes("s3cret"));
			assert.deepEqual(servers.credentialOf(row), { kind: "password", password: "s3cret-target" });
			const other = await servers.requireServer("web1");
			assert.throws(
				() => servers.credentialOf({ ...other, credential_enc: row.credential_enc }),
				(error) => isPortcullisError(error, "ERR_DECRYPT"),
			);
			const events = await t.app.stores.audit.query({ event: "server.credential-set" });
			assert.ok(!JSON.stringify(events).includes("s3cret"));
			await servers.setCredential(ADMIN_ACTOR, "db1", null);
			assert.equal((await servers.list())[0]!.credential, "gateway-key");
		});

		test("host key: set once (TOFU without a race), admin can forget or pin; a new address forgets it", async () => {
			const row = await servers.requireServer("db1");
			const key = Buffer.from("AAAAC3NzaC1lZDI1NTE5AAAAIIugxZ782lNyQAKHIYNraN8y1SMlkq+iQRhqYK9crIZc", "base64").toString("base64");
			assert.equal(await servers.store.setHostKeyIfUnset(row.id, key), true);
			assert.equal(await servers.store.setHostKeyIfUnset(row.id, "b3RoZXI="), false);
			assert.match((await servers.list())[0]!.hostKeyFingerprint!, /^SHA256:/);
			await servers.resetHostKey(ADMIN_ACTOR, "db1");
			assert.equal((await servers.requireServer("db1")).host_key, null);
			await servers.resetHostKey(ADMIN_ACTOR, "db1", `ssh-ed25519 ${key} comment`);
			assert.equal((await servers.requireServer("db1")).host_key, key);
			await servers.update(ADMIN_ACTOR, "db1", { description: "renamed" });
			assert.equal((await servers.requireServer("db1")).host_key, key, "a description change keeps the key");
			await servers.update(ADMIN_ACTOR, "db1", { port: 2202 });
			assert.equal((await servers.requireServer("db1")).host_key, null);
			assert.equal((await t.app.stores.audit.query({ event: "server.hostkey-reset" })).length, 2);
		});

		test("removing a server removes its grants; removing a group removes its grants", async () => {
			await servers.add(ADMIN_ACTOR, { name: "tmp", host: "tmp", groups: ["dev"] });
			assert.deepEqual(
				(await servers.listForUser(bob)).map((s) => s.name),
				["tmp"],
			);
			await t.app.admin.deleteGroup(ADMIN_ACTOR, "dev");
			assert.deepEqual(
				(await servers.listForUser(bob)).map((s) => s.name),
				[],
			);
			await servers.remove(ADMIN_ACTOR, "tmp");
			assert.deepEqual(
				(await servers.list()).map((s) => s.name),
				["db1", "web1"],
			);
		});
	});
