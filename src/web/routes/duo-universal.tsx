/**
 * Duo's Universal Prompt on the web (docs/threat-model.md, Duo), used when the Duo settings
 * include a "Web SDK" application. SSH, and the web without a Web SDK application, keep the typed
 * Auth API prompt (POST /login/2fa). The routes only move data; the Duo method decides
 * (src/methods/duo/duo-method.ts, duo-universal.ts) and LoginFlow charges, locks and audits.
 *
 *   POST /login/2fa/duo          (half)   "Continue to Duo": LoginFlow.startChallenge → the method's
 *                                         health check, a fresh state stored on THIS attempt, Duo's URL
 *   POST /account/step-up/duo    (full)   the same for a step-up attempt
 *   GET  /login/duo/callback     (public) Duo sends the browser back with state and duo_code
 *
 * Two browser rules shape the hops:
 * - CSP form-action 'self' also covers the redirects after a form POST (Chromium blocks a 303 to
 *   another origin), so "Continue to Duo" answers with a page whose meta refresh opens Duo.
 * - The session cookie is SameSite=Strict, so Duo's cross-site redirect back arrives WITHOUT it.
 *   The callback is therefore public: without a session it answers a page whose meta refresh
 *   repeats the request from this origin (same-site, so the cookie comes along), once (`b=1`).
 *   With the session, the attempt comes from it: a half session (login) or a full session's
 *   step-up attempt; nothing in the URL names an attempt or a user.
 *
 * Before submitting, the callback's state is compared (constant time, read-only) with the round
 * waiting on the session's attempt. A mismatch or a used round is refused and audited WITHOUT
 * charging the user or consuming the round: the bounce page makes any link to the callback a
 * same-site request, so a forged link must not be able to lock a user out mid-login. A matching
 * state is submitted through LoginFlow.submitSecondFactor, where the method checks it again
 * (consumed once) and exchanges the code.
 */
import type { FastifyReply, FastifyRequest } from "fastify";
import type { ChallengeResult, SecondFactorResult } from "../../flows/login-flow.ts";
import { DUO_CALLBACK_PATH, DUO_UNIVERSAL_PROMPT, sameState, waitingUniversalState } from "../../methods/duo/duo-universal.ts";
import { pageContext, seeOther, sendPage, type RouteModule } from "../context.ts";
import { str } from "../forms.ts";
import type { DuoWeb } from "../services.ts";
import { getRoute, postRoute, safeReturn } from "../route-kit.ts";
import { cookieOptions } from "../session.ts";
import { StepUpPage } from "../views/account.tsx";
import { BouncePage, GoToDuoPage } from "../views/duo.tsx";
import type { Notice } from "../views/login.tsx";
import { loginRefused, renderSecondFactorPage } from "./login-steps.tsx";
import { loginSecondFactorPage, replySecondFactor } from "./second-factor-reply.ts";
import { stepUpPage } from "./step-up.tsx";

/** Where a step-up returns after Duo (the step-up page's `next`), kept while the browser is at Duo. */
const NEXT_COOKIE = "pc_duo_next";
const NEXT_COOKIE_PATH = "/login/duo";

const CALLBACK_FIELDS = { state: str(1024), duo_code: str(2048), error: str(200), error_description: str(1000), b: str(1) } as const;

const STALE_ANSWER =
	"This answer from Duo does not belong to your current login (it was used already, or it comes from another login). Nothing was counted. Continue to Duo again.";

