/**
 * A local Duo Auth API v2 server for tests (docs/dependencies.md, Duo): HTTPS on 127.0.0.1 port 0 with a
 * test-ca.ts certificate, serving /auth/v2/check, /auth/v2/preauth, /auth/v2/auth and
 * /auth/v2/auth_status, and, with `webClientId`/`webClientSecret`, the Universal Prompt's OIDC
 * endpoints /oauth/v1/health_check, /oauth/v1/authorize and /oauth/v1/token (below).
 *
 * Request authentication is checked the way Duo does, using Duo's own reference signer
 * (@duosecurity/duo_api lib/duo_sig.js, v2 canonicalization, HMAC-SHA512) over the parameters as
 * received: missing credentials -> 401 code 40101, unknown ikey -> 401 40102, bad signature or a
 * Date outside the allowed skew -> 401 40103 (Duo reports skew as an invalid signature).
 *
 * Users are scripted (preauth result, devices, push/phone outcome, valid passcodes), and fault
 * modes simulate a broken service: hang, garbage JSON, an HTML 502, and more.
 *
 * Universal Prompt (Web SDK), checked the way duo_universal 3.0.0 talks to Duo:
 * - health_check and token require a client_assertion JWT (HS512 with the client secret; iss = sub
 *   = client id, aud = the endpoint's full URL, exp in the future, a jti never seen before);
 * - authorize requires the `request` JWT (HS512; client_id, redirect_uri equal to the query's,
 *   response_type code, scope openid, state of 22..1024 characters, aud = https://host:port, exp),
 *   then redirects (302) to redirect_uri with duo_code and state, the outcome scripted per Duo
 *   user (`universal`: allow, deny or bypass; default from the user's preauth);
 * - token accepts each code once (invalid_grant after), bound to its redirect_uri and 5 minutes,
 *   and issues an HS512 id_token: iss = the token URL, aud = client id, exp, iat, auth_time,
 *   preferred_username and auth_result. `setUniversalTamper` breaks that token on purpose.
 * JWTs are made and checked here with node:crypto (not jose), so the fake is an independent oracle.
 * Time for the JWTs is real time: the SDK signs and verifies with Date.now().
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import https from "node:https";
import type http from "node:http";
import { createRequire } from "node:module";
import type { AddressInfo, Socket } from "node:net";
import { systemClock, type Clock } from "../../src/core/clock.ts";

/** The Duo application the tests configure: an Auth API key pair and a Web SDK (Universal Prompt) client. */
export const DUO_IKEY = "DIWJ8X6AEYOR5OMC6TQ1";
export const DUO_SKEY = "Zh5eGmUq9zpfQnyUIu5OL9iWoMMv5ZNmk3zLJ4Ep";
export const DUO_WEB_CLIENT_ID = "DIUNIVERSALWEBSDK001";
export const DUO_WEB_CLIENT_SECRET = "UniversalPromptTestSecret0123456789abcde";

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
	/** Universal Prompt outcome at /oauth/v1/authorize. Default: from preauth (auth → allow, allow → bypass, else deny). */
	readonly universal?: "allow" | "deny" | "bypass";
}

/** Deliberate faults in the Universal id_token (or its envelope). */
export type UniversalTamper =
	| "none"
	/** preferred_username of another Duo user. */
	| "other-username"
	/** Signed with a secret that is not the client secret. */
	| "wrong-secret"
	/** exp well in the past (beyond the SDK's 60 s leeway). */
	| "expired"
	| "wrong-audience"
	| "wrong-issuer"
	/** No auth_result claim. */
	| "no-auth-result"
	/** auth_result {result: "allow", status: "maybe"}. */
	| "unknown-status"
	/** token_type "mac" instead of "Bearer". */
	| "bad-token-type";

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
	/** The Web SDK application (Universal Prompt); without it the /oauth/v1 endpoints answer 401. */
	readonly webClientId?: string;
	readonly webClientSecret?: string;
	/**
	 * authorize answers a page with an "Approve" link back to redirect_uri instead of a 302, like
	 * Duo's prompt where the user acts: the navigation back is then started by Duo's page, i.e.
	 * cross-site (browser tests).
	 */
	readonly interactive?: boolean;
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
	/** Breaks the next id_tokens on purpose ("none" restores). */
	setUniversalTamper(tamper: UniversalTamper): void;
	/** Universal Prompt bookkeeping, for assertions. */
	readonly universal: {
		/** Codes issued by /authorize, with the Duo user they are for and whether /token consumed them. */
		readonly codes: Map<string, { readonly username: string; used: boolean }>;
		/** Refusals at the OIDC endpoints, newest last: "<path>: <reason>". */
		readonly refusals: string[];
	};
	close(): Promise<void>;
}

