/**
 * The security key as the second factor (WebAuthn assertion): the options for the attempt of the
 * session and the answer, for a login (half session) and a step-up (full session).
 */
import type { FastifyReply, FastifyRequest } from "fastify";
import { pageContext, seeOther, sendPage, type RouteModule } from "../context.ts";
import { str } from "../forms.ts";
import type { WebauthnWeb } from "../services.ts";
import { getRoute, postRoute, safeReturn } from "../route-kit.ts";
import { forgetAttempt } from "../session.ts";
import { StepUpPage } from "../views/account.tsx";
import { SecondFactorPage, type Notice } from "../views/login.tsx";
import { completeLogin, loginRefused } from "./login-steps.tsx";
import { replySecondFactor } from "./second-factor-reply.ts";
import { stepUpPage } from "./step-up.tsx";
import { BODY_LIMIT, RESPONSE_FIELD } from "./webauthn.tsx";

export const webauthnAnswerRoutes: RouteModule = (server, web) => {
	const { services } = web;
	const found = services.methods.webauthn;
	if (found === null) return;
	const method: WebauthnWeb = found;

	// ---- the key as the second factor: login and step-up ----

	/** Options for the challenge the attempt of this session holds (started when its page was shown). */
	async function attemptOptions(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
		const session = request.web.session;
		const options = session?.attempt_id ? await method.assertionOptionsForAttempt(session.attempt_id, session.user_id) : null;
		reply.header("cache-control", "no-store");
		if (options === null) return reply.code(409).type("application/json; charset=utf-8").send({ error: "no WebAuthn challenge is waiting; reload the page" });
		return reply.type("application/json; charset=utf-8").send(options);
	}

	getRoute(server, "/login/2fa/webauthn/options", { access: "half", fields: {} }, attemptOptions);
	getRoute(server, "/account/step-up/webauthn/options", { access: "full", fields: {} }, attemptOptions);

	/** The second-factor page again, with a fresh challenge and a notice (as login.tsx renders it). */
	async function secondFactorAgain(request: FastifyRequest, reply: FastifyReply, notice: Notice, status: number): Promise<FastifyReply> {
		const attemptId = request.web.session?.attempt_id ?? "";
		const step = await services.login.currentStep(attemptId);
		if (step.kind === "enroll") return seeOther(reply, "/login/enroll");
		if (step.kind !== "second-factor") return loginRefused(web, request, reply, 401, step.kind === "denied" ? step.message : "Please log in again.");
		const wanted = step.methods.includes("webauthn") ? "webauthn" : step.defaultMethod;
		const challenge = await services.login.startChallenge(attemptId, wanted);
		const shown = challenge.kind === "denied" ? { kind: "error" as const, text: challenge.message } : notice;
		return sendPage(
			reply,
			status,
			<SecondFactorPage
				ctx={pageContext(request)}
				explanation={step.explanation}
				methods={step.methods}
				method={wanted}
				prompt={challenge.kind === "prompt" ? challenge.prompt : null}
				notice={shown}
			/>,
		);
	}

	/** What a wrong key answer says (the attempts left are appended by the mapper). */
	const KEY_NOT_ACCEPTED = "The security key's answer was not accepted.";

	postRoute(server, "/login/2fa/webauthn", { access: "half", bodyLimit: BODY_LIMIT, fields: { response: RESPONSE_FIELD } }, async (request, reply, form) => {
		const attemptId = request.web.session?.attempt_id ?? "";
		const result = await services.login.submitSecondFactor(attemptId, "webauthn", form.response);
		const again = (notice: Notice, status: number) => secondFactorAgain(request, reply, notice, status);
		return replySecondFactor(web, request, reply, result, {
			purpose: "login",
			invalidText: KEY_NOT_ACCEPTED,
			done: (proven) => completeLogin(web, request, reply, proven),
			again,
			restart: again,
		});
	});

	/** The step-up page again, for the session's live step-up attempt, with a fresh challenge. */
	async function stepUpAgain(request: FastifyRequest, reply: FastifyReply, next: string, notice: Notice, status: number): Promise<FastifyReply> {
		const session = request.web.session;
		const step = session?.attempt_id ? await services.login.currentStep(session.attempt_id) : null;
		if (step === null || step.kind !== "second-factor") {
			await forgetAttempt(web, request);
			return seeOther(reply, `/account/step-up?next=${encodeURIComponent(next)}`);
		}
		const wanted = step.methods.includes("webauthn") ? "webauthn" : step.defaultMethod;
		const challenge = await services.login.startChallenge(step.attemptId, wanted);
		const mode = {
			kind: "second-factor" as const,
			explanation: step.explanation,
			methods: step.methods,
			method: wanted,
			prompt: challenge.kind === "prompt" ? challenge.prompt : null,
		};
		const shown = challenge.kind === "denied" ? { kind: "error" as const, text: challenge.message } : notice;
		return sendPage(reply, status, <StepUpPage ctx={pageContext(request)} next={next} mode={mode} notice={shown} />);
	}

	postRoute(
		server,
		"/account/step-up/webauthn",
		{ access: "full", bodyLimit: BODY_LIMIT, fields: { next: str(200), response: RESPONSE_FIELD } },
		async (request, reply, form) => {
			const next = safeReturn(form.next, "/account");
			const attemptId = request.web.session?.attempt_id ?? null;
			if (attemptId === null) return seeOther(reply, `/account/step-up?next=${encodeURIComponent(next)}`);
			const step = await services.login.currentStep(attemptId);
			if (step.kind !== "second-factor") return seeOther(reply, `/account/step-up?next=${encodeURIComponent(next)}`);
			const result = await services.login.submitSecondFactor(attemptId, "webauthn", form.response);
			const again = (notice: Notice, status: number) => stepUpAgain(request, reply, next, notice, status);
			return replySecondFactor(web, request, reply, result, stepUpPage(web, request, reply, next, "webauthn", again, KEY_NOT_ACCEPTED));
		},
	);
};
