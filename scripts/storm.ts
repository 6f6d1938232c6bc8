/**
 * `npm run storm -- [options]`: a login storm against one real `portcullis serve` process
 * (issue 16 §4; docs/operations.md "Login storm"; results in docs/benchmarks.md).
 *
 * Two loads at once, for --duration seconds:
 *   - logins at --rate per minute (1,000) over --users users (100), password only, half over SSH
 *     (ssh2, password authentication) and half on the web console (--web-share), open loop: they
 *     start on time whatever the node's answers, so a slow node accumulates logins in flight;
 *   - --handshakes (200) concurrent unauthenticated SSH connections from --sources loopback
 *     addresses (127.0.0.2 …; the client socket binds its local address): each completes the key
 *     exchange and then never authenticates, until the gateway drops it (LoginGraceTime) or refuses
 *     it (MaxStartups, per-source cap); it is then replaced at once, so 200 are always trying.
 *
 * Every login ends as one of: ok; a clean refusal (SSH connection dropped at accept, before the
 * banner: MaxStartups or the per-source cap; a "busy, retry" answer; HTTP 429/503); a timeout (no
 * answer within --timeout seconds); or an error (anything else). Refusals are printed by kind.
 * Exit 0 when no login timed out or errored, no handshake stalled, the node is still up and
 * answers /readyz, and the successful logins kept p99 under --p99 ms (1000) unless work was
 * refused (then the refusals are the answer, counted).
 *
 * Options: --duration SECONDS (60) --rate LOGINS_PER_MINUTE (1000) --users N (100)
 *          --handshakes N (200) --sources N (8) --web-share FRACTION (0.5) --timeout SECONDS (30)
 *          --p99 MS (1000) --engine sqlite|postgres (sqlite) --max-startups S:R:F (product default)
 *          --per-source N (product default)
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { get as httpGet } from "node:http";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Worker } from "node:worker_threads";
import ssh2 from "ssh2";
import { createPortcullis } from "../src/app/portcullis.ts";
import { webLogin } from "../test/helpers/login-clients.ts";
import { startServeNode } from "../test/helpers/serve-node.ts";
import { ADMIN_ACTOR, createPostgresDatabase, testConfig } from "../test/helpers/test-app.ts";

const { values } = parseArgs({
	options: {
		duration: { type: "string", default: "60" },
		rate: { type: "string", default: "1000" },
		users: { type: "string", default: "100" },
		handshakes: { type: "string", default: "200" },
		sources: { type: "string", default: "8" },
		"web-share": { type: "string", default: "0.5" },
		timeout: { type: "string", default: "30" },
		p99: { type: "string", default: "1000" },
		engine: { type: "string", default: "sqlite" },
		"max-startups": { type: "string" },
		"per-source": { type: "string" },
	},
});
const durationMs = Number(values.duration) * 1000;
const perMinute = Number(values.rate);
const userCount = Number(values.users);
const handshakeCount = Number(values.handshakes);
const sourceCount = Number(values.sources);
const webShare = Number(values["web-share"]);
const timeoutMs = Number(values.timeout) * 1000;
const p99Limit = Number(values.p99);
const engine = values.engine === "postgres" ? "postgres" : "sqlite";
const PASSWORD = "correct horse battery";

// --- setup -------------------------------------------------------------------------------------
const dir = mkdtempSync(join(tmpdir(), "portcullis-storm-"));
const key = randomBytes(32).toString("base64");
let databaseUrl: string | undefined;
let dropDatabase: (() => Promise<void>) | undefined;
if (engine === "postgres") ({ url: databaseUrl, drop: dropDatabase } = await createPostgresDatabase());
const setup = await createPortcullis(testConfig(join(dir, "setup")), {
	secretKey: Buffer.from(key, "base64"),
	database: databaseUrl ? { kind: "postgres", url: databaseUrl } : { kind: "sqlite", file: join(dir, "node", "portcullis.sqlite") },
});
try {
	await setup.admin.createGroup(ADMIN_ACTOR, { name: "storm", forceTwoFactor: false, allowedMethods: null });
	for (let i = 0; i < userCount; i++) await setup.admin.createUser(ADMIN_ACTOR, { username: `u${i}`, password: PASSWORD, isAdmin: false, groups: ["storm"] });
} finally {
	await setup.close();
}
const node = await startServeNode({
	dataDir: join(dir, "node"),
	...(databaseUrl ? { databaseUrl } : {}),
	secretKey: key,
	env: {
		...(values["max-startups"] ? { PORTCULLIS_SSH__MAX_STARTUPS: values["max-startups"] } : {}),
		...(values["per-source"] ? { PORTCULLIS_SSH__PER_SOURCE_MAX_STARTUPS: values["per-source"] } : {}),
	},
});
process.stdout.write(
	`storm: ${perMinute} logins/min over ${userCount} users (${Math.round(webShare * 100)} % web) and ${handshakeCount} unauthenticated handshakes from ${sourceCount} sources, ${durationMs / 1000} s, ${engine}${values["max-startups"] ? `, max_startups ${values["max-startups"]}` : ""}${values["per-source"] ? `, per_source ${values["per-source"]}` : ""}; load average before: ${readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")}\n`,
);

// --- outcomes ----------------------------------------------------------------------------------
const counts = new Map<string, number>();
const count = (kind: string) => counts.set(kind, (counts.get(kind) ?? 0) + 1);
const latencies: number[] = [];
const latencyBy = { ssh: [] as number[], web: [] as number[] };

/** One SSH connection from `localAddress`; the socket is ours so that it can bind that address. */
function sshConnection(localAddress: string): { client: ssh2.Client; socket: Socket } {
	const socket = connect({ host: "127.0.0.1", port: node.sshPort, localAddress });
	socket.setNoDelay(true);
	return { client: new ssh2.Client(), socket };
}

