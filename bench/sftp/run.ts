/**
 * `npm run bench:sftp`: SFTP throughput through the gateway's audited relay (`alice:db1`, issue 15
 * section 4: the gateway decrypts, parses every SFTP packet for the audit trail, and re-encrypts
 * towards db1) against `sftp -J` through the same gateway (direct-tcpip: end-to-end encrypted,
 * nothing parsed), against sftp straight to db1, and the gateway's SFTP view (`sftp alice@gw`,
 * paths under /db1: the gateway speaks SFTP to both sides, src/ssh/sftp-view.ts). Real OpenSSH sftp and sshd on loopback; the
 * gateway runs in this process (it is idle while the sftp child runs, so it has a core to itself
 * when the machine is otherwise quiet).
 *
 * Each run is one `sftp` process with a `get` (download) or `put` (upload) of a BENCH_MIB file
 * (default 64); the login time (the same command with only `bye`, median of BENCH_REPS) is
 * subtracted, so the figure is transfer throughput. The paths take turns (round-robin per
 * repetition). Prints a Markdown table (median of BENCH_REPS, default 3) and the ratio relay / -J (the goal: at least 0.8). Not part of `npm test`.
 */
import { randomBytes } from "node:crypto";
import { rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { loadOrCreateGatewayKey } from "../../src/servers/gateway-key.ts";
import { serverService } from "../../src/servers/server-service.ts";
import { SftpAudit } from "../../src/ssh/sftp-audit.ts";
import { createOpenSshClient } from "../../test/helpers/relay-openssh.ts";
import { startRelayGateway } from "../../test/helpers/relay-gateway.ts";
import { startSshd } from "../../test/helpers/sshd-target.ts";
import { ADMIN_ACTOR, createTestApp } from "../../test/helpers/test-app.ts";

const MIB = Number(process.env.BENCH_MIB ?? 64);
const REPS = Number(process.env.BENCH_REPS ?? 3);
const PASSWORD = `Bench-${randomBytes(9).toString("base64url")}`;
const log = (...parts: unknown[]) => console.error(`[bench:sftp ${new Date().toISOString().slice(11, 19)}]`, ...parts);

function median(values: readonly number[]): number {
	const sorted = [...values].sort((a, b) => a - b);
	const mid = Math.floor(sorted.length / 2);
	return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const t = await createTestApp();
const client = await createOpenSshClient();
const gatewayKey = loadOrCreateGatewayKey(t.app.config);
const db1 = await startSshd({ authorizedKeys: [gatewayKey.publicKey, client.publicKey] });
await t.app.admin.createGroup(ADMIN_ACTOR, { name: "ops", forceTwoFactor: false, allowedMethods: null });
await t.app.admin.createUser(ADMIN_ACTOR, { username: "alice", password: PASSWORD, isAdmin: false, groups: ["ops"] });
await serverService(t.app).add(ADMIN_ACTOR, { name: "db1", host: db1.host, port: db1.port, loginUser: db1.user, groups: ["ops"] });
const gw = await startRelayGateway(t.app);

const source = join(client.dir, "source.bin");
writeFileSync(source, randomBytes(MIB * 1024 * 1024));
const remote = join(db1.dir, "bench.bin");
writeFileSync(remote, randomBytes(MIB * 1024 * 1024));

const paths: Record<string, string[]> = {
	"direct to db1 (reference)": ["-P", String(db1.port), `${db1.user}@127.0.0.1`],
	"sftp -J through the gateway": ["-J", `alice@127.0.0.1:${gw.port}`, "-P", String(db1.port), `${db1.user}@127.0.0.1`],
	"alice:db1 (relayed, audited)": ["-o", "User=alice:db1", "-P", String(gw.port), "127.0.0.1"],
	"alice@gw /db1 (the gateway's SFTP view)": ["-P", String(gw.port), "alice@127.0.0.1"],
};
// BENCH_ONLY=view,-j (substrings of the path names, comma-separated): measure only those paths (profiling one path).
const only = (process.env.BENCH_ONLY ?? "").toLowerCase().split(",").filter(Boolean);
if (only.length > 0) for (const name of Object.keys(paths)) if (!only.some((part) => name.toLowerCase().includes(part))) delete paths[name];
/** The SFTP view names db1's files under /db1. */
const prefix = (name: string) => (name.includes("SFTP view") ? "/db1" : "");

async function timed(args: string[], script: string): Promise<number> {
	const started = performance.now();
	const result = await client.run("sftp", args, { password: PASSWORD, input: script });
	const elapsed = performance.now() - started;
	if (result.code !== 0) throw new Error(`sftp ${args.join(" ")} failed: ${result.stderr}`);
	return elapsed;
}

const rows: { path: string; direction: string; mibPerS: number }[] = [];
try {
	// Round-robin (rep 1 of every path, then rep 2, …): on a shared machine the load drifts, and
	// interleaving gives every path the same share of quiet and busy moments; ratios stay fair.
	const loginMs = new Map<string, number>();
	for (const [name, args] of Object.entries(paths)) {
		const login: number[] = [];
		for (let rep = 0; rep < REPS; rep++) login.push(await timed(args, "bye\n"));
		loginMs.set(name, median(login));
	}
	for (const direction of ["download", "upload"]) {
		const seconds = new Map<string, number[]>(Object.keys(paths).map((name) => [name, []]));
		for (let rep = 0; rep < REPS; rep++)
			for (const [name, args] of Object.entries(paths)) {
				const local = join(client.dir, "download.bin");
				const script =
					direction === "download" ? `get ${prefix(name)}${remote} ${local}\nbye\n` : `put ${source} ${prefix(name)}${join(db1.dir, "upload.bin")}\nbye\n`;
				const ms = await timed(args, script);
				const landed = direction === "download" ? statSync(local).size : statSync(join(db1.dir, "upload.bin")).size;
				if (landed !== MIB * 1024 * 1024) throw new Error(`${name} ${direction}: ${landed} bytes`);
				seconds.get(name)!.push(Math.max(ms - loginMs.get(name)!, 1) / 1000);
				rmSync(direction === "download" ? local : join(db1.dir, "upload.bin"), { force: true });
			}
		for (const name of Object.keys(paths)) {
			const mibPerS = MIB / median(seconds.get(name)!);
			rows.push({ path: name, direction, mibPerS });
			log(`${name} ${direction}: ${mibPerS.toFixed(1)} MiB/s (login ${loginMs.get(name)!.toFixed(0)} ms)`);
		}
	}
	const events = (await t.app.stores.audit.query({ event: "ssh.sftp" })).length;
	// The parser alone: MIB of 32 KiB WRITE packets (what OpenSSH's sftp sends) through SftpAudit, in 32 KiB chunks.
	const write = Buffer.alloc(4 + 1 + 4 + 8 + 8 + 4 + 32 * 1024);
	write.writeUInt32BE(write.length - 4, 0);
	write[4] = 6; // SSH_FXP_WRITE
	write.writeUInt32BE(4, 9); // handle of 4 bytes
	write.writeUInt32BE(32 * 1024, 25);
	const audit = new SftpAudit(() => undefined);
	const parseStarted = performance.now();
	for (let sent = 0; sent < MIB * 1024 * 1024; sent += 32 * 1024) {
		write.writeUInt32BE(sent / 1024, 5);
		if (!audit.fromClient(write)) throw new Error(`parser refused: ${audit.failure}`);
	}
	const parseMibPerS = MIB / ((performance.now() - parseStarted) / 1000);
	console.log(`\n| path | download MiB/s | upload MiB/s |\n|---|---|---|`);
	for (const name of Object.keys(paths)) {
		const get = (direction: string) => rows.find((row) => row.path === name && row.direction === direction)!.mibPerS.toFixed(1);
		console.log(`| ${name} | ${get("download")} | ${get("upload")} |`);
	}
	for (const direction of ["download", "upload"]) {
		const jump = rows.find((row) => row.path.startsWith("sftp -J") && row.direction === direction)?.mibPerS;
		for (const [label, start] of [
			["relay", "alice:db1"],
			["view", "alice@gw"],
		] as const) {
			const mine = rows.find((row) => row.path.startsWith(start) && row.direction === direction)?.mibPerS;
			if (mine !== undefined && jump !== undefined) console.log(`\n${label} / -J, ${direction}: ${(mine / jump).toFixed(2)}`);
		}
	}
	console.log(`\n${MIB} MiB per transfer, median of ${REPS}; ${events} ssh.sftp audit events written.`);
	console.log(`The SFTP parser alone (one core, in process): ${parseMibPerS.toFixed(0)} MiB/s of WRITE packets.`);
} finally {
	await client.cleanup();
	await gw.close();
	await db1.stop();
	await t.cleanup();
}