// ---- HS512 JWTs with node:crypto (independent of the SDK's jose) ----

const b64url = (data: Buffer | string): string => Buffer.from(data).toString("base64url");

export function signHs512(payload: Record<string, unknown>, secret: string): string {
	const head = b64url(JSON.stringify({ alg: "HS512", typ: "JWT" }));
	const body = b64url(JSON.stringify(payload));
	const signature = createHmac("sha512", secret).update(`${head}.${body}`).digest("base64url");
	return `${head}.${body}.${signature}`;
}

/** The payload when the JWT is HS512 and signed with `secret`; null otherwise. */
export function verifyHs512(token: string, secret: string): Record<string, unknown> | null {
	const parts = token.split(".");
	if (parts.length !== 3) return null;
	const [head, body, signature] = parts as [string, string, string];
	try {
		const header = JSON.parse(Buffer.from(head, "base64url").toString("utf8")) as { alg?: unknown };
		if (header.alg !== "HS512") return null;
		const expected = createHmac("sha512", secret).update(`${head}.${body}`).digest();
		const given = Buffer.from(signature, "base64url");
		if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
		const payload = JSON.parse(Buffer.from(body, "base64url").toString("utf8")) as unknown;
		return typeof payload === "object" && payload !== null && !Array.isArray(payload) ? (payload as Record<string, unknown>) : null;
	} catch {
		return null;
	}
}

/**
 * Plays the browser at Duo: GETs the authorize URL (trusting `ca`), does not follow the redirect,
 * and returns where Duo sent the browser back, with the duo_code and state it carries.
 */
