/**
 * A local Duo Auth API v2 server for tests (stack.md §5): HTTPS on 127.0.0.1 port 0 with a
 * test-ca.ts certificate, serving /auth/v2/check, /auth/v2/preauth, /auth/v2/auth and
 * /auth/v2/auth_status.
 *
 * Request authentication is checked the way Duo does, using Duo's own reference signer
 * (@duosecurity/duo_api lib/duo_sig.js, v2 canonicalization, HMAC-SHA512) over the parameters as
 * received: missing credentials -> 401 code 40101, unknown ikey -> 401 40102, bad signature or a
 * Date outside the allowed skew -> 401 40103 (Duo reports skew as an invalid signature).
 *
 * Users are scripted (preauth result, devices, push/phone outcome, valid passcodes), and fault
 * modes simulate a broken service: hang, garbage JSON, an HTML 502, and more.
 */
import { timingSafeEqual } from "node:crypto";
import https from "node:https";
import type http from "node:http";
import { createRequire } from "node:module";
import type { AddressInfo, Socket } from "node:net";
import { systemClock, type Clock } from "../../src/core/clock.ts";

const require = createRequire(import.meta.url);
// The package ships no types; this is the one function used.
const duoSig = require("@duosecurity/duo_api/lib/duo_sig.js") as {
	sign(ikey: string, skey: string, method: string, host: string, path: string, params: Record<string, string>, date: string): string;
};

export interface FakeDuoDevice {
	readonly device: string;
	readonly type?: string;
	readonly display_name: string;
	readonly capabilities: readonly string[];
}

export interface FakeDuoUser {
	/** preauth result; "allow" is a Duo bypass user. Default "auth". */
	readonly preauth?: "auth" | "allow" | "deny" | "enroll";
	readonly devices?: readonly FakeDuoDevice[];
	/** Outcome of a push: "never" keeps an async push waiting for ever. Default "approve". */
	readonly push?: "approve" | "deny" | "timeout" | "never";
	readonly phone?: "approve" | "deny";
	/** Valid passcodes, each usable once. */
	readonly passcodes?: readonly string[];
	/** How many auth_status polls answer "waiting" before the outcome. Default 1. */
	readonly waitingPolls?: number;
}

export type FakeDuoFault =
	| "none"
	/** Accepts the request and never answers. */
	| "hang"
	/** 200, application/json, truncated JSON. */
	| "garbage-json"
	/** 502 with an HTML page, like a load balancer. */
	| "html-502"
	/** 200 text/html. */
	| "html-200"
	/** 200 with valid JSON of about 100 KiB (Content-Length set). */
	| "huge"
	/** 200 with about 100 KiB of JSON, chunked (no Content-Length): the cap must hold while streaming. */
	| "huge-chunked"
	/** 200, stat OK, fields of the wrong type. */
	| "bad-types"
	/** 200, stat OK, result value no client knows. */
	| "unknown-result"
	/** 200 with stat FAIL. */
	| "stat-fail"
	/** 500 with a Duo-style JSON error. */
	| "json-500"
	/** 200 JSON without a content type. */
	| "no-content-type";

export interface FakeDuoServerOptions {
	readonly ikey: string;
	readonly skey: string;
	readonly tls: { readonly cert: string; readonly key: string };
	/** Host name the signature must be made for. Default "localhost". */
	readonly apiHost?: string;
	readonly users?: Readonly<Record<string, FakeDuoUser>>;
	/** preauth for users not in `users`. Default "enroll" (Duo's "require enrollment" new-user policy). */
	readonly unknownUser?: "enroll" | "deny" | "allow";
	readonly clock?: Clock;
	/** Allowed |server time - Date header|. Default 300 s (assumed; Duo does not publish its window). */
	readonly maxSkewSeconds?: number;
}

export interface RecordedDuoRequest {
	readonly method: string;
	readonly path: string;
	readonly params: Readonly<Record<string, string>>;
	readonly date: string | undefined;
	readonly contentType: string | undefined;
	/** 0 when authentication passed, else the 401 code sent. */
	readonly authCode: number;
}

