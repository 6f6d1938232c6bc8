/**
 * Live sessions across nodes, end to end (docs/operations.md "Live sessions"): two gateway nodes
 * on one PostgreSQL (and on one SQLite file), the REAL OpenSSH client, a REAL sshd target, and node B's console.
 *
 * - node B lists a connection held by node A: user, source, node, channel kind and server, bytes
 *   (flushed in batches), how the second factor was met;
 * - an admin on node B, after a fresh step-up and with a reason, ends it: the client is cut off,
 *   both the request and the termination are audited with the admin and the reason, and the row
 *   disappears;
 * - a non-admin cannot see the page or end anything; an admin without a fresh step-up is sent to
 *   the step-up and nothing is requested;
 * - channel-level: one of two sessions multiplexed on one connection (ControlMaster) ends, the
 *   other and the connection stay; a -J tunnel is listed as a tunnel to its server and ended alone;
 * - a node killed with SIGKILL leaves rows that another node's cleanup removes.
 *
 * No timing assertions: every wait is "until it happened" (polls of state, not of the clock).
 */
import assert from "node:assert/strict";
import { performance } from "node:perf_hooks";
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import type { FastifyInstance } from "fastify";
import { webServices } from "../../src/app/web-services.ts";
import { sha256Hex } from "../../src/crypto/tokens.ts";
import type { LiveConnectionView } from "../../src/flows/live-sessions.ts";
import { loadOrCreateGatewayKey } from "../../src/servers/gateway-key.ts";
import { startSshGateway, type SshGateway } from "../../src/ssh/gateway.ts";
import { buildWebServer } from "../../src/web/server.ts";
import { createRecordingNodes, type RecordingNodes } from "../helpers/recording-nodes.ts";
import { createOpenSshClient, type OpenSshClient, type RunResult } from "../helpers/relay-openssh.ts";
import { sshdSkipReason, startSshd, type Sshd } from "../helpers/sshd-target.ts";
import { ADMIN_ACTOR } from "../helpers/test-app.ts";
import { Browser, PASSWORD } from "../web/helpers.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const NODE = fileURLToPath(new URL("../helpers/gateway-node.ts", import.meta.url));
const skip = sshdSkipReason();

async function eventually<T>(probe: () => Promise<T | undefined | null | false>, what: string, timeoutMs = 60_000): Promise<T> {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		const value = await probe();
		if (value) return value;
		if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
		await new Promise((resolveWait) => setTimeout(resolveWait, 50));
	}
}

/** Waits until the client has exited (bounded, so a terminate that never arrives fails instead of hanging). */
function ends(run: { ended(): boolean }): Promise<true> {
	return eventually(async () => run.ended(), "the client to be cut off");
}

/** A run whose end can be checked without waiting for it. */
function tracked(run: Promise<RunResult>): { readonly done: Promise<RunResult>; ended(): boolean } {
	let ended = false;
	const done = run.finally(() => {
		ended = true;
	});
	return { done, ended: () => ended };
}

