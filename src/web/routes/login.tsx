/**
 * Public and half-authenticated routes: start page, login (password step), second-factor step,
 * logout, the admin-issued enrolment link, the stylesheet, the icon and the keyword-box script.
 */
import type { FastifyReply, FastifyRequest } from "fastify";
import { isMethodId, type MethodId } from "../../core/method-id.ts";
import { clientOf, ENROLL_COOKIE, pageContext, seeOther, sendPage, type RouteModule } from "../context.ts";
import { BadInput, req, str } from "../forms.ts";
import { getRoute, postRoute } from "../route-kit.ts";
import { FAVICON_SVG, KEYWORD_BOXES_SCRIPT, STYLESHEET } from "../assets.ts";
import { cookieOptions, endSession, startSession } from "../session.ts";
import { LoginPage, type Notice } from "../views/login.tsx";
import { loginRefused, renderSecondFactorPage, stepLocation, typedResponse } from "./login-steps.tsx";
import { loginSecondFactorPage, replySecondFactor } from "./second-factor-reply.ts";

const LOGIN_MESSAGES: Record<string, Notice> = {
	"logged-out": { kind: "success", text: "You have logged out." },
	ended: { kind: "info", text: "Your session has ended. Please log in again." },
	"enroll-link": { kind: "info", text: "Your enrolment link is ready. Log in with your password to set up a new second factor." },
	"password-changed": { kind: "success", text: "Your password was changed. Please log in again." },
};

export const loginRoutes: RouteModule = (server, web) => {
	const { services } = web;

	server.get("/static/app.css", { config: { access: "public", skipLivePolicy: true, asset: true } }, async (_request, reply) =>
		reply.header("cache-control", "public, max-age=3600").type("text/css; charset=utf-8").send(STYLESHEET),
	);
	// Every page links the icon; browsers and tools that ask for /favicon.ico without reading the page get it too.
	for (const url of ["/static/favicon.svg", "/favicon.ico"])
		server.get(url, { config: { access: "public", skipLivePolicy: true, query: {} } }, async (_request, reply) =>
			reply.header("cache-control", "public, max-age=86400").type("image/svg+xml").send(FAVICON_SVG),
		);
	// Needed on the second-factor page, before full login.
	server.get("/static/keyword-boxes.js", { config: { access: "public", skipLivePolicy: true, query: {} } }, async (_request, reply) =>
		reply.header("cache-control", "public, max-age=3600").type("text/javascript; charset=utf-8").send(KEYWORD_BOXES_SCRIPT),
	);

	getRoute(server, "/", { access: "public", fields: {} }, async (request, reply) => {
		const session = request.web.session;
		if (session === null) return seeOther(reply, "/login");
		return seeOther(reply, session.state === "full" ? "/account" : "/login/2fa");
	});

	getRoute(server, "/login", { access: "public", fields: { m: str(32) } }, async (request, reply, query) => {
		if (request.web.session?.state === "full") return seeOther(reply, "/account");
		const notice = request.web.ended ? LOGIN_MESSAGES.ended : query.m !== undefined ? (LOGIN_MESSAGES[query.m] ?? null) : null;
		return sendPage(reply, 200, <LoginPage ctx={pageContext(request)} notice={notice ?? null} />);
	});

	postRoute(server, "/login", { access: "public", fields: { username: req(256), password: req(1024) } }, async (request, reply, form) => {
		// A new login always starts from nothing: whatever session this browser had is dropped (W5).
		await endSession(web, request, reply);
		const step = await services.login.submitPassword(clientOf(request), form.username, form.password);
		const shownName = form.username.slice(0, 64);
		switch (step.kind) {
			case "denied":
				return sendPage(
					reply,
					step.reason === "locked" ? 403 : 401,
					<LoginPage ctx={pageContext(request)} notice={{ kind: "error", text: step.message }} username={shownName} />,
				);
			case "authenticated": {
				await startSession(web, request, reply, { userId: step.userId, state: "full", attemptId: null, secondFactorMethod: null });
				return seeOther(reply, request.web.user?.must_change_password === 1 ? "/account/password" : "/account");
			}
			case "second-factor":
			case "enroll":
				await startSession(web, request, reply, { userId: step.userId, state: "half", attemptId: step.attemptId, secondFactorMethod: null });
				return seeOther(reply, stepLocation(step));
			default:
				return loginRefused(web, request, reply, 401, "Login is not possible right now.", shownName);
		}
	});

	postRoute(server, "/logout", { access: "public", skipLivePolicy: true, fields: {} }, async (request, reply) => {
		const session = request.web.session;
		if (session !== null) {
			if (session.attempt_id !== null) await services.login.abandon(session.attempt_id);
			await services.audit.write({
				event: "logout",
				outcome: "success",
				userId: session.user_id,
				username: request.web.user?.username ?? null,
				channel: "web",
				source: request.ip,
			});
		}
		await endSession(web, request, reply);
		return seeOther(reply, "/login?m=logged-out");
	});

	/** Decision 11: the admin's one-time link. The token waits in a short-lived cookie until enrolment. */
	server.get<{ Params: { token: string } }>("/enroll-link/:token", { config: { access: "public" } }, async (request, reply) => {
		const token = request.params.token;
		if (typeof token !== "string" || !/^[A-Za-z0-9_-]{20,100}$/.test(token)) throw new BadInput("token", "type");
		reply.setCookie(ENROLL_COOKIE, token, cookieOptions(web, { maxAge: 30 * 60 }));
		return seeOther(reply, "/login?m=enroll-link");
	});

	// ---- second factor (half session) ----

	const renderSecondFactor = (
		request: FastifyRequest,
		reply: FastifyReply,
		wanted: string | undefined,
		notice: Notice,
		status = 200,
		continued: { method: MethodId; prompt: string } | null = null,
	) => renderSecondFactorPage(web, request, reply, wanted, notice, status, continued);

	getRoute(server, "/login/2fa", { access: "half", fields: { method: str(32) } }, async (request, reply, query) =>
		renderSecondFactor(request, reply, query.method, null),
	);

	postRoute(
		server,
		"/login/2fa",
		{ access: "half", fields: { method: req(32), code: str(64), c1: str(8), c2: str(8), c3: str(8) } },
		async (request, reply, form) => {
			if (!isMethodId(form.method)) throw new BadInput("method", "type");
			const attemptId = request.web.session?.attempt_id ?? "";
			const result = await services.login.submitSecondFactor(attemptId, form.method, typedResponse(form));
			return replySecondFactor(web, request, reply, result, loginSecondFactorPage(web, request, reply, form.method));
		},
	);
};
