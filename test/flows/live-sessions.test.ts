/**
 * LiveSessionService on SQLite and PostgreSQL (docs/operations.md "Live sessions"): the terminate
 * request and its audit event commit together and are refused without a reason or for a
 * connection no live node holds; the owning node consumes a request exactly once (two racing
 * consumers: one wins, one `ssh.terminated`); a dead node's rows are hidden at once and removed by
 * another node's cleanup; a node declared dead learns it from its heartbeat.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { isPortcullisError } from "../../src/core/errors.ts";
import { LIVE_STALE_MS, secondFactorLabel } from "../../src/flows/live-sessions.ts";
import type { LiveConnectionRow } from "../../src/storage/live-session-store.ts";
import { ADMIN_ACTOR, createTestApp, type TestApp } from "../helpers/test-app.ts";

const WEB_ADMIN = { name: "root", channel: "web" as const, source: "192.0.2.50" };

function connectionRow(id: string, nodeId: string, at: number): LiveConnectionRow {
	return {
		id,
		node_id: nodeId,
		user_id: "u-alice",
		username: "alice",
		source: "198.51.100.7",
		started_at: at,
		first_factor: "password",
		second_factor: "totp",
		second_factor_note: "",
		bytes_in: 0,
		bytes_out: 0,
		updated_at: at,
	};
}

for (const engine of ["sqlite", "postgres"] as const) {
	describe(`live sessions service (${engine})`, () => {
		let t: TestApp;
		const nodeA = "a".repeat(32);
		const nodeB = "b".repeat(32);
		const conn = "0123456789abcdef";
		const channel = "c".repeat(32);

		before(async () => {
			t = await createTestApp({ engine });
			const live = t.app.liveSessions;
			const now = t.clock.now().getTime();
			await live.registerNode(nodeA, "node-a");
			await live.registerNode(nodeB, "node-b");
			await live.connectionOpened(connectionRow(conn, nodeA, now));
			await live.channelOpened({ id: channel, connection_id: conn, node_id: nodeA, kind: "tunnel", server: "db1", started_at: now, bytes_in: 0, bytes_out: 0 });
			await live.updateBytes({ id: conn, bytesIn: 10, bytesOut: 20 }, [{ id: channel, bytesIn: 10, bytesOut: 20, server: "db1" }]);
		});
		after(async () => t?.cleanup());

		test("the list shows the connection, its node, channel, bytes and second factor", async () => {
			const [view, ...rest] = await t.app.liveSessions.list();
			assert.equal(rest.length, 0);
			assert.equal(view?.id, conn);
			assert.equal(view?.nodeName, "node-a");
			assert.equal(view?.bytesIn, 10);
			assert.equal(view?.bytesOut, 20);
			assert.deepEqual(
				view?.channels.map((c) => [c.id, c.kind, c.server, c.bytesOut]),
				[[channel, "tunnel", "db1", 20]],
			);
			assert.equal(secondFactorLabel(view!), "totp");
			assert.match(secondFactorLabel({ secondFactor: "not-required", secondFactorNote: "enrolment-deadline" }), /enrolment deadline/);
			assert.match(secondFactorLabel({ secondFactor: "remembered:totp", secondFactorNote: "" }), /remembered \(totp\)/);
		});

		test("terminate is refused without a reason, with a malformed id, or for a connection nobody holds; nothing is written", async () => {
			const live = t.app.liveSessions;
			const refused = async (request: Parameters<typeof live.terminate>[1], code: "ERR_INPUT" | "ERR_NOT_FOUND") =>
				assert.rejects(live.terminate(WEB_ADMIN, request), (error) => isPortcullisError(error, code));
			await refused({ connectionId: conn, reason: "  " }, "ERR_INPUT");
			await refused({ connectionId: conn, reason: "evil\u001b[2J" }, "ERR_INPUT");
			await refused({ connectionId: "nope", reason: "x" }, "ERR_INPUT");
			await refused({ connectionId: "ffffffffffffffff", reason: "x" }, "ERR_NOT_FOUND");
			await refused({ connectionId: conn, channelId: "d".repeat(32), reason: "x" }, "ERR_NOT_FOUND");
			assert.deepEqual(await t.app.stores.liveSessions.pendingKills(nodeA), []);
			assert.deepEqual(await t.app.stores.audit.query({ event: "ssh.terminate-requested" }), []);
		});

		test("terminate: the request and its audit event commit together; two racing consumers act once", async () => {
			const live = t.app.liveSessions;
			const result = await live.terminate(WEB_ADMIN, { connectionId: conn, channelId: channel, reason: "suspicious tunnel" });
			assert.equal(result.node, "node-a");
			const [requested] = await t.app.stores.audit.query({ event: "ssh.terminate-requested" });
			assert.equal(requested?.actor, "root");
			assert.equal(requested?.username, "alice");
			assert.deepEqual(
				{ ...JSON.parse(requested!.detail!), request: undefined },
				{ connectionId: conn, channelId: channel, reason: "suspicious tunnel", node: "node-a", userSource: "198.51.100.7", request: undefined },
			);
			assert.deepEqual(await live.pendingKills(nodeB), [], "only the owning node sees it");
			const [kill, ...more] = await live.pendingKills(nodeA);
			assert.equal(more.length, 0);
			const target = { userId: "u-alice", username: "alice", source: "198.51.100.7", found: true };
			const wins = await Promise.all([live.consumeKill(kill!, target), live.consumeKill(kill!, target)]);
			assert.deepEqual(wins.sort(), [false, true]);
			assert.deepEqual(await live.pendingKills(nodeA), []);
			const done = await t.app.stores.audit.query({ event: "ssh.terminated" });
			assert.equal(done.length, 1);
			assert.equal(done[0]?.actor, "root");
			assert.equal(JSON.parse(done[0]!.detail!).reason, "suspicious tunnel");
		});

		test("a closed connection's rows (and its requests) are gone", async () => {
			const live = t.app.liveSessions;
			const other = "fedcba9876543210";
			await live.connectionOpened(connectionRow(other, nodeB, t.clock.now().getTime()));
			await live.terminate(ADMIN_ACTOR, { connectionId: other, reason: "cleanup test" });
			await live.connectionClosed(other);
			assert.equal(
				(await live.list()).find((view) => view.id === other),
				undefined,
			);
			assert.deepEqual(await live.pendingKills(nodeB), []);
		});

		test("a dead node's rows are hidden at once and removed by another node's cleanup; the dead node learns it from its heartbeat", async () => {
			const live = t.app.liveSessions;
			t.clock.advance(LIVE_STALE_MS / 2);
			assert.equal(await live.heartbeat(nodeB), true, "node B is alive");
			t.clock.advance(LIVE_STALE_MS / 2 + 1);
			// Node A has not beaten for longer than the stale window: its connection is hidden before any cleanup...
			assert.deepEqual(await live.list(), []);
			await assert.rejects(live.terminate(WEB_ADMIN, { connectionId: conn, reason: "x" }), (error) => isPortcullisError(error, "ERR_NOT_FOUND"));
			// ...and B's cleanup removes every row of it.
			assert.equal(await live.removeStale(), 1);
			const db = t.app.db;
			for (const table of ["live_connections", "live_channels", "live_kills"] as const) {
				const rows = await db.selectFrom(table).select("node_id").where("node_id", "=", nodeA).execute();
				assert.deepEqual(rows, [], `${table} of the dead node`);
			}
			assert.equal(await live.heartbeat(nodeA), false, "a node declared dead is told so by its heartbeat (it re-registers)");
			assert.equal(await live.heartbeat(nodeB), true);
		});
	});
}
