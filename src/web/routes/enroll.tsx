/**
 * Forced enrolment (LoginStep "enroll", docs/security-matrix.md W3): a half session of THIS attempt sees only
 * these pages until a new factor is verified; then LoginFlow.finishEnrollment completes the
 * attempt and the session rotates to full. Abandoning it grants nothing.
 */
import type { FastifyReply, FastifyRequest } from "fastify";
import type { EnrollContext } from "../../flows/enrollment-flow.ts";
import type { LoginStep } from "../../flows/login-flow.ts";
import type { UserRow } from "../../storage/user-store.ts";
import { ANSWERED, clientOf, ENROLL_COOKIE, pageContext, seeOther, sendPage, type Answered, type RouteModule, type WebContext } from "../context.ts";
import { req, str } from "../forms.ts";
import { getRoute, postRoute } from "../route-kit.ts";
import { cookieOptions, endSession, startSession } from "../session.ts";
import { PasswordPage } from "../views/account.tsx";
import { messageView } from "../views/layout.tsx";
import { EnrollChoosePage, TotpSetupPage, type Notice } from "../views/login.tsx";
import { completeLogin, enrollTokenOf, loginRefused, stepLocation } from "./login-steps.tsx";

export type EnrollStep = Extract<LoginStep, { kind: "enroll" }>;

/** What every forced-enrolment page (here and methods-enroll.tsx) hands to EnrollmentFlow. */
export function forcedEnrollContext(request: FastifyRequest): EnrollContext {
	return { channel: "web", source: request.ip, duringLogin: true, enrollToken: enrollTokenOf(request), attemptId: request.web.session?.attempt_id ?? null };
}

/** What the account page's enrolments hand to EnrollmentFlow: the factor is bound to this web session. */
export function accountEnrollContext(request: FastifyRequest): EnrollContext {
	return { channel: "web", source: request.ip, duringLogin: false, sessionIdHash: request.web.session?.id_hash ?? null };
}

/** The current step must be "enroll" for this session's attempt; anything else is refused here. */
export async function forcedEnrollStep(
	web: WebContext,
	request: FastifyRequest,
	reply: FastifyReply,
	method: string | null = null,
): Promise<EnrollStep | Answered> {
	const step = await web.services.login.currentStep(request.web.session?.attempt_id ?? "");
	if (step.kind === "enroll" && request.web.user?.must_change_password === 1) {
		// An admin-known password (initial admin, admin-set) is replaced before any factor is bound to the account (docs/decisions.md "First login with a password someone else knows").
		seeOther(reply, "/login/password");
		return ANSWERED;
	}
	if (step.kind === "enroll") return step;
	if (step.kind === "second-factor") {
		// W3(d): a user who already has a usable factor cannot enrol a new one half-authenticated.
		if (request.method === "GET" || request.method === "HEAD") {
			seeOther(reply, "/login/2fa");
			return ANSWERED;
		}
		await web.services.enrollment.refuseDuringLogin(step.userId, method, "already-has-factor", forcedEnrollContext(request));
		sendPage(
			reply,
			403,
			messageView(pageContext(request), "Not allowed", "You already have a second factor. Use it to finish logging in.", {
				href: "/login/2fa",
				text: "Continue logging in",
			}),
		);
		return ANSWERED;
	}
	await loginRefused(web, request, reply, 401, step.kind === "denied" ? step.message : "Please log in again.");
	return ANSWERED;
}

/** A factor is verified: finish the attempt (the flow re-checks user, time and policy) and go full. */
export async function finishForcedEnrollment(web: WebContext, request: FastifyRequest, reply: FastifyReply, factorId: string): Promise<FastifyReply> {
	const result = await web.services.login.finishEnrollment(request.web.session?.attempt_id ?? "", factorId);
	if (result.kind !== "authenticated") return loginRefused(web, request, reply, 401, "message" in result ? result.message : "Please log in again.");
	reply.clearCookie(ENROLL_COOKIE, cookieOptions(web));
	return completeLogin(web, request, reply, result.method, "/account/recovery-codes?welcome=1");
}

