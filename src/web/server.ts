/**
 * The web console: Fastify 5, server-rendered TSX, DB-backed sessions, strict CSP.
 *
 * Request pipeline (every route, in order):
 *   onRoute     refuses a route without an access class (docs/security-matrix.md W2: the route table is classified)
 *   onRequest   cookies → session → live policy (LoginFlow.checkSession) → access class → step-up freshness
 *   body        form bodies only (@fastify/formbody), 16 KiB cap
 *   preHandler  CSRF: Origin / Sec-Fetch-Site check, then the `_csrf` token (constant time), on every non-GET
 *   preHandler  declared form/query fields validated (forms.ts) → 400 on anything else
 *
 * `buildWebServer` does not listen: tests use inject(), the CLI `serve` command listens.
 */
import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import cookie from "@fastify/cookie";
import formbody from "@fastify/formbody";
import helmet from "@fastify/helmet";
import websocket from "@fastify/websocket";
import { isPortcullisError } from "../core/errors.ts";
import { pinoOptions } from "../core/logger.ts";
import { newToken } from "../crypto/tokens.ts";
import { ACCESS_CLASSES, clientOf, pageContext, PRE_COOKIE, seeOther, sendPage, SESSION_COOKIE, type RouteInfo, type WebContext } from "./context.ts";
import { createCsrf } from "./csrf.ts";
import { BadInput, CSRF_FIELD, parseFields } from "./forms.ts";
import { registerRoutes } from "./routes/index.ts";
import type { WebServices } from "./services.ts";
import { cookieOptions, endSession, isFresh, rotateSession, touchSession } from "./session.ts";
import { snapshotOfUser } from "../flows/session-gate.ts";
import { messageView } from "./views/layout.tsx";

export const BODY_LIMIT = 16 * 1024;

export interface WebServerOptions {
	logger?: boolean;
	/** Where the request log goes (default stdout); tests pass a stream to read it. */
	logStream?: { write(line: string): void };
}

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

declare module "fastify" {
	interface FastifyInstance {
		/** Every registered route with its access class (collected by the onRoute hook). */
		portcullisRoutes: RouteInfo[];
	}
}

