/**
 * `npm run bench:api`: what the per-call token check costs. Requests per second and latency of
 * GET /api/v1/me and GET /api/v1/users with a live token (every call reads the token and its owner
 * and runs the live-policy check in the database, writes last use, and appends an `api.call`
 * audit event), against an anonymous 401 (no token: no database work) for the floor.
 * SQLite in a temporary directory; autocannon, 8 connections, `--seconds N` each (default 5).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createRequire } from "node:module";
import { createPortcullis } from "../../src/app/portcullis.ts";
import { webServices } from "../../src/app/web-services.ts";
import { configSchema } from "../../src/config/config.ts";
import { createLogger } from "../../src/core/logger.ts";
import { buildWebServer } from "../../src/web/server.ts";

/** The part of autocannon's API used here (it ships no type declarations). */
interface AutocannonResult {
	readonly requests: { readonly average: number; readonly total: number };
	readonly latency: { readonly p50: number; readonly p99: number };
	readonly "2xx": number;
	readonly "4xx": number;
}
const autocannon = createRequire(import.meta.url)("autocannon") as (options: {
	url: string;
	connections: number;
	duration: number;
	headers: Record<string, string>;
}) => Promise<AutocannonResult>;

const secondsArg = process.argv.indexOf("--seconds");
const seconds = secondsArg > 0 ? Number(process.argv[secondsArg + 1]) : 5;

const dir = mkdtempSync(join(tmpdir(), "portcullis-bench-api-"));
const config = configSchema.parse({ data_dir: dir, http: { listen: "127.0.0.1:0", public_url: "http://127.0.0.1:8080" } });
const app = await createPortcullis(config, { logger: createLogger({ level: "error" }) });
const server = await buildWebServer(webServices(app));
try {
	const admin = await app.admin.createUser(
		{ name: "bench", channel: "cli", source: "bench" },
		{ username: "bench", password: "bench password 1234", isAdmin: true, groups: [] },
	);
	for (let i = 0; i < 50; i++)
		await app.admin.createUser({ name: "bench", channel: "cli", source: "bench" }, { username: `user${i}`, password: null, isAdmin: false, groups: [] });
	const { token } = await app.apiTokens.createPersonal(
		{ name: "user:bench", channel: "web", source: "bench" },
		{ userId: admin.id, sessionEpoch: 0, secondFactorMethod: null },
		{ name: "bench", scopes: ["read"], expiresAt: Date.now() + 86_400_000 },
	);
	const address = await server.listen({ host: "127.0.0.1", port: 0 });
	const rows: string[] = [];
	for (const [label, path, auth] of [
		["GET /api/v1/me (no token: 401)", "/api/v1/me", false],
		["GET /api/v1/me", "/api/v1/me", true],
		["GET /api/v1/users (51 users)", "/api/v1/users", true],
	] as const) {
		const result = await autocannon({
			url: `${address}${path}`,
			connections: 8,
			duration: seconds,
			headers: auth ? { authorization: `Bearer ${token}` } : {},
		});
		const ok = auth ? result["2xx"] : result["4xx"];
		rows.push(
			`| ${label} | ${Math.round(result.requests.average)} | ${result.latency.p50} | ${result.latency.p99} | ${ok} of ${result.requests.total} expected status |`,
		);
	}
	console.log(`API on SQLite, autocannon 8 connections, ${seconds} s each, node ${process.version}\n`);
	console.log("| request | req/s | p50 ms | p99 ms | answers |\n|---|---|---|---|---|");
	for (const row of rows) console.log(row);
} finally {
	await server.close();
	await app.close();
	rmSync(dir, { recursive: true, force: true });
}
