/**
 * The operations listener (`ops.listen`, off by default): `/healthz` (the process is up and its
 * event loop answers; with its memory and handle counts), `/readyz` (this node can serve logins now: the database answers, every
 * migration is applied, the secret key is loaded, and it is not stopping) and `/metrics` (Prometheus
 * text format: counts and durations only, labels from closed sets; docs/operations.md "Metrics"). Separate from the console
 * so that a load balancer or an orchestrator can reach it on a private address, and so that nothing
 * of the console's pipeline (sessions, database reads) runs for a probe.
 *
 * The answers carry booleans only, never a URL, a host name, an error text or a key. With
 * `ops.token` set, every request must carry `Authorization: Bearer <token>` (compared in constant
 * time); without it, 401.
 */
import { timingSafeEqual, createHash } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { Readiness } from "../storage/database-health.ts";

export interface OpsServices {
	/** Database reachable now, migrations current, secret key loaded. */
	readiness(): Promise<Readiness>;
	/** True once a graceful stop began: the node reports not-ready so that balancers move away. */
	stopping(): boolean;
	/** Empty: no token required. */
	readonly token: string;
	/** `/metrics` in the Prometheus text format (src/app/prometheus-metrics.ts); absent: 404. */
	readonly metrics?: () => Promise<{ readonly contentType: string; readonly body: string }>;
}

export interface OpsServer {
	readonly address: { host: string; port: number };
	close(): Promise<void>;
}

function digest(value: string): Buffer {
	return createHash("sha256").update(value).digest();
}

function authorized(request: IncomingMessage, token: string): boolean {
	if (token === "") return true;
	const header = request.headers.authorization ?? "";
	const match = /^Bearer (.+)$/.exec(header);
	// Hashing first makes the comparison constant-time whatever the lengths.
	return match !== null && timingSafeEqual(digest(match[1] ?? ""), digest(token));
}

function send(response: ServerResponse, status: number, body: unknown): void {
	const text = `${JSON.stringify(body)}\n`;
	response.writeHead(status, { "content-type": "application/json", "cache-control": "no-store", "content-length": Buffer.byteLength(text) });
	response.end(text);
}

export async function handleOpsRequest(services: OpsServices, request: IncomingMessage, response: ServerResponse): Promise<void> {
	const path = (request.url ?? "/").split("?")[0];
	if (request.method !== "GET" && request.method !== "HEAD") return send(response, 405, { error: "method not allowed" });
	if (!authorized(request, services.token)) return send(response, 401, { error: "unauthorized" });
	if (path === "/healthz") {
		// Process figures for soak runs and dashboards (numbers only): resident memory, heap, and
		// the handles (sockets, timers, files) the event loop holds.
		const memory = process.memoryUsage();
		return send(response, 200, {
			status: "ok",
			process: {
				uptimeSeconds: Math.round(process.uptime()),
				rssBytes: memory.rss,
				heapUsedBytes: memory.heapUsed,
				activeHandles: process.getActiveResourcesInfo().length,
			},
		});
	}
	if (path === "/readyz") {
		const stopping = services.stopping();
		let readiness: Readiness;
		try {
			readiness = await services.readiness();
		} catch {
			readiness = { ready: false, checks: { database: false, migrations: false, secretKey: true } };
		}
		const ready = readiness.ready && !stopping;
		return send(response, ready ? 200 : 503, { ready, checks: { ...readiness.checks, stopping } });
	}
	if (path === "/metrics" && services.metrics !== undefined) {
		const scrape = await services.metrics();
		response.writeHead(200, { "content-type": scrape.contentType, "cache-control": "no-store", "content-length": Buffer.byteLength(scrape.body) });
		response.end(request.method === "HEAD" ? undefined : scrape.body);
		return;
	}
	return send(response, 404, { error: "not found" });
}

export async function startOpsServer(services: OpsServices, listen: { host: string; port: number }): Promise<OpsServer> {
	const server = createServer((request, response) => {
		handleOpsRequest(services, request, response).catch(() => {
			if (!response.headersSent) send(response, 500, { error: "internal" });
			else response.destroy();
		});
	});
	server.on("clientError", (_error, socket) => socket.destroy());
	await new Promise<void>((resolve, reject) => {
		server.once("error", reject);
		server.listen({ host: listen.host, port: listen.port }, () => {
			server.off("error", reject);
			resolve();
		});
	});
	const bound = server.address();
	const address = typeof bound === "object" && bound !== null ? { host: bound.address, port: bound.port } : listen;
	return {
		address,
		close: () =>
			new Promise<void>((resolve) => {
				server.close(() => resolve());
				server.closeAllConnections();
			}),
	};
}
