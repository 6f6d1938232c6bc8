/**
 * `npm run soak -- [options]`: a soak run against real `portcullis serve` processes (one or two
 * nodes), to see that the service neither fails nor grows under steady load (docs/operations.md
 * "Soak and fault tests"; results in docs/benchmarks.md).
 *
 * Load, started at fixed rates (open loop, with a cap on logins in flight):
 *   - SSH logins: password + TOTP (keyboard-interactive), and password-only users;
 *   - PTY sessions with recording: an SSH login, then `exec` with a PTY relayed to a real sshd
 *     target (test/helpers/sshd-target.ts) through the gateway, output checked;
 *   - web logins: password + TOTP, then the /account and /account/ssh-keys pages.
 *
 * Per round it prints logins/s, p50/p99 login latency, errors, and for each node RSS, V8 heap,
 * open file descriptors and active handles (RSS and fds from /proc, heap and handles from the
 * node's /healthz). Exit 0 when there was no error and, for every node, the growth rule of
 * scripts/soak-verdict.ts holds over the last two thirds of the rounds after the warm-up (the
 * least-squares line of RSS rises by at most --max-growth percent, default 5; the floor of fds and
 * of handles is not higher in the last third than in the middle third). Latency is reported, never judged.
 *
 * Options: --duration SECONDS (120) --round SECONDS (10) --warmup ROUNDS (3) --nodes 1|2 (1)
 *          --engine sqlite|postgres (sqlite; two nodes need postgres) --ssh-rate N (1/s)
 *          --web-rate N (1/s) --pty-rate N (0.25/s) --max-growth PERCENT (5) --concurrency N (16)
 *          --quiet SECONDS (1: the pause before each measurement) --count-slack N (0: fd and handle
 *          floors exact)
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { get as httpGet } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createPortcullis } from "../src/app/portcullis.ts";
import { totpCodeAt } from "../src/methods/totp/totp-method.ts";
import { serverService } from "../src/servers/server-service.ts";
import { loadOrCreateGatewayKey } from "../src/servers/gateway-key.ts";
import { base32Decode } from "../test/helpers/base32.ts";
import { sshLogin, webLogin, type LoginResult } from "../test/helpers/login-clients.ts";
import { startServeNode, type ServeNode } from "../test/helpers/serve-node.ts";
import { startSshd } from "../test/helpers/sshd-target.ts";
import { ADMIN_ACTOR, createPostgresDatabase, testConfig } from "../test/helpers/test-app.ts";
import { growthVerdict, MIN_MEASURED_ROUNDS } from "./soak-verdict.ts";

const { values } = parseArgs({
	options: {
		duration: { type: "string", default: "120" },
		round: { type: "string", default: "10" },
		warmup: { type: "string", default: "3" },
		nodes: { type: "string", default: "1" },
		engine: { type: "string", default: "sqlite" },
		"ssh-rate": { type: "string", default: "1" },
		"web-rate": { type: "string", default: "1" },
		"pty-rate": { type: "string", default: "0.25" },
		"max-growth": { type: "string", default: "5" },
		concurrency: { type: "string", default: "16" },
		quiet: { type: "string", default: "1" },
		"count-slack": { type: "string", default: "0" },
	},
});
const durationS = Number(values.duration);
const roundS = Number(values.round);
const warmup = Number(values.warmup);
const nodeCount = Number(values.nodes);
const engine = values.engine === "postgres" ? "postgres" : "sqlite";
const sshRate = Number(values["ssh-rate"]);
const webRate = Number(values["web-rate"]);
const ptyRate = Number(values["pty-rate"]);
const maxGrowth = Number(values["max-growth"]);
const concurrency = Number(values.concurrency);
const quietMs = Number(values.quiet) * 1000;
const countSlack = Number(values["count-slack"]);
if (nodeCount === 2 && engine !== "postgres") throw new Error("two nodes share one database: use --engine postgres");
const rounds = Math.max(1, Math.floor(durationS / roundS));
if (rounds < warmup + MIN_MEASURED_ROUNDS)
	throw new Error(`--duration must allow ${MIN_MEASURED_ROUNDS} rounds of ${roundS} s after the ${warmup} warm-up rounds`);

const PASSWORD = "correct horse battery";
const STEP_MS = 30_000;

// --- setup -------------------------------------------------------------------------------------
const dir = mkdtempSync(join(tmpdir(), "portcullis-soak-"));
const key = randomBytes(32).toString("base64");
const targetKeyFile = join(dir, "gateway_ed25519_key");
let databaseUrl: string | undefined;
let dropDatabase: (() => Promise<void>) | undefined;
if (engine === "postgres") ({ url: databaseUrl, drop: dropDatabase } = await createPostgresDatabase());

// A TOTP code is single use per user and 30 s step: the pool lets every TOTP login use a user whose
// last step is past (one per user per step), with room to spare.
const totpPerStep = Math.ceil(((sshRate / 2 + webRate) * STEP_MS) / 1000);
const totpUsers = Math.max(4, Math.ceil(totpPerStep * 1.5));
const passwordUsers = 8;
const sshd = await startSshd({ authorizedKeys: [] });
const setupConfig = testConfig(join(dir, "setup"), { ssh: { target_key_file: targetKeyFile } });
const setup = await createPortcullis(setupConfig, {
	secretKey: Buffer.from(key, "base64"),
	database: databaseUrl ? { kind: "postgres", url: databaseUrl } : { kind: "sqlite", file: join(dir, "node0", "portcullis.sqlite") },
});
const secrets: Buffer[] = [];
/** The TOTP step each user enrolled with: used, so that user's first login takes a later one. */
const enrolledStep: number[] = [];
try {
	await sshd.setAuthorizedKeys([loadOrCreateGatewayKey(setupConfig).publicKey]);
	await setup.admin.createGroup(ADMIN_ACTOR, { name: "soak", forceTwoFactor: false, allowedMethods: null });
	await serverService(setup).add(ADMIN_ACTOR, {
		name: "target",
		host: sshd.host,
		port: sshd.port,
		loginUser: sshd.user,
		description: "soak target",
		groups: ["soak"],
	});
	process.stdout.write(`setup: ${totpUsers} TOTP users, ${passwordUsers} password users, target sshd on port ${sshd.port}\n`);
	for (let i = 0; i < totpUsers; i++) {
		const user = await setup.admin.createUser(ADMIN_ACTOR, { username: `t${i}`, password: PASSWORD, isAdmin: false, groups: ["soak"] });
		const context = { channel: "web", source: "soak", duringLogin: false } as const;
		const begin = await setup.enrollment.begin(user.id, "totp", "phone", {}, context);
		if (begin.kind !== "pending") throw new Error("TOTP enrolment did not start");
		const secret = base32Decode(begin.display.secret ?? "");
		// Enrolled with the current step's code: the previous step's (as before) was refused when a
		// step boundary passed between computing it and checking it on a loaded box (two steps back).
		const step = Math.floor(Date.now() / STEP_MS);
		const done = await setup.enrollment.complete(user.id, begin.factorId, { code: totpCodeAt(secret, step * STEP_MS) }, context);
		enrolledStep.push(step);
		if (done.kind !== "active") throw new Error(`TOTP enrolment failed: ${done.kind}`);
		secrets.push(secret);
	}
	for (let i = 0; i < passwordUsers; i++)
		await setup.admin.createUser(ADMIN_ACTOR, { username: `p${i}`, password: PASSWORD, isAdmin: false, groups: ["soak"] });
} finally {
	await setup.close();
}

