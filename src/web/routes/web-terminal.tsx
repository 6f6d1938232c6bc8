/**
 * The web terminal (docs/decisions.md "Web terminal"): /terminal lists the user's
 * servers, /terminal/NAME is the terminal page, /terminal/NAME/ws its WebSocket.
 *
 * This adapter maps, the flow decides (flows/web-terminal.ts): grant and per-server step-up are
 * asked at the page AND again when the WebSocket opens (the socket is the connection). A step-up
 * refusal sends the user through the console's step-up (/account/step-up) and back here.
 *
 * The WebSocket upgrade is a GET through the same guard as every page (session cookie, live
 * policy, access class "full"); on top of it the Origin must be this console's (a cross-site page
 * can open a WebSocket with the user's cookies: SameSite=Strict already stops the cookie, the
 * Origin check does not rely on it) and the URL carries the session's CSRF token (RFC 6455 §10.2:
 * servers must check Origin). While it is open, the socket re-runs every ssh.policy_poll_ms the
 * check a request would pass: the session still exists, the session gate (flows/session-gate.ts),
 * and the grant and step-up rule of this server; any failure ends the terminal with the reason.
 */
import type { FastifyReply, FastifyRequest } from "fastify";
import type { WebTerminalProof } from "../../flows/web-terminal.ts";
import type { SessionRow } from "../../storage/session-store.ts";
import { WEB_TERMINAL_SCRIPT, XTERM_FIT_SCRIPT, XTERM_SCRIPT, XTERM_STYLESHEET } from "../assets.ts";
import { pageContext, seeOther, sendPage, type RouteModule, type WebContext } from "../context.ts";
import { req, str } from "../forms.ts";
import { getRoute } from "../route-kit.ts";
import { messageView } from "../views/layout.tsx";
import { TerminalListPage, TerminalPage } from "../views/web-terminal.tsx";

/**
 * The part of the `ws` WebSocket this route uses (ws ships no types and @types/ws is not installed;
 * @fastify/websocket hands the handler a ws WebSocket).
 */
