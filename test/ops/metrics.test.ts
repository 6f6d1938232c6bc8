/**
 * Prometheus `/metrics` on the operations listener (src/app/prometheus-metrics.ts,
 * src/web/ops-server.ts; docs/operations.md "Metrics"). One real node in process: the console on a
 * TCP port, the SSH gateway with its real channels, an OpenSSH sshd as the target. After a real SSH
 * login with TOTP (a menu, then a PTY command relayed to the target), a refused SSH password, an SSH
 * lockout and a real web login with TOTP, the counters moved by exactly what happened; the gauges
 * follow connections and channels; the bearer token protects the endpoint (negative twin beside
 * the positive one); no user name or address is in the answer.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import type ssh2 from "ssh2";
import type { FastifyInstance } from "fastify";
import { createPortcullis, type Portcullis } from "../../src/app/portcullis.ts";
import { webServices } from "../../src/app/web-services.ts";
import { FakeClock } from "../../src/core/clock.ts";
import { PortcullisError } from "../../src/core/errors.ts";
import { createNoMetrics, type LoginOutcome, type Metrics } from "../../src/core/metrics.ts";
import { totpCodeAt } from "../../src/methods/totp/totp-method.ts";
import { loadOrCreateGatewayKey } from "../../src/servers/gateway-key.ts";
import { startSshGateway, type SshGateway } from "../../src/ssh/gateway.ts";
import type { SshServices } from "../../src/ssh/ssh-services.ts";
import { auditMetrics } from "../../src/storage/audit-metrics.ts";
import { startOpsServer, type OpsServer } from "../../src/web/ops-server.ts";
import { buildWebServer } from "../../src/web/server.ts";
import { base32Decode } from "../helpers/base32.ts";
import { sshLogin, webLogin } from "../helpers/login-clients.ts";
import { sshdSkipReason, startSshd, type Sshd } from "../helpers/sshd-target.ts";
import { ADMIN_ACTOR, testConfig } from "../helpers/test-app.ts";
import { until } from "./ops-fixture.ts";

const PASSWORD = "correct horse battery";
const TOKEN = "metrics-token-5b1e";
const STEP_MS = 30_000;

/** One sample of `name` whose labels are exactly `labels` (0 when the series does not exist yet). */
function sample(body: string, name: string, labels: Record<string, string> = {}): number {
	for (const line of body.split("\n")) {
		if (line.startsWith("#")) continue;
		const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
		if (match === null || match[1] !== name) continue;
		const found: Record<string, string> = {};
		for (const pair of (match[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) found[pair[1]!] = pair[2]!;
		if (JSON.stringify(Object.entries(found).sort()) === JSON.stringify(Object.entries(labels).sort())) return Number(match[3]);
	}
	return 0;
}

describe("/metrics after real logins (SQLite, OpenSSH target)", { skip: sshdSkipReason() }, () => {
	let dir: string;
	let app: Portcullis;
	let clock: FakeClock;
	let web: FastifyInstance;
	let gateway: SshGateway;
	let ops: OpsServer;
	let open: OpsServer;
	let sshd: Sshd;
	let consoleUrl: string;
	const secrets = new Map<string, Buffer>();

	const scrape = async (token: string | null = TOKEN) => {
		const response = await fetch(`http://127.0.0.1:${ops.address.port}/metrics`, { headers: token === null ? {} : { authorization: `Bearer ${token}` } });
		return { status: response.status, type: response.headers.get("content-type") ?? "", body: await response.text() };
	};
	const code = (user: string) => totpCodeAt(secrets.get(user)!, clock.now().getTime());

	before(async () => {
		dir = mkdtempSync(join(tmpdir(), "portcullis-metrics-"));
		clock = new FakeClock(Date.now());
		const config = testConfig(dir, {
			ssh: { listen: "127.0.0.1:0", target_key_file: join(dir, "gateway_ed25519_key") },
			security: { lockout_max_failures: 1 },
		});
		app = await createPortcullis(config, {
			clock,
			database: { kind: "sqlite", file: join(dir, "portcullis.sqlite") },
			secretKey: randomBytes(32),
			prometheus: true,
		});
		sshd = await startSshd({ authorizedKeys: [loadOrCreateGatewayKey(config).publicKey] });
		await app.admin.createGroup(ADMIN_ACTOR, { name: "ops", forceTwoFactor: true, allowedMethods: null });
		await app.servers.add(ADMIN_ACTOR, {
			name: "target",
			host: sshd.host,
			port: sshd.port,
			loginUser: sshd.user,
			description: "metrics target",
			groups: ["ops"],
		});
		for (const name of ["alice", "carol"]) {
			const user = await app.admin.createUser(ADMIN_ACTOR, { username: name, password: PASSWORD, isAdmin: false, groups: ["ops"] });
			const context = { channel: "web", source: "test", duringLogin: false } as const;
			const begin = await app.enrollment.begin(user.id, "totp", "phone", {}, context);
			if (begin.kind !== "pending") throw new Error("TOTP enrolment did not start");
			const secret = base32Decode(begin.display.secret ?? "");
			const done = await app.enrollment.complete(user.id, begin.factorId, { code: totpCodeAt(secret, clock.now().getTime()) }, context);
			assert.equal(done.kind, "active");
			secrets.set(name, secret);
		}
		clock.advance(STEP_MS);
		web = await buildWebServer(webServices(app), { logger: false });
		await web.listen({ host: "127.0.0.1", port: 0 });
		consoleUrl = `http://127.0.0.1:${(web.server.address() as AddressInfo).port}`;
		gateway = await startSshGateway(app.ssh, { listen: "127.0.0.1:0" });
		const metrics = app.scrapeMetrics;
		assert.ok(metrics !== null, "prometheus: true exports metrics");
		const services = { readiness: () => app.readiness(), stopping: () => false, metrics };
		ops = await startOpsServer({ ...services, token: TOKEN }, { host: "127.0.0.1", port: 0 });
		open = await startOpsServer({ ...services, token: "" }, { host: "127.0.0.1", port: 0 });
	});
	after(async () => {
		await ops?.close();
		await open?.close();
		await gateway?.close();
		await web?.close();
		await app?.close();
		await sshd?.stop();
		rmSync(dir, { recursive: true, force: true });
	});

	test("the token protects /metrics: 401 without it or with a wrong one, 200 with it; without a token configured it is open", async () => {
		assert.equal((await scrape(null)).status, 401);
		assert.equal((await scrape("wrong-token")).status, 401);
		const ok = await scrape();
		assert.equal(ok.status, 200);
		assert.match(ok.type, /^text\/plain; version=0\.0\.4/);
		assert.match(ok.body, /^# HELP portcullis_logins_total /m);
		// Closed label sets are there from the start, at 0.
		assert.match(ok.body, /^portcullis_lockouts_total\{counter="second-factor"\} 0$/m);
		assert.match(ok.body, /^portcullis_ssh_channels_active\{type="direct-tcpip"\} 0$/m);
		assert.match(ok.body, /^portcullis_recording_failures_total\{stage="write"\} 0$/m);
		const unguarded = await fetch(`http://127.0.0.1:${open.address.port}/metrics`);
		assert.equal(unguarded.status, 200);
		await unguarded.text();
	});

	test("an SSH login with TOTP, a refused password, a lockout and a web login with TOTP move their counters", async () => {
		const before = (await scrape()).body;
		const marker = `metrics-${randomBytes(4).toString("hex")}`;
		let during = "";
		let forwarding = "";
		// SSH: password + TOTP; the menu open (one session channel) while scraping; then a PTY command on the target.
		const ssh = await sshLogin({
			port: gateway.address.port,
			username: "alice",
			password: PASSWORD,
			code: () => code("alice"),
			after: async (client) => {
				const menu = await new Promise<ssh2.ClientChannel>((resolve, reject) =>
					client.shell({ term: "xterm", cols: 80, rows: 24 }, (error, stream) => (error ? reject(error) : resolve(stream))),
				);
				let screen = "";
				menu.on("data", (data: Buffer) => (screen += data.toString("utf8")));
				await until(() => screen.includes("target"));
				during = (await scrape()).body;
				menu.close();
				await new Promise<void>((resolve, reject) =>
					client.exec(`target -- echo ${marker}`, { pty: { term: "xterm", cols: 80, rows: 24 } }, (error, stream) => {
						if (error) return reject(error);
						let out = "";
						stream.on("data", (data: Buffer) => (out += data.toString("utf8")));
						stream.on("close", () => (out.includes(marker) ? resolve() : reject(new Error(`exec: ${out.slice(0, 200)}`))));
					}),
				);
				// ProxyJump: a direct-tcpip channel to the granted target; its SSH banner comes back through it.
				const forward = await new Promise<ssh2.ClientChannel>((resolve, reject) =>
					client.forwardOut("127.0.0.1", 0, sshd.host, sshd.port, (error, stream) => (error ? reject(error) : resolve(stream))),
				);
				let banner = "";
				forward.on("data", (data: Buffer) => (banner += data.toString("latin1")));
				await until(() => banner.includes("SSH-2.0-"));
				forwarding = (await scrape()).body;
				forward.close();
			},
		});
		assert.ok(ssh.ok, ssh.error);
		const refused = await sshLogin({ port: gateway.address.port, username: "alice", password: "not the password", code: null });
		assert.equal(refused.ok, false);
		const locked = await sshLogin({ port: gateway.address.port, username: "carol", password: PASSWORD, code: () => "000000" });
		assert.equal(locked.ok, false);
		clock.advance(STEP_MS);
		const webResult = await webLogin(consoleUrl, "alice", PASSWORD, () => code("alice"), ["/account"]);
		assert.ok(webResult.ok, webResult.error);
		// The gateway counts a connection down when its socket closes, a moment after the client sees it.
		let afterAll = "";
		await until(async () => {
			afterAll = (await scrape()).body;
			return sample(afterAll, "portcullis_ssh_connections_active") === 0;
		});

		const moved = (name: string, labels: Record<string, string> = {}) => sample(afterAll, name, labels) - sample(before, name, labels);
		const login = (channel: string, method: string, outcome: LoginOutcome) => moved("portcullis_logins_total", { channel, method, outcome });
		assert.equal(login("ssh", "totp", "success"), 1);
		assert.equal(login("web", "totp", "success"), 1);
		assert.equal(login("ssh", "password", "failure"), 1);
		assert.equal(login("ssh", "totp", "failure"), 1, "carol's wrong code");
		assert.equal(login("web", "password", "failure"), 0);
		assert.equal(moved("portcullis_lockouts_total", { counter: "second-factor" }), 1);
		assert.equal(moved("portcullis_lockouts_total", { counter: "password" }), 0);
		// Decisions are made after the first factor: alice on SSH and web, carol on SSH; none for the refused password.
		assert.equal(moved("portcullis_policy_decisions_total", { channel: "ssh", kind: "challenge" }), 2);
		assert.equal(moved("portcullis_policy_decisions_total", { channel: "web", kind: "challenge" }), 1);
		// The command's output and the target's SSH banner through the forward.
		assert.ok(moved("portcullis_relay_bytes_total", { direction: "to_client" }) >= marker.length + "SSH-2.0-".length);
		assert.ok(moved("portcullis_relay_bytes_total", { direction: "to_target" }) >= 0);
		assert.ok(moved("portcullis_database_query_duration_seconds_count") > 0);
		assert.equal(sample(afterAll, "portcullis_web_sessions_active"), 1);
		assert.equal(sample(afterAll, "portcullis_audit_write_failures_total"), 0);
		assert.equal(sample(afterAll, "portcullis_recording_failures_total", { stage: "write" }), 0);
		assert.equal(sample(afterAll, "portcullis_ssh_channels_active", { type: "session" }), 0);
		// While the menu was open: one connection, one session channel.
		assert.equal(sample(during, "portcullis_ssh_connections_active"), 1);
		assert.equal(sample(during, "portcullis_ssh_channels_active", { type: "session" }), 1);
		assert.equal(sample(forwarding, "portcullis_ssh_channels_active", { type: "direct-tcpip" }), 1);
		assert.equal(sample(afterAll, "portcullis_ssh_channels_active", { type: "direct-tcpip" }), 0);
		// Labels are closed sets: no user name, address or host in the answer.
		for (const secret of ["alice", "carol", "127.0.0.1", dir, sshd.user]) assert.ok(!afterAll.includes(secret), secret);
	});

	test("best-effort recording that cannot start: the session goes on, recording.failed is audited and the metric counts it", async () => {
		const store = app.stores.recordings;
		const recordings: SshServices["recordings"] = {
			create: () => Promise.reject(new PortcullisError("ERR_DATABASE", "injected: the database refuses the recording")),
			append: (id, seq, previous, data) => store.append(id, seq, previous, data),
			setServers: (id, serverId, servers) => store.setServers(id, serverId, servers),
			finish: (id, endedAt) => store.finish(id, endedAt),
			createCapture: (input) => store.createCapture(input),
		};
		const failing = await startSshGateway({ ...app.ssh, recordings }, { listen: "127.0.0.1:0" });
		await app.servers.setGlobalRecordingMode(ADMIN_ACTOR, "best-effort");
		try {
			const before = (await scrape()).body;
			clock.advance(STEP_MS);
			const marker = `unrecorded-${randomBytes(4).toString("hex")}`;
			const result = await sshLogin({
				port: failing.address.port,
				username: "alice",
				password: PASSWORD,
				code: () => code("alice"),
				after: (client) =>
					new Promise<void>((resolve, reject) =>
						client.exec(`target -- echo ${marker}`, { pty: { term: "xterm", cols: 80, rows: 24 } }, (error, stream) => {
							if (error) return reject(error);
							let out = "";
							stream.on("data", (data: Buffer) => (out += data.toString("utf8")));
							stream.on("close", () => (out.includes(marker) ? resolve() : reject(new Error(`exec: ${out.slice(0, 200)}`))));
						}),
					),
			});
			assert.ok(result.ok, result.error);
			const body = (await scrape()).body;
			assert.equal(
				sample(body, "portcullis_recording_failures_total", { stage: "start" }) - sample(before, "portcullis_recording_failures_total", { stage: "start" }),
				1,
			);
			const audited = await app.stores.audit.query({ event: "recording.failed" });
			assert.equal(audited.length, 1);
		} finally {
			await app.servers.setGlobalRecordingMode(ADMIN_ACTOR, "strict");
			await failing.close();
		}
	});
});

test("audit events map to bounded labels; unrelated events and successful passwords count nothing", () => {
	const seen: string[] = [];
	const metrics: Metrics = {
		...createNoMetrics(),
		login: (channel, method, outcome) => seen.push(`login ${channel} ${method} ${outcome}`),
		lockout: (counter) => seen.push(`lockout ${counter}`),
	};
	const observe = auditMetrics(metrics);
	observe({ event: "login.success", outcome: "success", channel: "ssh", method: "totp" });
	observe({ event: "login.success", outcome: "success", channel: "web" });
	observe({ event: "login.password", outcome: "failure", channel: "evil\nchannel" });
	observe({ event: "login.password", outcome: "success", channel: "web" });
	observe({ event: "second-factor.failure", outcome: "failure", channel: "web", method: "made-up" });
	observe({ event: "login.denied", outcome: "failure", channel: "ssh" });
	observe({ event: "account.locked", outcome: "info", detail: { counter: "password" } });
	observe({ event: "account.locked", outcome: "info", detail: { counter: "x".repeat(500) } });
	observe({ event: "user.created", outcome: "success", channel: "cli" });
	assert.deepEqual(seen, [
		"login ssh totp success",
		"login web none success",
		"login other password failure",
		"login web other failure",
		"login ssh none denied",
		"lockout password",
		"lockout other",
	]);
});

test("without the option no exporter is built: scrapeMetrics is null and /metrics is 404", async () => {
	const dir = mkdtempSync(join(tmpdir(), "portcullis-nometrics-"));
	const app = await createPortcullis(testConfig(dir), { database: { kind: "sqlite", file: join(dir, "p.sqlite") }, secretKey: randomBytes(32) });
	try {
		assert.equal(app.scrapeMetrics, null);
		const ops = await startOpsServer({ readiness: () => app.readiness(), stopping: () => false, token: "" }, { host: "127.0.0.1", port: 0 });
		try {
			const response = await fetch(`http://127.0.0.1:${ops.address.port}/metrics`);
			assert.equal(response.status, 404);
			await response.text();
		} finally {
			await ops.close();
		}
	} finally {
		await app.close();
		rmSync(dir, { recursive: true, force: true });
	}
});

test("scrape-time figures: audit write failures as counted by the audit log; a database outage does not fail the scrape", async () => {
	const { PrometheusMetrics } = await import("../../src/app/prometheus-metrics.ts");
	const metrics = new PrometheusMetrics();
	let failures = 0;
	let sessions: () => Promise<number> = async () => 4;
	metrics.bind({ activeWebSessions: () => sessions(), auditWriteFailures: () => failures });
	let body = (await metrics.scrape()).body;
	assert.equal(sample(body, "portcullis_audit_write_failures_total"), 0);
	assert.equal(sample(body, "portcullis_web_sessions_active"), 4);
	failures = 3;
	metrics.relayBytes.toClient += 1000;
	sessions = () => Promise.reject(new PortcullisError("ERR_DATABASE_UNAVAILABLE"));
	body = (await metrics.scrape()).body;
	assert.equal(sample(body, "portcullis_audit_write_failures_total"), 3);
	assert.equal(sample(body, "portcullis_relay_bytes_total", { direction: "to_client" }), 1000);
	assert.equal(sample(body, "portcullis_web_sessions_active"), 4, "the last figure while the database is down");
});