/**
 * An SSH password login. "Dropped at accept" is the gateway's clean refusal (MaxStartups or the
 * per-source cap: the socket is closed before the server's identification string).
 */
function sshLogin(username: string): Promise<{ kind: string; ms: number }> {
	const started = performance.now();
	return new Promise((resolve) => {
		const { client, socket } = sshConnection("127.0.0.1");
		let banner = false;
		let settled = false;
		const done = (kind: string) => {
			if (settled) return;
			settled = true;
			clearTimeout(timer);
			resolve({ kind, ms: performance.now() - started });
			client.end();
			socket.destroy();
		};
		const timer = setTimeout(() => done("ssh: timeout"), timeoutMs);
		socket.once("data", () => (banner = true));
		client.on("ready", () => done("ok"));
		client.on("error", (error) => done(banner ? `ssh: error: ${error.message.slice(0, 80)}` : "ssh: refused: dropped at accept (MaxStartups / per-source)"));
		client.on("close", () => done(banner ? "ssh: error: closed during authentication" : "ssh: refused: dropped at accept (MaxStartups / per-source)"));
		client.connect({ sock: socket, username, password: PASSWORD, readyTimeout: timeoutMs * 2, hostVerifier: () => true });
	});
}

async function webLoginOnce(username: string): Promise<{ kind: string; ms: number }> {
	const started = performance.now();
	let timer: NodeJS.Timeout | undefined;
	const timeout = new Promise<{ kind: string; ms: number }>((resolve) => {
		timer = setTimeout(() => resolve({ kind: "web: timeout", ms: performance.now() - started }), timeoutMs);
	});
	const login = webLogin(node.consoleUrl, username, PASSWORD, null).then((result) => {
		if (result.ok) return { kind: "ok", ms: result.ms };
		const status = /: (\d{3})$/.exec(result.error ?? "")?.[1];
		if (status === "429" || status === "503") return { kind: `web: refused: ${status}`, ms: result.ms };
		return { kind: `web: error: ${(result.error ?? "").slice(0, 80)}`, ms: result.ms };
	});
	const result = await Promise.race([login, timeout]);
	clearTimeout(timer);
	return result;
}

// --- unauthenticated handshakes ----------------------------------------------------------------
// In a worker thread of their own (scripts/storm-holders.ts): 200 clients' key exchanges on the
// login clients' event loop would slow the clients, and their delay would be reported as the node's.
const until = Date.now() + durationMs;
const holders = new Worker(new URL("./storm-holders.ts", import.meta.url), {
	execArgv: ["--import", "tsx"],
	workerData: { port: node.sshPort, handshakes: handshakeCount, sources: sourceCount, until, timeoutMs },
});
const holderCounts = new Promise<[string, number][]>((resolve, reject) => {
	holders.once("message", (message: [string, number][]) => resolve(message));
	holders.once("error", reject);
});

