/**
 * `portcullis session list|kill` through the real binary (SQLite): the list shows a connection a
 * node published, a kill without a reason or for a connection nobody holds exits 2 with one line and
 * requests nothing, and a kill with a reason leaves one request for the owning node and one
 * `ssh.terminate-requested` event naming the operator and the reason (docs/operations.md
 * "Live sessions"; the end-to-end kill is test/ssh/live-sessions-nodes.test.ts).
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { assertBadInput, assertOk, cleanEnv, openApp, runCli, type CliResult } from "./run-cli.ts";

const NODE = "e".repeat(32);
const CONNECTION = "0123456789abcdef";

describe("portcullis session list|kill (sqlite)", () => {
	let dir: string;
	const env = cleanEnv();
	const cli = (args: readonly string[]): Promise<CliResult> => runCli([...args, "--data", dir], { env });

	before(async () => {
		dir = mkdtempSync(join(tmpdir(), "portcullis-cli-live-"));
		const app = await openApp(dir);
		try {
			const now = Date.now();
			await app.liveSessions.registerNode(NODE, "node-e");
			// Alive for the whole test, however slowly the CLI starts on a loaded machine.
			await app.db
				.updateTable("live_nodes")
				.set({ heartbeat_at: now + 3_600_000 })
				.where("id", "=", NODE)
				.execute();
			await app.liveSessions.connectionOpened({
				id: CONNECTION,
				node_id: NODE,
				user_id: "u1",
				username: "alice",
				source: "198.51.100.7",
				started_at: now,
				first_factor: "publickey",
				second_factor: "remembered:totp",
				second_factor_note: "",
				bytes_in: 5,
				bytes_out: 7,
				updated_at: now,
			});
		} finally {
			await app.close();
		}
	});
	after(() => rmSync(dir, { recursive: true, force: true }));

	test("list: the connection with its node and second factor (table and JSON)", async () => {
		const table = await cli(["session", "list"]);
		assertOk(table, "session list");
		assert.match(table.stdout, new RegExp(`${CONNECTION}.*alice.*198\\.51\\.100\\.7.*node-e.*remembered \\(totp\\)`));
		const json = await cli(["session", "list", "--json"]);
		assertOk(json, "session list --json");
		const [view] = JSON.parse(json.stdout) as { id: string; nodeName: string; bytesOut: number; secondFactorText: string }[];
		assert.deepEqual([view?.id, view?.nodeName, view?.bytesOut, view?.secondFactorText], [CONNECTION, "node-e", 7, "remembered (totp)"]);
	});

	test("kill: refused without a reason, with an empty one, or for a connection nobody holds; nothing is requested", async () => {
		const missing = await cli(["session", "kill", CONNECTION]);
		assert.equal(missing.code, 2, missing.stderr);
		assert.match(missing.stderr, /--reason/);
		assertBadInput(await cli(["session", "kill", CONNECTION, "--reason", " "]), "empty reason", /reason/);
		assertBadInput(await cli(["session", "kill", "ffffffffffffffff", "--reason", "x"]), "unknown connection", /no live connection/);
		const app = await openApp(dir);
		try {
			assert.deepEqual(await app.stores.liveSessions.pendingKills(NODE), []);
		} finally {
			await app.close();
		}
	});

	test("kill: one request for the owning node and one audit event with the operator and the reason", async () => {
		const killed = await cli(["session", "kill", CONNECTION, "--reason", "left the company"]);
		assertOk(killed, "session kill");
		assert.match(killed.stdout, /requested: node node-e ends connection 0123456789abcdef/);
		const app = await openApp(dir);
		try {
			const kills = await app.stores.liveSessions.pendingKills(NODE);
			assert.deepEqual(
				kills.map((kill) => [kill.connection_id, kill.channel_id, kill.reason, kill.actor_channel]),
				[[CONNECTION, null, "left the company", "cli"]],
			);
			const [event, ...more] = await app.stores.audit.query({ event: "ssh.terminate-requested" });
			assert.equal(more.length, 0);
			assert.equal(event?.actor, `cli:${userInfo().username}`);
			assert.equal(event?.channel, "cli");
			assert.equal(event?.username, "alice");
			assert.equal(JSON.parse(event!.detail!).reason, "left the company");
		} finally {
			await app.close();
		}
	});
});