export interface FakeDuoServer {
	readonly host: string;
	readonly port: number;
	readonly requests: RecordedDuoRequest[];
	/** Mutable script: add or change users between tests. */
	readonly users: Map<string, FakeDuoUser>;
	/** Applies `fault` to the given paths (all paths when omitted); "none" clears. */
	setFault(fault: FakeDuoFault, paths?: readonly string[]): void;
	close(): Promise<void>;
}

interface Transaction {
	readonly username: string;
	readonly outcome: "approve" | "deny" | "timeout" | "never";
	pollsLeft: number;
}

const DEFAULT_DEVICE: FakeDuoDevice = {
	device: "DPFZRS9FB0D46QFTM891",
	type: "phone",
	display_name: "iOS (XXX-XXX-0100)",
	capabilities: ["auto", "push", "sms", "phone", "mobile_otp"],
};

function readBody(request: http.IncomingMessage): Promise<string> {
	return new Promise((resolve, reject) => {
		const chunks: Buffer[] = [];
		let size = 0;
		request.on("data", (chunk: Buffer) => {
			size += chunk.length;
			if (size > 64 * 1024) request.destroy();
			else chunks.push(chunk);
		});
		request.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
		request.on("error", reject);
	});
}

function sendJson(response: http.ServerResponse, status: number, body: unknown, contentType: string | null = "application/json"): void {
	const text = JSON.stringify(body);
	const headers: Record<string, string | number> = { "content-length": Buffer.byteLength(text) };
	if (contentType !== null) headers["content-type"] = contentType;
	response.writeHead(status, headers);
	response.end(text);
}

const ok = (response: http.ServerResponse, body: Record<string, unknown>): void => sendJson(response, 200, { stat: "OK", response: body });
const fail = (response: http.ServerResponse, status: number, code: number, message: string, detail?: string): void =>
	sendJson(response, status, { stat: "FAIL", code, message, ...(detail === undefined ? {} : { message_detail: detail }) });