export const duoUniversalRoutes: RouteModule = (server, web) => {
	const { services } = web;
	const found = services.methods.duo;
	if (found === null) return;
	const duo: DuoWeb = found;

	/** After startChallenge: the page that opens Duo, with the URL of the round just stored on the attempt. */
	async function openDuo(request: FastifyRequest, reply: FastifyReply, attemptId: string): Promise<FastifyReply | null> {
		const round = waitingUniversalState(await services.methods.attempts.getLive(attemptId), request.web.session?.user_id ?? "");
		if (round === null) return null;
		return sendPage(reply, 200, <GoToDuoPage ctx={pageContext(request)} url={round.url} />);
	}

	// ---- login (half session) ----

	postRoute(server, "/login/2fa/duo", { access: "half", fields: {} }, async (request, reply) => {
		const attemptId = request.web.session?.attempt_id ?? "";
		const start: ChallengeResult = await services.login.startChallenge(attemptId, "duo");
		if (start.kind === "denied") {
			if (start.reason === "expired") return loginRefused(web, request, reply, 401, start.message);
			return renderSecondFactorPage(web, request, reply, "duo", { kind: "error", text: start.message }, 400);
		}
		// A typed prompt instead: the Web SDK was removed meanwhile; show the Auth API prompt.
		return (await openDuo(request, reply, attemptId)) ?? renderSecondFactorPage(web, request, reply, "duo", null);
	});

	// ---- step-up (full session) ----

	/** The step-up page again for the session's attempt, on Duo, with a notice (as webauthn.tsx's stepUpAgain). */
	async function stepUpAgain(request: FastifyRequest, reply: FastifyReply, next: string, notice: Notice, status: number): Promise<FastifyReply> {
		const attemptId = request.web.session?.attempt_id ?? null;
		const step = attemptId === null ? null : await services.login.currentStep(attemptId);
		if (step === null || step.kind !== "second-factor" || !step.methods.includes("duo")) {
			return seeOther(reply, `/account/step-up?next=${encodeURIComponent(next)}`);
		}
		let prompt: string | null = DUO_UNIVERSAL_PROMPT;
		if ((await duo.webPrompt()) !== "universal") {
			const challenge = await services.login.startChallenge(step.attemptId, "duo");
			prompt = challenge.kind === "prompt" ? challenge.prompt : null;
		}
		const mode = { kind: "second-factor" as const, explanation: step.explanation, methods: step.methods, method: "duo" as const, prompt };
		return sendPage(reply, status, <StepUpPage ctx={pageContext(request)} next={next} mode={mode} notice={notice} />);
	}

	postRoute(server, "/account/step-up/duo", { access: "full", fields: { next: str(200) } }, async (request, reply, form) => {
		const next = safeReturn(form.next, "/account");
		const attemptId = request.web.session?.attempt_id ?? null;
		if (attemptId === null) return seeOther(reply, `/account/step-up?next=${encodeURIComponent(next)}`);
		const start = await services.login.startChallenge(attemptId, "duo");
		if (start.kind === "denied") return stepUpAgain(request, reply, next, { kind: "error", text: start.message }, 400);
		reply.setCookie(NEXT_COOKIE, next, cookieOptions(web, { maxAge: 15 * 60, path: NEXT_COOKIE_PATH }));
		return (await openDuo(request, reply, attemptId)) ?? stepUpAgain(request, reply, next, null, 200);
	});

	function afterStepUp(request: FastifyRequest, reply: FastifyReply, next: string, result: SecondFactorResult): Promise<FastifyReply> {
		const again = (notice: Notice, status: number) => stepUpAgain(request, reply, next, notice, status);
		return replySecondFactor(web, request, reply, result, stepUpPage(web, request, reply, next, "duo", again, "Duo did not approve this confirmation."));
	}

	// ---- Duo's redirect back ----

	getRoute(server, DUO_CALLBACK_PATH, { access: "public", fields: CALLBACK_FIELDS }, async (request, reply, query) => {
		const session = request.web.session;
		if (session === null) {
			if (query.b === undefined && query.state !== undefined) {
				// Cross-site arrival without the SameSite=Strict cookie: repeat the request from this origin, once.
				const again = new URLSearchParams();
				for (const name of ["state", "duo_code", "error", "error_description"] as const) {
					const value = query[name];
					if (value !== undefined) again.set(name, value);
				}
				again.set("b", "1");
				return sendPage(reply, 200, <BouncePage ctx={pageContext(request)} url={`${DUO_CALLBACK_PATH}?${again.toString()}`} />);
			}
			return loginRefused(
				web,
				request,
				reply,
				401,
				"Your login was not found: it may have expired, or this browser did not send its cookie back. Please log in again.",
			);
		}
		const stepUp = session.state === "full";
		const next = safeReturn(request.cookies[NEXT_COOKIE], "/account");
		if (stepUp) reply.clearCookie(NEXT_COOKIE, cookieOptions(web, { path: NEXT_COOKIE_PATH }));
		const attemptId = session.attempt_id;
		if (attemptId === null) {
			// Nothing waits (e.g. the browser's back button after a finished login or step-up).
			if (stepUp) return seeOther(reply, "/account");
			return loginRefused(web, request, reply, 401, "This login has expired. Please start again.");
		}

		const state = query.state ?? "";
		const round = waitingUniversalState(await services.methods.attempts.getLive(attemptId), session.user_id);
		if (round === null || !sameState(state, round.duoState)) {
			await services.audit.write({
				event: "duo.callback-refused",
				outcome: "failure",
				userId: session.user_id,
				username: request.web.user?.username ?? null,
				channel: "web",
				source: request.ip,
				method: "duo",
				detail: { reason: round === null ? "no-waiting-round" : "state-mismatch", stepUp },
			});
			const notice = { kind: "error" as const, text: STALE_ANSWER };
			return stepUp ? stepUpAgain(request, reply, next, notice, 400) : renderSecondFactorPage(web, request, reply, "duo", notice, 400);
		}

		const answer = JSON.stringify({ state, code: query.duo_code ?? "", ...(query.error !== undefined ? { error: query.error } : {}) });
		const result = await services.login.submitSecondFactor(attemptId, "duo", answer);
		return stepUp
			? afterStepUp(request, reply, next, result)
			: replySecondFactor(web, request, reply, result, loginSecondFactorPage(web, request, reply, "duo"));
	});
};
