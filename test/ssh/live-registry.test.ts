/**
 * The node side of the live-session registry (src/ssh/live-registry.ts) against a recording stand-in
 * for LiveSessionService: byte counts are written in batches (one write per flush for many relayed
 * chunks, none when nothing changed), a failed insert is retried at the next flush, a node declared
 * dead re-registers and re-publishes its connections, a terminate request is acted on only when the
 * node wins it, and a closed connection's rows are deleted after they were inserted.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { FakeClock } from "../../src/core/clock.ts";
import { createLogger } from "../../src/core/logger.ts";
import { cryptoRandom } from "../../src/core/random.ts";
import type { AuthenticatedSsh } from "../../src/ssh/authenticated-ssh.ts";
import { LiveRegistry, type LiveSessions } from "../../src/ssh/live-registry.ts";
import type { LiveKillRow } from "../../src/storage/live-session-store.ts";

function fakeSession(id: string): AuthenticatedSsh & { end(): void } {
	const listeners: (() => void)[] = [];
	return {
		connectionId: id,
		userId: "u1",
		username: "alice",
		sourceAddress: "192.0.2.7",
		secondFactorMethod: "totp",
		secondFactorRemembered: false,
		publicKeyFingerprint: null,
		sessionEpoch: 0,
		kex: null,
		boundServer: null,
		authenticatedAt: 1,
		onClose: (listener) => void listeners.push(listener),
		close: () => undefined,
		onNotice: () => () => undefined,
		end: () => {
			for (const listener of listeners.splice(0)) listener();
		},
	};
}

function recorder() {
	const calls: string[] = [];
	const state = { heartbeat: true, failInserts: 0, failDeletes: 0, kills: [] as LiveKillRow[], win: true };
	const live: LiveSessions = {
		registerNode: async () => void calls.push("registerNode"),
		heartbeat: async () => {
			calls.push("heartbeat");
			return state.heartbeat;
		},
		removeStale: async () => {
			calls.push("removeStale");
			return 0;
		},
		removeNode: async () => {
			calls.push("removeNode");
			return 0;
		},
		connectionOpened: async (row) => {
			calls.push(`connectionOpened ${row.id}`);
			if (state.failInserts > 0) {
				state.failInserts -= 1;
				throw new Error("injected: insert refused");
			}
		},
		channelOpened: async (row) => void calls.push(`channelOpened ${row.kind}`),
		updateBytes: async (connection, channels) =>
			void calls.push(`updateBytes ${connection.bytesIn}/${connection.bytesOut} ${channels.map((c) => `${c.bytesIn}/${c.bytesOut}@${c.server}`).join(",")}`),
		channelClosed: async () => void calls.push("channelClosed"),
		connectionClosed: async (id) => {
			calls.push(`connectionClosed ${id}`);
			if (state.failDeletes > 0) {
				state.failDeletes -= 1;
				throw new Error("injected: delete refused");
			}
		},
		pendingKills: async () => state.kills,
		consumeKill: async (kill, target) => {
			calls.push(`consumeKill ${kill.id} found=${target.found}`);
			return state.win;
		},
	};
	return { calls, state, live };
}

const services = (live: LiveSessions) => ({ live, clock: new FakeClock(), random: cryptoRandom, logger: createLogger({ level: "silent" }) });
const kill = (connectionId: string, channelId: string | null): LiveKillRow => ({
	id: "k1",
	node_id: "n",
	connection_id: connectionId,
	channel_id: channelId,
	actor: "root",
	actor_channel: "web",
	actor_source: "192.0.2.1",
	reason: "r",
	requested_at: 0,
	consumed_at: null,
});

describe("live registry (node side)", () => {
	test("bytes: many relayed chunks are one write per flush; nothing is written when nothing changed", async () => {
		const { calls, live } = recorder();
		const registry = new LiveRegistry(services(live), { pollMs: 60_000, flushMs: 60_000 });
		await registry.start();
		const session = fakeSession("c1");
		const channel = registry
			.open(session, { firstFactor: "password", secondFactor: "totp", secondFactorNote: "", terminate: () => undefined })
			.channel("session", "db1", () => undefined);
		for (let chunk = 0; chunk < 1000; chunk++) {
			channel.bytes.in += 10;
			channel.bytes.out += 100;
		}
		await registry.flush();
		await registry.flush();
		assert.deepEqual(
			calls.filter((call) => call.startsWith("updateBytes")),
			["updateBytes 10000/100000 10000/100000@db1"],
		);
		channel.end();
		session.end();
		await registry.stop();
		const order = calls.filter((call) => /^(connectionOpened|channelOpened|channelClosed|connectionClosed|removeNode)/.test(call));
		assert.deepEqual(order, ["connectionOpened c1", "channelOpened session", "channelClosed", "connectionClosed c1", "removeNode"]);
	});

	test("a failed insert is written again at the next flush; a node declared dead re-registers and re-publishes", async () => {
		const { calls, state, live } = recorder();
		const registry = new LiveRegistry(services(live), { pollMs: 60_000, flushMs: 60_000 });
		await registry.start();
		state.failInserts = 1;
		const session = fakeSession("c2");
		registry.open(session, { firstFactor: "password", secondFactor: "totp", secondFactorNote: "", terminate: () => undefined });
		await registry.flush();
		assert.equal(calls.filter((call) => call === "connectionOpened c2").length, 2, "retried once after the failure");
		await registry.flush();
		assert.equal(calls.filter((call) => call === "connectionOpened c2").length, 2, "not again once written");
		state.heartbeat = false;
		await registry.flush();
		assert.equal(calls.filter((call) => call === "registerNode").length, 2);
		assert.equal(calls.filter((call) => call === "connectionOpened c2").length, 3, "re-published after the node was declared dead");
		session.end();
		await registry.stop();
	});

	test("a failed delete is done again at the next flush: no row of a closed connection lingers while the node lives", async () => {
		const { calls, state, live } = recorder();
		const registry = new LiveRegistry(services(live), { pollMs: 60_000, flushMs: 60_000 });
		await registry.start();
		const session = fakeSession("c4");
		registry.open(session, { firstFactor: "password", secondFactor: "totp", secondFactorNote: "", terminate: () => undefined });
		state.failDeletes = 1;
		session.end();
		await registry.flush();
		assert.equal(calls.filter((call) => call === "connectionClosed c4").length, 2, "retried after the failure");
		await registry.flush();
		assert.equal(calls.filter((call) => call === "connectionClosed c4").length, 2, "not again once done");
		await registry.stop();
	});

	test("a terminate request ends the connection (or only the channel) when the node wins it, and nothing when it does not", async () => {
		const { state, live } = recorder();
		const registry = new LiveRegistry(services(live), { pollMs: 60_000, flushMs: 60_000 });
		await registry.start();
		const session = fakeSession("c3");
		const ended: string[] = [];
		const connection = registry.open(session, {
			firstFactor: "password",
			secondFactor: "totp",
			secondFactorNote: "",
			terminate: (message) => void ended.push(`connection: ${message}`),
		});
		const channel = connection.channel("tunnel", "db1", () => void ended.push("channel"));
		state.kills = [kill("c3", channel.id)];
		state.win = false;
		await registry.poll();
		assert.deepEqual(ended, [], "another poller took it");
		state.win = true;
		await registry.poll();
		assert.deepEqual(ended, ["channel"]);
		state.kills = [kill("c3", null)];
		await registry.poll();
		assert.deepEqual(ended, ["channel", "connection: Portcullis: an administrator ended this connection"]);
		session.end();
		await registry.stop();
	});
});
