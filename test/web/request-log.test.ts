/**
 * The console's request log (issue 10 §4, docs/operations.md "Logs"): one line per request with a
 * human-readable time, no line for static assets at info level, and the level set by `log.level`.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { buildWebServer } from "../../src/web/server.ts";
import { webServices } from "../../src/app/web-services.ts";
import { createTestApp } from "../helpers/test-app.ts";

interface Line {
	level: number;
	time: unknown;
	msg: string;
	req?: { method: string; url: string; remoteAddress: string };
	res?: { statusCode: number };
	responseTime?: number;
}

async function withConsole(level: string, run: (get: (url: string) => Promise<number>, lines: Line[]) => Promise<void>): Promise<void> {
	const t = await createTestApp({ config: { log: { level } } });
	const lines: Line[] = [];
	const server = await buildWebServer(webServices(t.app), {
		logger: true,
		logStream: { write: (text: string) => void lines.push(JSON.parse(text) as Line) },
	});
	try {
		await server.ready();
		await run(async (url) => (await server.inject({ method: "GET", url })).statusCode, lines);
	} finally {
		await server.close();
		await t.cleanup();
	}
}

const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

describe("request log", () => {
	test("info: one line per page request, with an ISO 8601 UTC time; none for a static asset", async () => {
		await withConsole("info", async (get, lines) => {
			assert.equal(await get("/login"), 200);
			assert.equal(lines.length, 1, JSON.stringify(lines));
			const [line] = lines;
			assert.equal(line?.msg, "request completed");
			assert.equal(line?.level, 30);
			assert.match(String(line?.time), ISO_UTC);
			assert.deepEqual(line?.req, { method: "GET", url: "/login", remoteAddress: "127.0.0.1" });
			assert.equal(line?.res?.statusCode, 200);
			assert.equal(typeof line?.responseTime, "number");

			lines.length = 0;
			assert.equal(await get("/static/app.css"), 200);
			assert.deepEqual(lines, []);
			// A miss under /static is not an asset: it is logged like any page.
			assert.equal(await get("/static/no-such-file.css"), 404);
			assert.equal(lines.length, 1);
		});
	});

	test("debug: static assets get their line too", async () => {
		await withConsole("debug", async (get, lines) => {
			assert.equal(await get("/static/app.css"), 200);
			assert.equal(lines.length, 1);
			assert.equal(lines[0]?.level, 20);
			assert.equal(lines[0]?.req?.url, "/static/app.css");
		});
	});

	test("warn: no per-request lines", async () => {
		await withConsole("warn", async (get, lines) => {
			assert.equal(await get("/login"), 200);
			assert.equal(await get("/account"), 303);
			assert.deepEqual(lines, []);
		});
	});

	test("one-time tokens in the path and the Duo callback's query are redacted", async () => {
		await withConsole("info", async (get, lines) => {
			await get(`/enroll-link/${"A".repeat(43)}`);
			await get("/login/duo/callback?duo_code=SECRET1&state=SECRET2");
			const urls = lines.map((line) => line.req?.url ?? "");
			assert.equal(urls[0], "/enroll-link/[redacted]");
			assert.ok(urls[1]?.includes("duo_code=[redacted]") && urls[1].includes("state=[redacted]"), urls[1]);
			assert.ok(!JSON.stringify(lines).includes("SECRET") && !JSON.stringify(lines).includes("A".repeat(43)));
		});
	});
});
