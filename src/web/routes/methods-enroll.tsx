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
import type { ComponentChildren } from "preact";
import { METHOD_INFO, type MethodId } from "../../core/method-id.ts";
import type { EnrollBeginResult, EnrollContext } from "../../flows/enrollment-flow.ts";
import { pageContext, seeOther, sendPage, type Answered, type RouteModule } from "../context.ts";
import { req, str } from "../forms.ts";
import { getRoute, postRoute } from "../route-kit.ts";
import { rotateSession } from "../session.ts";
import { CsrfField, Field, Layout, messageView, type PageContext } from "../views/layout.tsx";
import { NoticeBox, type Notice } from "../views/login.tsx";
import { ENROL_TITLES, WEB_ENROLLABLE, type WebEnrollable } from "../views/method-links.tsx";
import { accountEnrollContext, finishForcedEnrollment, forcedEnrollContext, forcedEnrollStep } from "./enroll.tsx";

type Enrollable = WebEnrollable;

const TITLES = ENROL_TITLES;

// ---------------------------------------------------------------------------------------------
// Views
// ---------------------------------------------------------------------------------------------

function LabelField({ id }: { id: string }) {
	return <Field id={`${id}-label`} name="label" label="Label (optional)" hint="A name for this factor, for example: blue key" maxLength={64} />;
}

export function YubikeySetupForm({ ctx, action, offline }: { ctx: PageContext; action: string; offline: boolean }) {
	return (
		<form method="post" action={action} class="stack" autocomplete="off">
			<CsrfField ctx={ctx} />
			<ol class="steps">
				<li>Plug in your YubiKey.</li>
				{offline ? <li>Enter the AES secret and private id your administrator gave you (the values `ykman otp yubiotp` printed when the key was programmed).</li> : null}
				<li>Click into the OTP field and touch the key once: it types a one-time password.</li>
			</ol>
			{offline ? (
				<>
					<Field id="yk-aes" name="aesKey" label="AES secret" hint="32 hexadecimal characters" maxLength={64} required autocomplete="off" />
					<Field id="yk-private" name="privateId" label="Private id" hint="12 hexadecimal characters" maxLength={24} required autocomplete="off" />
				</>
			) : null}
			<Field id="yk-otp" name="otp" label="YubiKey OTP" hint="Touch your key; it types 44 characters and presses Enter." maxLength={64} required autocomplete="off" autofocus={!offline} />
			<LabelField id="yk" />
			<button type="submit" class="primary">
				Add YubiKey
			</button>
		</form>
	);
}

export function DuoSetupForm({ ctx, action, username }: { ctx: PageContext; action: string; username: string }) {
	return (
		<form method="post" action={action} class="stack">
			<CsrfField ctx={ctx} />
			<p class="hint">
				Portcullis asks Duo whether your Duo account has a device (Duo Mobile, a phone or a token). At login you then approve a push, take a call, or type a Duo passcode; in the
				browser this may happen on Duo's own page.
			</p>
			<Field id="duo-username" name="username" label="Duo username (optional)" hint={`Leave empty to use your Portcullis username (${username}).`} maxLength={256} autocomplete="off" />
			<LabelField id="duo" />
			<button type="submit" class="primary">
				Add Duo
			</button>
		</form>
	);
}

export function RadiusSetupForm({ ctx, action, username }: { ctx: PageContext; action: string; username: string }) {
	return (
		<form method="post" action={action} class="stack" autocomplete="off">
			<CsrfField ctx={ctx} />
			<p class="hint">Your organisation's RADIUS server (for example a token or OTP server) checks one login now. If it asks a further question, you answer it on the next page.</p>
			<Field id="radius-username" name="username" label="RADIUS username (optional)" hint={`Leave empty to use your Portcullis username (${username}).`} maxLength={253} autocomplete="off" />
			<Field id="radius-password" name="password" label="RADIUS password or token code" type="password" maxLength={256} required autocomplete="off" />
			<LabelField id="radius" />
			<button type="submit" class="primary">
				Add RADIUS
			</button>
		</form>
	);
}