const nodes: ServeNode[] = [];
for (let n = 0; n < nodeCount; n++) {
	nodes.push(
		await startServeNode({
			dataDir: join(dir, `node${n}`),
			...(databaseUrl ? { databaseUrl } : {}),
			secretKey: key,
			env: { PORTCULLIS_SSH__TARGET_KEY_FILE: targetKeyFile, PORTCULLIS_SSH__PER_SOURCE_MAX_STARTUPS: "200", PORTCULLIS_SSH__MAX_STARTUPS: "100:30:200" },
		}),
	);
}

// --- load --------------------------------------------------------------------------------------
/**
 * Next TOTP user whose last used step is behind the current one and who has no login in flight
 * (a slow login with an older step finishing after a newer one would be refused as a replay).
 */
const lastStep = [...enrolledStep];
const busy = new Set<number>();
let nextTotp = 0;
function takeTotpUser(): { name: string; code: () => string; release: () => void } | null {
	const step = Math.floor(Date.now() / STEP_MS);
	for (let scanned = 0; scanned < totpUsers; scanned++) {
		const index = (nextTotp + scanned) % totpUsers;
		if (lastStep[index]! < step && !busy.has(index)) {
			lastStep[index] = step;
			busy.add(index);
			nextTotp = index + 1;
			const secret = secrets[index]!;
			// The code of the moment it is asked for: a login slowed down by load must not send a stale one.
			const code = () => {
				const now = Date.now();
				lastStep[index] = Math.max(lastStep[index]!, Math.floor(now / STEP_MS));
				return totpCodeAt(secret, now);
			};
			return { name: `t${index}`, code, release: () => busy.delete(index) };
		}
	}
	return null;
}

