/**
 * `npm run bench:live-kill`: how long an admin's terminate takes to end a live SSH connection held
 * by ANOTHER node (target: within 2 s; docs/operations.md "Live sessions").
 *
 * Two gateway nodes (src/ssh/gateway.ts, in this process) on one fresh PostgreSQL database
 * (127.0.0.1:5432, trust auth), an OpenSSH sshd target on loopback, the real OpenSSH client. Each
 * repetition: `ssh -p A alice@gw db1 "sleep 600"` through node A, wait until node B lists it, wait a
 * random 0-1000 ms (so the request lands anywhere in A's poll cycle), then node B's
 * LiveSessionService.terminate (the console's and the CLI's call), whole connection or (every
 * other repetition) its one session channel; the time runs from terminate() returning (request
 * committed) to the ssh client's exit. Default ssh.policy_poll_ms (1000). Prints a Markdown table
 * (progress on stderr); no pass/fail on timings. Environment: BENCH_REPS (20). Not part of `npm test`.
 */
import { cpus, loadavg } from "node:os";
import { performance } from "node:perf_hooks";
import { loadOrCreateGatewayKey } from "../../src/servers/gateway-key.ts";
import { startSshGateway } from "../../src/ssh/gateway.ts";
import { createRecordingNodes } from "../../test/helpers/recording-nodes.ts";
import { createOpenSshClient } from "../../test/helpers/relay-openssh.ts";
import { sshdSkipReason, startSshd } from "../../test/helpers/sshd-target.ts";
import { ADMIN_ACTOR } from "../../test/helpers/test-app.ts";

const REPS = Number(process.env.BENCH_REPS ?? 20);
const PASSWORD = "bench live kill password";
const log = (...parts: unknown[]) => console.error(`[bench ${new Date().toISOString().slice(11, 19)}]`, ...parts);
const sleep = (ms: number) => new Promise<void>((resolveSleep) => setTimeout(resolveSleep, ms));
function percentile(values: readonly number[], p: number): number {
	const sorted = [...values].sort((a, b) => a - b);
	return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? Number.NaN;
}

const skip = sshdSkipReason();
if (skip !== undefined) {
	console.error(skip);
	process.exit(1);
}
const nodes = await createRecordingNodes("postgres");
const client = await createOpenSshClient();
const db1 = await startSshd({ authorizedKeys: [loadOrCreateGatewayKey(nodes.a.config).publicKey] });
const { a, b } = nodes;
await a.admin.createGroup(ADMIN_ACTOR, { name: "ops", forceTwoFactor: false, allowedMethods: null });
await a.admin.createUser(ADMIN_ACTOR, { username: "alice", password: PASSWORD, isAdmin: false, groups: ["ops"] });
await a.servers.add(ADMIN_ACTOR, { name: "db1", host: db1.host, port: db1.port, loginUser: db1.user, groups: ["ops"] });
const gwA = await startSshGateway(a.ssh, { listen: "127.0.0.1:0" });
const gwB = await startSshGateway(b.ssh, { listen: "127.0.0.1:0" });
const results: { kind: "connection" | "channel"; ms: number }[] = [];
const anomalies: string[] = [];
try {
	for (let rep = 0; rep < REPS; rep++) {
		const kind = rep % 2 === 0 ? "connection" : "channel";
		const known = new Set((await b.liveSessions.list()).map((view) => view.id));
		let exited = false;
		const run = client.run("ssh", ["-p", String(gwA.address.port), "alice@127.0.0.1", "db1", "sleep 600"], { password: PASSWORD }).finally(() => {
			exited = true;
		});
		let view: Awaited<ReturnType<typeof b.liveSessions.list>>[number] | undefined;
		for (let tries = 0; tries < 600 && view === undefined; tries++) {
			view = (await b.liveSessions.list()).find((candidate) => !known.has(candidate.id) && candidate.channels.length === 1);
			if (view === undefined) await sleep(50);
		}
		if (view === undefined) throw new Error("the connection never showed up on node B");
		await sleep(Math.random() * 1000);
		await b.liveSessions.terminate(ADMIN_ACTOR, {
			connectionId: view.id,
			channelId: kind === "channel" ? view.channels[0]!.id : null,
			reason: `bench ${rep}`,
		});
		const asked = performance.now();
		while (!exited && performance.now() - asked < 30_000) await sleep(5);
		const ms = performance.now() - asked;
		if (!exited) anomalies.push(`rep ${rep} (${kind}): the client was still running after 30 s`);
		results.push({ kind, ms });
		log(`rep ${rep + 1}/${REPS} ${kind}: ${ms.toFixed(0)} ms`);
		await run;
	}
} finally {
	await gwA.close();
	await gwB.close();
	await client.cleanup();
	await db1.stop();
	await nodes.cleanup();
}
console.log(`# Live-session terminate across nodes (PostgreSQL, OpenSSH; ${cpus().length} CPUs, load ${loadavg()[0]!.toFixed(2)})\n`);
console.log("| what | n | median ms | p90 ms | max ms | over 2 s |");
console.log("|---|---|---|---|---|---|");
for (const kind of ["connection", "channel"] as const) {
	const ms = results.filter((result) => result.kind === kind).map((result) => result.ms);
	console.log(
		`| ${kind} | ${ms.length} | ${percentile(ms, 50).toFixed(0)} | ${percentile(ms, 90).toFixed(0)} | ${Math.max(...ms).toFixed(0)} | ${ms.filter((value) => value > 2000).length} |`,
	);
}
if (anomalies.length > 0) console.log(`\nAnomalies:\n${anomalies.map((line) => `- ${line}`).join("\n")}`);
