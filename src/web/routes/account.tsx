/**
 * The account page (full session) and its management actions. Adding, removing, recovery codes
 * and password changes need a fresh second factor (docs/threat-model.md I8/W11: step-up within
 * security.step_up_minutes); the guard enforces `stepUp` before the handler runs.
 */
import type { FastifyReply, FastifyRequest } from "fastify";
import { METHOD_INFO, type MethodId } from "../../core/method-id.ts";
import type { EnrollContext } from "../../flows/enrollment-flow.ts";
import { clientOf, pageContext, seeOther, sendPage, type RouteModule } from "../context.ts";
import { req, str } from "../forms.ts";
import { getRoute, postRoute } from "../route-kit.ts";
import { isFresh, rotateSession, startSession } from "../session.ts";
import { AccountPage, PasswordPage, RecoveryCodesPage, RecoveryOfferPage, type AccountView } from "../views/account.tsx";
import { TotpSetupPage, type Notice } from "../views/login.tsx";
import { accountEnrollContext } from "./enroll.tsx";

const ACCOUNT_MESSAGES: Record<string, Notice> = {
	added: { kind: "success", text: "Your new second factor is ready." },
	removed: { kind: "success", text: "The factor was removed." },
	"password-changed": { kind: "success", text: "Your password was changed. Your other sessions were logged out." },
	confirmed: { kind: "success", text: "Thank you, you can now manage your factors." },
	forgotten: { kind: "success", text: "The remembered SSH login was forgotten: the next SSH login from there asks for your second factor." },
};

