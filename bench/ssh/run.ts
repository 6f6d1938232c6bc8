/**
 * `npm run bench:ssh`: Portcullis against OpenSSH, side by side on loopback.
 *
 * 1. Bulk transfer (BENCH_MIB, default 256 MiB), upload and download, per cipher:
 *    (a) direct to an sshd target, (b) through OpenSSH sshd as a jump host (ssh -J), (c) through
 *    Portcullis with -J (direct-tcpip), (d) through the Portcullis relay (`ssh gw db1 -- cmd`: the
 *    gateway runs the command on the target over its own SSH connection); with BENCH_PTY=1 also
 *    (e) the interactive path, `ssh -tt` direct vs `ssh -tt gw db1 --` (PTY, recorded), download.
 * 2. Login time (TCP + key exchange + first factor [+ TOTP]): 20 sequential and 100 parallel,
 *    Portcullis (password + TOTP over keyboard-interactive) vs OpenSSH sshd (password), both
 *    measured with the same ssh2 client from this process.
 * 3. Memory per idle session at BENCH_IDLE (default 2000) concurrent idle tunnels (ssh2 clients in a
 *    separate process, each holding one direct-tcpip channel to a TCP sink): the gateway's RSS
 *    delta, and the jump sshd's PSS delta (all its processes).
 * 4. SFTP through the gateway (issue 15 section 4): `npm run bench:sftp` (bench/sftp/run.ts) in a
 *    child process, its table appended: `alice:db1` (audited relay) and `sftp alice@gw` (the SFTP
 *    view) against `sftp -J`, with BENCH_SFTP_MIB (default 64) per transfer.
 *
 * Needs root (it creates a throwaway local user `pcbench` with a password for sshd's password login,
 * and removes it at the end), /usr/sbin/sshd and the OpenSSH client. Not part of `npm test`.
 * Environment: BENCH_MIB, BENCH_REPS (3), BENCH_IDLE (2000), BENCH_CIPHERS (aes128-gcm@openssh.com,chacha20-poly1305@openssh.com),
 * BENCH_SKIP (comma list of: transfer, login, memory, sftp), BENCH_SFTP_MIB, BENCH_PATHS, BENCH_DIRECTIONS, BENCH_PTY,
 * BENCH_GATEWAY_PLAIN, BENCH_GATEWAY_NODE_ARGS (docs/benchmarks.md explains each).
 */