export const enrollRoutes: RouteModule = (server, web) => {
	const { services } = web;

	/**
	 * First login with a password the admin knows, when the policy asks for enrolment: the order is
	 * new password, then the factor, then recovery codes. Only at the enrolment step: a
	 * user who has a factor proves it first and changes the password after (/account/password).
	 */
	async function passwordFirst(request: FastifyRequest, reply: FastifyReply): Promise<UserRow | null> {
		const user = request.web.user;
		const step = await services.login.currentStep(request.web.session?.attempt_id ?? "");
		if (user === null || user.must_change_password !== 1 || step.kind !== "enroll") {
			seeOther(reply, step.kind === "enroll" || step.kind === "second-factor" ? stepLocation(step) : "/login");
			return null;
		}
		return user;
	}

	getRoute(server, "/login/password", { access: "half", fields: {} }, async (request, reply) => {
		if ((await passwordFirst(request, reply)) === null) return reply;
		return sendPage(reply, 200, <PasswordPage ctx={pageContext(request)} forced notice={null} action="/login/password" />);
	});

	postRoute(
		server,
		"/login/password",
		{ access: "half", fields: { current: req(1024), password: req(1024), confirm: req(1024) } },
		async (request, reply, form) => {
			const user = await passwordFirst(request, reply);
			if (user === null) return reply;
			const page = (text: string) =>
				sendPage(reply, 400, <PasswordPage ctx={pageContext(request)} forced notice={{ kind: "error", text }} action="/login/password" />);
			if (form.password !== form.confirm) return page("The two new passwords do not match.");
			const result = await services.login.changeOwnPassword(clientOf(request), user.id, form.current, form.password);
			if (result.kind === "invalid") return page(result.message);
			// The change ended every session of the user (epoch bump). The login goes on as a new
			// attempt with the new password: the policy is evaluated afresh and enrolment follows.
			const attemptId = request.web.session?.attempt_id;
			if (attemptId) await services.login.abandon(attemptId);
			await endSession(web, request, reply);
			const next = await services.login.submitPassword(clientOf(request), user.username, form.password);
			if (next.kind === "authenticated") {
				await startSession(web, request, reply, { userId: next.userId, state: "full", attemptId: null, secondFactorMethod: null });
				return seeOther(reply, "/account?m=password-changed");
			}
			if (next.kind === "second-factor" || next.kind === "enroll") {
				await startSession(web, request, reply, { userId: next.userId, state: "half", attemptId: next.attemptId, secondFactorMethod: null });
				return seeOther(reply, stepLocation(next));
			}
			return loginRefused(web, request, reply, 401, next.kind === "denied" ? next.message : "Please log in again.");
		},
	);

	function choose(request: FastifyRequest, reply: FastifyReply, step: EnrollStep, notice: Notice, status = 200): FastifyReply {
		return sendPage(
			reply,
			status,
			<EnrollChoosePage
				ctx={pageContext(request)}
				explanation={step.explanation}
				methods={step.methods}
				notice={notice}
				tokenMissing={step.tokenRequired && enrollTokenOf(request) === null}
			/>,
		);
	}

	getRoute(server, "/login/enroll", { access: "half", fields: {} }, async (request, reply) => {
		const step = await forcedEnrollStep(web, request, reply);
		if ("answered" in step) return reply;
		return choose(request, reply, step, null);
	});

	postRoute(server, "/login/enroll/totp", { access: "half", fields: { label: str(64) } }, async (request, reply, form) => {
		const step = await forcedEnrollStep(web, request, reply);
		if ("answered" in step) return reply;
		const begin = await services.enrollment.begin(step.userId, "totp", form.label, {}, forcedEnrollContext(request));
		if (begin.kind === "rejected") return choose(request, reply, step, { kind: "error", text: begin.message }, 400);
		if (begin.kind === "active") return finishForcedEnrollment(web, request, reply, begin.factorId);
		return sendPage(
			reply,
			200,
			<TotpSetupPage
				ctx={pageContext(request)}
				title="Set up your authenticator app"
				display={begin.display}
				factorId={begin.factorId}
				action="/login/enroll/totp/confirm"
				notice={null}
				restartHref="/login/enroll"
			/>,
		);
	});

	/** The setup page of this attempt's pending TOTP factor again (a wrong code keeps the QR code), or null. */
	async function totpSetupAgain(
		request: FastifyRequest,
		reply: FastifyReply,
		step: EnrollStep,
		notice: Notice,
		status: number,
		factorId?: string,
	): Promise<FastifyReply | null> {
		const pending = await services.enrollment.pendingSetup(step.userId, "totp", forcedEnrollContext(request), factorId);
		if (pending === null) return null;
		return sendPage(
			reply,
			status,
			<TotpSetupPage
				ctx={pageContext(request)}
				title="Set up your authenticator app"
				display={pending.display}
				factorId={pending.factorId}
				action="/login/enroll/totp/confirm"
				notice={notice}
				restartHref="/login/enroll"
			/>,
		);
	}

	// A reload, Back, or the address opened again (it used to answer 404): the setup in progress, or the choice of methods.
	for (const url of ["/login/enroll/totp", "/login/enroll/totp/confirm"]) {
		getRoute(server, url, { access: "half", fields: {} }, async (request, reply) => {
			const step = await forcedEnrollStep(web, request, reply);
			if ("answered" in step) return reply;
			return (await totpSetupAgain(request, reply, step, null, 200)) ?? seeOther(reply, "/login/enroll");
		});
	}

	postRoute(server, "/login/enroll/totp/confirm", { access: "half", fields: { factorId: req(64), code: req(64) } }, async (request, reply, form) => {
		const step = await forcedEnrollStep(web, request, reply);
		if ("answered" in step) return reply;
		const done = await services.enrollment.complete(step.userId, form.factorId, { code: form.code }, forcedEnrollContext(request));
		if (done.kind === "expired") return choose(request, reply, step, { kind: "error", text: "This setup has expired. Please start again." }, 400);
		if (done.kind === "invalid") {
			const notice = { kind: "error" as const, text: done.message };
			return (
				(await totpSetupAgain(request, reply, step, notice, 400, form.factorId)) ??
				sendPage(
					reply,
					400,
					<TotpSetupPage
						ctx={pageContext(request)}
						title="Set up your authenticator app"
						display={null}
						factorId={form.factorId}
						action="/login/enroll/totp/confirm"
						notice={notice}
						restartHref="/login/enroll"
					/>,
				)
			);
		}
		return finishForcedEnrollment(web, request, reply, done.factorId);
	});

	postRoute(
		server,
		"/login/enroll/keyword",
		{ access: "half", fields: { keyword: req(256), confirm: req(256), label: str(64) } },
		async (request, reply, form) => {
			const step = await forcedEnrollStep(web, request, reply);
			if ("answered" in step) return reply;
			const begin = await services.enrollment.begin(
				step.userId,
				"access-keyword",
				form.label,
				{ keyword: form.keyword, confirm: form.confirm },
				forcedEnrollContext(request),
			);
			if (begin.kind === "rejected") return choose(request, reply, step, { kind: "error", text: begin.message }, 400);
			if (begin.kind === "pending")
				return choose(request, reply, step, { kind: "error", text: "This method needs another step that this page does not support." }, 400);
			return finishForcedEnrollment(web, request, reply, begin.factorId);
		},
	);
};