export function RadiusChallengeForm({ ctx, action, factorId, prompt }: { ctx: PageContext; action: string; factorId: string; prompt: string }) {
	return (
		<form method="post" action={action} class="stack" autocomplete="off">
			<CsrfField ctx={ctx} />
			<input type="hidden" name="factorId" value={factorId} />
			<p class="why" id="radius-prompt">
				The RADIUS server asks: <strong>{prompt}</strong>
			</p>
			<Field id="radius-code" name="code" label="Your answer" type="password" maxLength={256} autocomplete="off" autofocus />
			<button type="submit" class="primary">
				Confirm
			</button>
		</form>
	);
}

function MethodSetupPage(props: { ctx: PageContext; method: Enrollable; notice: Notice; backHref: string; children: ComponentChildren }) {
	return (
		<Layout ctx={props.ctx} title={TITLES[props.method]} narrow>
			<NoticeBox notice={props.notice} />
			<section class="card" aria-labelledby="setup-heading">
				<h2 id="setup-heading">{METHOD_INFO[props.method].label}</h2>
				{props.children}
			</section>
			<p>
				<a href={props.backHref}>Back</a>
			</p>
		</Layout>
	);
}

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
			if (!(await rotateSession(web, request, reply, { secondFactorMethod: method, stepUpAt: services.clock.now().getTime() }))) return seeOther(reply, "/login?m=ended");
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

	async function formPage(request: FastifyRequest, reply: FastifyReply, mode: Mode, method: Enrollable, user: { id: string; username: string }, notice: Notice, status = 200): Promise<FastifyReply> {
		const ctx = pageContext(request);
		const action = `${mode.base}/${method}`;
		if (!(await services.enrollment.enrollableMethods(user.id)).includes(method)) {
			return sendPage(reply, 400, messageView(ctx, TITLES[method], "This method is not available for your account.", { href: mode.back, text: "Back" }));
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

	async function afterBegin(request: FastifyRequest, reply: FastifyReply, mode: Mode, method: Enrollable, user: { id: string; username: string }, begin: EnrollBeginResult): Promise<FastifyReply> {
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
		const postOptions = (method: string) => (mode === account ? { access: "full" as const, stepUp: true, stepUpReturn: `/account/factors/${method}` } : { access: "half" as const });

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
			const input = { otp: form.otp, ...(form.aesKey !== undefined ? { aesKey: form.aesKey } : {}), ...(form.privateId !== undefined ? { privateId: form.privateId } : {}) };
			return afterBegin(request, reply, mode, "yubikey-otp", user, await services.enrollment.begin(user.id, "yubikey-otp", form.label, input, mode.context(request)));
		});

		postRoute(server, `${mode.base}/duo`, { ...postOptions("duo"), fields: FORMS.duo }, async (request, reply, form) => {
			const user = await mode.user(request, reply);
			if ("answered" in user) return reply;
			return afterBegin(request, reply, mode, "duo", user, await services.enrollment.begin(user.id, "duo", form.label, { username: form.username ?? "" }, mode.context(request)));
		});

		postRoute(server, `${mode.base}/radius`, { ...postOptions("radius"), fields: FORMS.radius }, async (request, reply, form) => {
			const user = await mode.user(request, reply);
			if ("answered" in user) return reply;
			return afterBegin(request, reply, mode, "radius", user, await services.enrollment.begin(user.id, "radius", form.label, { username: form.username ?? "", password: form.password }, mode.context(request)));
		});

		postRoute(server, `${mode.base}/radius/confirm`, { ...postOptions("radius"), fields: { factorId: req(64), code: str(256) } }, async (request, reply, form) => {
			const user = await mode.user(request, reply);
			if ("answered" in user) return reply;
			const done = await services.enrollment.complete(user.id, form.factorId, { code: form.code ?? "" }, mode.context(request));
			if (done.kind === "expired") return formPage(request, reply, mode, "radius", user, { kind: "error", text: "This setup has expired. Please start again." }, 400);
			if (done.kind === "invalid") return formPage(request, reply, mode, "radius", user, { kind: "error", text: done.message }, 400);
			return mode.done(request, reply, done.factorId, done.method);
		});
	}
};
