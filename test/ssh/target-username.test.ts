import assert from "node:assert/strict";
import { test } from "node:test";
import { splitTargetUsername } from "../../src/ssh/target-username.ts";

test("alice:db1 binds the connection to db1; alice+db1 only names it for step-up", () => {
	assert.deepEqual(splitTargetUsername("alice:db1"), { username: "alice", targetServer: "db1", bound: true });
	assert.deepEqual(splitTargetUsername("alice+db1"), { username: "alice", targetServer: "db1", bound: false });
	assert.deepEqual(splitTargetUsername("alice:DB1"), { username: "alice", targetServer: "db1", bound: true });
	assert.deepEqual(splitTargetUsername("alice"), { username: "alice", targetServer: null, bound: false });
});

test("malformed or overlong target names leave the whole string as the user name (which then matches no user)", () => {
	for (const raw of ["alice:", "alice:root@db1", "alice:db1:db2", "alice:-x", `alice:${"a".repeat(300)}`, "alice:db 1", "alice:db1\n", ":db1x:"]) {
		const split = splitTargetUsername(raw);
		if (split.targetServer !== null) assert.fail(`${JSON.stringify(raw)} gave ${JSON.stringify(split)}`);
		assert.equal(split.username, raw);
		assert.equal(split.bound, false);
	}
});