import { spawn, spawnSync, fork, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Socket } from "node:net";
import { cpus, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import ssh2 from "ssh2";
import { createPortcullis } from "../../src/app/portcullis.ts";
import { GATEWAY_NODE_FLAGS } from "../../src/app/node-flags.ts";
import { configSchema } from "../../src/config/config.ts";
import { totpCodeAt } from "../../src/methods/totp/totp-method.ts";
import { serverService } from "../../src/servers/server-service.ts";
import { loadOrCreateGatewayKey } from "../../src/servers/gateway-key.ts";
import { parsePublicKeyLine, SshKeyStore } from "../../src/storage/ssh-key-store.ts";
import { startSshd, type Sshd } from "../../test/helpers/sshd-target.ts";
import { base32Decode } from "../../test/helpers/base32.ts";

const MIB = Number(process.env.BENCH_MIB ?? 256);
const BYTES = MIB * 1024 * 1024;
const REPS = Number(process.env.BENCH_REPS ?? 3);
const IDLE = Number(process.env.BENCH_IDLE ?? 2000);
const CIPHERS = (process.env.BENCH_CIPHERS ?? "aes128-gcm@openssh.com,chacha20-poly1305@openssh.com").split(",").filter(Boolean);
const SKIP = new Set((process.env.BENCH_SKIP ?? "").split(",").filter(Boolean));
/** Optional filters for focused runs: BENCH_PATHS="OpenSSH -J,Portcullis -J", BENCH_DIRECTIONS=download. */
const PATHS = process.env.BENCH_PATHS ? new Set(process.env.BENCH_PATHS.split(",")) : null;
const DIRECTIONS = (process.env.BENCH_DIRECTIONS ?? "upload,download").split(",").filter(Boolean);
/**
 * BENCH_PTY=1 adds the interactive path: `ssh -tt` direct and `ssh -tt gw db1 --` (PTY on the
 * target, recorded by the gateway), download only, as base64 text (a PTY is not 8-bit clean).
 */
const PTY = process.env.BENCH_PTY === "1";

/** Bytes `base64 -w 76` prints for `bytes` input, as a PTY delivers them (each newline becomes CRLF). */
function ptyBase64Bytes(bytes: number): number {
	const chars = 4 * Math.ceil(bytes / 3);
	return chars + 2 * Math.ceil(chars / 76);
}
/**
 * Node flags for the gateway process: the production ones (src/app/node-flags.ts) unless
 * BENCH_GATEWAY_PLAIN=1 (to measure without them), plus BENCH_GATEWAY_NODE_ARGS (e.g. --cpu-prof).
 */
const GATEWAY_NODE_ARGS = [
	...(process.env.BENCH_GATEWAY_PLAIN === "1" ? [] : GATEWAY_NODE_FLAGS),
	...(process.env.BENCH_GATEWAY_NODE_ARGS ?? "").split(" ").filter(Boolean),
];
const BENCH_USER = "pcbench";
const PASSWORD = `Bench-${randomBytes(9).toString("base64url")}`;
const ACTOR = { name: "bench", channel: "cli" as const, source: "bench" };

const log = (...parts: unknown[]) => console.error(`[bench ${new Date().toISOString().slice(11, 19)}]`, ...parts);

function median(values: readonly number[]): number {
	const sorted = [...values].sort((a, b) => a - b);
	const mid = Math.floor(sorted.length / 2);
	return sorted.length === 0 ? NaN : sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
function percentile(values: readonly number[], p: number): number {
	const sorted = [...values].sort((a, b) => a - b);
	return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;
}
const fmt = (value: number, digits = 1) => (Number.isFinite(value) ? value.toFixed(digits) : "n/a");

// ---- machine state ------------------------------------------------------------------------

function cpuTimes(): { idle: number; total: number } {
	const line = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
	const idle = (line[3] ?? 0) + (line[4] ?? 0);
	return { idle, total: line.reduce((a, b) => a + b, 0) };
}

async function busyPercent(ms = 1000): Promise<number> {
	const a = cpuTimes();
	await new Promise((resolveWait) => setTimeout(resolveWait, ms));
	const b = cpuTimes();
	const total = b.total - a.total;
	return total <= 0 ? 0 : (100 * (total - (b.idle - a.idle))) / total;
}

/** Waits (up to 20 s) for background CPU below 25 % (the box is shared); returns what it saw. */
async function waitQuiet(): Promise<number> {
	let busy = 100;
	for (let tries = 0; tries < 20; tries++) {
		busy = await busyPercent(1000);
		if (busy < 25) break;
	}
	return busy;
}

function descendants(root: number): number[] {
	const parent = new Map<number, number>();
	for (const entry of readdirSync("/proc")) {
		if (!/^\d+$/.test(entry)) continue;
		try {
			const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
			const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
			parent.set(Number(entry), Number(fields[1]));
		} catch {
			// exited meanwhile
		}
	}
	const found = [root];
	for (let index = 0; index < found.length; index++) for (const [pid, ppid] of parent) if (ppid === found[index]) found.push(pid);
	return found;
}

/** Proportional set size of a process tree (shared pages split between their users). */
function pssOfTree(root: number): { pss: number; processes: number } {
	let pss = 0;
	let processes = 0;
	for (const pid of descendants(root)) {
		try {
			const match = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"));
			pss += Number(match?.[1] ?? 0) * 1024;
			processes++;
		} catch {
			// exited meanwhile
		}
	}
	return { pss, processes };
}

/**
 * CPU seconds used by a process tree while it runs (sshd: the listener and its per-connection
 * processes). Reaped children's time is not reliably folded into the listener's cutime (sshd's
 * privilege-separated session processes), so the live processes are sampled every 50 ms and the
 * last value seen for each pid is summed.
 */
function treeCpuSampler(root: number): { stop(): number } {
	const seen = new Map<number, number>();
	const sample = () => {
		for (const pid of descendants(root)) {
			try {
				const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
				const fields = stat
					.slice(stat.lastIndexOf(")") + 2)
					.split(" ")
					.map(Number);
				// fields[11], fields[12] = utime, stime (proc(5) fields 14-15), clock ticks (100 Hz).
				seen.set(pid, ((fields[11] ?? 0) + (fields[12] ?? 0)) / 100);
			} catch {
				// exited between listing and reading
			}
		}
	};
	sample();
	const baseline = new Map(seen);
	const timer = setInterval(sample, 50);
	return {
		stop() {
			clearInterval(timer);
			sample();
			let total = 0;
			for (const [pid, seconds] of seen) total += seconds - (baseline.get(pid) ?? 0);
			return total;
		},
	};
}

// ---- processes ----------------------------------------------------------------------------

function sh(command: string, timeoutMs = 600_000): Promise<{ ms: number; code: number | null; stdout: string; stderr: string }> {
	return new Promise((resolveRun) => {
		const started = performance.now();
		const child = spawn("bash", ["-o", "pipefail", "-c", command], { stdio: ["ignore", "pipe", "pipe"] });
		let stdout = "";
		let stderr = "";
		child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
		child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
		const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
		child.on("close", (code) => {
			clearTimeout(timer);
			resolveRun({ ms: performance.now() - started, code, stdout, stderr });
		});
	});
}

function ensureBenchUser(): { created: boolean; name: string } {
	if (process.getuid?.() !== 0) throw new Error("the benchmark needs root: it creates a throwaway user for sshd's password login");
	const exists = spawnSync("id", ["-u", BENCH_USER]).status === 0;
	if (!exists) {
		const added = spawnSync("useradd", ["--create-home", "--shell", "/bin/sh", "--comment", "Portcullis benchmark (temporary)", BENCH_USER], {
			encoding: "utf8",
		});
		if (added.status !== 0) throw new Error(`useradd failed: ${added.stderr}`);
	}
	const passwd = spawnSync("chpasswd", [], { input: `${BENCH_USER}:${PASSWORD}\n`, encoding: "utf8" });
	if (passwd.status !== 0) throw new Error(`chpasswd failed: ${passwd.stderr}`);
	return { created: !exists, name: BENCH_USER };
}

interface Gateway {
	port: number;
	pid: number;
	child: ChildProcess;
	mem(): Promise<{ rss: number; heapUsed: number; external: number }>;
	cpu(): Promise<number>;
	stop(): Promise<void>;
}

async function startGatewayProcess(config: Record<string, unknown>): Promise<Gateway> {
	const child = fork(new URL("./gateway-process.ts", import.meta.url).pathname, [JSON.stringify(config)], {
		execArgv: ["--expose-gc", ...GATEWAY_NODE_ARGS, "--import", "tsx"],
		stdio: ["ignore", "inherit", "inherit", "ipc"],
	});
	let nextId = 1;
	const pending = new Map<number, (value: { rss: number; heapUsed: number; external: number; cpuSeconds: number }) => void>();
	const ready = await new Promise<{ port: number; pid: number }>((resolveReady, reject) => {
		child.once("exit", (code) => reject(new Error(`gateway exited (${code})`)));
		child.on(
			"message",
			(message: { ready?: boolean; port?: number; pid?: number; id?: number; rss?: number; heapUsed?: number; external?: number; cpuSeconds?: number }) => {
				if (message.ready) resolveReady({ port: message.port!, pid: message.pid! });
				else if (message.id !== undefined)
					pending.get(message.id)?.({
						rss: message.rss ?? 0,
						heapUsed: message.heapUsed ?? 0,
						external: message.external ?? 0,
						cpuSeconds: message.cpuSeconds ?? 0,
					});
			},
		);
	});
	return {
		...ready,
		child,
		mem: () =>
			new Promise((resolveMem) => {
				const id = nextId++;
				pending.set(id, resolveMem);
				child.send({ cmd: "mem", id });
			}),
		cpu: () =>
			new Promise((resolveCpu) => {
				const id = nextId++;
				pending.set(id, (value) => resolveCpu(value.cpuSeconds));
				child.send({ cmd: "cpu", id });
			}),
		stop: () =>
			new Promise((resolveStop) => {
				child.once("exit", () => resolveStop());
				child.send({ cmd: "stop" });
				setTimeout(() => child.kill("SIGKILL"), 10_000).unref();
			}),
	};
}

// ---- login --------------------------------------------------------------------------------

/** One login with the ssh2 client: TCP + KEX + authentication until USERAUTH_SUCCESS. */
function login(port: number, username: string, password: string, code: string | null): Promise<number> {
	return new Promise((resolveLogin, reject) => {
		const client = new ssh2.Client();
		const started = performance.now();
		const steps: ssh2.AuthenticationType[] = code === null ? ["password"] : ["password", "keyboard-interactive"];
		client.on("error", (error) => reject(error));
		client.on("ready", () => {
			const ms = performance.now() - started;
			client.end();
			resolveLogin(ms);
		});
		client.on("keyboard-interactive", (_name, _instructions, _lang, prompts, finish) => {
			finish(prompts.map((prompt) => (/password/i.test(prompt.prompt) ? password : (code ?? ""))));
		});
		client.connect({
			host: "127.0.0.1",
			port,
			username,
			password,
			tryKeyboard: code !== null,
			readyTimeout: 120_000,
			authHandler: (_methodsLeft, _partial, next) => {
				const method = steps.shift();
				if (method === undefined) return next(false as unknown as ssh2.AuthenticationType); // no more methods: fail
				if (method === "password") return next({ type: "password", username, password });
				return next({
					type: "keyboard-interactive",
					username,
					prompt: (_n, _i, _l, prompts, finish) => finish(prompts.map((prompt) => (/password/i.test(prompt.prompt) ? password : (code ?? "")))),
				});
			},
		});
		client.setNoDelay(true);
	});
}

// ---- main ---------------------------------------------------------------------------------

async function main(): Promise<void> {
	const started = Date.now();
	const machine = {
		nproc: spawnSync("nproc", [], { encoding: "utf8" }).stdout.trim(),
		uname: spawnSync("uname", ["-a"], { encoding: "utf8" }).stdout.trim(),
		node: process.version,
		cpu: cpus()[0]?.model ?? "?",
		memGiB: (totalmem() / 1024 ** 3).toFixed(1),
		openssh: spawnSync("ssh", ["-V"], { encoding: "utf8" }).stderr.trim(),
		ssh2Binding:
			(await import("ssh2/lib/protocol/crypto.js" as string)
				.then((m: { bindingAvailable?: boolean; default?: { bindingAvailable?: boolean } }) => m.bindingAvailable ?? m.default?.bindingAvailable)
				.catch(() => undefined)) === true,
	};
	log("machine", machine);

	const dir = await mkdtemp(join(tmpdir(), "portcullis-bench-"));
	chmodSync(dir, 0o755);
	const user = ensureBenchUser();
	const processes: { stop(): Promise<void> }[] = [];
	const sinkSockets = new Set<Socket>();
	const sink = createServer((socket) => {
		sinkSockets.add(socket);
		socket.on("data", () => undefined);
		socket.on("error", () => undefined);
		socket.on("close", () => sinkSockets.delete(socket));
	});
	sink.maxConnections = 100_000;
	await new Promise<void>((resolveListen) => sink.listen(0, "127.0.0.1", () => resolveListen()));
	const sinkPort = (sink.address() as { port: number }).port;

	try {
		// Client key, Portcullis data, gateway key.
		const keyFile = join(dir, "client_ed25519");
		spawnSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "bench-client", "-f", keyFile]);
		const clientPub = readFileSync(`${keyFile}.pub`, "utf8").trim();
		const dataDir = join(dir, "portcullis");
		const gatewayConfig = {
			data_dir: dataDir,
			ssh: { listen: "127.0.0.1:0", max_startups: "5000", per_source_max_startups: 5000, login_grace_seconds: 120, max_auth_tries: 6 },
			http: { listen: "127.0.0.1:0" },
		};
		const config = configSchema.parse(gatewayConfig);
		const gatewayKey = loadOrCreateGatewayKey(config);

		// sshd target and sshd jump host (password login allowed on the jump host for the login test).
		const common = ["MaxStartups 10000:30:10000", "MaxSessions 10"];
		const target: Sshd = await startSshd({ authorizedKeys: [clientPub, gatewayKey.publicKey], extraConfig: common });
		processes.push(target);
		const jump: Sshd = await startSshd({ authorizedKeys: [clientPub], extraConfig: [...common, "PasswordAuthentication yes", "AllowTcpForwarding yes"] });
		processes.push(jump);
		// sshd reads AuthorizedKeysFile as the login user: let pcbench read the key files.
		for (const sshd of [target, jump]) {
			chmodSync(sshd.dir, 0o755);
			chmodSync(join(sshd.dir, "authorized_keys"), 0o644);
		}

		// Portcullis: servers, groups, users.
		log("setting up Portcullis users (argon2id hashes, TOTP enrolment)");
		const app = await createPortcullis(config);
		const loginUsers: { name: string; secret: Buffer }[] = [];
		try {
			await app.admin.createGroup(ACTOR, { name: "bench", forceTwoFactor: false, allowedMethods: null });
			await app.admin.createGroup(ACTOR, { name: "forced", forceTwoFactor: true, allowedMethods: null });
			const bulk = await app.admin.createUser(ACTOR, { username: "bulk", password: null, isAdmin: false, groups: ["bench"] });
			const parsed = parsePublicKeyLine(clientPub);
			if (!parsed.ok) throw new Error(parsed.message);
			await new SshKeyStore(app.db, app.clock, app.random).add(bulk.id, parsed.key);
			const servers = serverService(app);
			await servers.add(ACTOR, { name: "db1", host: "127.0.0.1", port: target.port, loginUser: BENCH_USER, groups: ["bench"] });
			await servers.add(ACTOR, { name: "sink", host: "127.0.0.1", port: sinkPort, loginUser: BENCH_USER, groups: ["bench"] });
			if (!SKIP.has("login")) {
				for (let index = 0; index < 121; index++) {
					const name = `login-${String(index).padStart(3, "0")}`;
					const row = await app.admin.createUser(ACTOR, { username: name, password: PASSWORD, isAdmin: false, groups: ["forced"] });
					const context = { channel: "web" as const, source: "bench", duringLogin: false };
					const begin = await app.enrollment.begin(row.id, "totp", "phone", {}, context);
					if (begin.kind !== "pending") throw new Error("TOTP enrolment did not start");
					const secret = base32Decode(begin.display.secret ?? "");
					const done = await app.enrollment.complete(row.id, begin.factorId, { code: totpCodeAt(secret, Date.now()) }, context);
					if (done.kind !== "active") throw new Error("TOTP enrolment failed");
					loginUsers.push({ name, secret });
				}
			}
		} finally {
			await app.close();
		}
		const gateway = await startGatewayProcess(gatewayConfig);
		processes.push(gateway);
		log(`target sshd :${target.port}, jump sshd :${jump.port}, Portcullis gateway :${gateway.port} (pid ${gateway.pid}), sink :${sinkPort}`);

		const results: string[] = [];
		results.push(
			`Machine: ${machine.nproc} vCPU (${machine.cpu}), ${machine.memGiB} GiB RAM; \`${machine.uname}\`; Node ${machine.node}; ${machine.openssh}; ssh2 native binding: ${machine.ssh2Binding ? "yes" : "NO"}; gateway node flags: ${GATEWAY_NODE_ARGS.join(" ") || "none"}.`,
		);

		// ---- 1. bulk transfer ----
		if (!SKIP.has("transfer")) {
			const transfer: { cipher: string; path: string; direction: string; mibs: number[]; busy: number[]; jumpCpu: number[] }[] = [];
			for (const cipher of CIPHERS) {
				const cfg = join(dir, `ssh_config_${cipher.split("@")[0]}`);
				writeFileSync(
					cfg,
					[
						"Host *",
						"  StrictHostKeyChecking no",
						"  UserKnownHostsFile /dev/null",
						"  LogLevel ERROR",
						`  IdentityFile ${keyFile}`,
						"  IdentitiesOnly yes",
						"  BatchMode yes",
						"  ControlMaster no",
						"  Compression no",
						`  Ciphers ${cipher}`,
						"",
					].join("\n"),
				);
				const ssh = `ssh -F ${cfg}`;
				const targetSpec = `-p ${target.port} ${BENCH_USER}@127.0.0.1`;
				const allPaths: Record<string, string> = {
					direct: `${ssh} ${targetSpec}`,
					"OpenSSH -J": `${ssh} -J ${BENCH_USER}@127.0.0.1:${jump.port} ${targetSpec}`,
					"Portcullis -J": `${ssh} -J bulk@127.0.0.1:${gateway.port} ${targetSpec}`,
					"Portcullis relay": `${ssh} -p ${gateway.port} bulk@127.0.0.1 db1 --`,
					...(PTY ? { "direct (PTY)": `${ssh} -tt ${targetSpec}`, "Portcullis relay (PTY)": `${ssh} -tt -p ${gateway.port} bulk@127.0.0.1 db1 --` } : {}),
				};
				/** The shell command for one transfer and the byte count it must print; null: not measured. */
				const transferCommand = (path: string, direction: string, bytes: number): { command: string; expected: number } | null => {
					if (path.endsWith("(PTY)"))
						return direction === "download"
							? { command: `${paths[path]} 'head -c ${bytes} /dev/zero | base64 -w 76' | wc -c`, expected: ptyBase64Bytes(bytes) }
							: null;
					return direction === "upload"
						? { command: `head -c ${bytes} /dev/zero | ${paths[path]} 'wc -c'`, expected: bytes }
						: { command: `${paths[path]} 'head -c ${bytes} /dev/zero' | wc -c`, expected: bytes };
				};
				const paths = Object.fromEntries(Object.entries(allPaths).filter(([name]) => PATHS === null || PATHS.has(name)));
				for (const direction of DIRECTIONS) {
					for (const path of Object.keys(allPaths)) transfer.push({ cipher, path, direction, mibs: [], busy: [], jumpCpu: [] });
				}
				// One unmeasured 64 MiB transfer per path and direction first: the gateway is a
				// long-running server, and its first megabytes run before V8 has optimised the hot paths.
				for (const direction of DIRECTIONS) {
					for (const path of Object.keys(paths)) {
						const warm = transferCommand(path, direction, Math.min(BYTES, 64 * 1024 * 1024));
						if (warm !== null) await sh(warm.command);
					}
				}
				for (let rep = 0; rep < REPS; rep++) {
					const names = Object.keys(paths);
					const order = names.map((_, index) => names[(index + rep) % names.length]!);
					for (const direction of DIRECTIONS) {
						for (const path of order) {
							const planned = transferCommand(path, direction, BYTES);
							if (planned === null) continue;
							const busy = await waitQuiet();
							const command = planned.command;
							// CPU of the middle box: the jump sshd's process tree, or the gateway process.
							const sampler = path === "OpenSSH -J" ? treeCpuSampler(jump.process.pid!) : null;
							const gatewayBefore = path.startsWith("Portcullis") ? await gateway.cpu() : 0;
							const run = await sh(command);
							const cpuUsed = sampler ? sampler.stop() : path.startsWith("Portcullis") ? (await gateway.cpu()) - gatewayBefore : 0;
							const moved = Number(run.stdout.trim());
							const row = transfer.find((entry) => entry.cipher === cipher && entry.path === path && entry.direction === direction)!;
							if (run.code !== 0 || moved !== planned.expected) {
								log(`FAILED ${cipher} ${path} ${direction}: code ${run.code}, bytes ${run.stdout.trim()}, ${run.stderr.slice(0, 300)}`);
								continue;
							}
							const movedMib = planned.expected / (1024 * 1024);
							const mibs = movedMib / (run.ms / 1000);
							row.mibs.push(mibs);
							row.busy.push(busy);
							row.jumpCpu.push(cpuUsed / (movedMib / 1024));
							log(
								`${cipher} ${direction} ${path}: ${fmt(mibs)} MiB/s, middle box ${fmt(cpuUsed / (movedMib / 1024), 2)} CPU-s/GiB (background ${fmt(busy, 0)} %)`,
							);
						}
					}
				}
			}
			results.push(
				"",
				`### Bulk transfer, ${MIB} MiB, MiB/s median [min–max] of ${REPS}`,
				"",
				"| cipher | direction | direct | OpenSSH -J | Portcullis -J | Portcullis relay | Portcullis -J / OpenSSH -J | relay / direct |",
				"|---|---|---|---|---|---|---|---|",
			);
			for (const cipher of CIPHERS) {
				for (const direction of DIRECTIONS) {
					const cell = (path: string) => {
						const row = transfer.find((entry) => entry.cipher === cipher && entry.path === path && entry.direction === direction)!;
						return PATHS !== null && !PATHS.has(path)
							? "–"
							: row.mibs.length === 0
								? "failed"
								: `${fmt(median(row.mibs))} [${fmt(Math.min(...row.mibs))}–${fmt(Math.max(...row.mibs))}]`;
					};
					const med = (path: string) => median(transfer.find((entry) => entry.cipher === cipher && entry.path === path && entry.direction === direction)!.mibs);
					results.push(
						`| ${cipher} | ${direction} | ${cell("direct")} | ${cell("OpenSSH -J")} | ${cell("Portcullis -J")} | ${cell("Portcullis relay")} | **${fmt((100 * med("Portcullis -J")) / med("OpenSSH -J"), 0)} %** (target ≥ 100 %) | **${fmt((100 * med("Portcullis relay")) / med("direct"), 0)} %** (target ≥ 65 %) |`,
					);
				}
			}
			results.push(
				"",
				"CPU of the middle box per GiB moved (CPU-seconds/GiB, median; OpenSSH: the jump sshd and its session processes; Portcullis: the gateway process):",
				"",
				"| cipher | direction | OpenSSH -J | Portcullis -J | Portcullis relay |",
				"|---|---|---|---|---|",
			);
			for (const cipher of CIPHERS) {
				for (const direction of DIRECTIONS) {
					const cpu = (path: string) => {
						const row = transfer.find((entry) => entry.cipher === cipher && entry.path === path && entry.direction === direction)!;
						return row.jumpCpu.length === 0 ? "–" : fmt(median(row.jumpCpu), 2);
					};
					results.push(`| ${cipher} | ${direction} | ${cpu("OpenSSH -J")} | ${cpu("Portcullis -J")} | ${cpu("Portcullis relay")} |`);
				}
			}
			if (PTY && DIRECTIONS.includes("download")) {
				results.push(
					"",
					`### Interactive path (PTY; the gateway records the session), ${MIB} MiB as base64 text, download, MiB/s of text median [min–max] of ${REPS}`,
					"",
					"| cipher | direct -tt | Portcullis -tt gw db1 | ratio | gateway CPU-s/GiB |",
					"|---|---|---|---|---|",
				);
				for (const cipher of CIPHERS) {
					const row = (path: string) => transfer.find((entry) => entry.cipher === cipher && entry.path === path && entry.direction === "download")!;
					const cell = (path: string) =>
						row(path).mibs.length === 0 ? "failed" : `${fmt(median(row(path).mibs))} [${fmt(Math.min(...row(path).mibs))}–${fmt(Math.max(...row(path).mibs))}]`;
					const ratio = (100 * median(row("Portcullis relay (PTY)").mibs)) / median(row("direct (PTY)").mibs);
					const cpu = row("Portcullis relay (PTY)").jumpCpu;
					results.push(
						`| ${cipher} | ${cell("direct (PTY)")} | ${cell("Portcullis relay (PTY)")} | **${fmt(ratio, 0)} %** | ${cpu.length === 0 ? "–" : fmt(median(cpu), 2)} |`,
					);
				}
			}
			const busiest = Math.max(...transfer.flatMap((row) => row.busy));
			results.push("", `Background CPU before runs: at most ${fmt(busiest, 0)} % (runs wait up to 20 s for < 25 %).`);
		}

		// ---- 2. login time ----
		if (!SKIP.has("login")) {
			log("login: 20 sequential each");
			const codeFor = (secret: Buffer) => totpCodeAt(secret, Date.now() + 30_000); // next step: accepted (±1 window), never replayed
			const portSeq: number[] = [];
			const sshdSeq: number[] = [];
			const failures: string[] = [];
			// A failed login is counted and reported, never silently dropped, and does not abort the run.
			const timed = async (what: string, attempt: Promise<number>, into: number[]) => {
				try {
					into.push(await attempt);
				} catch (error) {
					failures.push(`${what}: ${(error as Error).message}`);
					log(`login failed: ${what}: ${(error as Error).message}`);
				}
			};
			await waitQuiet();
			if (process.env.BENCH_LOGIN_DELAY) await new Promise((resolveWait) => setTimeout(resolveWait, Number(process.env.BENCH_LOGIN_DELAY) * 1000));
			// Warm up both (first connection costs: JIT, page cache); the Portcullis warm-up user is login-120.
			await timed("OpenSSH warm-up", login(jump.port, BENCH_USER, PASSWORD, null), []);
			const warmUser = loginUsers[120]!;
			await timed("Portcullis warm-up", login(gateway.port, warmUser.name, PASSWORD, codeFor(warmUser.secret)), []);
			for (let index = 0; index < 20; index++) {
				const user = loginUsers[index]!;
				await timed(`Portcullis ${user.name}`, login(gateway.port, user.name, PASSWORD, codeFor(user.secret)), portSeq);
				await timed("OpenSSH", login(jump.port, BENCH_USER, PASSWORD, null), sshdSeq);
			}
			log("login: 100 parallel each");
			await waitQuiet();
			const portPar: number[] = [];
			const sshdPar: number[] = [];
			let wall = performance.now();
			await Promise.all(
				loginUsers
					.slice(20, 120)
					.map((user) => timed(`Portcullis ${user.name} (parallel)`, login(gateway.port, user.name, PASSWORD, codeFor(user.secret)), portPar)),
			);
			const portParWall = performance.now() - wall;
			await waitQuiet();
			wall = performance.now();
			await Promise.all(Array.from({ length: 100 }, () => timed("OpenSSH (parallel)", login(jump.port, BENCH_USER, PASSWORD, null), sshdPar)));
			const sshdParWall = performance.now() - wall;
			if (failures.length > 0) results.push("", `**${failures.length} login(s) failed** (excluded from the figures): ${failures.slice(0, 5).join("; ")}`);
			results.push(
				"",
				"### Login time (TCP + key exchange + authentication), ms",
				"",
				"| | Portcullis: password + TOTP | OpenSSH sshd: password | difference |",
				"|---|---|---|---|",
				`| 20 sequential: median [min–max] | ${fmt(median(portSeq))} [${fmt(Math.min(...portSeq))}–${fmt(Math.max(...portSeq))}] | ${fmt(median(sshdSeq))} [${fmt(Math.min(...sshdSeq))}–${fmt(Math.max(...sshdSeq))}] | **${fmt(median(portSeq) - median(sshdSeq))} ms** (target ≤ +25 ms) |`,
				`| 100 parallel: median / p95 per login | ${fmt(median(portPar))} / ${fmt(percentile(portPar, 95))} | ${fmt(median(sshdPar))} / ${fmt(percentile(sshdPar, 95))} | ${fmt(median(portPar) - median(sshdPar))} ms |`,
				`| 100 parallel: wall time for all | ${fmt(portParWall, 0)} | ${fmt(sshdParWall, 0)} | |`,
			);
		}

		// ---- 3. memory per idle session ----
		if (!SKIP.has("memory")) {
			const idleRun = async (label: string, port: number, username: string, measure: () => Promise<{ bytes: number; note: string }>) => {
				log(`memory: ${IDLE} idle tunnels through ${label}`);
				await waitQuiet();
				const before = await measure();
				const child = fork(
					new URL("./idle-clients.ts", import.meta.url).pathname,
					[JSON.stringify({ host: "127.0.0.1", port, username, keyFile, count: IDLE, destHost: "127.0.0.1", destPort: sinkPort, concurrency: 20 })],
					{
						execArgv: ["--import", "tsx"],
						stdio: ["ignore", "inherit", "inherit", "ipc"],
					},
				);
				const done = await new Promise<{ ok: number; failed: number; ms: number; lastError: string }>((resolveDone) => {
					child.on("message", (message: { done?: boolean; progress?: boolean; ok: number; failed: number; ms: number; lastError: string }) => {
						if (message.done) resolveDone(message);
						else if (message.progress && (message.ok + message.failed) % 500 === 0) log(`  ${message.ok} ok, ${message.failed} failed`);
					});
				});
				await new Promise((resolveWait) => setTimeout(resolveWait, 3000));
				const after = await measure();
				child.send({ cmd: "close" });
				await new Promise<void>((resolveExit) => child.once("exit", () => resolveExit()));
				await new Promise((resolveWait) => setTimeout(resolveWait, 3000));
				const released = await measure();
				const perSession = (after.bytes - before.bytes) / Math.max(1, done.ok);
				log(
					`  ${label}: ${done.ok}/${IDLE} in ${fmt(done.ms / 1000)} s, ${fmt(perSession / 1024)} KiB per session ${done.failed ? `(last error: ${done.lastError})` : ""}`,
				);
				return { label, ok: done.ok, failed: done.failed, rampS: done.ms / 1000, perSessionKiB: perSession / 1024, before, after, released };
			};
			const gw = await idleRun("Portcullis", gateway.port, "bulk", async () => {
				const mem = await gateway.mem();
				return { bytes: mem.rss, note: `RSS ${fmt(mem.rss / 1024 ** 2)} MiB, heap ${fmt(mem.heapUsed / 1024 ** 2)} MiB` };
			});
			const os = await idleRun("OpenSSH sshd jump", jump.port, BENCH_USER, async () => {
				const tree = pssOfTree(jump.process.pid!);
				return { bytes: tree.pss, note: `PSS ${fmt(tree.pss / 1024 ** 2)} MiB in ${tree.processes} processes` };
			});
			results.push(
				"",
				`### Memory per idle session, ${IDLE} concurrent idle tunnels (ssh2 clients in another process, one direct-tcpip channel each to a TCP sink)`,
				"",
				"| jump host | established | ramp (s) | jump-host memory per session | before → with sessions → after close |",
				"|---|---|---|---|---|",
				...[gw, os].map(
					(row) =>
						`| ${row.label} | ${row.ok}/${IDLE}${row.failed ? ` (${row.failed} failed)` : ""} | ${fmt(row.rampS)} | **${fmt(row.perSessionKiB)} KiB** ${row.label === "Portcullis" ? "(RSS delta after GC; target ≤ 150 KiB)" : "(PSS delta, all sshd processes)"} | ${row.before.note} → ${row.after.note} → ${row.released.note} |`,
				),
				"",
				`OpenSSH / Portcullis memory per session: **${fmt(os.perSessionKiB / gw.perSessionKiB)}×**.`,
			);
		}

		if (!SKIP.has("sftp")) {
			// The SFTP comparison has its own harness (its own gateway, sshd and users); its table is appended here.
			log("sftp: bench/sftp/run.ts");
			const sftp = spawnSync(process.execPath, ["--import", "tsx", join(import.meta.dirname, "../sftp/run.ts")], {
				env: { ...process.env, BENCH_MIB: process.env.BENCH_SFTP_MIB ?? "64", BENCH_ONLY: "" },
				encoding: "utf8",
				stdio: ["ignore", "pipe", "inherit"],
			});
			results.push("", "### SFTP through the gateway (bench/sftp/run.ts)", "", sftp.status === 0 ? sftp.stdout.trim() : `failed (exit ${sftp.status})`);
		}

		results.push("", `Run took ${fmt((Date.now() - started) / 60000)} min.`);
		console.log(results.join("\n"));
	} finally {
		for (const socket of sinkSockets) socket.destroy();
		sink.close();
		for (const proc of processes.reverse()) await proc.stop().catch(() => undefined);
		if (user.created) spawnSync("userdel", ["--remove", BENCH_USER], { stdio: "ignore" });
		await rm(dir, { recursive: true, force: true });
	}
}

await main();
