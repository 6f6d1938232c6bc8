/**
 * A gateway node killed with SIGKILL mid-session keeps its recording up to the last flush: the
 * gateway runs as its own process (test/helpers/gateway-node.ts) on the shared database, a real
 * OpenSSH client in a real terminal runs a command on a real sshd through it, the node is killed,
 * and the other node reads a valid, chain-verified asciicast holding the output shown before the
 * kill. SQLite and PostgreSQL.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { loadOrCreateGatewayKey } from "../../src/servers/gateway-key.ts";
import { parseCast } from "../../src/ssh/recording.ts";
import type { RecordingRow } from "../../src/storage/recording-store.ts";
import { createRecordingNodes, type RecordingNodes } from "../helpers/recording-nodes.ts";
import { createOpenSshClient, type OpenSshClient } from "../helpers/relay-openssh.ts";
import { sshdSkipReason, startSshd, type Sshd } from "../helpers/sshd-target.ts";
import { ADMIN_ACTOR } from "../helpers/test-app.ts";
import { PASSWORD } from "../web/helpers.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const NODE = fileURLToPath(new URL("../helpers/gateway-node.ts", import.meta.url));
const skip = sshdSkipReason(["tmux"]);

async function eventually<T>(probe: () => Promise<T | undefined | null | false>, what: string, timeoutMs = 60_000): Promise<T> {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		const value = await probe();
		if (value) return value;
		if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
		await new Promise((resolveWait) => setTimeout(resolveWait, 50));
	}
}

for (const engine of ["sqlite", "postgres"] as const) {
	describe(`a gateway node killed mid-session (${engine})`, { skip }, () => {
		let nodes: RecordingNodes;
		let client: OpenSshClient;
		let db1: Sshd;
		let child: ChildProcess | null = null;

		before(async () => {
			nodes = await createRecordingNodes(engine, { ssh: { recording_flush_ms: 300 } });
			client = await createOpenSshClient();
			db1 = await startSshd({ authorizedKeys: [loadOrCreateGatewayKey(nodes.a.config).publicKey] });
			await nodes.a.admin.createGroup(ADMIN_ACTOR, { name: "ops", forceTwoFactor: false, allowedMethods: null });
			await nodes.a.admin.createUser(ADMIN_ACTOR, { username: "alice", password: PASSWORD, isAdmin: false, groups: ["ops"] });
			await nodes.a.servers.add(ADMIN_ACTOR, { name: "db1", host: db1.host, port: db1.port, loginUser: db1.user, groups: ["ops"] });
		});

		after(async () => {
			if (child?.exitCode === null) child.kill("SIGKILL");
			await client?.cleanup();
			await db1?.stop();
			await nodes?.cleanup();
		});

		test("kill -9: everything up to the last flush is in the database, valid and verified", async () => {
			const spec = {
				database: nodes.database,
				secretKey: nodes.secretKey.toString("base64"),
				dataDir: nodes.dirA,
				config: { ssh: { recording_flush_ms: 300 } },
			};
			const started = spawn(process.execPath, ["--import", "tsx", NODE, JSON.stringify(spec)], { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] });
			child = started;
			const exited = new Promise<NodeJS.Signals | null>((resolveExit) => started.once("exit", (_code, signal) => resolveExit(signal)));
			const port = await new Promise<number>((resolvePort, reject) => {
				const lines = createInterface({ input: started.stdout! });
				lines.on("line", (line) => {
					const parsed = JSON.parse(line) as { port?: number };
					if (typeof parsed.port === "number") resolvePort(parsed.port);
				});
				started.once("exit", () => reject(new Error("the gateway node exited before listening")));
			});
			const term = await client.terminal(["ssh", "-F", client.configFile, "-t", "-p", String(port), "alice@127.0.0.1", "db1"], {
				cols: 90,
				rows: 25,
				password: PASSWORD,
			});
			let row: RecordingRow;
			const read = async (candidate: RecordingRow) => {
				let text = "";
				for await (const piece of nodes.b.stores.recordings.read(candidate)) text += piece;
				return text;
			};
			try {
				await term.type("echo crash-$((5*5))-marker\r");
				await term.waitFor(/crash-25-marker/);
				row = await eventually(async () => {
					for (const candidate of await nodes.b.stores.recordings.list({ username: "alice" }))
						if ((await read(candidate)).includes("crash-25-marker")) return candidate;
					return null;
				}, "the marker flushed to the database");
				started.kill("SIGKILL");
				assert.equal(await exited, "SIGKILL");
				await eventually(() => term.exited(), "the client to notice the dead gateway");
			} finally {
				await term.close();
			}
			const after = (await nodes.b.stores.recordings.find(row.id))!;
			assert.equal(after.ended_at, null, "nobody finished it: the node died");
			const text = await read(after);
			const cast = parseCast(text);
			assert.equal(cast.header.width, 90);
			assert.match(cast.events.map((event) => event[2]).join(""), /crash-25-marker/);
			assert.equal(Buffer.byteLength(text), Number(after.bytes));
			assert.deepEqual(await nodes.b.stores.recordings.verify(row.id), { id: row.id, status: "ok", chunks: Number(after.chunks) });
		});
	});
}