export const accountRoutes: RouteModule = (server, web) => {
	const { services } = web;
	const fresh = { access: "full" as const, stepUp: true, stepUpReturn: "/account" };

	function context(request: FastifyRequest): EnrollContext {
		return accountEnrollContext(request);
	}

	function userId(request: FastifyRequest): string {
		return request.web.session?.user_id ?? "";
	}

	async function accountView(request: FastifyRequest): Promise<AccountView> {
		const id = userId(request);
		const username = request.web.user?.username ?? "";
		// One read of the policy inputs serves the explanation, the SSH line, the factor list and the
		// enrollable methods (LoginFlow.accountSummary); the user row is the guard's.
		const [summary, events, remembered] = await Promise.all([
			services.login.accountSummary(id, request.web.user),
			// The user's own security events: how they learn of failed second-factor attempts, a lock,
			// or an admin reset (OWASP MFA cheat sheet: notify users of failed second factors).
			services.audit.query({ username, limit: 10 }),
			services.enrollment.rememberedGrants(id),
		]);
		const ssh = summary?.ssh ?? { kind: "not-required", method: null };
		const sshLine =
			ssh.kind === "challenge" && ssh.method !== null
				? METHOD_INFO[ssh.method].label
				: ssh.kind === "not-required"
					? "no second factor"
					: ssh.kind === "enroll"
						? "no second factor yet: SSH logins are refused until you set one up"
						: ssh.kind === "enroll-nudge"
							? "no second factor yet: SSH logins work until the enrolment deadline, then they are refused"
							: ssh.kind === "unusable-on-channel"
								? "none of your factors works over SSH: SSH logins are refused"
								: "no method is allowed for your account: ask an administrator";
		const session = request.web.session;
		const freshUntil = isFresh(web, session) && session !== null ? Number(session.step_up_at) + services.config.security.step_up_minutes * 60_000 : null;
		return {
			factors: summary?.factors ?? [],
			recoveryCodesLeft: summary?.recoveryCodesLeft ?? 0,
			enrollable: summary?.enrollable ?? [],
			explanation: summary?.explanation ?? "",
			required: (summary?.reasons.length ?? 0) > 0,
			sshLine,
			freshUntil,
			remembered,
			events: events
				.filter((event) => event.user_id === id)
				.map((event) => ({
					at: Number(event.at),
					event: event.event,
					outcome: event.outcome,
					channel: event.channel,
					method: event.method,
					source: event.source,
				})),
		};
	}

	async function account(request: FastifyRequest, reply: FastifyReply, notice: Notice, status = 200): Promise<FastifyReply> {
		return sendPage(reply, status, <AccountPage ctx={pageContext(request)} view={await accountView(request)} notice={notice} />);
	}

	/** A factor was just proven by the user on this page: rotate, and count it as a fresh step-up. */
	async function afterEnrolled(request: FastifyRequest, reply: FastifyReply, method: MethodId): Promise<FastifyReply> {
		if (!(await rotateSession(web, request, reply, { secondFactorMethod: method, stepUpAt: services.clock.now().getTime() })))
			return seeOther(reply, "/login?m=ended");
		const codes = await services.directory.recoveryCodes.countUnused(userId(request));
		return seeOther(reply, codes === 0 ? "/account/recovery-codes?welcome=1" : "/account?m=added");
	}

	getRoute(server, "/account", { access: "full", fields: { m: str(32) } }, async (request, reply, query) =>
		account(request, reply, query.m !== undefined ? (ACCOUNT_MESSAGES[query.m] ?? null) : null),
	);

	postRoute(server, "/account/factors/totp", { ...fresh, fields: { label: str(64) } }, async (request, reply, form) => {
		const begin = await services.enrollment.begin(userId(request), "totp", form.label, {}, context(request));
		if (begin.kind === "rejected") return account(request, reply, { kind: "error", text: begin.message }, 400);
		if (begin.kind === "active") return afterEnrolled(request, reply, "totp");
		return sendPage(
			reply,
			200,
			<TotpSetupPage
				ctx={pageContext(request)}
				title="Add an authenticator app"
				display={begin.display}
				factorId={begin.factorId}
				action="/account/factors/totp/confirm"
				notice={null}
				restartHref="/account"
			/>,
		);
	});

	/** The setup page of this session's pending TOTP factor again (a wrong code keeps the QR code), or null. */
	async function totpSetupAgain(request: FastifyRequest, reply: FastifyReply, notice: Notice, status: number, factorId?: string): Promise<FastifyReply | null> {
		const pending = await services.enrollment.pendingSetup(userId(request), "totp", context(request), factorId);
		if (pending === null) return null;
		return sendPage(
			reply,
			status,
			<TotpSetupPage
				ctx={pageContext(request)}
				title="Add an authenticator app"
				display={pending.display}
				factorId={pending.factorId}
				action="/account/factors/totp/confirm"
				notice={notice}
				restartHref="/account"
			/>,
		);
	}

	// A reload, Back, or the address opened again (it used to answer 404): the setup in progress, or the account page.
	for (const url of ["/account/factors/totp", "/account/factors/totp/confirm"]) {
		getRoute(server, url, { ...fresh, stepUpReturn: url, fields: {} }, async (request, reply) => {
			return (await totpSetupAgain(request, reply, null, 200)) ?? seeOther(reply, "/account");
		});
	}

	postRoute(server, "/account/factors/totp/confirm", { ...fresh, fields: { factorId: req(64), code: req(64) } }, async (request, reply, form) => {
		const done = await services.enrollment.complete(userId(request), form.factorId, { code: form.code }, context(request));
		if (done.kind === "expired") return account(request, reply, { kind: "error", text: "This setup has expired. Please start again." }, 400);
		if (done.kind === "invalid") {
			const notice = { kind: "error" as const, text: done.message };
			return (
				(await totpSetupAgain(request, reply, notice, 400, form.factorId)) ??
				sendPage(
					reply,
					400,
					<TotpSetupPage
						ctx={pageContext(request)}
						title="Add an authenticator app"
						display={null}
						factorId={form.factorId}
						action="/account/factors/totp/confirm"
						notice={notice}
						restartHref="/account"
					/>,
				)
			);
		}
		return afterEnrolled(request, reply, done.method);
	});

	postRoute(
		server,
		"/account/factors/keyword",
		{ ...fresh, fields: { keyword: req(256), confirm: req(256), label: str(64) } },
		async (request, reply, form) => {
			const begin = await services.enrollment.begin(
				userId(request),
				"access-keyword",
				form.label,
				{ keyword: form.keyword, confirm: form.confirm },
				context(request),
			);
			if (begin.kind === "rejected") return account(request, reply, { kind: "error", text: begin.message }, 400);
			if (begin.kind === "pending")
				return account(request, reply, { kind: "error", text: "This method needs another step that this page does not support." }, 400);
			return afterEnrolled(request, reply, "access-keyword");
		},
	);

	postRoute(server, "/account/factors/remove", { ...fresh, fields: { factorId: req(64) } }, async (request, reply, form) => {
		const result = await services.enrollment.remove(userId(request), form.factorId, context(request));
		if (result.kind === "refused") return account(request, reply, { kind: "error", text: result.message }, 409);
		if (result.kind === "not-found") return account(request, reply, { kind: "error", text: "That factor does not exist (any more)." }, 404);
		return seeOther(reply, "/account?m=removed");
	});

	// Forgetting a remembered SSH login only takes access away: no step-up needed.
	postRoute(server, "/account/remembered/forget", { access: "full", fields: { grantId: req(64) } }, async (request, reply, form) => {
		await services.enrollment.forgetRememberedGrant(userId(request), form.grantId, context(request));
		return seeOther(reply, "/account?m=forgotten");
	});

	getRoute(server, "/account/recovery-codes", { access: "full", fields: { welcome: str(4) } }, async (request, reply) =>
		sendPage(reply, 200, <RecoveryOfferPage ctx={pageContext(request)} />),
	);

	postRoute(server, "/account/recovery-codes", { ...fresh, fields: {} }, async (request, reply) => {
		const result = await services.enrollment.regenerateRecoveryCodes(userId(request), context(request));
		if (result.kind === "rejected") return account(request, reply, { kind: "error", text: result.message }, 400);
		const codes = (result.display.codes ?? "").split("\n").filter((code) => code.length > 0);
		return sendPage(reply, 200, <RecoveryCodesPage ctx={pageContext(request)} codes={codes} />);
	});

	// ---- password ----

	getRoute(server, "/account/password", { access: "password-change", fields: {} }, async (request, reply) => {
		const forced = request.web.user?.must_change_password === 1;
		if (!forced && !isFresh(web, request.web.session)) return seeOther(reply, "/account/step-up?next=%2Faccount%2Fpassword");
		return sendPage(reply, 200, <PasswordPage ctx={pageContext(request)} forced={forced} notice={null} />);
	});

	postRoute(
		server,
		"/account/password",
		{ access: "password-change", fields: { current: req(1024), password: req(1024), confirm: req(1024) } },
		async (request, reply, form) => {
			const forced = request.web.user?.must_change_password === 1;
			if (!forced && !isFresh(web, request.web.session)) return seeOther(reply, "/account/step-up?next=%2Faccount%2Fpassword&stale=1");
			const page = (text: string) => sendPage(reply, 400, <PasswordPage ctx={pageContext(request)} forced={forced} notice={{ kind: "error", text }} />);
			if (form.password !== form.confirm) return page("The two new passwords do not match.");
			const id = userId(request);
			const result = await services.login.changeOwnPassword(clientOf(request), id, form.current, form.password);
			if (result.kind === "invalid") return page(result.message);
			// Every session of the user ends (the flow bumped the epoch); this browser gets a new one.
			const method = request.web.session?.second_factor_method ?? null;
			await services.sessions.removeAllOfUser(id);
			await startSession(web, request, reply, { userId: id, state: "full", attemptId: null, secondFactorMethod: method });
			return seeOther(reply, "/account?m=password-changed");
		},
	);
};
