/**
 * `npm run bench:kex`: CPU per SSH handshake for each key exchange the gateway offers
 * (mlkem768x25519-sha256, sntrup761x25519-sha512, curve25519-sha256), Portcullis's transport (ssh2
 * with patches/ssh2+1.17.0.patch) against OpenSSH's sshd, with the same real OpenSSH client.
 *
 * 1. The key exchange alone, in this process: the server's half (answer one C_INIT) and the
 *    client's half (key pair, then K from S_REPLY), as the gateway runs them on its client leg
 *    and on its target leg.
 * 2. Whole handshakes over loopback: BENCH_KEX_N (default 40) sequential `ssh` connections that
 *    stop at authentication (PreferredAuthentications=none, BatchMode), against (a) an ssh2 server
 *    with the gateway's algorithms in this process (its CPU: process.cpuUsage) and (b) sshd (its
 *    CPU: the reaped children's time in /proc/PID/stat, i.e. the per-connection processes; 10 ms
 *    ticks, hence N connections per point).
 * Client and sshd are OpenSSH 10 from the Debian 13 root (scripts/build-openssh-roots.sh) when it is
 * built (it speaks all three), else the machine's OpenSSH (no ML-KEM: that row is skipped).
 * Not part of `npm test`; docs/benchmarks.md has the figures.
 */