interface WebSocket {
	readonly readyState: number;
	readonly OPEN: number;
	send(data: Buffer | string, options?: { binary: boolean }, done?: (error?: Error) => void): void;
	close(code?: number, reason?: string): void;
	on(name: "message", listener: (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => void): void;
	once(name: "close", listener: () => void): void;
}

/** The terminal page's CSP: xterm.js writes its cell geometry and theme into <style> elements it creates, so styles (never scripts) may be inline here. */
const TERMINAL_CSP =
	"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

/** Frames larger than this are refused (a paste of 1 MiB is plenty; ws closes with 1009). */
const MAX_FRAME_BYTES = 1024 * 1024;

const ASSETS: readonly [string, string, string][] = [
	["/static/xterm.js", "text/javascript; charset=utf-8", XTERM_SCRIPT],
	["/static/addon-fit.js", "text/javascript; charset=utf-8", XTERM_FIT_SCRIPT],
	["/static/xterm.css", "text/css; charset=utf-8", XTERM_STYLESHEET],
	["/static/web-terminal.js", "text/javascript; charset=utf-8", WEB_TERMINAL_SCRIPT],
];

function proofOf(request: FastifyRequest, session: SessionRow, connectionId: string): WebTerminalProof {
	return {
		userId: session.user_id,
		username: request.web.user?.username ?? "",
		sourceAddress: request.ip,
		connectionId,
		secondFactorMethod: session.second_factor_method,
		provenAt: session.step_up_at === null ? null : Number(session.step_up_at),
		sessionEpoch: Number(session.session_epoch),
	};
}

/** The Origin of a WebSocket upgrade must be this console (as checkCsrf does for forms). */
function originAllowed(web: WebContext, request: FastifyRequest): boolean {
	const origin = request.headers.origin;
	if (typeof origin !== "string") return false;
	const allowed = new Set([new URL(web.services.consoleUrl).origin]);
	const host = request.headers.host;
	if (typeof host === "string") allowed.add(`${web.secureCookies ? "https" : request.protocol}://${host}`);
	return allowed.has(origin);
}

function stepUpLocation(server: string): string {
	return `/account/step-up?next=${encodeURIComponent(`/terminal/${server}`)}`;
}

export const webTerminalRoutes: RouteModule = (server, web) => {
	const { services } = web;

	// Only the terminal page (a full session) uses them: not public.
	for (const [url, type, body] of ASSETS)
		server.get(url, { config: { access: "full", skipLivePolicy: true, query: {} } }, async (_request, reply) =>
			reply.header("cache-control", "public, max-age=3600").type(type).send(body),
		);

	getRoute(server, "/terminal", { access: "full", fields: {} }, async (request, reply) => {
		const session = request.web.session as SessionRow;
		const servers = await services.grantedServers.listForUser(session.user_id);
		return sendPage(reply, 200, <TerminalListPage ctx={pageContext(request)} servers={servers} notice={null} />);
	});

	server.get<{ Params: { server: string } }>("/terminal/:server", { config: { access: "full", query: {} } }, async (request, reply) => {
		const session = request.web.session as SessionRow;
		const name = request.params.server;
		const access = await services.terminal.authorize(proofOf(request, session, "page"), name);
		return answerAccess(request, reply, access, name, () => {
			reply.header("content-security-policy", TERMINAL_CSP);
			return sendPage(
				reply,
				200,
				<TerminalPage ctx={pageContext(request)} server={name} socketPath={`/terminal/${encodeURIComponent(name)}/ws`} csrf={request.web.csrf} />,
			);
		});
	});

	function answerAccess(
		request: FastifyRequest,
		reply: FastifyReply,
		access: Awaited<ReturnType<typeof services.terminal.authorize>>,
		name: string,
		allowed: () => FastifyReply,
	): FastifyReply {
		const ctx = pageContext(request);
		if (access.kind === "not-granted")
			return sendPage(reply, 404, messageView(ctx, "Server not available", access.message, { href: "/terminal", text: "Your servers" }));
		if (access.kind === "step-up") {
			// A session that proved no factor has none to confirm (the user has none enrolled): refused with the reason.
			if (access.problem === "none" && request.web.session?.second_factor_method === null)
				return sendPage(reply, 403, messageView(ctx, "Second factor required", access.message, { href: "/account", text: "Your account" }));
			reply.header("x-step-up-reason", access.message.slice(0, 300).replace(/[^\x20-\x7e]/g, "?"));
			return seeOther(reply, stepUpLocation(name));
		}
		return allowed();
	}

	server.get<{ Params: { server: string }; Querystring: { csrf?: string; cols?: string; rows?: string } }>(
		"/terminal/:server/ws",
		{ websocket: true, config: { access: "full", query: { csrf: req(200), cols: str(4), rows: str(4) } } },
		(socket: WebSocket, request) => void runSocket(web, socket, request),
	);
};

async function runSocket(
	web: WebContext,
	socket: WebSocket,
	request: FastifyRequest<{ Params: { server: string }; Querystring: { csrf?: string; cols?: string; rows?: string } }>,
): Promise<void> {
	const { services } = web;
	const session = request.web.session;
	const token = request.web.token;
	const refuse = (message: string, location?: string) => {
		socket.send(JSON.stringify({ type: "refused", message, ...(location ? { location } : {}) }));
		socket.close(1008, "refused");
	};
	if (session === null || token === null) return refuse("Please log in again.");
	if (!originAllowed(web, request) || !web.csrf.verify("session", token, request.query.csrf)) {
		await services.audit.record({
			event: "web.csrf-refused",
			outcome: "failure",
			userId: session.user_id,
			username: request.web.user?.username ?? null,
			channel: "web",
			source: request.ip,
			detail: { route: "/terminal/:server/ws", reason: originAllowed(web, request) ? "token" : "origin" },
		});
		return refuse("This terminal did not come from this site. Reload the page and try again.");
	}
	const name = request.params.server;
	const proof = proofOf(request, session, services.random.bytes(8).toString("hex"));
	const size = { cols: Number(request.query.cols ?? 80) || 80, rows: Number(request.query.rows ?? 24) || 24 };

	// Input that arrives while the target is being opened is kept and sent first (as the menu's typed-ahead bytes).
	const early: Buffer[] = [];
	let terminal: { input(data: Buffer): void; resize(size: { cols: number; rows: number }): void; close(message: string | null): void } | null = null;
	let socketClosed = false;
	socket.on("message", (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => {
		const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
		if (bytes.length > MAX_FRAME_BYTES) return;
		if (isBinary) {
			if (terminal === null) early.push(bytes);
			else terminal.input(bytes);
			return;
		}
		try {
			const message = JSON.parse(bytes.toString("utf8")) as { type?: unknown; cols?: unknown; rows?: unknown };
			if (message.type === "resize" && typeof message.cols === "number" && typeof message.rows === "number") {
				size.cols = message.cols;
				size.rows = message.rows;
				terminal?.resize({ cols: message.cols, rows: message.rows });
			}
		} catch {
			// Not a control message: ignored.
		}
	});
	let poll: NodeJS.Timeout | null = null;
	socket.once("close", () => {
		socketClosed = true;
		if (poll !== null) clearInterval(poll);
		terminal?.close(null);
	});

	const opened = await services.terminal.open(proof, name, size, {
		output(data, done) {
			if (socketClosed || socket.readyState !== socket.OPEN) return done();
			socket.send(data, { binary: true }, () => done());
		},
		ended(message) {
			if (poll !== null) clearInterval(poll);
			if (socketClosed || socket.readyState !== socket.OPEN) return;
			socket.send(JSON.stringify({ type: "ended", message }));
			socket.close(1000, "ended");
		},
	});
	if ("kind" in opened) {
		if (opened.kind === "not-granted") return refuse(opened.message);
		if (opened.kind === "step-up") return refuse(opened.message, stepUpLocation(name));
		return;
	}
	if (!opened.ok) return refuse(opened.message);
	terminal = opened.terminal;
	if (socketClosed) return terminal.close(null);
	for (const bytes of early.splice(0)) terminal.input(bytes);

	// The live check of an open terminal: what every console request passes, plus this server's grant and step-up rule.
	let checking = false;
	poll = setInterval(() => {
		if (checking) return;
		checking = true;
		void liveCheck(web, token, proof, name, request.ip)
			.then((problem) => {
				if (problem !== null) terminal?.close(problem);
			})
			.catch(() => terminal?.close("Portcullis: the session could not be checked, so the terminal was closed."))
			.finally(() => {
				checking = false;
			});
	}, services.terminal.pollMs);
	poll.unref();
}

/** Null while the terminal may go on; otherwise the reason it ends. */
async function liveCheck(web: WebContext, token: string, proof: WebTerminalProof, name: string, sourceAddress: string): Promise<string | null> {
	const { services } = web;
	const session = await services.sessions.find(token);
	if (session === undefined || session.state !== "full") return "Portcullis: your web session ended, so the terminal was closed.";
	const gated = await services.sessionGate.check({
		userId: session.user_id,
		sessionEpoch: Number(session.session_epoch),
		secondFactorMethod: session.second_factor_method,
		channel: "web",
		sourceAddress,
		checkedVersion: Number(session.policy_version),
	});
	if (gated.verdict !== "ok") return "Portcullis: your access was revoked by the current policy, so the terminal was closed.";
	if (!(await services.terminal.mayContinue(proof, name)))
		return `Portcullis: ${name} is no longer available to you in this session, so the terminal was closed.`;
	return null;
}
