/**
 * `npm run bench:web:probe`: what one request costs inside the process, without the network:
 * database queries and log lines per request for anonymous GET /login, authenticated GET
 * /account and GET /admin/users (in-process, app.inject(), SQLite; queries counted where
 * better-sqlite3 runs a statement). Add `--cpu-prof` to the node
 * flags for a profile of PROBE_N requests of each.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import BetterSqlite3 from "better-sqlite3";
import { createPortcullis } from "../../src/app/portcullis.ts";
import { webServices } from "../../src/app/web-services.ts";
import { buildWebServer } from "../../src/web/server.ts";
import { ADMIN_ACTOR, testConfig } from "../../test/helpers/test-app.ts";

let queries = 0;
const sqls: string[] = [];
/** Time inside SQLite per statement text (PROBE_SQL=1 prints it). */
const spent = new Map<string, number>();
// Counted where statements run (the SQLite dialect caches prepared statements).
const probe = new BetterSqlite3(":memory:");
const statementProto = Object.getPrototypeOf(probe.prepare("select 1")) as Record<"all" | "run" | "get", (...args: unknown[]) => unknown>;
probe.close();
for (const name of ["all", "run", "get"] as const) {
	const original = statementProto[name];
	statementProto[name] = function (this: { source: string }, ...args: unknown[]) {
		queries++;
		sqls.push(this.source);
		const started = performance.now();
		try {
			return original.apply(this, args);
		} finally {
			spent.set(this.source, (spent.get(this.source) ?? 0) + performance.now() - started);
		}
	};
}
let lines = 0;
const write = process.stdout.write.bind(process.stdout);
let capture = false;
process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
	if (capture) {
		lines += String(chunk).split("\n").length - 1;
		return true;
	}
	return (write as (c: string | Uint8Array, ...r: unknown[]) => boolean)(chunk, ...rest);
}) as typeof process.stdout.write;

const dir = mkdtempSync(join(tmpdir(), "portcullis-probe-"));
const app = await createPortcullis(testConfig(dir), { database: { kind: "sqlite", file: join(dir, "portcullis.sqlite") }, secretKey: randomBytes(32) });
try {
	const user = await app.admin.createUser(ADMIN_ACTOR, { username: "ada", password: "correct horse battery", isAdmin: true, groups: [] });
	const { token } = await app.stores.sessions.create({
		userId: user.id,
		attemptId: null,
		state: "full",
		secondFactorMethod: null,
		stepUpAt: app.clock.now().getTime(),
		sessionEpoch: user.session_epoch,
		source: "probe",
		ttlMs: 3_600_000,
	});
	const server = await buildWebServer(webServices(app), { logger: true });
	await server.ready();
	const pre = randomBytes(32).toString("base64url");
	const cookie = `pc_session=${token}; pc_pre=${pre}`;
	const n = Number(process.env.PROBE_N ?? "2000");
	for (const [path, headers] of [
		["/login", { cookie: `pc_pre=${pre}` }],
		["/account", { cookie }],
		["/admin/users", { cookie }],
		["/static/app.css", { cookie }],
	] as const) {
		if (process.env.PROBE_ONLY && process.env.PROBE_ONLY !== path) continue;
		capture = true;
		// Warm up (the first request of a session runs the full policy check and stamps the version).
		for (let i = 0; i < 200; i++) await server.inject({ method: "GET", url: path, headers });
		queries = 0;
		lines = 0;
		spent.clear();
		sqls.length = 0;
		const started = performance.now();
		let chunk = performance.now();
		for (let i = 0; i < n; i++) {
			const response = await server.inject({ method: "GET", url: path, headers });
			if (response.statusCode !== 200) throw new Error(`${path}: ${response.statusCode}`);
			// PROBE_CHUNKS=1: the cost per block of 500 requests (does it grow with the run?).
			if (process.env.PROBE_CHUNKS === "1" && (i + 1) % 500 === 0) {
				write(`  ${i + 1}: ${((performance.now() - chunk) * 2).toFixed(0)} µs/request\n`);
				chunk = performance.now();
			}
		}
		const ms = performance.now() - started;
		capture = false;
		const distinct = [...new Set(sqls)];
		write(
			`${path.padEnd(16)} ${(queries / n).toFixed(2)} queries/request, ${(lines / n).toFixed(2)} log lines/request, ${((ms * 1000) / n).toFixed(0)} µs/request in-process (${n} requests)\n`,
		);
		if (process.env.PROBE_SQL === "1")
			for (const sql of distinct) write(`    ${(((spent.get(sql) ?? 0) * 1000) / n).toFixed(1)} µs/request  ${sql.slice(0, 140)}\n`);
	}
	await server.close();
} finally {
	await app.close();
	rmSync(dir, { recursive: true, force: true });
}
