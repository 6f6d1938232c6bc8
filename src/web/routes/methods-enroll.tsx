/**
 * Web enrolment of the backend methods: YubiKey (Yubico OTP), Duo and RADIUS, on the account page
 * (full session, fresh step-up for the POST, like adding TOTP) and on the forced-enrolment page
 * (half session of THIS attempt; LoginFlow.finishEnrollment completes it, as in enroll.tsx).
 *
 *   /account/factors/{yubikey-otp,duo,radius}      GET form, POST begin
 *   /account/factors/radius/confirm                 POST the answer to a RADIUS challenge
 *   /login/enroll/{yubikey-otp,duo,radius}          same, during forced enrolment
 *   /login/enroll/radius/confirm
 *
 * The pages only collect input and render EnrollmentFlow results; the methods decide.
 */
import type { FastifyReply, FastifyRequest } from "fastify";
import type { MethodId } from "../../core/method-id.ts";
import type { EnrollBeginResult, EnrollContext } from "../../flows/enrollment-flow.ts";
import { pageContext, seeOther, sendPage, type Answered, type RouteModule } from "../context.ts";
import { req, str } from "../forms.ts";
import { getRoute, postRoute } from "../route-kit.ts";
import { rotateSession } from "../session.ts";
import { messageView } from "../views/layout.tsx";
import type { Notice } from "../views/login.tsx";
import { ENROL_TITLES, WEB_ENROLLABLE, type WebEnrollable } from "../views/method-links.tsx";
import { DuoSetupForm, MethodSetupPage, RadiusChallengeForm, RadiusSetupForm, YubikeySetupForm } from "../views/method-setup.tsx";
import { accountEnrollContext, finishForcedEnrollment, forcedEnrollContext, forcedEnrollStep } from "./enroll.tsx";

type Enrollable = WebEnrollable;

// ---------------------------------------------------------------------------------------------
// Routes
// ---------------------------------------------------------------------------------------------

const FORMS = {
	"yubikey-otp": { otp: req(256), aesKey: str(128), privateId: str(64), label: str(64) },
	duo: { username: str(256), label: str(64) },
	radius: { username: str(253), password: req(256), label: str(64) },
} as const;

