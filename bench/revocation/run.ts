/**
 * `npm run bench:revocation`: how long live SSH connections and relays survive a policy change
 * (target, docs/threat-model.md "Live revocation goal": live connections and relays close within 2 s).
 *
 * With the DEFAULT ssh.policy_poll_ms (1000 ms) and ssh.live_check_seconds (10 s), on SQLite and on
 * PostgreSQL (127.0.0.1:5432, trust auth), BENCH_REPS (10) repetitions each, the real gateway
 * (src/ssh/gateway.ts) in this process, an OpenSSH sshd target on loopback, raw ssh2 clients:
 *
 *  - poll: an idle, authenticated, password-only connection (no channel ever opened), then the
 *    admin switches force-2FA on / disables the user / adds the user to a group that forces 2FA:
 *    time until the client sees the connection closed. Nothing is asked of the connection, so only
 *    the node's poll (src/ssh/live-policy.ts) can find the change.
 *  - relay: a session channel running `db1 -- echo up; exec sleep 300` through the gateway (the
 *    relay path of `ssh gw db1 -- cmd`), then the admin removes db1's grant from the user's group:
 *    time until the client's channel ends.
 *  - gate, for contrast: a connection that ran one command and is then idle; after the same changes,
 *    time until its next `db1 -- echo` is refused (src/flows/session-gate.ts on the channel open).
 *
 * Times run from the moment the admin call returned (the change is committed) to the event seen by
 * the client; the admin call's own duration is printed beside them. Before each change the bench
 * waits a random 0-1000 ms so the change lands anywhere in the poll cycle. Prints Markdown tables
 * (progress on stderr); no pass/fail on timings: it exits 0 unless something crashed. A connection
 * or relay not closed within 30 s, or a command that ran after the change, is listed under
 * "Anomalies" (the security tests in test/security/revocation.test.ts are where that fails).
 * Environment: BENCH_REPS (10), BENCH_ENGINES (sqlite,postgres). Needs /usr/sbin/sshd and a
 * PostgreSQL server. Not part of `npm test`.
 */
import { readFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { cpus, loadavg, totalmem } from "node:os";
import { performance } from "node:perf_hooks";
import type ssh2 from "ssh2";
import { serverService } from "../../src/servers/server-service.ts";
import { startSshGateway, type SshGateway } from "../../src/ssh/gateway.ts";
import { loadOrCreateGatewayKey } from "../../src/servers/gateway-key.ts";
import { RawSsh } from "../../test/helpers/ssh-client.ts";
import { sshdSkipReason, startSshd, type Sshd } from "../../test/helpers/sshd-target.ts";
import { ADMIN_ACTOR, createTestApp, type Engine, type TestApp } from "../../test/helpers/test-app.ts";

const REPS = Number(process.env.BENCH_REPS ?? 10);
const ENGINES = (process.env.BENCH_ENGINES ?? "sqlite,postgres").split(",").filter(Boolean) as Engine[];
/** Generous bound for "closed": a loaded machine is slow, never a pass/fail on the figure itself. */
const CLOSE_BOUND_MS = 30_000;
const TARGET_MS = 2000;
const PASSWORD = "bench revocation password";

const log = (...parts: unknown[]) => console.error(`[bench ${new Date().toISOString().slice(11, 19)}]`, ...parts);
const sleep = (ms: number) => new Promise<void>((resolveSleep) => setTimeout(resolveSleep, ms));

function median(values: readonly number[]): number {
	const sorted = [...values].sort((a, b) => a - b);
	const mid = Math.floor(sorted.length / 2);
	return sorted.length === 0 ? NaN : sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
/** Nearest-rank percentile. */
function percentile(values: readonly number[], p: number): number {
	const sorted = [...values].sort((a, b) => a - b);
	return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;
}
const fmt = (value: number, digits = 0) => (Number.isFinite(value) ? value.toFixed(digits) : "n/a");

function cpuTimes(): { idle: number; total: number } {
	const line = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
	return { idle: (line[3] ?? 0) + (line[4] ?? 0), total: line.reduce((a, b) => a + b, 0) };
}

// ---- one repetition -----------------------------------------------------------------------

interface Sample {
	/** ms from the admin call's return to the event the client saw; NaN when it never came. */
	readonly ms: number;
	/** ms the admin call took. */
	readonly adminMs: number;
	/** Something other than what was measured happened (the command ran, no audit row, ...). */
	readonly anomaly: string | null;
}

interface Change {
	readonly label: string;
	/** Makes the change for `username`. */
	apply(username: string): Promise<unknown>;
	/** Undoes what apply() changed globally, so the next repetition starts clean. */
	undo(username: string): Promise<unknown>;
	/** The audit reason the gateway records when it closes the connection (null: the connection stays). */
	readonly reason: "step-up" | "revoked" | null;
}

class Bench {
	#users = 0;

	constructor(
		readonly t: TestApp,
		readonly gateway: SshGateway,
	) {}

	async newUser(prefix: string): Promise<string> {
		const username = `${prefix}-${++this.#users}`;
		await this.t.app.admin.createUser(ADMIN_ACTOR, { username, password: PASSWORD, isAdmin: false, groups: ["ops"] });
		return username;
	}

	async login(username: string): Promise<RawSsh> {
		const raw = await RawSsh.connect(this.gateway.address.port);
		raw.password(username, PASSWORD);
		const event = await raw.next();
		if (event.type !== "success") throw new Error(`${username}: password login did not succeed (${JSON.stringify(event)})`);
		return raw;
	}

	async revokedReason(event: "ssh.revoked" | "ssh.relay-revoked", username: string): Promise<string | null> {
		const [row] = await this.t.app.stores.audit.query({ event, username, limit: 1 });
		if (!row) return null;
		return (JSON.parse(row.detail ?? "{}") as { reason?: string }).reason ?? "";
	}

	/** The change at a random point of the poll cycle; returns the admin call's start and end. */
	async change(change: Change, username: string): Promise<{ start: number; done: number }> {
		await sleep(Math.random() * this.t.app.config.ssh.policy_poll_ms);
		const start = performance.now();
		await change.apply(username);
		return { start, done: performance.now() };
	}

	/** An idle password-only connection, nothing asked of it: until the poll closes it. */
	async poll(change: Change): Promise<Sample> {
		const username = await this.newUser("poll");
		const raw = await this.login(username);
		let closedAt = NaN;
		const closed = new Promise<true>((resolveClosed) => {
			raw.client.once("close", () => {
				closedAt = performance.now();
				resolveClosed(true);
			});
		});
		try {
			const { start, done } = await this.change(change, username);
			const wasClosed = await Promise.race([closed, sleep(CLOSE_BOUND_MS).then(() => false)]);
			const reason = await this.revokedReason("ssh.revoked", username);
			const anomaly = !wasClosed
				? `not closed within ${CLOSE_BOUND_MS / 1000} s`
				: reason !== change.reason
					? `audit reason ${reason} (expected ${change.reason})`
					: null;
			return { ms: wasClosed ? closedAt - done : NaN, adminMs: done - start, anomaly };
		} finally {
			if (!raw.closed) raw.client.end();
			await change.undo(username);
		}
	}

	/** An open relay to db1 (a session channel running `sleep` on the target): until its channel ends. */
	async relay(change: Change): Promise<Sample> {
		const username = await this.newUser("relay");
		const raw = await this.login(username);
		try {
			const stream = await new Promise<ssh2.ClientChannel>((resolveOpen, reject) =>
				raw.client.exec("db1 -- echo up; exec sleep 300", (error, channel) => (error ? reject(error) : resolveOpen(channel))),
			);
			let endedAt = NaN;
			// The gateway ends the user's channel (exit status + EOF + CLOSE) when the relay behind it is closed.
			const ended = new Promise<true>((resolveEnded) => {
				const mark = () => {
					if (Number.isNaN(endedAt)) endedAt = performance.now();
					resolveEnded(true);
				};
				stream.once("exit", mark);
				stream.once("close", mark);
			});
			await new Promise<void>((resolveUp, reject) => {
				let seen = "";
				const onData = (chunk: Buffer) => {
					seen += chunk.toString();
					if (seen.includes("up")) {
						stream.off("data", onData);
						resolveUp();
					}
				};
				stream.on("data", onData);
				void ended.then(() => reject(new Error(`${username}: the relay ended before it was up (${seen})`)));
			});
			const { start, done } = await this.change(change, username);
			const wasEnded = await Promise.race([ended, sleep(CLOSE_BOUND_MS).then(() => false)]);
			const audited = await this.revokedReason("ssh.relay-revoked", username);
			const anomaly = !wasEnded
				? `relay not closed within ${CLOSE_BOUND_MS / 1000} s`
				: audited === null
					? "no ssh.relay-revoked audit row"
					: raw.closed
						? "the whole connection was closed"
						: null;
			return { ms: wasEnded ? endedAt - done : NaN, adminMs: done - start, anomaly };
		} finally {
			if (!raw.closed) raw.client.end();
			await change.undo(username);
		}
	}

	/** A connection that ran one command and is idle: until its next command is refused. */
	async gate(change: Change): Promise<Sample> {
		const username = await this.newUser("gate");
		const raw = await this.login(username);
		try {
			const before = await execOn(raw, "db1 -- echo before-change");
			if (before.refused || !before.stdout.includes("before-change"))
				throw new Error(`${username}: the command before the change did not run (${JSON.stringify(before)})`);
			const { start, done } = await this.change(change, username);
			const after = await execOn(raw, "db1 -- echo after-change");
			const refusedAt = performance.now();
			const ran = !after.refused && after.stdout.includes("after-change");
			return { ms: refusedAt - done, adminMs: done - start, anomaly: ran ? "the command ran after the change" : null };
		} finally {
			if (!raw.closed) raw.client.end();
			await change.undo(username);
		}
	}
}

type ExecResult = { refused: true; reason: string } | { refused: false; stdout: string; code: number | null };

/**
 * Opens a session channel and runs `command`; "refused" when the channel open or the exec request
 * fails or the gateway closes the connection first. Resolves when the client knows the outcome.
 */
function execOn(raw: RawSsh, command: string): Promise<ExecResult> {
	if (raw.closed) return Promise.resolve({ refused: true, reason: "connection already closed" });
	return new Promise<ExecResult>((resolveExec) => {
		const onClose = () => resolveExec({ refused: true, reason: "connection closed" });
		raw.client.once("close", onClose);
		try {
			raw.client.exec(command, (error, stream) => {
				if (error) {
					raw.client.off("close", onClose);
					return resolveExec({ refused: true, reason: error.message });
				}
				let stdout = "";
				let code: number | null = null;
				stream.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
				stream.stderr.on("data", () => undefined);
				stream.on("exit", (status: number | null) => (code = status));
				stream.on("close", () => {
					raw.client.off("close", onClose);
					resolveExec({ refused: false, stdout, code });
				});
			});
		} catch (error) {
			raw.client.off("close", onClose);
			resolveExec({ refused: true, reason: (error as Error).message });
		}
	});
}

// ---- main ---------------------------------------------------------------------------------

interface Row {
	readonly scenario: string;
	readonly engine: Engine;
	readonly samples: Sample[];
}

async function runEngine(engine: Engine, rows: Row[]): Promise<{ engine: Engine; busy: number; load: string; pollMs: number; liveCheckS: number }> {
	// No config override: the defaults are what is measured (ssh.policy_poll_ms 1000, live_check_seconds 10).
	const t = await createTestApp({ engine });
	let db1: Sshd | null = null;
	let gateway: SshGateway | null = null;
	try {
		const { policy_poll_ms: pollMs, live_check_seconds: liveCheckS } = t.app.config.ssh;
		db1 = await startSshd({ authorizedKeys: [loadOrCreateGatewayKey(t.app.config).publicKey] });
		const servers = serverService(t.app);
		await t.app.admin.createGroup(ADMIN_ACTOR, { name: "ops", forceTwoFactor: false, allowedMethods: null });
		await t.app.admin.createGroup(ADMIN_ACTOR, { name: "secure", forceTwoFactor: true, allowedMethods: null });
		await servers.add(ADMIN_ACTOR, { name: "db1", host: db1.host, port: db1.port, loginUser: db1.user, groups: ["ops"] });
		gateway = await startSshGateway(t.app.ssh, { listen: "127.0.0.1:0" });
		const bench = new Bench(t, gateway);

		const forceTwoFactor: Change = {
			label: "force-2FA switched on",
			apply: () => t.app.admin.updateSettings(ADMIN_ACTOR, { forceTwoFactor: true }),
			undo: () => t.app.admin.updateSettings(ADMIN_ACTOR, { forceTwoFactor: false }),
			reason: "step-up",
		};
		const disabled: Change = {
			label: "user disabled",
			apply: (username) => t.app.admin.setDisabled(ADMIN_ACTOR, username, true),
			undo: async () => undefined,
			reason: "revoked",
		};
		const forcedGroup: Change = {
			label: "user added to a forced group",
			apply: (username) => t.app.admin.addMember(ADMIN_ACTOR, "secure", username),
			undo: async () => undefined,
			reason: "step-up",
		};
		const grantRemoved: Change = {
			label: "grant of db1 removed",
			apply: () => servers.revoke(ADMIN_ACTOR, "db1", "ops"),
			undo: () => servers.grant(ADMIN_ACTOR, "db1", "ops"),
			reason: null,
		};

		const scenarios: [string, (bench: Bench) => Promise<Sample>][] = [
			[`idle connection closed (poll): ${forceTwoFactor.label}`, (b) => b.poll(forceTwoFactor)],
			[`idle connection closed (poll): ${disabled.label}`, (b) => b.poll(disabled)],
			[`idle connection closed (poll): ${forcedGroup.label}`, (b) => b.poll(forcedGroup)],
			[`open relay closed (poll): ${grantRemoved.label}`, (b) => b.relay(grantRemoved)],
			[`next exec refused (gate): ${forceTwoFactor.label}`, (b) => b.gate(forceTwoFactor)],
			[`next exec refused (gate): ${disabled.label}`, (b) => b.gate(disabled)],
			[`next exec refused (gate): ${forcedGroup.label}`, (b) => b.gate(forcedGroup)],
			[`next exec refused (gate): ${grantRemoved.label}`, (b) => b.gate(grantRemoved)],
		];

		const cpuBefore = cpuTimes();
		for (const [scenario, run] of scenarios) {
			const samples: Sample[] = [];
			for (let rep = 0; rep < REPS; rep++) samples.push(await run(bench));
			rows.push({ scenario, engine, samples });
			log(
				`${engine}: ${scenario}: ${samples.map((sample) => fmt(sample.ms)).join(" ")} ms${samples.some((s) => s.anomaly) ? ` (${samples.flatMap((s) => (s.anomaly ? [s.anomaly] : [])).join("; ")})` : ""}`,
			);
		}
		const cpuAfter = cpuTimes();
		const total = cpuAfter.total - cpuBefore.total;
		const busy = total <= 0 ? 0 : (100 * (total - (cpuAfter.idle - cpuBefore.idle))) / total;
		return {
			engine,
			busy,
			load: loadavg()
				.map((value) => value.toFixed(1))
				.join(" / "),
			pollMs,
			liveCheckS,
		};
	} finally {
		await gateway?.close();
		await db1?.stop();
		await t.cleanup();
	}
}

async function main(): Promise<void> {
	const skip = sshdSkipReason();
	if (skip) throw new Error(skip);
	const started = Date.now();
	const machine = {
		nproc: spawnSync("nproc", [], { encoding: "utf8" }).stdout.trim(),
		cpu: cpus()[0]?.model ?? "?",
		memGiB: (totalmem() / 1024 ** 3).toFixed(1),
		node: process.version,
		loadBefore: loadavg()
			.map((value) => value.toFixed(1))
			.join(" / "),
	};
	log("machine", machine);

	const rows: Row[] = [];
	const sections = [];
	for (const engine of ENGINES) {
		log(`${engine}: ${REPS} repetitions per scenario`);
		sections.push(await runEngine(engine, rows));
	}

	const anomalies = rows.flatMap((row) => row.samples.flatMap((sample) => (sample.anomaly ? [`${row.scenario} (${row.engine}): ${sample.anomaly}`] : [])));
	const out = [
		`## Revocation latency: ${REPS} repetitions per scenario and engine`,
		"",
		`Machine: ${machine.nproc} vCPUs (${machine.cpu}), ${machine.memGiB} GiB, Node ${machine.node}; load average before: ${machine.loadBefore}.`,
		...sections.map(
			(section) =>
				`${section.engine}: ssh.policy_poll_ms ${section.pollMs}, ssh.live_check_seconds ${section.liveCheckS}; whole-machine CPU busy during the section ${fmt(section.busy)} % (this process included), load average after ${section.load}.`,
		),
		"",
		"ms from the admin change's commit (its call returned) to what the client saw: the connection closed, the relay channel ended, or the next command refused.",
		"",
		"| scenario | engine | median | p90 | max | target | admin call, median |",
		"|---|---|---|---|---|---|---|",
		...rows.map((row) => {
			const values = row.samples.map((sample) => sample.ms).filter(Number.isFinite);
			const missing = row.samples.length - values.length;
			return `| ${row.scenario} | ${row.engine} | ${fmt(median(values))} | ${fmt(percentile(values, 90))} | ${fmt(Math.max(...values))}${missing ? ` (${missing} never)` : ""} | ≤ ${TARGET_MS} | ${fmt(median(row.samples.map((sample) => sample.adminMs)))} |`;
		}),
		"",
		anomalies.length
			? `Anomalies: ${anomalies.join("; ")}.`
			: "No anomalies: every connection was closed with the expected audit reason, every relay closed with an `ssh.relay-revoked` row while its connection stayed, and no command ran after a change.",
		"",
		"For comparison: OpenSSH's sshd has no equivalent. It checks the account (password, expiry, AllowUsers/AllowGroups, authorized_keys) only while authenticating; an established session, and every channel it opens later, survives any change to the account or the configuration until the client ends it or an administrator kills the processes.",
		"",
		`Run took ${fmt((Date.now() - started) / 1000)} s.`,
	];
	console.log(out.join("\n"));
}

await main();
