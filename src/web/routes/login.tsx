/**
 * Public and half-authenticated routes: start page, login (password step), second-factor step,
 * logout, the admin-issued enrolment link, the stylesheet.
 */
import type { FastifyReply, FastifyRequest } from "fastify";
import { isMethodId, type MethodId } from "../../core/method-id.ts";
import type { LoginStep, SecondFactorResult } from "../../flows/login-flow.ts";
import { clientOf, ENROLL_COOKIE, pageContext, seeOther, sendPage, type RouteModule, type WebContext } from "../context.ts";
import { BadInput, req, str } from "../forms.ts";
import { getRoute, postRoute } from "../route-kit.ts";
import { STYLESHEET } from "../assets.ts";
import { cookieOptions, endSession, rotateSession, startSession } from "../session.ts";
import { LoginPage, SecondFactorPage, type Notice } from "../views/login.tsx";
import { isDuoMethod } from "../../methods/duo/duo-method.ts";
import { DUO_UNIVERSAL_PROMPT } from "../../methods/duo/duo-universal.ts";

const LOGIN_MESSAGES: Record<string, Notice> = {
	"logged-out": { kind: "success", text: "You have logged out." },
	ended: { kind: "info", text: "Your session has ended. Please log in again." },
	"enroll-link": { kind: "info", text: "Your enrolment link is ready. Log in with your password to set up a new second factor." },
	"password-changed": { kind: "success", text: "Your password was changed. Please log in again." },
};

/** Renders the login page after a refusal, ending whatever session the browser had. */
export async function loginRefused(web: WebContext, request: FastifyRequest, reply: FastifyReply, status: number, message: string, username?: string): Promise<FastifyReply> {
	await endSession(web, request, reply);
	return sendPage(reply, status, <LoginPage ctx={pageContext(request)} notice={{ kind: "error", text: message }} username={username} />);
}

/**
 * The attempt is done: the session rotates to full (new token), recording the proven method
 * and the time of the proof (step-up freshness).
 */
export async function completeLogin(web: WebContext, request: FastifyRequest, reply: FastifyReply, method: MethodId | null, next = "/account"): Promise<FastifyReply> {
	const rotated = await rotateSession(web, request, reply, { state: "full", attemptId: null, secondFactorMethod: method, stepUpAt: web.app.clock.now().getTime() });
	if (!rotated) return seeOther(reply, "/login?m=ended");
	// The guard loaded this session's user for this request; the second factor does not change it.
	return seeOther(reply, request.web.user?.must_change_password === 1 ? "/account/password" : next);
}

/**
 * A step-up is done: the session rotates (new token), recording the time of the proof and the
 * proven method (none for a password confirmation), then returns to where the user was going.
 */
export async function completeStepUp(web: WebContext, request: FastifyRequest, reply: FastifyReply, method: MethodId | null, next: string): Promise<FastifyReply> {
	const changes = { attemptId: null, stepUpAt: web.app.clock.now().getTime(), ...(method !== null ? { secondFactorMethod: method } : {}) };
	if (!(await rotateSession(web, request, reply, changes))) return seeOther(reply, "/login?m=ended");
	return seeOther(reply, next === "/account" ? "/account?m=confirmed" : next);
}

/** The warning after a wrong second factor: how many tries are left before the lock. */
export function lockWarning(attemptsLeft: number): string {
	return `${attemptsLeft === 1 ? "1 attempt left" : `${attemptsLeft} attempts left`} before the account is locked.`;
}

/** The typed answer of a second-factor form: the access keyword's three characters, or the code. */
export function typedResponse(form: { method?: string | undefined; code?: string | undefined; c1?: string | undefined; c2?: string | undefined; c3?: string | undefined }): string {
	return form.method === "access-keyword" ? `${form.c1 ?? ""}${form.c2 ?? ""}${form.c3 ?? ""}` : (form.code ?? "");
}

export function enrollTokenOf(request: FastifyRequest): string | null {
	const token = request.cookies[ENROLL_COOKIE];
	return typeof token === "string" && /^[A-Za-z0-9_-]{20,100}$/.test(token) ? token : null;
}

/** Where a half session goes next, from the flow's current step. */
export function stepLocation(step: LoginStep): string {
	return step.kind === "enroll" ? "/login/enroll" : "/login/2fa";
}

/**
 * Renders the second-factor page for this session's attempt. A new challenge is started for the
 * chosen method, unless the method asked for another round (`continued`, e.g. a RADIUS challenge),
 * or the method is Duo with the Universal Prompt: its round starts only when the user presses
 * "Continue to Duo" (a POST; duo-universal.tsx), never by merely showing the page.
 */