// --- logins ------------------------------------------------------------------------------------
async function loginLoad(): Promise<void> {
	const every = 60_000 / perMinute;
	const started = Date.now();
	let sent = 0;
	const running: Promise<void>[] = [];
	while (Date.now() < until) {
		while (started + sent * every <= Date.now()) {
			const n = sent++;
			const username = `u${n % userCount}`;
			// Spreads the web share evenly: with 0.5, every other login.
			const web = Math.floor((n + 1) * webShare) > Math.floor(n * webShare);
			running.push(
				(web ? webLoginOnce(username) : sshLogin(username)).then((result) => {
					count(result.kind === "ok" ? (web ? "web: ok" : "ssh: ok") : result.kind);
					if (result.kind === "ok") {
						latencies.push(result.ms);
						latencyBy[web ? "web" : "ssh"].push(result.ms);
					}
				}),
			);
		}
		await new Promise((resolve) => setTimeout(resolve, Math.max(1, Math.min(20, started + sent * every - Date.now()))));
	}
	await Promise.all(running);
}

function readyz(): Promise<number> {
	return new Promise((resolve) => {
		httpGet(`${node.opsUrl}/readyz`, { agent: false }, (response) => {
			response.resume();
			resolve(response.statusCode ?? 0);
		}).on("error", () => resolve(0));
	});
}

await loginLoad();
for (const [kind, n] of await holderCounts) counts.set(kind, (counts.get(kind) ?? 0) + n);
await holders.terminate();

// --- report ------------------------------------------------------------------------------------
for (const list of [latencies, latencyBy.ssh, latencyBy.web]) list.sort((a, b) => a - b);
const pctOf = (list: number[], p: number) => (list.length === 0 ? 0 : list[Math.min(list.length - 1, Math.floor((p / 100) * list.length))]!);
const pct = (p: number) => pctOf(latencies, p);
const status = readFileSync(`/proc/${node.child.pid}/status`, "utf8");
const rss = Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1] ?? 0) / 1024;
const ready = await readyz();
const alive = node.child.exitCode === null && node.child.signalCode === null;
process.stdout.write(`load average after: ${readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")}\n`);
process.stdout.write(
	`successful logins: ${latencies.length}; latency ms p50 ${pct(50).toFixed(0)}, p90 ${pct(90).toFixed(0)}, p99 ${pct(99).toFixed(0)}, max ${(latencies.at(-1) ?? 0).toFixed(0)}\n`,
);
for (const channel of ["ssh", "web"] as const) {
	const list = latencyBy[channel];
	process.stdout.write(
		`  ${channel}: ${list.length} ok; p50 ${pctOf(list, 50).toFixed(0)}, p90 ${pctOf(list, 90).toFixed(0)}, p99 ${pctOf(list, 99).toFixed(0)}, max ${(list.at(-1) ?? 0).toFixed(0)}\n`,
	);
}
process.stdout.write("| outcome | count |\n|---|---|\n");
for (const [kind, n] of [...counts].sort()) process.stdout.write(`| ${kind} | ${n} |\n`);
process.stdout.write(`node: ${alive ? "up" : "DOWN"}, /readyz ${ready}, RSS ${rss.toFixed(1)} MiB\n`);

const kinds = [...counts.keys()];
const timeouts = kinds.filter((kind) => /timeout|stalled/.test(kind));
const errors = kinds.filter((kind) => /: error:/.test(kind));
const refused = kinds.filter((kind) => /refused/.test(kind) && !kind.startsWith("handshake"));
const slow = pct(99) >= p99Limit;
const reasons = [
	...(timeouts.length > 0 ? [`timeouts: ${timeouts.join(", ")}`] : []),
	...(errors.length > 0 ? [`errors: ${errors.join(", ")}`] : []),
	...(!alive || ready !== 200 ? ["the node is not up and ready"] : []),
	...(slow && refused.length === 0 ? [`p99 ${pct(99).toFixed(0)} ms ≥ ${p99Limit} ms with no work refused`] : []),
];
node.child.kill("SIGTERM");
await node.exited;
await dropDatabase?.();
rmSync(dir, { recursive: true, force: true });
process.stdout.write(
	`storm: ${reasons.length === 0 ? "PASS" : "FAIL"}${slow ? ` (p99 over ${p99Limit} ms; ${refused.length > 0 ? "excess refused and counted" : "nothing refused"})` : ""}${reasons.length > 0 ? `: ${reasons.join("; ")}` : ""}\n`,
);
process.exit(reasons.length === 0 ? 0 : 1);
