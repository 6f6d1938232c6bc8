/**
 * A node for the outage tests: a real app (SQLite file, or a fresh PostgreSQL database reached
 * through a TCP proxy the test can cut), the console (inject), the SSH gateway with the stand-in
 * channels, the operations listener, and a logger that keeps every line for assertions.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import { createPortcullis, type Portcullis } from "../../src/app/portcullis.ts";
import { webServices } from "../../src/app/web-services.ts";
import { FakeClock } from "../../src/core/clock.ts";
import type { Logger } from "../../src/core/logger.ts";
import { startSshGateway, type SshGateway } from "../../src/ssh/gateway.ts";
import { startOpsServer, type OpsServer } from "../../src/web/ops-server.ts";
import { buildWebServer } from "../../src/web/server.ts";
import { type ChannelLog, standInChannels } from "../ssh/auth-fixtures.ts";
import { startTcpProxy, type TcpProxy } from "../helpers/tcp-proxy.ts";
import { createPostgresDatabase, testConfig } from "../helpers/test-app.ts";

export interface LogLine {
	readonly level: "error" | "warn" | "info";
	readonly message: string;
	readonly fields: Record<string, unknown>;
}

/** A Logger that keeps every line (children share the list). */
export function recordingLogger(lines: LogLine[], bindings: Record<string, unknown> = {}): Logger {
	const at =
		(level: LogLine["level"]) =>
		(fields: Record<string, unknown>, message: string): void => {
			lines.push({ level, message, fields: { ...bindings, ...fields } });
		};
	return { error: at("error"), warn: at("warn"), info: at("info"), child: (more) => recordingLogger(lines, { ...bindings, ...more }) };
}

export interface OpsNode {
	readonly app: Portcullis;
	readonly clock: FakeClock;
	readonly web: FastifyInstance;
	readonly gateway: SshGateway;
	readonly ops: OpsServer;
	readonly channels: ChannelLog;
	readonly logs: LogLine[];
	/** PostgreSQL only: the proxy between the node and the database. */
	readonly proxy: TcpProxy | null;
	/** Lines whose message starts with `prefix`. */
	linesStarting(prefix: string): LogLine[];
	readyz(): Promise<{ status: number; body: Record<string, unknown> }>;
	close(): Promise<void>;
}

export async function startOpsNode(engine: "sqlite" | "postgres", database: Record<string, unknown> = {}): Promise<OpsNode> {
	const dir = mkdtempSync(join(tmpdir(), "portcullis-ops-"));
	const logs: LogLine[] = [];
	const clock = new FakeClock(Date.UTC(2026, 10, 28, 9, 0, 0));
	let proxy: TcpProxy | null = null;
	let drop: (() => Promise<void>) | null = null;
	let target: { kind: "sqlite"; file: string } | { kind: "postgres"; url: string };
	if (engine === "postgres") {
		const created = await createPostgresDatabase();
		drop = created.drop;
		proxy = await startTcpProxy({ host: "127.0.0.1", port: 5432 });
		const url = new URL(created.url);
		url.port = String(proxy.port);
		target = { kind: "postgres", url: url.toString() };
	} else {
		target = { kind: "sqlite", file: join(dir, "portcullis.sqlite") };
	}
	const config = testConfig(dir, {
		ssh: { listen: "127.0.0.1:0" },
		database: { connect_timeout_ms: 1000, statement_timeout_ms: 2000, sqlite_busy_timeout_ms: 200, health_probe_ms: 200, ...database },
	});
	const app = await createPortcullis(config, { clock, database: target, secretKey: randomBytes(32), logger: recordingLogger(logs) });
	app.health.start();
	const web = await buildWebServer(webServices(app));
	await web.ready();
	const channels: ChannelLog = { calls: [] };
	const gateway = await startSshGateway(app.ssh, { listen: "127.0.0.1:0", attachChannels: standInChannels(channels) });
	const ops = await startOpsServer({ readiness: () => app.readiness(), stopping: () => false, token: "" }, { host: "127.0.0.1", port: 0 });
	return {
		app,
		clock,
		web,
		gateway,
		ops,
		channels,
		logs,
		proxy,
		linesStarting: (prefix) => logs.filter((line) => line.message.startsWith(prefix)),
		async readyz() {
			const response = await fetch(`http://127.0.0.1:${ops.address.port}/readyz`);
			return { status: response.status, body: (await response.json()) as Record<string, unknown> };
		},
		async close() {
			await ops.close();
			await gateway.close();
			await web.close();
			proxy?.mode("forward");
			await app.close();
			await proxy?.close();
			await drop?.();
			rmSync(dir, { recursive: true, force: true });
		},
	};
}

/** Polls until `predicate` holds. No deadline: a loaded machine is slow, not wrong (the runner's limit catches a hang). */
export async function until(predicate: () => boolean | Promise<boolean>): Promise<number> {
	const started = Date.now();
	while (!(await predicate())) await new Promise((resolve) => setTimeout(resolve, 50));
	return Date.now() - started;
}
