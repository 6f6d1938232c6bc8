/**
 * Step-up (full session): a fresh second factor, or the password for users without one, before
 * factor or password management (docs/threat-model.md I8/W11). The attempt is LoginFlow.beginStepUp's and
 * its id is kept on the session; WebAuthn and Duo answer the same attempt on their own routes.
 */
import type { FastifyReply, FastifyRequest } from "fastify";
import { isMethodId } from "../../core/method-id.ts";
import { clientOf, pageContext, seeOther, sendPage, type RouteModule, type WebContext } from "../context.ts";
import { BadInput, str } from "../forms.ts";
import { getRoute, postRoute, safeReturn } from "../route-kit.ts";
import { StepUpPage } from "../views/account.tsx";
import type { Notice } from "../views/login.tsx";
import { completeStepUp, loginRefused, typedResponse } from "./login-steps.tsx";
import { replySecondFactor, type Continued, type SecondFactorPage } from "./second-factor-reply.ts";

type StepUpMode = Parameters<typeof StepUpPage>[0]["mode"];

/** The step-up attempt of this session: the live one, or a new one from LoginFlow.beginStepUp. */
async function stepUpMode(
	web: WebContext,
	request: FastifyRequest,
	wanted: string | undefined,
): Promise<{ mode: StepUpMode; notice: Notice } | { refused: string }> {
	const { services } = web;
	const session = request.web.session;
	if (session === null) return { refused: "Please log in again." };
	let step = session.attempt_id !== null ? await services.login.currentStep(session.attempt_id) : null;
	if (step === null || step.kind === "denied") {
		step = await services.login.beginStepUp(clientOf(request), session.user_id);
		if (step.kind !== "denied") {
			await services.sessions.update(session.id_hash, { attempt_id: step.attemptId });
			session.attempt_id = step.attemptId;
		}
	}
	switch (step.kind) {
		case "password-confirm":
			return { mode: { kind: "password" }, notice: null };
		case "second-factor": {
			const method = wanted !== undefined && isMethodId(wanted) && step.methods.includes(wanted) ? wanted : step.defaultMethod;
			const challenge = await services.login.startChallenge(step.attemptId, method);
			return {
				mode: {
					kind: "second-factor",
					explanation: step.explanation,
					methods: step.methods,
					method,
					prompt: challenge.kind === "prompt" ? challenge.prompt : null,
				},
				notice: challenge.kind === "denied" ? { kind: "error", text: challenge.message } : null,
			};
		}
		case "enroll":
			return { refused: "You need to set up a second factor first. Log in again to do so." };
		case "denied":
			return { refused: step.message };
		default:
			return { refused: "Please log in again." };
	}
}

/** The step-up page for this session's attempt (a new one when none is live), `wanted` preselected. */
export async function renderStepUpPage(
	web: WebContext,
	request: FastifyRequest,
	reply: FastifyReply,
	next: string,
	wanted: string | undefined,
	notice: Notice,
	status = 200,
	continued: Continued | null = null,
): Promise<FastifyReply> {
	const session = request.web.session;
	if (continued !== null && session !== null && session.attempt_id !== null) {
		// Another round of the same method (e.g. a RADIUS challenge): show its prompt, start nothing new.
		const step = await web.services.login.currentStep(session.attempt_id);
		if (step.kind === "second-factor") {
			const mode = { kind: "second-factor" as const, explanation: step.explanation, methods: step.methods, method: continued.method, prompt: continued.prompt };
			return sendPage(reply, status, <StepUpPage ctx={pageContext(request)} next={next} mode={mode} notice={notice} />);
		}
	}
	const result = await stepUpMode(web, request, wanted);
	if ("refused" in result) return loginRefused(web, request, reply, 403, result.refused);
	return sendPage(reply, status, <StepUpPage ctx={pageContext(request)} next={next} mode={result.mode} notice={notice ?? result.notice} />);
}

/** How a step-up answer is shown: `again` is the caller's page for the same attempt. */
export function stepUpPage(
	web: WebContext,
	request: FastifyRequest,
	reply: FastifyReply,
	next: string,
	wanted: string | undefined,
	again: SecondFactorPage["again"],
	invalidText?: string,
): SecondFactorPage {
	return {
		purpose: "step-up",
		...(invalidText !== undefined ? { invalidText } : {}),
		done: (method) => completeStepUp(web, request, reply, method, next),
		again,
		restart: (notice, status) => renderStepUpPage(web, request, reply, next, wanted, notice, status),
	};
}

export const stepUpRoutes: RouteModule = (server, web) => {
	const { services } = web;

	getRoute(server, "/account/step-up", { access: "full", fields: { next: str(200), method: str(32), stale: str(2) } }, async (request, reply, query) =>
		renderStepUpPage(
			web,
			request,
			reply,
			safeReturn(query.next, "/account"),
			query.method,
			query.stale !== undefined ? { kind: "info", text: "Your last confirmation is too old. Confirm it is you, then repeat what you were doing." } : null,
		),
	);

	postRoute(
		server,
		"/account/step-up",
		{ access: "full", fields: { next: str(200), method: str(32), code: str(64), c1: str(8), c2: str(8), c3: str(8), password: str(1024) } },
		async (request, reply, form) => {
			const next = safeReturn(form.next, "/account");
			const attemptId = request.web.session?.attempt_id ?? null;
			if (attemptId === null) return seeOther(reply, `/account/step-up?next=${encodeURIComponent(next)}`);
			const step = await services.login.currentStep(attemptId);
			let result;
			if (step.kind === "password-confirm") {
				result = await services.login.confirmPassword(attemptId, form.password ?? "");
			} else if (step.kind === "second-factor") {
				if (form.method === undefined || !isMethodId(form.method)) throw new BadInput("method", "type");
				result = await services.login.submitSecondFactor(attemptId, form.method, typedResponse(form));
			} else {
				return seeOther(reply, `/account/step-up?next=${encodeURIComponent(next)}`);
			}
			const again: SecondFactorPage["again"] = (notice, status, continued) =>
				renderStepUpPage(web, request, reply, next, form.method, notice, status, continued);
			// After a denial the fresh attempt offers its default method (as before: no method carried over).
			return replySecondFactor(web, request, reply, result, stepUpPage(web, request, reply, next, undefined, again));
		},
	);
};
