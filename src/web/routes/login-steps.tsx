/**
 * The steps of a web login shared by the route modules: the refusal page, the session rotation
 * when a login or a step-up is done, the second-factor page of a half session's attempt.
 */
import type { FastifyReply, FastifyRequest } from "fastify";
import { isMethodId, type MethodId } from "../../core/method-id.ts";
import type { LoginStep } from "../../flows/login-flow.ts";
import { ENROLL_COOKIE, pageContext, seeOther, sendPage, type WebContext } from "../context.ts";
import { endSession, rotateSession } from "../session.ts";
import { LoginPage, SecondFactorPage, type Notice } from "../views/login.tsx";
import { DUO_UNIVERSAL_PROMPT } from "../../methods/duo/duo-universal.ts";

/** Renders the login page after a refusal, ending whatever session the browser had. */
export async function loginRefused(
	web: WebContext,
	request: FastifyRequest,
	reply: FastifyReply,
	status: number,
	message: string,
	username?: string,
): Promise<FastifyReply> {
	await endSession(web, request, reply);
	return sendPage(reply, status, <LoginPage ctx={pageContext(request)} notice={{ kind: "error", text: message }} username={username} />);
}

/**
 * The attempt is done: the session rotates to full (new token), recording the proven method
 * and the time of the proof (step-up freshness).
 */
export async function completeLogin(
	web: WebContext,
	request: FastifyRequest,
	reply: FastifyReply,
	method: MethodId | null,
	next = "/account",
): Promise<FastifyReply> {
	const rotated = await rotateSession(web, request, reply, {
		state: "full",
		attemptId: null,
		secondFactorMethod: method,
		stepUpAt: web.services.clock.now().getTime(),
	});
	if (!rotated) return seeOther(reply, "/login?m=ended");
	// The guard loaded this session's user for this request; the second factor does not change it.
	return seeOther(reply, request.web.user?.must_change_password === 1 ? "/account/password" : next);
}

/**
 * A step-up is done: the session rotates (new token), recording the time of the proof and the
 * proven method (none for a password confirmation), then returns to where the user was going.
 */
export async function completeStepUp(
	web: WebContext,
	request: FastifyRequest,
	reply: FastifyReply,
	method: MethodId | null,
	next: string,
): Promise<FastifyReply> {
	const changes = { attemptId: null, stepUpAt: web.services.clock.now().getTime(), ...(method !== null ? { secondFactorMethod: method } : {}) };
	if (!(await rotateSession(web, request, reply, changes))) return seeOther(reply, "/login?m=ended");
	return seeOther(reply, next === "/account" ? "/account?m=confirmed" : next);
}

/** The typed answer of a second-factor form: the access keyword's three characters, or the code. */
export function typedResponse(form: {
	method?: string | undefined;
	code?: string | undefined;
	c1?: string | undefined;
	c2?: string | undefined;
	c3?: string | undefined;
}): string {
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
	const { services } = web;
	const attemptId = request.web.session?.attempt_id ?? "";
	const step = await services.login.currentStep(attemptId);
	if (step.kind === "enroll") return seeOther(reply, "/login/enroll");
	if (step.kind !== "second-factor") return loginRefused(web, request, reply, 401, step.kind === "denied" ? step.message : "Please log in again.");
	if (continued !== null) {
		return sendPage(
			reply,
			status,
			<SecondFactorPage
				ctx={pageContext(request)}
				explanation={step.explanation}
				methods={step.methods}
				method={continued.method}
				prompt={continued.prompt}
				notice={notice}
			/>,
		);
	}
	const method = wanted !== undefined && isMethodId(wanted) && step.methods.includes(wanted) ? wanted : step.defaultMethod;
	const duo = services.methods.duo;
	if (method === "duo" && duo !== null && (await duo.webPrompt()) === "universal") {
		return sendPage(
			reply,
			status,
			<SecondFactorPage
				ctx={pageContext(request)}
				explanation={step.explanation}
				methods={step.methods}
				method={method}
				prompt={DUO_UNIVERSAL_PROMPT}
				notice={notice}
			/>,
		);
	}
	const challenge = await services.login.startChallenge(attemptId, method);
	const prompt = challenge.kind === "prompt" ? challenge.prompt : null;
	const shown = challenge.kind === "denied" ? { kind: "error" as const, text: challenge.message } : notice;
	return sendPage(
		reply,
		status,
		<SecondFactorPage ctx={pageContext(request)} explanation={step.explanation} methods={step.methods} method={method} prompt={prompt} notice={shown} />,
	);
}