export async function buildWebServer(services: WebServices, options: WebServerOptions = {}): Promise<FastifyInstance> {
	const trusted = services.config.http.trusted_proxies;
	const server = Fastify({
		bodyLimit: BODY_LIMIT,
		// The API's JSON schemas refuse unknown fields (400) rather than drop them silently: a
		// `password` sent to POST /api/v1/users must be an error, not quietly ignored (docs/api.md).
		ajv: { customOptions: { removeAdditional: false } },
		// X-Forwarded-For is believed only from configured proxies (docs/threat-model.md, Bad input: header spoofing).
		trustProxy: trusted.length > 0 ? trusted : false,
		logger: options.logger
			? {
					...pinoOptions(services.config.log.level),
					...(options.logStream ? { stream: options.logStream } : {}),
					redact: { paths: ["req.headers.cookie", "req.headers.authorization", 'res.headers["set-cookie"]'], censor: "[redacted]" },
					serializers: { req: (request: { method?: string; url?: string; ip?: string }) => requestFields(request) },
				}
			: false,
		// One line per request, written by the onResponse hook below, instead of Fastify's two.
		logController: new LogController({ disableRequestLogging: true }),
		return503OnClosing: true,
	});
	const web: WebContext = {
		services,
		csrf: createCsrf(await services.csrfKey()),
		secureCookies: services.consoleUrl.startsWith("https:"),
		routes: [],
	};
	server.decorate("portcullisRoutes", web.routes);
	server.decorateRequest("web", null as unknown as FastifyRequest["web"]);

	server.addHook("onRoute", (route) => {
		const access = route.config?.access;
		if (access === undefined || !(ACCESS_CLASSES as readonly string[]).includes(access)) {
			throw new Error(`web route ${String(route.method)} ${route.url} has no access class (config.access); every route must declare one`);
		}
		for (const method of Array.isArray(route.method) ? route.method : [route.method]) {
			web.routes.push({
				method,
				url: route.url,
				access,
				stepUp: route.config?.stepUp === true,
				form: route.config?.form,
				query: route.config?.query,
				bodyLimit: route.bodyLimit ?? BODY_LIMIT,
			});
		}
	});

	await server.register(cookie);
	// The web terminal's socket (routes/web-terminal.tsx): upgrades pass the same guard as pages; frames capped at 1 MiB.
	await server.register(websocket, { options: { maxPayload: 1024 * 1024 } });
	await server.register(formbody);
	// Forms only (and JSON, refused by the field schemas): a text/plain body gets 415, not a string.
	server.removeContentTypeParser("text/plain");
	await server.register(helmet, {
		contentSecurityPolicy: {
			useDefaults: false,
			directives: {
				defaultSrc: ["'self'"],
				scriptSrc: ["'self'"],
				styleSrc: ["'self'"],
				imgSrc: ["'self'", "data:"],
				objectSrc: ["'none'"],
				baseUri: ["'none'"],
				frameAncestors: ["'none'"],
				formAction: ["'self'"],
			},
		},
		// Same-origin pages only; the console never embeds or is embedded.
		crossOriginEmbedderPolicy: false,
		// Not "no-referrer": with it Chromium sends "Origin: null" on same-origin form posts, which
		// the Origin check must refuse. "same-origin" never leaks a URL to another site.
		referrerPolicy: { policy: "same-origin" },
		hsts: web.secureCookies ? { maxAge: 15552000, includeSubDomains: false } : false,
	});

	server.addHook("onRequest", async (request, reply) => guard(web, request, reply));
	// The request log (docs/operations.md "Logs"): one line per answered request, at info; static
	// assets at debug, so a page load is one line, not one per stylesheet and script.
	server.addHook("onResponse", async (request, reply) => {
		const level = request.routeOptions.config.asset === true ? "debug" : "info";
		request.log[level]({ req: request, res: { statusCode: reply.statusCode }, responseTime: Math.round(reply.elapsedTime * 10) / 10 }, "request completed");
	});
	server.addHook("preHandler", async (request, reply) => {
		// The REST API is Bearer-only: no cookie authenticates it, so CSRF does not apply, and its
		// bodies and queries are validated by the routes' JSON schemas (src/web/api/).
		if (request.routeOptions.config.access === "api") return undefined;
		if (!SAFE_METHODS.has(request.method)) {
			const refused = checkCsrf(web, request);
			if (refused !== null) {
				request.log.warn({ reason: refused }, "csrf check failed");
				// Names the refusal, so a handler's own 403 is never mistaken for a CSRF refusal (and vice versa).
				reply.header("x-csrf-refused", refused);
				// record(): a failed audit write is logged at error level and counted, and the refusal still goes out.
				await web.services.audit.record({
					event: "web.csrf-refused",
					outcome: "failure",
					userId: request.web.user?.id ?? null,
					username: request.web.user?.username ?? null,
					channel: "web",
					source: request.ip,
					detail: { route: request.routeOptions.url ?? null, reason: refused },
				});
				return sendPage(
					reply,
					403,
					messageView(
						pageContext(request),
						"Request refused",
						"This form has expired or did not come from this site. Go back, reload the page and try again.",
						{ href: "/", text: "Start page" },
					),
				);
			}
			const form = request.routeOptions.config.form;
			if (form) parseFields(request.body, form, [CSRF_FIELD]);
		} else {
			const query = request.routeOptions.config.query;
			if (query) parseFields(request.query, query);
			else if (request.routeOptions.url !== undefined) parseFields(request.query, {});
		}
		return undefined;
	});

	server.setNotFoundHandler(async (request, reply) =>
		sendPage(reply, 404, messageView(pageContext(request), "Page not found", "There is no page at this address.", { href: "/", text: "Start page" })),
	);

	server.setErrorHandler(async (error, request, reply) => handleError(web, error, request, reply));

	await registerRoutes(server, web);

	// Expired session rows are dead already (SessionStore.find checks expiry); this only keeps the table small.
	const purge = setInterval(
		() => void services.sessions.purgeExpired().catch((error: unknown) => server.log.error({ err: error }, "purging expired web sessions failed")),
		10 * 60_000,
	);
	purge.unref();
	server.addHook("onClose", async () => clearInterval(purge));
	return server;
}