interface Sample {
	kind: string;
	result: LoginResult;
}
let samples: Sample[] = [];
let inFlight = 0;
let skipped = 0;
let counter = 0;

function ptyExec(client: import("ssh2").Client, marker: string): Promise<void> {
	return new Promise((resolve, reject) => {
		client.exec(`target -- echo ${marker}`, { pty: { term: "xterm", cols: 80, rows: 24 } }, (error, stream) => {
			if (error) return reject(error);
			let out = "";
			stream.on("data", (data: Buffer) => (out += data.toString("utf8")));
			stream.stderr.on("data", (data: Buffer) => (out += data.toString("utf8")));
			stream.on("close", (code: number | null) =>
				code === 0 && out.includes(marker) ? resolve() : reject(new Error(`pty exec: exit ${code}: ${out.slice(0, 200)}`)),
			);
		});
	});
}

async function one(kind: "ssh-totp" | "ssh-password" | "pty" | "web"): Promise<void> {
	const node = nodes[counter++ % nodes.length]!;
	let result: LoginResult;
	if (kind === "ssh-password" || kind === "pty") {
		const user = `p${counter % passwordUsers}`;
		const marker = `soak-${counter}`;
		result = await sshLogin({
			port: node.sshPort,
			username: user,
			password: PASSWORD,
			...(kind === "pty" ? { after: (client) => ptyExec(client, marker) } : {}),
		});
	} else {
		const user = takeTotpUser();
		if (user === null) {
			skipped += 1;
			return;
		}
		try {
			result =
				kind === "web"
					? await webLogin(node.consoleUrl, user.name, PASSWORD, user.code, ["/account", "/account/ssh-keys"])
					: await sshLogin({ port: node.sshPort, username: user.name, password: PASSWORD, code: user.code });
		} finally {
			user.release();
		}
	}
	samples.push({ kind, result });
}

function schedule(rate: number, pick: () => "ssh-totp" | "ssh-password" | "pty" | "web", until: number): Promise<void> {
	if (rate <= 0) return Promise.resolve();
	const every = 1000 / rate;
	const started = Date.now();
	let sent = 0;
	const running: Promise<void>[] = [];
	return new Promise<void>((resolve) => {
		const tick = () => {
			const now = Date.now();
			if (now >= until) {
				void Promise.all(running).then(() => resolve());
				return;
			}
			while (started + sent * every <= now) {
				sent += 1;
				if (inFlight >= concurrency) {
					skipped += 1;
					continue;
				}
				inFlight += 1;
				running.push(
					one(pick()).finally(() => {
						inFlight -= 1;
					}),
				);
			}
			setTimeout(tick, Math.max(1, Math.min(50, started + sent * every - now)));
		};
		tick();
	});
}

// --- measurement -------------------------------------------------------------------------------
interface NodeStats {
	rss: number;
	heap: number;
	fds: number;
	handles: number;
}

/** One GET on its own connection, closed after the answer: a kept-alive socket would count as the node's. */
function getOnce(url: string): Promise<string> {
	return new Promise((resolve, reject) => {
		httpGet(url, { agent: false, headers: { connection: "close" } }, (response) => {
			let body = "";
			response.setEncoding("utf8");
			response.on("data", (chunk: string) => (body += chunk));
			response.on("end", () => resolve(body));
			response.on("error", reject);
		}).on("error", reject);
	});
}

async function sample(node: ServeNode): Promise<NodeStats> {
	const pid = node.child.pid!;
	const status = readFileSync(`/proc/${pid}/status`, "utf8");
	const rss = Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1] ?? 0) * 1024;
	const fds = readdirSync(`/proc/${pid}/fd`).length;
	const health = JSON.parse(await getOnce(`${node.opsUrl}/healthz`)) as { process: { heapUsedBytes: number; activeHandles: number } };
	return { rss, heap: health.process.heapUsedBytes, fds, handles: health.process.activeHandles };
}

/**
 * Three samples 250 ms apart: RSS and heap of the last, the fewest fds and handles seen (sockets of
 * the round's last logins may still be closing on a loaded box; what the node holds is the floor).
 */