import { execFile, spawnSync } from "node:child_process";
import { generateKeyPairSync, diffieHellman } from "node:crypto";
import { readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import ssh2 from "ssh2";
import { SSH_COMPRESSION, SSH_MACS } from "../../src/ssh/algorithms.ts";
import { opensshBinDir, opensshRoot, opensshRootSkipReason } from "../../test/helpers/openssh-roots.ts";
import { startSshd } from "../../test/helpers/sshd-target.ts";

const require = createRequire(import.meta.url);
const N = Number(process.env.BENCH_KEX_N ?? 40);
const KEX = ["mlkem768x25519-sha256", "sntrup761x25519-sha512", "curve25519-sha256"] as const;
type Kex = (typeof KEX)[number];

interface Hybrid {
	Client: new () => { init(): Buffer; secret(reply: Buffer): Buffer };
	serverReply(init: Buffer): { reply: Buffer; secret: Buffer };
}
const modules: Record<Exclude<Kex, "curve25519-sha256">, Hybrid> = {
	"mlkem768x25519-sha256": require("ssh2/lib/protocol/kex_mlkem768x25519.js") as Hybrid,
	"sntrup761x25519-sha512": require("ssh2/lib/protocol/kex_sntrup761x25519.js") as Hybrid,
};

function cpuMs(run: () => void, rounds: number): number {
	const start = process.cpuUsage();
	for (let round = 0; round < rounds; round++) run();
	const used = process.cpuUsage(start);
	return (used.user + used.system) / 1000 / rounds;
}

function kexAlone(kex: Kex): { server: number; client: number } {
	if (kex === "curve25519-sha256") {
		const peer = generateKeyPairSync("x25519");
		const half = () => diffieHellman({ privateKey: generateKeyPairSync("x25519").privateKey, publicKey: peer.publicKey });
		cpuMs(half, 50);
		const ms = cpuMs(half, 500);
		return { server: ms, client: ms };
	}
	const module = modules[kex];
	const init = new module.Client().init();
	const { reply } = module.serverReply(init);
	cpuMs(() => module.serverReply(init), 20);
	const server = cpuMs(() => module.serverReply(init), 200);
	const client = cpuMs(() => {
		const c = new module.Client();
		c.init();
		try {
			c.secret(reply); // another key pair's reply: the same work, a different K
		} catch {
			// not reached: sntrup761 and ML-KEM decapsulate any well-formed ciphertext
		}
	}, 100);
	return { server, client };
}

/** One `ssh` connection that ends at authentication (no method offered, so "Permission denied"). */
function sshConnect(ssh: string, port: number, kex: string): Promise<void> {
	const options = [
		`KexAlgorithms=${kex}`,
		"BatchMode=yes",
		"PreferredAuthentications=none",
		"StrictHostKeyChecking=no",
		"UserKnownHostsFile=/dev/null",
		"LogLevel=ERROR",
	];
	return new Promise((resolve, reject) =>
		execFile(
			ssh,
			["-F", "/dev/null", ...options.flatMap((option) => ["-o", option]), "-p", String(port), "bench@127.0.0.1", "true"],
			(_error, _stdout, stderr) =>
				/Permission denied/i.test(String(stderr)) ? resolve() : reject(new Error(`ssh ${kex} did not reach authentication: ${stderr}`)),
		),
	);
}

function childTicks(pid: number): number {
	const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
	// Fields 16 and 17 of proc(5) (cutime, cstime): after "pid (comm) ", index 13 and 14.
	return Number(fields[13]) + Number(fields[14]);
}

async function main(): Promise<void> {
	const useRoot = opensshRootSkipReason("trixie") === undefined;
	const binDir = useRoot ? opensshBinDir("trixie") : null;
	const ssh = binDir ? `${binDir}/ssh` : "ssh";
	const ticksPerMs = Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout.trim() || 100) / 1000;
	const hostKey = ssh2.utils.generateKeyPairSync("ed25519").private;
	const rows: string[] = [];
	try {
		for (const kex of KEX) {
			if (kex === "mlkem768x25519-sha256" && !useRoot) {
				rows.push(`| ${kex} | (needs the OpenSSH 10 root) | | | |`);
				continue;
			}
			const alone = kexAlone(kex);
			const server = new ssh2.Server(
				{ hostKeys: [hostKey], algorithms: { kex: [kex as ssh2.KexAlgorithm], hmac: [...SSH_MACS], compress: [...SSH_COMPRESSION] } },
				(client) => {
					client.on("authentication", (context) => context.reject([]));
					client.on("error", () => undefined);
				},
			);
			const port = await new Promise<number>((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as { port: number }).port)));
			// Off the clock: the first connections warm up the JIT.
			for (let round = 0; round < 3; round++) await sshConnect(ssh, port, kex);
			// The client is another process: this process's CPU meanwhile is the server's.
			const gatewayStart = process.cpuUsage();
			for (let round = 0; round < N; round++) await sshConnect(ssh, port, kex);
			const gatewayUsed = process.cpuUsage(gatewayStart);
			server.close();
			const gatewayMs = (gatewayUsed.user + gatewayUsed.system) / 1000 / N;

			const sshd = await startSshd({
				...(useRoot ? { root: opensshRoot("trixie") } : {}),
				extraConfig: [`KexAlgorithms ${kex}`, ...(useRoot ? ["PerSourcePenalties no"] : [])],
			});
			try {
				for (let round = 0; round < 3; round++) await sshConnect(ssh, sshd.port, kex);
				const before = childTicks(sshd.process.pid as number);
				for (let round = 0; round < N; round++) await sshConnect(ssh, sshd.port, kex);
				// sshd reaps each connection's process when it exits; give it the last SIGCHLD.
				await new Promise((resolve) => setTimeout(resolve, 200));
				const sshdMs = (childTicks(sshd.process.pid as number) - before) / ticksPerMs / N;
				rows.push(`| ${kex} | ${alone.server.toFixed(2)} | ${alone.client.toFixed(2)} | ${gatewayMs.toFixed(2)} | ${sshdMs.toFixed(2)} |`);
			} finally {
				await sshd.stop();
			}
			process.stderr.write(`${kex} done\n`);
		}
	} finally {
		if (binDir) rmSync(binDir, { recursive: true, force: true });
	}
	console.log(`CPU per handshake, ms (N = ${N} connections per point; client: ${useRoot ? "OpenSSH 10 (Debian 13)" : "the machine's OpenSSH"})\n`);
	console.log(
		"| key exchange | KEX alone, server half (gateway) | KEX alone, client half (gateway → target) | handshake, Portcullis (ssh2) | handshake, OpenSSH sshd |",
	);
	console.log("|---|---|---|---|---|");
	for (const row of rows) console.log(row);
}

await main();
