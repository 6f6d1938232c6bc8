/**
 * The operations listener (src/web/ops-server.ts) and the outage classification
 * (src/storage/database-health.ts): /healthz and /readyz answers, the optional bearer token, no
 * secret in any answer; which driver errors count as "the database is unavailable".
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { PortcullisError } from "../../src/core/errors.ts";
import { isDatabaseOutageError } from "../../src/storage/database-health.ts";
import { startOpsServer, type OpsServer } from "../../src/web/ops-server.ts";
import { createTestApp, type TestApp } from "../helpers/test-app.ts";

describe("operations listener", () => {
	let t: TestApp;
	let open: OpsServer;
	let guarded: OpsServer;
	let stopping = false;
	const TOKEN = "ops-token-7f3a9c";

	before(async () => {
		t = await createTestApp();
		const services = { readiness: () => t.app.readiness(), stopping: () => stopping };
		open = await startOpsServer({ ...services, token: "" }, { host: "127.0.0.1", port: 0 });
		guarded = await startOpsServer({ ...services, token: TOKEN }, { host: "127.0.0.1", port: 0 });
	});
	after(async () => {
		await open.close();
		await guarded.close();
		await t.cleanup();
	});

	const get = async (server: OpsServer, path: string, headers: Record<string, string> = {}) => {
		const response = await fetch(`http://127.0.0.1:${server.address.port}${path}`, { headers });
		const text = await response.text();
		return { status: response.status, text, type: response.headers.get("content-type") };
	};

	test("/healthz 200; /readyz 200 with its checks; nothing else is served", async () => {
		const health = await get(open, "/healthz");
		assert.equal(health.status, 200);
		assert.equal(health.type, "application/json");
		const body = JSON.parse(health.text) as { status: string; process: Record<string, number> };
		assert.equal(body.status, "ok");
		assert.deepEqual(Object.keys(body.process).sort(), ["activeHandles", "heapUsedBytes", "rssBytes", "uptimeSeconds"]);
		assert.ok(Object.values(body.process).every((value) => Number.isInteger(value) && value >= 0));
		const ready = await get(open, "/readyz");
		assert.equal(ready.status, 200);
		assert.deepEqual(JSON.parse(ready.text), { ready: true, checks: { database: true, migrations: true, secretKey: true, stopping: false } });
		assert.equal((await get(open, "/metrics")).status, 404);
		assert.equal((await get(open, "/login")).status, 404, "the console is not on this listener");
	});

	test("no secret, path or address in the answers", async () => {
		const ready = await get(open, "/readyz");
		for (const secret of [t.dir, t.app.config.data_dir, "sqlite", "127.0.0.1"]) assert.ok(!ready.text.includes(secret), secret);
	});

	test("stopping: /readyz 503 while /healthz stays 200", async () => {
		stopping = true;
		try {
			const ready = await get(open, "/readyz");
			assert.equal(ready.status, 503);
			assert.equal(JSON.parse(ready.text).checks.stopping, true);
			assert.equal((await get(open, "/healthz")).status, 200);
		} finally {
			stopping = false;
		}
	});

	test("with ops.token: 401 without it or with a wrong one, 200 with it", async () => {
		assert.equal((await get(guarded, "/readyz")).status, 401);
		assert.equal((await get(guarded, "/healthz")).status, 401);
		assert.equal((await get(guarded, "/readyz", { authorization: `Bearer ${TOKEN}x` })).status, 401);
		assert.equal((await get(guarded, "/readyz", { authorization: TOKEN })).status, 401);
		assert.equal((await get(guarded, "/readyz", { authorization: `Bearer ${TOKEN}` })).status, 200);
		assert.ok(!(await get(guarded, "/readyz")).text.includes(TOKEN));
	});
});

describe("outage classification", () => {
	const coded = (code: string, message = "x") => Object.assign(new Error(message), { code });

	test("driver errors that mean the database is unreachable or cannot write", () => {
		for (const error of [
			coded("ECONNREFUSED"),
			coded("ECONNRESET"),
			coded("57P01", "terminating connection due to administrator command"),
			coded("57P03", "the database system is starting up"),
			coded("57014", "canceling statement due to statement timeout"),
			coded("08006"),
			coded("53300", "too many connections"),
			coded("SQLITE_BUSY"),
			coded("SQLITE_READONLY_DBMOVED"),
			coded("SQLITE_CANTOPEN"),
			coded("SQLITE_IOERR_WRITE"),
			coded("SQLITE_FULL"),
			new Error("Connection terminated unexpectedly"),
			new Error("timeout exceeded when trying to connect"),
			new Error("Query read timeout"),
			new AggregateError([coded("ECONNREFUSED")], "connect failed"),
			new PortcullisError("ERR_DATABASE", "database migration failed", { cause: coded("ECONNREFUSED") }),
			new PortcullisError("ERR_DATABASE_UNAVAILABLE"),
		])
			assert.equal(isDatabaseOutageError(error), true, `${String((error as { code?: string }).code)} ${error.message}`);
	});

	test("everything else is not an outage (it stays a 500 / an audited internal error)", () => {
		for (const error of [
			coded("23505", "duplicate key value violates unique constraint"),
			coded("42P01", "relation does not exist"),
			coded("SQLITE_CONSTRAINT_UNIQUE"),
			coded("SQLITE_ERROR"),
			new TypeError("cannot read properties of undefined"),
			new PortcullisError("ERR_INTERNAL"),
			null,
			"ECONNREFUSED",
		])
			assert.equal(isDatabaseOutageError(error), false, String(error));
	});
});