async function stats(node: ServeNode): Promise<NodeStats> {
	const samples: NodeStats[] = [];
	for (let i = 0; i < 3; i++) {
		if (i > 0) await new Promise((resolve) => setTimeout(resolve, 250));
		samples.push(await sample(node));
	}
	const last = samples.at(-1)!;
	return { ...last, fds: Math.min(...samples.map((s) => s.fds)), handles: Math.min(...samples.map((s) => s.handles)) };
}

function percentile(sorted: number[], p: number): number {
	if (sorted.length === 0) return 0;
	return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const mib = (bytes: number) => (bytes / 1048576).toFixed(1);
process.stdout.write(
	`soak: ${rounds} rounds of ${roundS} s (warm-up ${warmup}), ${nodeCount} node(s) on ${engine}; rates/s: ssh ${sshRate}, web ${webRate}, pty ${ptyRate}\n`,
);
process.stdout.write("round  logins/s  p50 ms  p99 ms  errors  skipped  | per node: RSS MiB  heap MiB  fds  handles\n");
const history: NodeStats[][] = [];
let totalErrors = 0;
const errorKinds = new Map<string, number>();
for (let round = 1; round <= rounds; round++) {
	const until = Date.now() + roundS * 1000;
	let flip = 0;
	await Promise.all([
		schedule(sshRate, () => (flip++ % 2 === 0 ? "ssh-totp" : "ssh-password"), until),
		schedule(webRate, () => "web", until),
		schedule(ptyRate, () => "pty", until),
	]);
	const done = samples;
	samples = [];
	const ok = done.filter((sample) => sample.result.ok);
	const errors = done.filter((sample) => !sample.result.ok);
	totalErrors += errors.length;
	for (const error of errors) errorKinds.set(`${error.kind}: ${error.result.error}`, (errorKinds.get(`${error.kind}: ${error.result.error}`) ?? 0) + 1);
	const latencies = ok.map((sample) => sample.result.ms).sort((a, b) => a - b);
	// Measured after a quiet second: connections of the round's last logins have closed, so the
	// fd count is the node's own (listeners, pool, files), not a snapshot of traffic in flight.
	await new Promise((resolve) => setTimeout(resolve, quietMs));
	const perNode = await Promise.all(nodes.map((node) => stats(node)));
	history.push(perNode);
	const nodeText = perNode.map((s) => `${mib(s.rss)}  ${mib(s.heap)}  ${s.fds}  ${s.handles}`).join("  |  ");
	process.stdout.write(
		`${String(round).padStart(5)}  ${(ok.length / roundS).toFixed(2).padStart(8)}  ${percentile(latencies, 50).toFixed(0).padStart(6)}  ${percentile(latencies, 99).toFixed(0).padStart(6)}  ${String(errors.length).padStart(6)}  ${String(skipped).padStart(7)}  | ${nodeText}${round <= warmup ? "  (warm-up)" : ""}\n`,
	);
	skipped = 0;
}

// --- verdict -----------------------------------------------------------------------------------
let grown = false;
for (let n = 0; n < nodes.length; n++) {
	const verdict = growthVerdict(
		history.slice(warmup).map((round) => round[n]!),
		maxGrowth,
		countSlack,
	);
	process.stdout.write(
		`node ${n + 1}: RSS ${verdict.rssGrowthPercent >= 0 ? "+" : ""}${verdict.rssGrowthPercent.toFixed(1)} % across the last two thirds (least squares, limit ${maxGrowth} %; ${((verdict.rssSlopePerRound * (3600 / roundS)) / 1048576).toFixed(1)} MiB/h; medians ${verdict.rssMedianGrowthPercent >= 0 ? "+" : ""}${verdict.rssMedianGrowthPercent.toFixed(1)} %), fds floor ${verdict.fdFloor.middle} → ${verdict.fdFloor.last}, handles floor ${verdict.handleFloor.middle} → ${verdict.handleFloor.last}: ${verdict.pass ? "ok" : verdict.reasons.join("; ")}\n`,
	);
	if (!verdict.pass) grown = true;
}
for (const [kind, count] of errorKinds) process.stdout.write(`error ×${count}: ${kind}\n`);

for (const node of nodes) {
	node.child.kill("SIGTERM");
	await node.exited;
}
await sshd.stop();
await dropDatabase?.();
rmSync(dir, { recursive: true, force: true });
const pass = totalErrors === 0 && !grown;
process.stdout.write(`soak: ${pass ? "PASS" : "FAIL"} (${totalErrors} errors${grown ? ", growth over the limit" : ""})\n`);
process.exit(pass ? 0 : 1);