export const methodEnrollRoutes: RouteModule = (server, web) => {
	const { services } = web;
	const settingsStore = services.methods.settings;

	interface Mode {
		/** "/account/factors" or "/login/enroll" */
		readonly base: string;
		readonly context: (request: FastifyRequest) => EnrollContext;
		/** The user, or ANSWERED when the request was already refused (see ANSWERED). */
		readonly user: (request: FastifyRequest, reply: FastifyReply) => Promise<{ id: string; username: string } | Answered>;
		readonly done: (request: FastifyRequest, reply: FastifyReply, factorId: string, method: MethodId) => Promise<FastifyReply>;
		readonly back: string;
	}

	const account: Mode = {
		base: "/account/factors",
		back: "/account",
		context: accountEnrollContext,
		async user(request) {
			return { id: request.web.session?.user_id ?? "", username: request.web.user?.username ?? "" };
		},
		async done(request, reply, _factorId, method) {
			// As account.tsx: the factor was just proven here, so the session rotates and counts as fresh.
			if (!(await rotateSession(web, request, reply, { secondFactorMethod: method, stepUpAt: services.clock.now().getTime() })))
				return seeOther(reply, "/login?m=ended");
			const codes = await services.directory.recoveryCodes.countUnused(request.web.session?.user_id ?? "");
			return seeOther(reply, codes === 0 ? "/account/recovery-codes?welcome=1" : "/account?m=added");
		},
	};

	const forced: Mode = {
		base: "/login/enroll",
		back: "/login/enroll",
		context: forcedEnrollContext,
		async user(request, reply) {
			const step = await forcedEnrollStep(web, request, reply);
			if ("answered" in step) return step;
			return { id: step.userId, username: step.username };
		},
		done: (request, reply, factorId) => finishForcedEnrollment(web, request, reply, factorId),
	};

	async function formPage(
		request: FastifyRequest,
		reply: FastifyReply,
		mode: Mode,
		method: Enrollable,
		user: { id: string; username: string },
		notice: Notice,
		status = 200,
	): Promise<FastifyReply> {
		const ctx = pageContext(request);
		const action = `${mode.base}/${method}`;
		if (!(await services.enrollment.enrollableMethods(user.id)).includes(method)) {
			return sendPage(reply, 400, messageView(ctx, ENROL_TITLES[method], "This method is not available for your account.", { href: mode.back, text: "Back" }));
		}
		let body;
		if (method === "yubikey-otp") {
			let offline = false;
			try {
				offline = (await settingsStore.load("yubikey-otp"))?.mode === "offline";
			} catch {
				offline = false;
			}
			body = <YubikeySetupForm ctx={ctx} action={action} offline={offline} />;
		} else if (method === "duo") {
			body = <DuoSetupForm ctx={ctx} action={action} username={user.username} />;
		} else {
			body = <RadiusSetupForm ctx={ctx} action={action} username={user.username} />;
		}
		return sendPage(
			reply,
			status,
			<MethodSetupPage ctx={ctx} method={method} notice={notice} backHref={mode.back}>
				{body}
			</MethodSetupPage>,
		);
	}

	async function afterBegin(
		request: FastifyRequest,
		reply: FastifyReply,
		mode: Mode,
		method: Enrollable,
		user: { id: string; username: string },
		begin: EnrollBeginResult,
	): Promise<FastifyReply> {
		if (begin.kind === "rejected") return formPage(request, reply, mode, method, user, { kind: "error", text: begin.message }, 400);
		if (begin.kind === "active") return mode.done(request, reply, begin.factorId, method);
		// Only RADIUS has a second step: the server's Access-Challenge.
		const ctx = pageContext(request);
		return sendPage(
			reply,
			200,
			<MethodSetupPage ctx={ctx} method={method} notice={null} backHref={mode.back}>
				<RadiusChallengeForm ctx={ctx} action={`${mode.base}/radius/confirm`} factorId={begin.factorId} prompt={begin.display.prompt ?? "RADIUS challenge"} />
			</MethodSetupPage>,
		);
	}

	for (const mode of [account, forced]) {
		const routeOptions = mode === account ? { access: "full" as const } : { access: "half" as const };
		const postOptions = (method: string) =>
			mode === account ? { access: "full" as const, stepUp: true, stepUpReturn: `/account/factors/${method}` } : { access: "half" as const };

		for (const method of WEB_ENROLLABLE) {
			getRoute(server, `${mode.base}/${method}`, { ...routeOptions, fields: {} }, async (request, reply) => {
				const user = await mode.user(request, reply);
				if ("answered" in user) return reply;
				return formPage(request, reply, mode, method, user, null);
			});
		}

		postRoute(server, `${mode.base}/yubikey-otp`, { ...postOptions("yubikey-otp"), fields: FORMS["yubikey-otp"] }, async (request, reply, form) => {
			const user = await mode.user(request, reply);
			if ("answered" in user) return reply;
			const input = {
				otp: form.otp,
				...(form.aesKey !== undefined ? { aesKey: form.aesKey } : {}),
				...(form.privateId !== undefined ? { privateId: form.privateId } : {}),
			};
			return afterBegin(
				request,
				reply,
				mode,
				"yubikey-otp",
				user,
				await services.enrollment.begin(user.id, "yubikey-otp", form.label, input, mode.context(request)),
			);
		});

		postRoute(server, `${mode.base}/duo`, { ...postOptions("duo"), fields: FORMS.duo }, async (request, reply, form) => {
			const user = await mode.user(request, reply);
			if ("answered" in user) return reply;
			return afterBegin(
				request,
				reply,
				mode,
				"duo",
				user,
				await services.enrollment.begin(user.id, "duo", form.label, { username: form.username ?? "" }, mode.context(request)),
			);
		});

		postRoute(server, `${mode.base}/radius`, { ...postOptions("radius"), fields: FORMS.radius }, async (request, reply, form) => {
			const user = await mode.user(request, reply);
			if ("answered" in user) return reply;
			return afterBegin(
				request,
				reply,
				mode,
				"radius",
				user,
				await services.enrollment.begin(user.id, "radius", form.label, { username: form.username ?? "", password: form.password }, mode.context(request)),
			);
		});

		postRoute(
			server,
			`${mode.base}/radius/confirm`,
			{ ...postOptions("radius"), fields: { factorId: req(64), code: str(256) } },
			async (request, reply, form) => {
				const user = await mode.user(request, reply);
				if ("answered" in user) return reply;
				const done = await services.enrollment.complete(user.id, form.factorId, { code: form.code ?? "" }, mode.context(request));
				if (done.kind === "expired")
					return formPage(request, reply, mode, "radius", user, { kind: "error", text: "This setup has expired. Please start again." }, 400);
				if (done.kind === "invalid") return formPage(request, reply, mode, "radius", user, { kind: "error", text: done.message }, 400);
				return mode.done(request, reply, done.factorId, done.method);
			},
		);
	}
};