export async function startFakeDuoServer(options: FakeDuoServerOptions): Promise<FakeDuoServer> {
	const apiHost = options.apiHost ?? "localhost";
	const clock = options.clock ?? systemClock;
	const maxSkewMs = (options.maxSkewSeconds ?? 300) * 1000;
	const users = new Map<string, FakeDuoUser>(Object.entries(options.users ?? {}));
	const requests: RecordedDuoRequest[] = [];
	const transactions = new Map<string, Transaction>();
	const usedPasscodes = new Set<string>();
	let faults = new Map<string, FakeDuoFault>();
	let globalFault: FakeDuoFault = "none";
	let txCounter = 0;
	const sockets = new Set<Socket>();

	const authenticate = (method: string, path: string, params: Record<string, string>, request: http.IncomingMessage): number => {
		const authorization = request.headers.authorization;
		const date = request.headers.date;
		if (typeof authorization !== "string" || typeof date !== "string" || !authorization.startsWith("Basic ")) return 40101;
		const decoded = Buffer.from(authorization.slice(6), "base64").toString("utf8");
		const colon = decoded.indexOf(":");
		if (colon < 0) return 40101;
		const ikey = decoded.slice(0, colon);
		const signature = decoded.slice(colon + 1);
		if (ikey !== options.ikey) return 40102;
		const when = Date.parse(date);
		if (Number.isNaN(when) || Math.abs(clock.now().getTime() - when) > maxSkewMs) return 40103;
		const expectedHeader = duoSig.sign(options.ikey, options.skey, method, apiHost, path, params, date);
		const expected = Buffer.from(expectedHeader.slice(6), "base64").toString("utf8").slice(colon + 1);
		const given = Buffer.from(signature, "utf8");
		const wanted = Buffer.from(expected, "utf8");
		return given.length === wanted.length && timingSafeEqual(given, wanted) ? 0 : 40103;
	};

	const userOf = (username: string): FakeDuoUser & { preauth: "auth" | "allow" | "deny" | "enroll" } => {
		const user = users.get(username);
		if (user === undefined) return { preauth: options.unknownUser ?? "enroll", devices: [] };
		return { ...user, preauth: user.preauth ?? "auth" };
	};

	const finalAnswer = (outcome: Transaction["outcome"]): { result: string; status: string; status_msg: string } => {
		switch (outcome) {
			case "approve":
				return { result: "allow", status: "allow", status_msg: "Success. Logging you in..." };
			case "deny":
				return { result: "deny", status: "deny", status_msg: "Login request denied." };
			case "timeout":
			case "never":
				return { result: "deny", status: "timeout", status_msg: "Login timed out." };
		}
	};

	const handle = async (request: http.IncomingMessage, response: http.ServerResponse): Promise<void> => {
		const url = new URL(request.url ?? "/", "https://fake");
		const method = request.method ?? "GET";
		const path = url.pathname;
		const body = method === "POST" ? await readBody(request) : "";
		const params: Record<string, string> = {};
		for (const [key, value] of new URLSearchParams(method === "POST" ? body : url.search)) params[key] = value;

		const fault = faults.get(path) ?? globalFault;
		const authCode = authenticate(method, path, params, request);
		requests.push({ method, path, params, date: request.headers.date, contentType: request.headers["content-type"], authCode });

		switch (fault) {
			case "hang":
				return;
			case "garbage-json":
				response.writeHead(200, { "content-type": "application/json" });
				response.end('{"stat": "OK", "response": {"result": "al');
				return;
			case "html-502":
				response.writeHead(502, { "content-type": "text/html" });
				response.end("<html><head><title>502 Bad Gateway</title></head><body>Bad Gateway</body></html>");
				return;
			case "html-200":
				response.writeHead(200, { "content-type": "text/html" });
				response.end("<html><body>Welcome to the captive portal</body></html>");
				return;
			case "huge":
				return ok(response, { result: "allow", status: "allow", status_msg: "x".repeat(100 * 1024), time: 1 });
			case "huge-chunked": {
				response.writeHead(200, { "content-type": "application/json" });
				response.write('{"stat": "OK", "response": {"time": 1, "pad": "');
				for (let i = 0; i < 100; i++) response.write("x".repeat(1024));
				response.end('"}}');
				return;
			}
			case "bad-types":
				return ok(response, { result: 1, status: [], status_msg: null, devices: "none", time: "now", txid: 7 });
			case "unknown-result":
				return ok(response, { result: "maybe", status: "maybe", status_msg: "Perhaps", devices: [], txid: "x", time: 1 });
			case "stat-fail":
				return sendJson(response, 200, { stat: "FAIL", code: 50000, message: "Internal error" });
			case "json-500":
				return fail(response, 500, 50001, "Internal server error");
			case "no-content-type":
				return sendJson(response, 200, { stat: "OK", response: { time: 1, result: "allow", status: "allow", status_msg: "ok" } }, null);
			case "none":
				break;
		}

		if (authCode === 40101) return fail(response, 401, 40101, "Missing request credentials");
		if (authCode === 40102) return fail(response, 401, 40102, "Invalid integration key in request credentials");
		if (authCode === 40103) return fail(response, 401, 40103, "Invalid signature in request credentials");

		const route = `${method} ${path}`;
		switch (route) {
			case "GET /auth/v2/check":
				return ok(response, { time: Math.floor(clock.now().getTime() / 1000) });

			case "POST /auth/v2/preauth": {
				const username = params.username;
				if (username === undefined) return fail(response, 400, 40002, "Invalid request parameters", "username");
				const user = userOf(username);
				switch (user.preauth) {
					case "auth":
						return ok(response, { result: "auth", status_msg: "Account is active", devices: user.devices ?? [DEFAULT_DEVICE] });
					case "allow":
						return ok(response, { result: "allow", status_msg: "Allowing unknown user" });
					case "deny":
						return ok(response, { result: "deny", status_msg: "Your account is disabled" });
					case "enroll":
						return ok(response, {
							result: "enroll",
							status_msg: "Enroll an authentication device to proceed",
							enroll_portal_url: "https://localhost/portal?code=48bac5d9393fb2c2",
						});
				}
				return;
			}

			case "POST /auth/v2/auth": {
				const { username, factor } = params;
				if (username === undefined || factor === undefined) return fail(response, 400, 40002, "Invalid request parameters", "username/factor");
				const user = userOf(username);
				const isAsync = params.async === "1";
				if (user.preauth === "allow") return ok(response, { result: "allow", status: "bypass", status_msg: "Allowing unknown user" });
				if (user.preauth === "deny") return ok(response, { result: "deny", status: "deny", status_msg: "Your account is disabled" });
				if (user.preauth === "enroll") return ok(response, { result: "deny", status: "enroll", status_msg: "Enroll an authentication device" });

				let outcome: Transaction["outcome"];
				if (factor === "passcode") {
					const passcode = params.passcode;
					if (passcode === undefined) return fail(response, 400, 40002, "Invalid request parameters", "passcode");
					const key = `${username}\u0000${passcode}`;
					const valid = (user.passcodes ?? []).includes(passcode) && !usedPasscodes.has(key);
					if (valid) usedPasscodes.add(key);
					outcome = valid ? "approve" : "deny";
					if (!isAsync) {
						return ok(
							response,
							valid
								? { result: "allow", status: "allow", status_msg: "Success. Logging you in..." }
								: { result: "deny", status: "deny", status_msg: "Incorrect passcode. Please try again." },
						);
					}
				} else if (factor === "push" || factor === "phone") {
					const device = params.device;
					const devices = user.devices ?? [DEFAULT_DEVICE];
					const known = device === "auto" || devices.some((d) => d.device === device && d.capabilities.includes(factor));
					if (device === undefined || !known) return fail(response, 400, 40002, "Invalid request parameters", "device");
					outcome = factor === "push" ? (user.push ?? "approve") : (user.phone ?? "approve");
					if (!isAsync) return ok(response, finalAnswer(outcome));
				} else {
					return fail(response, 400, 40002, "Invalid request parameters", "factor");
				}
				const txid = `45f7c92b-f45f-4862-8545-${String(++txCounter).padStart(12, "0")}`;
				transactions.set(txid, { username, outcome, pollsLeft: user.waitingPolls ?? 1 });
				return ok(response, { txid });
			}

			case "GET /auth/v2/auth_status": {
				const transaction = params.txid === undefined ? undefined : transactions.get(params.txid);
				if (transaction === undefined) return fail(response, 400, 40002, "Invalid request parameters", "txid");
				if (transaction.outcome === "never" || transaction.pollsLeft > 0) {
					transaction.pollsLeft--;
					return ok(response, { result: "waiting", status: "pushed", status_msg: "Pushed a login request to your device..." });
				}
				return ok(response, finalAnswer(transaction.outcome));
			}

			default:
				return fail(response, 404, 40401, "Resource not found");
		}
	};

	const server = https.createServer({ cert: options.tls.cert, key: options.tls.key }, (request, response) => {
		handle(request, response).catch(() => {
			if (!response.headersSent) fail(response, 500, 50000, "fake server error");
		});
	});
	server.on("connection", (socket: Socket) => {
		sockets.add(socket);
		socket.on("close", () => sockets.delete(socket));
	});
	await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
	const { port } = server.address() as AddressInfo;

	return {
		host: "localhost",
		port,
		requests,
		users,
		setFault(fault, paths) {
			if (paths === undefined) {
				globalFault = fault;
				faults = new Map();
			} else {
				for (const path of paths) faults.set(path, fault);
			}
		},
		close: () =>
			new Promise<void>((resolve) => {
				for (const socket of sockets) socket.destroy();
				server.close(() => resolve());
			}),
	};
}