export function visitAuthorize(url: string, ca: string): Promise<{ status: number; location: string | null; duoCode: string | null; state: string | null }> {
	return new Promise((resolve, reject) => {
		const request = https.get(url, { ca, agent: false }, (response) => {
			response.resume();
			const location = typeof response.headers.location === "string" ? response.headers.location : null;
			const params = location === null ? null : new URL(location).searchParams;
			resolve({ status: response.statusCode ?? 0, location, duoCode: params?.get("duo_code") ?? null, state: params?.get("state") ?? null });
		});
		request.on("error", reject);
	});
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
	let port = 0;

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
		const expected = Buffer.from(expectedHeader.slice(6), "base64")
			.toString("utf8")
			.slice(colon + 1);
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

	// ---- Universal Prompt (OIDC) ----

	const baseUrl = (): string => `https://${apiHost}:${port}`;
	const usedJtis = new Set<string>();
	const codes = new Map<string, { username: string; outcome: "allow" | "deny" | "bypass"; redirectUri: string; expiresAt: number; used: boolean }>();
	const publicCodes = new Map<string, { readonly username: string; used: boolean }>();
	const refusals: string[] = [];
	let tamper: UniversalTamper = "none";
	const nowSeconds = (): number => Math.floor(Date.now() / 1000);

	const refuse = (response: http.ServerResponse, path: string, status: number, error: string, description: string): void => {
		refusals.push(`${path}: ${description}`);
		if (path === "/oauth/v1/health_check")
			return sendJson(response, status, { stat: "FAIL", code: 40002, message: error, message_detail: description, timestamp: nowSeconds() });
		return sendJson(response, status, { error, error_description: description });
	};

	/** The client_assertion of health_check and token: HS512 with the secret, iss = sub = client id, aud = this URL. */
	const assertionProblem = (params: Record<string, string>, path: string): string | null => {
		if (options.webClientId === undefined || options.webClientSecret === undefined) return "no Web SDK application";
		if (params.client_id !== options.webClientId) return "unknown client_id";
		const claims = verifyHs512(params.client_assertion ?? "", options.webClientSecret);
		if (claims === null) return "client_assertion signature invalid";
		if (claims.iss !== options.webClientId || claims.sub !== options.webClientId) return "client_assertion iss/sub";
		if (claims.aud !== `${baseUrl()}${path}`) return `client_assertion aud ${String(claims.aud)}`;
		if (typeof claims.exp !== "number" || claims.exp <= nowSeconds()) return "client_assertion expired";
		if (typeof claims.jti !== "string" || claims.jti.length < 16) return "client_assertion jti";
		if (usedJtis.has(claims.jti)) return "client_assertion replayed";
		usedJtis.add(claims.jti);
		return null;
	};

	const outcomeFor = (username: string): "allow" | "deny" | "bypass" => {
		const user = userOf(username);
		if (user.universal !== undefined) return user.universal;
		return user.preauth === "auth" ? "allow" : user.preauth === "allow" ? "bypass" : "deny";
	};

	const idToken = (username: string, outcome: "allow" | "deny" | "bypass"): string => {
		const now = nowSeconds();
		const authResult =
			outcome === "allow"
				? { result: "allow", status: "allow", status_msg: "Login Successful" }
				: outcome === "bypass"
					? { result: "allow", status: "bypass", status_msg: "Allowing unknown user" }
					: { result: "deny", status: "deny", status_msg: "Login request denied" };
		const claims: Record<string, unknown> = {
			iss: `${baseUrl()}/oauth/v1/token`,
			aud: options.webClientId,
			sub: username,
			exp: now + 300,
			iat: now,
			auth_time: now,
			preferred_username: username,
			auth_result: authResult,
			auth_context: {
				result: authResult.result,
				factor: "duo_push",
				event_type: "authentication",
				user: { name: username, key: null, groups: [] },
				txid: randomBytes(8).toString("hex"),
			},
		};
		switch (tamper) {
			case "other-username":
				claims.preferred_username = `${username}-other`;
				claims.sub = `${username}-other`;
				break;
			case "expired":
				claims.exp = now - 3600;
				claims.iat = now - 4000;
				break;
			case "wrong-audience":
				claims.aud = "DIXXXXXXXXXXXXXXXXXX";
				break;
			case "wrong-issuer":
				claims.iss = "https://evil.example/oauth/v1/token";
				break;
			case "no-auth-result":
				delete claims.auth_result;
				break;
			case "unknown-status":
				claims.auth_result = { result: "allow", status: "maybe", status_msg: "?" };
				break;
			default:
				break;
		}
		return signHs512(claims, tamper === "wrong-secret" ? "s".repeat(40) : (options.webClientSecret ?? ""));
	};

	const handleOauth = (method: string, path: string, params: Record<string, string>, response: http.ServerResponse): void => {
		const route = `${method} ${path}`;
		if (route === "POST /oauth/v1/health_check") {
			const problem = assertionProblem(params, path);
			if (problem !== null) return refuse(response, path, 400, "invalid_client", problem);
			return sendJson(response, 200, { stat: "OK", response: { timestamp: nowSeconds() } });
		}
		if (route === "GET /oauth/v1/authorize") {
			const secret = options.webClientSecret;
			if (options.webClientId === undefined || secret === undefined || params.client_id !== options.webClientId)
				return refuse(response, path, 400, "invalid_client", "unknown client_id");
			const claims = verifyHs512(params.request ?? "", secret);
			if (claims === null) return refuse(response, path, 400, "invalid_request", "request JWT signature invalid");
			const state = claims.state;
			const problem =
				params.response_type !== "code" || claims.response_type !== "code"
					? "response_type"
					: params.scope !== "openid" || claims.scope !== "openid"
						? "scope"
						: claims.client_id !== options.webClientId || claims.iss !== options.webClientId
							? "client_id/iss"
							: claims.aud !== baseUrl()
								? `aud ${String(claims.aud)}`
								: typeof claims.redirect_uri !== "string" || claims.redirect_uri !== params.redirect_uri
									? "redirect_uri"
									: typeof claims.exp !== "number" || claims.exp <= nowSeconds()
										? "expired"
										: typeof state !== "string" || state.length < 22 || state.length > 1024
											? "state"
											: typeof claims.duo_uname !== "string" || claims.duo_uname.length === 0
												? "duo_uname"
												: null;
			if (problem !== null) return refuse(response, path, 400, "invalid_request", problem);
			const username = claims.duo_uname as string;
			const code = randomBytes(16).toString("hex");
			codes.set(code, { username, outcome: outcomeFor(username), redirectUri: claims.redirect_uri as string, expiresAt: nowSeconds() + 300, used: false });
			publicCodes.set(code, { username, used: false });
			const back = new URL(claims.redirect_uri as string);
			back.searchParams.set(claims.use_duo_code_attribute === false ? "code" : "duo_code", code);
			back.searchParams.set("state", state as string);
			if (options.interactive === true) {
				const href = back.toString().replace(/&/g, "&amp;").replace(/"/g, "&quot;");
				const html = `<!doctype html><html><head><title>Duo Security (fake)</title></head><body><h1>Fake Duo prompt</h1><p>Login request for ${username.replace(/[<>&"]/g, "")}</p><a id="duo-approve" href="${href}">Approve</a></body></html>`;
				response.writeHead(200, { "content-type": "text/html; charset=utf-8", "content-length": Buffer.byteLength(html) });
				response.end(html);
				return;
			}
			response.writeHead(302, { location: back.toString(), "content-length": 0 });
			response.end();
			return;
		}
		if (route === "POST /oauth/v1/token") {
			const problem = assertionProblem(params, path);
			if (problem !== null) return refuse(response, path, 401, "invalid_client", problem);
			if (params.grant_type !== "authorization_code" || params.client_assertion_type !== "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
				return refuse(response, path, 400, "invalid_request", "grant_type/client_assertion_type");
			const entry = codes.get(params.code ?? "");
			if (entry === undefined) return refuse(response, path, 400, "invalid_grant", "unknown code");
			if (entry.used) return refuse(response, path, 400, "invalid_grant", "code already used");
			entry.used = true;
			const shown = publicCodes.get(params.code ?? "");
			if (shown !== undefined) shown.used = true;
			if (entry.expiresAt <= nowSeconds()) return refuse(response, path, 400, "invalid_grant", "code expired");
			if (params.redirect_uri !== entry.redirectUri) return refuse(response, path, 400, "invalid_grant", "redirect_uri differs");
			return sendJson(response, 200, {
				id_token: idToken(entry.username, entry.outcome),
				access_token: randomBytes(16).toString("hex"),
				expires_in: 3600,
				token_type: tamper === "bad-token-type" ? "mac" : "Bearer",
			});
		}
		return refuse(response, path, 404, "not_found", `no route ${route}`);
	};

	const handle = async (request: http.IncomingMessage, response: http.ServerResponse): Promise<void> => {
		const url = new URL(request.url ?? "/", "https://fake");
		const method = request.method ?? "GET";
		const path = url.pathname;
		const body = method === "POST" ? await readBody(request) : "";
		const params: Record<string, string> = {};
		for (const [key, value] of new URLSearchParams(method === "POST" ? body : url.search)) params[key] = value;

		const fault = faults.get(path) ?? globalFault;
		const oauth = path.startsWith("/oauth/v1/");
		// The OIDC endpoints authenticate with JWTs (handleOauth), not with the Auth API signature.
		const authCode = oauth ? 0 : authenticate(method, path, params, request);
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

		if (oauth) return handleOauth(method, path, params, response);

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
	port = (server.address() as AddressInfo).port;

	return {
		host: "localhost",
		port,
		requests,
		users,
		setUniversalTamper(next) {
			tamper = next;
		},
		universal: { codes: publicCodes, refusals },
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