export async function renderSecondFactorPage(
	web: WebContext,
	request: FastifyRequest,
	reply: FastifyReply,
	wanted: string | undefined,
	notice: Notice,
	status = 200,
	continued: { method: MethodId; prompt: string } | null = null,
): Promise<FastifyReply> {
	const { app } = web;
	const attemptId = request.web.session?.attempt_id ?? "";
	const step = await app.login.currentStep(attemptId);
	if (step.kind === "enroll") return seeOther(reply, "/login/enroll");
	if (step.kind !== "second-factor") return loginRefused(web, request, reply, 401, step.kind === "denied" ? step.message : "Please log in again.");
	if (continued !== null) {
		return sendPage(reply, status, <SecondFactorPage ctx={pageContext(request)} explanation={step.explanation} methods={step.methods} method={continued.method} prompt={continued.prompt} notice={notice} />);
	}
	const method = wanted !== undefined && isMethodId(wanted) && step.methods.includes(wanted) ? wanted : step.defaultMethod;
	const duo = app.methods.get("duo");
	if (method === "duo" && isDuoMethod(duo) && (await duo.webPrompt()) === "universal") {
		return sendPage(reply, status, <SecondFactorPage ctx={pageContext(request)} explanation={step.explanation} methods={step.methods} method={method} prompt={DUO_UNIVERSAL_PROMPT} notice={notice} />);
	}
	const challenge = await app.login.startChallenge(attemptId, method);
	const prompt = challenge.kind === "prompt" ? challenge.prompt : null;
	const shown = challenge.kind === "denied" ? { kind: "error" as const, text: challenge.message } : notice;
	return sendPage(reply, status, <SecondFactorPage ctx={pageContext(request)} explanation={step.explanation} methods={step.methods} method={method} prompt={prompt} notice={shown} />);
}

/** The page after a second-factor answer of a login (POST /login/2fa, the Duo callback). */
export async function afterSecondFactor(web: WebContext, request: FastifyRequest, reply: FastifyReply, method: MethodId, result: SecondFactorResult): Promise<FastifyReply> {
	if (result.kind === "authenticated") return completeLogin(web, request, reply, result.method);
	if (result.kind === "continue") return renderSecondFactorPage(web, request, reply, method, null, 200, { method: result.method, prompt: result.prompt });
	if (result.kind === "invalid") {
		return renderSecondFactorPage(web, request, reply, method, { kind: "error", text: `${result.message} ${lockWarning(result.attemptsLeft)}` }, 401);
	}
	if (result.reason === "misconfigured" || result.reason === "unavailable") {
		return renderSecondFactorPage(web, request, reply, undefined, { kind: "error", text: result.message }, 400);
	}
	return loginRefused(web, request, reply, result.reason === "locked" ? 403 : 401, result.message);
}

export const loginRoutes: RouteModule = (server, web) => {
	const { app } = web;

	server.get("/static/app.css", { config: { access: "public", skipLivePolicy: true } }, async (_request, reply) =>
		reply.header("cache-control", "public, max-age=3600").type("text/css; charset=utf-8").send(STYLESHEET),
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
		const step = await app.login.submitPassword(clientOf(request), form.username, form.password);
		const shownName = form.username.slice(0, 64);
		switch (step.kind) {
			case "denied":
				return sendPage(reply, step.reason === "locked" ? 403 : 401, <LoginPage ctx={pageContext(request)} notice={{ kind: "error", text: step.message }} username={shownName} />);
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
			if (session.attempt_id !== null) await app.login.abandon(session.attempt_id);
			await app.stores.audit.write({ event: "logout", outcome: "success", userId: session.user_id, username: request.web.user?.username ?? null, channel: "web", source: request.ip });
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

	const renderSecondFactor = (request: FastifyRequest, reply: FastifyReply, wanted: string | undefined, notice: Notice, status = 200, continued: { method: MethodId; prompt: string } | null = null) =>
		renderSecondFactorPage(web, request, reply, wanted, notice, status, continued);

	getRoute(server, "/login/2fa", { access: "half", fields: { method: str(32) } }, async (request, reply, query) => renderSecondFactor(request, reply, query.method, null));

	postRoute(
		server,
		"/login/2fa",
		{ access: "half", fields: { method: req(32), code: str(64), c1: str(8), c2: str(8), c3: str(8) } },
		async (request, reply, form) => {
			if (!isMethodId(form.method)) throw new BadInput("method", "type");
			const attemptId = request.web.session?.attempt_id ?? "";
			const result = await app.login.submitSecondFactor(attemptId, form.method, typedResponse(form));
			return afterSecondFactor(web, request, reply, form.method, result);
		},
	);
};
