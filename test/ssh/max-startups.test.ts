/**
 * MaxStartups arithmetic (OpenSSH sshd.c should_drop_connection), the per-source key and the drop
 * audit throttle, as pure functions.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { configSchema } from "../../src/config/config.ts";
import { dropPercent, parseMaxStartups, sourceKey } from "../../src/core/max-startups.ts";
import { StartupDropAudit } from "../../src/ssh/startup-drop-audit.ts";

test("parseMaxStartups: start:rate:full, a single number is a hard limit, inconsistent values are refused", () => {
	assert.deepEqual(parseMaxStartups("10:30:100"), { start: 10, rate: 30, full: 100 });
	assert.deepEqual(parseMaxStartups("100"), { start: 100, rate: 100, full: 100 });
	for (const bad of ["", "10:30", "0:30:100", "20:30:10", "10:0:100", "10:101:100", "10:30:10001", "a:b:c", "10:30:100:1"]) {
		assert.equal(parseMaxStartups(bad), null, bad);
		assert.equal(configSchema.safeParse({ ssh: { max_startups: bad } }).success, false, bad);
	}
	assert.equal(configSchema.parse({}).ssh.max_startups, "10:30:100");
});

test("dropPercent: 0 below start, rate at start rising linearly (integer division) to 100 at full", () => {
	const settings = { start: 10, rate: 30, full: 100 };
	assert.equal(dropPercent(9, settings), 0);
	assert.equal(dropPercent(10, settings), 30);
	assert.equal(dropPercent(55, settings), 65);
	assert.equal(dropPercent(99, settings), 99);
	assert.equal(dropPercent(100, settings), 100);
	assert.equal(dropPercent(5, { start: 5, rate: 100, full: 5 }), 100);
	assert.equal(dropPercent(4, { start: 5, rate: 100, full: 5 }), 0);
});

test("sourceKey: IPv4 as is (IPv4-mapped folded), IPv6 by /64", () => {
	assert.equal(sourceKey("192.0.2.7"), "192.0.2.7");
	assert.equal(sourceKey("::ffff:192.0.2.7"), "192.0.2.7");
	assert.equal(sourceKey("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
	assert.equal(sourceKey("2001:db8:1:2:bbbb:cccc:dddd:eeee"), "2001:db8:1:2::/64");
	assert.equal(sourceKey("::1"), "0:0:0:0::/64");
	assert.equal(sourceKey("fe80::1%eth0"), "fe80:0:0:0::/64");
});

test("StartupDropAudit: first drop reported at once, the rest of the minute counted, flushed later; sources bounded", () => {
	const audit = new StartupDropAudit(60_000, 2);
	assert.deepEqual(audit.record("a", "per-source", 0), { source: "a", refused: 1, byReason: { full: 0, "random-early-drop": 0, "per-source": 1 } });
	assert.equal(audit.record("a", "full", 1000), null);
	assert.equal(audit.record("a", "random-early-drop", 2000), null);
	assert.deepEqual(audit.flush(30_000), []);
	assert.deepEqual(audit.flush(60_000), [{ source: "a", refused: 2, byReason: { full: 1, "random-early-drop": 1, "per-source": 0 } }]);
	assert.ok(audit.record("b", "full", 60_000) !== null);
	// Two sources tracked (a, b): a third is counted under "*".
	assert.equal(audit.record("c", "full", 60_000)?.source, "*");
	assert.equal(audit.record("a", "full", 61_000), null);
	assert.deepEqual(
		audit.flush(61_000, true).map((summary) => [summary.source, summary.refused]),
		[["a", 1]],
	);
	// Quiet for a whole interval: forgotten.
	audit.flush(200_000);
	assert.deepEqual(audit.flush(200_000, true), []);
});