/**
 * What the request log shows of a request. The one-time enrolment and SSH approval links carry
 * their tokens in the path, the Duo callback its code and state in the query: never log them.
 */
function requestFields(request: { method?: string; url?: string; ip?: string }): { method?: string; url?: string; remoteAddress?: string } {
	return {
		method: request.method,
		url:
			typeof request.url === "string"
				? request.url.replace(/^\/(enroll-link|approve)\/[^/?#]*/, "/$1/[redacted]").replace(/([?&](?:duo_code|state)=)[^&#]*/g, "$1[redacted]")
				: undefined,
		remoteAddress: request.ip,
	};
}

/** Origin verification, then the synchronizer token. Returns null when the request may proceed. */
function checkCsrf(web: WebContext, request: FastifyRequest): string | null {
	const fetchSite = request.headers["sec-fetch-site"];
	if (fetchSite === "cross-site" || fetchSite === "same-site") return "sec-fetch-site";
	const origin = request.headers.origin;
	if (origin !== undefined) {
		const allowed = new Set([new URL(web.services.consoleUrl).origin]);
		const host = request.headers.host;
		if (typeof host === "string") allowed.add(`${web.secureCookies ? "https" : request.protocol}://${host}`);
		if (!allowed.has(origin)) return "origin";
	}
	const body = request.body;
	const token = body !== null && typeof body === "object" && !Array.isArray(body) ? (body as Record<string, unknown>)[CSRF_FIELD] : undefined;
	const { token: sessionToken, preToken } = request.web;
	if (sessionToken !== null && web.csrf.verify("session", sessionToken, token)) return null;
	// Public forms (login, logout) may carry the pre-session token: a browser arriving from another
	// site did not send its SameSite=Strict session cookie when it loaded the login form.
	if (request.routeOptions.config.access === "public" && preToken !== null && web.csrf.verify("pre", preToken, token)) return null;
	return "token";
}

function denyAccess(request: FastifyRequest, reply: FastifyReply, to: "login" | "second-factor" | "account" | "password" | "forbidden"): FastifyReply {
	// Names the refusal for clients and tests (the route-access test tells guard refusals from page logic).
	reply.header("x-access-denied", to);
	const safe = request.method === "GET" || request.method === "HEAD";
	if (safe && to !== "forbidden") {
		const target = {
			login: request.web.ended ? "/login?m=ended" : "/login",
			"second-factor": "/login/2fa",
			account: "/account",
			password: "/account/password",
		}[to];
		return seeOther(reply, target);
	}
	const ctx = pageContext(request);
	if (to === "login" || to === "second-factor") {
		return sendPage(reply, 401, messageView(ctx, "Login required", "You need to log in to do this.", { href: "/login", text: "Log in" }));
	}
	return sendPage(reply, 403, messageView(ctx, "Not allowed", "You are not allowed to open this page.", { href: "/", text: "Start page" }));
}

/**
 * The single access decision for every route: who is asking (session state from the shared
 * database, re-checked against the live policy), and which class the route belongs to.
 */
async function guard(web: WebContext, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> {
	const { services } = web;
	const config = request.routeOptions.config;
	request.web = { session: null, token: null, user: null, preToken: null, csrf: "", ended: false };
	// A public static file needs nobody's session: no database read, no cookie (it stays cacheable).
	if (config.asset === true && config.access === "public") return undefined;
	// API routes never read the session cookie: only a Bearer token authenticates them (src/web/api/plugin.ts).
	if (config.access === "api") return undefined;

	const pre = request.cookies[PRE_COOKIE];
	if (typeof pre === "string" && /^[A-Za-z0-9_-]{43}$/.test(pre)) {
		request.web.preToken = pre;
	} else if (request.method === "GET") {
		const fresh = newToken(services.random);
		reply.setCookie(PRE_COOKIE, fresh, cookieOptions(web));
		request.web.preToken = fresh;
	}

	const raw = request.cookies[SESSION_COOKIE];
	// One read for the session, its user and the policy version (SessionStore.findForRequest).
	const found = typeof raw === "string" ? await services.sessions.findForRequest(raw) : undefined;
	// Forms carry the session's CSRF token when there is a session, else the pre-session one (one HMAC, not two).
	if (found === undefined && request.web.preToken !== null) request.web.csrf = web.csrf.tokenFor("pre", request.web.preToken);
	if (found !== undefined && typeof raw === "string") {
		request.web.session = found.session;
		request.web.token = raw;
		request.web.csrf = web.csrf.tokenFor("session", raw);
		request.web.user = found.user ?? null;
		if (request.web.user === null) await endSession(web, request, reply);
	} else if (typeof raw === "string") {
		// Unknown, expired or revoked token: drop the cookie so the browser stops sending it, and
		// tell the user why they are back at the login page.
		reply.clearCookie(SESSION_COOKIE, cookieOptions(web));
		request.web.ended = raw.length > 0;
	}

	// Live policy (docs/threat-model.md I7, P1/P3/P4): a policy change applies to a live session at its next
	// request. The full check runs only when the policy version stamped on the session (or the
	// user's epoch, disabled or lock state) changed since it last passed (flows/session-gate.ts);
	// the version and the user's state come from the read above, so the fast path costs no query.
	const current = request.web.session;
	if (current !== null && found !== undefined && found.user !== undefined && current.state === "full" && config.skipLivePolicy !== true) {
		const gated = await services.sessionGate.check({
			userId: current.user_id,
			sessionEpoch: Number(current.session_epoch),
			secondFactorMethod: current.second_factor_method,
			channel: "web",
			user: found.user,
			sourceAddress: request.ip,
			checkedVersion: Number(current.policy_version),
			snapshot: snapshotOfUser(found.user, found.policyVersion),
		});
		const check = gated.verdict;
		if (check === "revoked") {
			await services.audit.write({
				event: "session.revoked",
				outcome: "info",
				userId: current.user_id,
				username: request.web.user?.username ?? null,
				channel: "web",
				source: request.ip,
			});
			await endSession(web, request, reply);
			request.web.ended = true;
		} else if (check === "step-up") {
			const step = await services.login.beginStepUp(clientOf(request), current.user_id);
			if (step.kind === "second-factor" || step.kind === "enroll") {
				await services.audit.write({
					event: "session.step-up-required",
					outcome: "info",
					userId: current.user_id,
					username: request.web.user?.username ?? null,
					channel: "web",
					source: request.ip,
					detail: { next: step.kind },
				});
				// The session drops to half: only the second-factor / enrolment pages until proven.
				await rotateSession(web, request, reply, { state: "half", attemptId: step.attemptId, secondFactorMethod: null, stepUpAt: null });
			} else {
				await endSession(web, request, reply);
				request.web.ended = true;
			}
		} else {
			request.web.nudge = gated.nudge === null ? null : { message: gated.nudge.message, daysLeft: gated.nudge.daysLeft };
			await touchSession(web, current, gated.version);
		}
	}

	const access = config.access ?? "public"; // only the 404 handler has no class
	const state = request.web.session === null ? "none" : request.web.session.state === "full" ? "full" : "half";
	const user = request.web.user;
	if (access === "public") return undefined;
	if (access === "half") {
		if (state === "half") return undefined;
		return denyAccess(request, reply, state === "full" ? "account" : "login");
	}
	if (state === "none") return denyAccess(request, reply, "login");
	if (state === "half") return denyAccess(request, reply, "second-factor");
	if (user === null) return denyAccess(request, reply, "login");
	if (user.must_change_password === 1 && access !== "password-change") return denyAccess(request, reply, "password");
	if (access === "admin" && user.is_admin !== 1) return denyAccess(request, reply, "forbidden");
	if (config.stepUp === true && !isFresh(web, request.web.session)) {
		const back = config.stepUpReturn ?? "/account";
		if (request.method === "GET" || request.method === "HEAD") return seeOther(reply, `/account/step-up?next=${encodeURIComponent(back)}`);
		return seeOther(reply, `/account/step-up?next=${encodeURIComponent(back)}&stale=1`);
	}
	return undefined;
}

const PUBLIC_MESSAGES: Record<number, { title: string; message: string }> = {
	400: { title: "Bad request", message: "The request was not valid. Go back, check the form and try again." },
	404: { title: "Not found", message: "The requested item does not exist." },
	409: { title: "Conflict", message: "The request conflicts with the current state. Reload the page and try again." },
	413: { title: "Request too large", message: "The request was too large." },
	415: { title: "Unsupported request", message: "The request was not sent as a form." },
};

async function handleError(web: WebContext, error: unknown, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
	// request.web is unset when the failure happened before the guard (e.g. a malformed URL).
	if (!request.web) request.web = { session: null, token: null, user: null, preToken: null, csrf: "", ended: false };
	if (web.services.databaseHealth.isOutage(error)) {
		// An outage is not a bug: no stack in the log for each request (the health monitor logs the
		// outage once), and the user gets a plain "try again" with HTTP 503 (RFC 9110 §15.6.4).
		request.log.warn({ code: "ERR_DATABASE_UNAVAILABLE", route: request.routeOptions.url ?? null }, "request refused: database unavailable");
		reply.header("retry-after", "5");
		return sendPage(
			reply,
			503,
			messageView(pageContext(request), "Temporarily unavailable", "Portcullis is temporarily unavailable. Please try again in a moment.", {
				href: "/",
				text: "Start page",
			}),
		);
	}
	let status = 500;
	if (error instanceof BadInput) {
		status = 400;
		const user = request.web.user;
		const url = request.routeOptions.url ?? "";
		// Refused input is audited where it belongs to someone or to a login form.
		if (user !== null || url.startsWith("/login")) {
			// record(): a failed audit write is logged at error level and counted; the 400 still goes out.
			await web.services.audit.record({
				event: "web.bad-request",
				outcome: "failure",
				userId: user?.id ?? null,
				username: user?.username ?? null,
				channel: "web",
				source: request.ip,
				detail: { route: url, field: error.field, problem: error.problem },
			});
		}
	} else if (isPortcullisError(error)) {
		status = { ERR_INPUT: 400, ERR_POLICY_INVALID: 400, ERR_NOT_FOUND: 404, ERR_CONFLICT: 409 }[error.code as string] ?? 500;
	} else if (typeof error === "object" && error !== null && "statusCode" in error) {
		const code = Number((error as { statusCode: unknown }).statusCode);
		// Fastify's own 4xx (body too large, unsupported media type, malformed JSON or URL).
		if (code >= 400 && code < 500) status = PUBLIC_MESSAGES[code] ? code : 400;
	}
	if (status >= 500) request.log.error({ err: error }, "unhandled error in web console");
	const text = PUBLIC_MESSAGES[status] ?? { title: "Something went wrong", message: "The request could not be completed. It has been logged." };
	return sendPage(reply, status, messageView(pageContext(request), text.title, text.message, { href: "/", text: "Start page" }));
}
