/**
 * Two admins racing: a membership or a grant inserted for a group (or server) that another
 * transaction has just deleted. The foreign key refuses it; the stores turn that into ERR_NOT_FOUND
 * (an expected outcome the flows and the admin loops handle), never a raw database error, and the
 * refused change leaves nothing behind. Found by test/storage/audit-crash.test.ts on PostgreSQL.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { isPortcullisError } from "../../src/core/errors.ts";
import { createTestApp, type Engine, type TestApp } from "../helpers/test-app.ts";

for (const engine of ["sqlite", "postgres"] as Engine[]) {
	describe(`an insert naming a row deleted meanwhile (${engine})`, () => {
		let t: TestApp;
		before(async () => {
			t = await createTestApp({ engine });
		});
		after(async () => {
			if (t) await t.cleanup();
		});

		test("a membership of a deleted group, a new user in it, a grant to it: ERR_NOT_FOUND and nothing written", async () => {
			const { users, groups, servers } = t.app.stores;
			const group = await groups.create("gone", false, null);
			const user = await users.create({ username: "ursula", passwordHash: null, isAdmin: false, mustChangePassword: false });
			const server = await servers.create({ name: "db9", host: "192.0.2.9", port: 22, loginUser: "ops", description: "" });
			await groups.remove(group.id);

			const notFound = (error: unknown) => isPortcullisError(error, "ERR_NOT_FOUND");
			await assert.rejects(groups.addMember(group.id, user.id), notFound);
			await assert.rejects(users.create({ username: "vera", passwordHash: null, isAdmin: false, mustChangePassword: false, groupIds: [group.id] }), notFound);
			await assert.rejects(servers.grant(server.id, group.id), notFound);

			assert.equal(await users.findByUsername("vera"), undefined, "the user of a refused create is rolled back with it");
			assert.deepEqual(await groups.groupsOfUser(user.id), []);
		});

		test("the positive twin: the same inserts for a live group succeed", async () => {
			const { users, groups, servers } = t.app.stores;
			const group = await groups.create("here", false, null);
			const user = await users.create({ username: "wanda", passwordHash: null, isAdmin: false, mustChangePassword: false });
			const server = await servers.create({ name: "db8", host: "192.0.2.8", port: 22, loginUser: "ops", description: "" });
			assert.equal(await groups.addMember(group.id, user.id), true);
			await users.create({ username: "xena", passwordHash: null, isAdmin: false, mustChangePassword: false, groupIds: [group.id] });
			assert.equal(await servers.grant(server.id, group.id), true);
			assert.deepEqual(
				(await groups.groupsOfUser(user.id)).map((row) => row.name),
				["here"],
			);
		});
	});
}