// PostgreSQL is the multi-node deployment; SQLite is two processes on one host sharing one file (WAL).
for (const engine of ["postgres", "sqlite"] as const)
	describe(`live sessions across two gateway nodes (${engine}, OpenSSH → gateway → sshd)`, { skip }, () => {
		let nodes: RecordingNodes;
		let client: OpenSshClient;
		let db1: Sshd;
		let gwA: SshGateway;
		let gwB: SshGateway;
		let web: FastifyInstance;
		let admin: Browser;
		let child: ChildProcess | null = null;

		const ssh = (args: readonly string[], port = gwA.address.port) => tracked(client.run("ssh", ["-p", String(port), ...args], { password: PASSWORD }));
		/** Node B's view of the registry. */
		const list = () => nodes.b.liveSessions.list();
		/** Connections listed before the current test's client started are never "its" connection. */
		let known = new Set<string>();
		const forget = async () => {
			known = new Set((await list()).map((view) => view.id));
		};
		const connectionOf = (username: string, match: (view: LiveConnectionView) => boolean = () => true) =>
			eventually(
				async () => (await list()).find((view) => view.username === username && !known.has(view.id) && match(view)),
				`a live connection of ${username} listed on node B`,
			);
		const gone = (id: string) => eventually(async () => !(await list()).some((view) => view.id === id), `connection ${id} to leave the list`);
		const auditOf = async (event: string, connectionId: string) =>
			(await nodes.b.stores.audit.query({ event })).filter((row) => JSON.parse(row.detail ?? "{}").connectionId === connectionId);

		before(async () => {
			nodes = await createRecordingNodes(engine, { ssh: { node_name: "gw-test" } });
			const { a, b } = nodes;
			client = await createOpenSshClient();
			db1 = await startSshd({ authorizedKeys: [loadOrCreateGatewayKey(a.config).publicKey, client.publicKey] });
			await a.admin.createGroup(ADMIN_ACTOR, { name: "ops", forceTwoFactor: false, allowedMethods: null });
			await a.admin.createUser(ADMIN_ACTOR, { username: "alice", password: PASSWORD, isAdmin: false, groups: ["ops"] });
			await a.admin.createUser(ADMIN_ACTOR, { username: "root", password: PASSWORD, isAdmin: true, groups: [] });
			await a.servers.add(ADMIN_ACTOR, { name: "db1", host: db1.host, port: db1.port, loginUser: db1.user, groups: ["ops"] });
			gwA = await startSshGateway(a.ssh, { listen: "127.0.0.1:0" });
			gwB = await startSshGateway(b.ssh, { listen: "127.0.0.1:0" });
			web = await buildWebServer(webServices(b));
			await web.ready();
			admin = new Browser(web);
			await admin.follow(await admin.login("root"));
			await admin.get("/account/step-up");
			await admin.follow(await admin.post("/account/step-up", { password: PASSWORD, next: "/admin/live" }));
		});

		after(async () => {
			if (child?.exitCode === null) child.kill("SIGKILL");
			await client?.cleanup();
			await gwA?.close();
			await gwB?.close();
			await web?.close();
			await db1?.stop();
			await nodes?.cleanup();
		});

		test("node B lists node A's connection (channel, server, bytes, second factor); an admin on B ends it; audited; the row disappears", async (t) => {
			await forget();
			const run = ssh(["alice@127.0.0.1", "db1", "head -c 300000 /dev/zero; sleep 600"]);
			const view = await connectionOf("alice", (candidate) => candidate.channels.some((channel) => channel.kind === "session" && channel.server === "db1"));
			assert.equal(view.nodeId, gwA.liveRegistry.nodeId, "held by node A");
			assert.equal(view.nodeName, "gw-test", "ssh.node_name");
			assert.notEqual(view.nodeId, gwB.liveRegistry.nodeId);
			assert.equal(view.source, "127.0.0.1");
			assert.equal(view.firstFactor, "password");
			assert.equal(view.secondFactor, "not-required");
			assert.equal(view.secondFactorNote, "policy");
			// Bytes are counted in memory and written at node A's flush (every few seconds; flushed here at once).
			const counted = await eventually(async () => {
				await gwA.liveRegistry.flush();
				const found = (await list()).find((candidate) => candidate.id === view.id);
				return found !== undefined && found.bytesOut >= 300_000 ? found : null;
			}, "the relayed bytes in node B's list");
			assert.ok((counted.channels[0]?.bytesOut ?? 0) >= 300_000, "the channel's own count");

			const page = await admin.get("/admin/live");
			assert.equal(page.statusCode, 200);
			assert.ok(page.body.includes(view.id) && page.body.includes("db1"), "the console on node B shows it");
			const asked = performance.now();
			const requested = await admin.post("/admin/live/terminate", { connection: view.id, reason: "incident 42" });
			assert.equal(requested.statusCode, 303, requested.body.slice(0, 300));
			assert.equal(requested.headers.location, "/admin/live?m=requested");

			await ends(run);
			// Reported, not asserted (no timing in pass/fail): request on node B → client gone from node A.
			t.diagnostic(`terminate from node B to the client's exit: ${Math.round(performance.now() - asked)} ms (ssh.policy_poll_ms = 1000)`);
			const ended = await run.done;
			assert.notEqual(ended.code, 0, "the client was cut off");
			await gone(view.id);

			const [request] = await auditOf("ssh.terminate-requested", view.id);
			assert.equal(request?.actor, "root");
			assert.equal(request?.channel, "web");
			assert.equal(JSON.parse(request!.detail!).reason, "incident 42");
			const [done] = await auditOf("ssh.terminated", view.id);
			assert.equal(done?.actor, "root");
			assert.equal(done?.username, "alice");
			assert.equal(JSON.parse(done!.detail!).reason, "incident 42");
			assert.equal(JSON.parse(done!.detail!).result, "ended");
			const disconnect = await eventually(async () => (await auditOf("ssh.disconnect", view.id))[0], "ssh.disconnect");
			assert.equal(JSON.parse(disconnect.detail!).reason, "terminated by an administrator");
		});

		test("a non-admin cannot see or end live sessions; an admin without a fresh step-up is sent to it and nothing is requested", async () => {
			await forget();
			const run = ssh(["alice@127.0.0.1", "db1", "sleep 600"]);
			const view = await connectionOf("alice");

			const alice = new Browser(web);
			await alice.follow(await alice.login("alice"));
			assert.equal((await alice.get("/admin/live")).statusCode, 403);
			await alice.get("/account");
			const refused = await alice.post("/admin/live/terminate", { connection: view.id, reason: "mine" });
			assert.equal(refused.statusCode, 403);

			// An admin whose last second factor (or password confirmation) is older than security.step_up_minutes.
			const notFresh = new Browser(web);
			await notFresh.follow(await notFresh.login("root"));
			await nodes.b.db.updateTable("web_sessions").set({ step_up_at: 0 }).where("id_hash", "=", sha256Hex(notFresh.session()!)).execute();
			assert.equal((await notFresh.get("/admin/live")).statusCode, 200, "an admin may look without a step-up");
			const stale = await notFresh.post("/admin/live/terminate", { connection: view.id, reason: "no step-up" });
			assert.equal(stale.statusCode, 303);
			assert.match(String(stale.headers.location), /^\/account\/step-up\?next=%2Fadmin%2Flive/);

			assert.deepEqual(await auditOf("ssh.terminate-requested", view.id), [], "nothing was requested");
			assert.deepEqual(await nodes.b.stores.liveSessions.pendingKills(view.nodeId), []);
			await gwA.liveRegistry.poll();
			assert.ok(
				(await list()).some((candidate) => candidate.id === view.id),
				"still live",
			);
			assert.equal(run.ended(), false);

			// The positive twin, through the service the CLI and the API use.
			await nodes.b.liveSessions.terminate(ADMIN_ACTOR, { connectionId: view.id, reason: "end of test" });
			await ends(run);
			await gone(view.id);
		});

		test("channel-level: one of two sessions on one connection (ControlMaster) ends; the other and the connection stay", async () => {
			await forget();
			const socket = join(client.dir, "cm.sock");
			const master = ssh(["-M", "-S", socket, "-N", "alice@127.0.0.1"]);
			const view = await connectionOf("alice");
			assert.deepEqual(view.channels, [], "-N: no channel yet");
			const one = ssh(["-S", socket, "alice@127.0.0.1", "db1", "sleep 600"]);
			const two = ssh(["-S", socket, "alice@127.0.0.1", "db1", "sleep 601"]);
			const both = await connectionOf("alice", (candidate) => candidate.id === view.id && candidate.channels.length === 2);
			const [first, second] = both.channels;

			const requested = await admin.post("/admin/live/terminate", { connection: view.id, channel: first!.id, reason: "one channel" });
			assert.equal(requested.statusCode, 303, requested.body.slice(0, 300));
			await eventually(async () => one.ended() || two.ended(), "one of the two sessions to end");
			const after = await connectionOf("alice", (candidate) => candidate.id === view.id && candidate.channels.length === 1);
			assert.equal(after.channels[0]?.id, second!.id, "the other channel is untouched");
			assert.equal([one.ended(), two.ended()].filter(Boolean).length, 1, "exactly one session ended");
			assert.equal(master.ended(), false, "the connection stays");
			const [done] = await auditOf("ssh.terminated", view.id);
			assert.equal(JSON.parse(done!.detail!).channelId, first!.id);

			await nodes.b.liveSessions.terminate(ADMIN_ACTOR, { connectionId: view.id, reason: "end of test" });
			for (const run of [master, one, two]) await ends(run);
			await gone(view.id);
		});

		test("a -J tunnel is listed as a tunnel to its server and can be ended alone", async () => {
			await forget();
			const run = tracked(
				client.run("ssh", ["-J", `alice@127.0.0.1:${gwA.address.port}`, "-p", String(db1.port), `${db1.user}@db1`, "sleep 600"], { password: PASSWORD }),
			);
			const view = await connectionOf("alice", (candidate) => candidate.channels.some((channel) => channel.kind === "tunnel"));
			const tunnel = view.channels.find((channel) => channel.kind === "tunnel")!;
			assert.equal(tunnel.server, "db1");
			await eventually(async () => {
				await gwA.liveRegistry.flush();
				return ((await list()).find((candidate) => candidate.id === view.id)?.channels[0]?.bytesIn ?? 0) > 0;
			}, "the tunnel's bytes");
			await nodes.b.liveSessions.terminate(ADMIN_ACTOR, { connectionId: view.id, channelId: tunnel.id, reason: "tunnel" });
			await ends(run);
			const ended = await run.done;
			assert.notEqual(ended.code, 0);
			// The tunnel was the jump connection's only use: ssh -W ends it, and its row goes.
			await gone(view.id);
		});

		test("a node killed with SIGKILL: its rows are hidden once it is stale and removed by another node's cleanup", async () => {
			await forget();
			const spec = { database: nodes.database, secretKey: nodes.secretKey.toString("base64"), dataDir: nodes.dirA };
			const started = spawn(process.execPath, ["--import", "tsx", NODE, JSON.stringify(spec)], { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] });
			child = started;
			const exited = new Promise<void>((resolveExit) => started.once("exit", () => resolveExit()));
			const port = await new Promise<number>((resolvePort, reject) => {
				const lines = createInterface({ input: started.stdout! });
				lines.on("line", (line) => {
					const parsed = JSON.parse(line) as { port?: number };
					if (typeof parsed.port === "number") resolvePort(parsed.port);
				});
				started.once("exit", () => reject(new Error("the gateway node exited before listening")));
			});
			const run = ssh(["-N", "alice@127.0.0.1"], port);
			const view = await connectionOf("alice", (candidate) => candidate.nodeId !== gwA.liveRegistry.nodeId && candidate.nodeId !== gwB.liveRegistry.nodeId);
			started.kill("SIGKILL");
			await exited;
			await run.done;
			// The dead node's row stays until its heartbeat is older than the stale window; move it there
			// instead of waiting (what the clock would do), then let node B's regular flush clean up.
			await nodes.b.db.updateTable("live_nodes").set({ heartbeat_at: 0 }).where("id", "=", view.nodeId).execute();
			assert.equal(
				(await list()).find((candidate) => candidate.id === view.id),
				undefined,
				"hidden at once",
			);
			await gwB.liveRegistry.flush();
			for (const table of ["live_connections", "live_channels", "live_kills"] as const) {
				const rows = await nodes.b.db.selectFrom(table).select("node_id").where("node_id", "=", view.nodeId).execute();
				assert.deepEqual(rows, [], `${table} rows of the dead node`);
			}
			assert.equal(await nodes.b.db.selectFrom("live_nodes").select("id").where("id", "=", view.nodeId).executeTakeFirst(), undefined);
			assert.ok(
				(await nodes.b.db.selectFrom("live_nodes").select("id").execute()).some((row) => row.id === gwA.liveRegistry.nodeId),
				"live nodes are kept",
			);
		});
	});
