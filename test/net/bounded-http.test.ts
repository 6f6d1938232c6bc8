/**
 * The one bounded HTTP(S) exchange under YubiCloud and Duo (src/net/bounded-http.ts): the path is
 * sent byte for byte (signed requests), the answer is capped whether or not its length is
 * declared, and the deadline covers a server that never finishes. The method-level behaviour
 * (fail closed, audits) is tested with each method's fake server.
 */
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { boundedHttp, type BoundedHttpRequest } from "../../src/net/bounded-http.ts";

describe("boundedHttp", () => {
	let server: Server;
	let port: number;
	const seen: { method: string; url: string; body: string }[] = [];

	before(async () => {
		server = createServer((request, response) => {
			let body = "";
			request.on("data", (chunk: Buffer) => (body += chunk.toString("utf8")));
			request.on("end", () => {
				seen.push({ method: request.method ?? "", url: request.url ?? "", body });
				if (request.url === "/declared-huge") {
					response.writeHead(200, { "content-length": "100000" });
					response.end(Buffer.alloc(100_000));
				} else if (request.url === "/chunked-huge") {
					response.writeHead(200, { "content-type": "text/plain" });
					for (let index = 0; index < 20; index++) response.write(Buffer.alloc(1000, 0x61));
					response.end();
				} else if (request.url === "/never-ends") {
					response.writeHead(200);
					response.write("partial");
				} else {
					response.writeHead(201, { "content-type": "application/json" });
					response.end('{"ok":true}');
				}
			});
		});
		await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
		port = (server.address() as AddressInfo).port;
	});
	after(async () => {
		server.closeAllConnections();
		await new Promise((resolve) => server.close(resolve));
	});

	const request = (path: string, extra: Partial<BoundedHttpRequest> = {}): BoundedHttpRequest => ({
		protocol: "http:",
		hostname: "127.0.0.1",
		port,
		path,
		method: "GET",
		headers: {},
		timeoutMs: 2000,
		maxBytes: 4096,
		...extra,
	});

	test("an answer within the limits: status, content type and body; the path and body are sent as given", async () => {
		const path = "/sign?a=%27x%27&b=caf%C3%A9&c=!*()";
		const outcome = await boundedHttp(request(path, { method: "POST", body: "x=1&y=%20", headers: { "content-type": "application/x-www-form-urlencoded" } }));
		assert.deepEqual(outcome.kind === "response" ? { status: outcome.status, type: outcome.contentType, body: outcome.body.toString() } : outcome, {
			status: 201,
			type: "application/json",
			body: '{"ok":true}',
		});
		assert.deepEqual(seen.at(-1), { method: "POST", url: path, body: "x=1&y=%20" });
	});

	test("too large: by the declared length, and by counting an undeclared (chunked) body", async () => {
		for (const path of ["/declared-huge", "/chunked-huge"]) {
			const outcome = await boundedHttp(request(path));
			assert.equal(outcome.kind, "oversized", path);
			assert.equal(outcome.kind === "oversized" ? outcome.status : 0, 200);
		}
	});

	test("a server that never finishes is a timeout; a closed port is a network failure", async () => {
		const started = Date.now();
		const slow = await boundedHttp(request("/never-ends", { timeoutMs: 300 }));
		assert.equal(slow.kind === "failure" ? slow.reason : slow.kind, "timeout");
		assert.ok(Date.now() - started < 2000);
		const closed = await boundedHttp(request("/", { port: 1 }));
		assert.equal(closed.kind === "failure" ? closed.reason : closed.kind, "network");
	});

	test("https to a server that does not speak TLS is a failure, not an answer", async () => {
		const outcome = await boundedHttp(request("/", { protocol: "https:" }));
		assert.equal(outcome.kind, "failure");
	});
});
