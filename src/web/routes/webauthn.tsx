/**
 * Web routes of the WebAuthn method (issue 4 item 2; product.md Decision 6):
 *
 *   /account/factors/webauthn            GET page with registration options, POST the new key   (full, step-up)
 *   /login/enroll/webauthn               the same during forced enrolment                        (half)
 *   /login/2fa/webauthn[/options]        the second-factor page's key answer                     (half)
 *   /account/step-up/webauthn[/options]  the step-up page's key answer                           (full)
 *   /approve/:token                      SSH browser approval: details, approve with the key     (full, same user)
 *   /approve/:token/deny                 "this was not me"                                       (full, same user)
 *   /static/webauthn.js, /static/simplewebauthn/*   the page script and @simplewebauthn/browser (public)
 *
 * Every answer is a normal form POST carrying the CSRF token; the JSON from the browser travels in
 * the "response" field. The routes only move data: the method (src/methods/webauthn) decides.
 */
import { readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative, sep } from "node:path";
import type { FastifyReply, FastifyRequest } from "fastify";
import type { EnrollContext } from "../../flows/enrollment-flow.ts";
import { MAX_RESPONSE_LENGTH, type ApprovalOutcome, type WebauthnMethod } from "../../methods/webauthn/webauthn-method.ts";
import { ANSWERED, ENROLL_COOKIE, pageContext, seeOther, sendPage, type Answered, type RouteModule } from "../context.ts";
import { BadInput, req, str } from "../forms.ts";
import { getRoute, postRoute, safeReturn } from "../route-kit.ts";
import { cookieOptions, forgetAttempt, rotateSession } from "../session.ts";
import { StepUpPage } from "../views/account.tsx";
import { messageView } from "../views/layout.tsx";
import { SecondFactorPage, type Notice } from "../views/login.tsx";
import { completeLogin, loginRefused } from "./login-steps.tsx";
import { replySecondFactor } from "./second-factor-reply.ts";
import { stepUpPage } from "./step-up.tsx";
import { accountEnrollContext, forcedEnrollContext } from "./enroll.tsx";
import { ApprovalPage, RegisterKeyPage } from "./webauthn-views.tsx";

/** The JSON answers are a few KiB; the body limit leaves room for URL-encoding of every character. */
const RESPONSE_FIELD = req(MAX_RESPONSE_LENGTH);
const BODY_LIMIT = 4 * MAX_RESPONSE_LENGTH;

const PAGE_SCRIPT = readFileSync(new URL("../static/webauthn.js", import.meta.url), "utf8");

/** @simplewebauthn/browser's ES modules (esm/**.js), read once; only these paths are served. */
function loadBrowserLibrary(): ReadonlyMap<string, string> {
	const main = createRequire(import.meta.url).resolve("@simplewebauthn/browser");
	const root = join(dirname(main), "..", "esm");
	const files = new Map<string, string>();
	const walk = (dir: string) => {
		for (const entry of readdirSync(dir, { withFileTypes: true })) {
			const path = join(dir, entry.name);
			if (entry.isDirectory()) walk(path);
			else if (entry.name.endsWith(".js")) files.set(relative(root, path).split(sep).join("/"), readFileSync(path, "utf8"));
		}
	};
	walk(root);
	return files;
}

const BROWSER_LIBRARY = loadBrowserLibrary();

export const webauthnRoutes: RouteModule = (server, web) => {
	const { services } = web;
	const found = services.methods.webauthn;
	if (found === null) return;
	const method: WebauthnMethod = found;

	// ---- static scripts ----

	server.get("/static/webauthn.js", { config: { access: "public", skipLivePolicy: true, query: {} } }, async (_request, reply) =>
		reply.header("cache-control", "public, max-age=3600").type("text/javascript; charset=utf-8").send(PAGE_SCRIPT),
	);
	server.get<{ Params: { "*": string } }>("/static/simplewebauthn/*", { config: { access: "public", skipLivePolicy: true, query: {} } }, async (request, reply) => {
		const file = BROWSER_LIBRARY.get(request.params["*"]);
		if (file === undefined) return sendPage(reply, 404, messageView(pageContext(request), "Not found", "There is no such file.", { href: "/", text: "Start page" }));
		return reply.header("cache-control", "public, max-age=3600").type("text/javascript; charset=utf-8").send(file);
	});

	// ---- registration ----

	interface Mode {
		readonly base: string;
		readonly forced: boolean;
		readonly back: string;
		context(request: FastifyRequest): EnrollContext;
		/** The user and attempt, or ANSWERED when the request was already refused (see ANSWERED). */
		who(request: FastifyRequest, reply: FastifyReply): Promise<{ id: string; username: string; attemptId: string | null } | Answered>;
		done(request: FastifyRequest, reply: FastifyReply, factorId: string): Promise<FastifyReply>;
	}

	const account: Mode = {
		base: "/account/factors/webauthn",
		forced: false,
		back: "/account",
		context: accountEnrollContext,
		async who(request) {
			return { id: request.web.session?.user_id ?? "", username: request.web.user?.username ?? "", attemptId: null };
		},
		async done(request, reply) {
			// The key was just proven on this page: the session rotates and counts as fresh (as account.tsx does).
			if (!(await rotateSession(web, request, reply, { secondFactorMethod: "webauthn", stepUpAt: services.clock.now().getTime() }))) return seeOther(reply, "/login?m=ended");
			const codes = await services.directory.recoveryCodes.countUnused(request.web.session?.user_id ?? "");
			return seeOther(reply, codes === 0 ? "/account/recovery-codes?welcome=1" : "/account?m=added");
		},
	};

	const forced: Mode = {
		base: "/login/enroll/webauthn",
		forced: true,
		back: "/login/enroll",
		context: forcedEnrollContext,
		async who(request, reply) {
			const step = await services.login.currentStep(request.web.session?.attempt_id ?? "");
			if (step.kind === "enroll") return { id: step.userId, username: step.username, attemptId: step.attemptId };
			if (step.kind === "second-factor") {
				// W3(d): a user who already has a usable factor cannot enrol a new one half-authenticated.
				if (request.method === "GET" || request.method === "HEAD") {
					seeOther(reply, "/login/2fa");
					return ANSWERED;
				}
				await services.enrollment.refuseDuringLogin(step.userId, "webauthn", "already-has-factor", forcedEnrollContext(request));
				sendPage(reply, 403, messageView(pageContext(request), "Not allowed", "You already have a second factor. Use it to finish logging in.", { href: "/login/2fa", text: "Continue logging in" }));
				return ANSWERED;
			}
			await loginRefused(web, request, reply, 401, step.kind === "denied" ? step.message : "Please log in again.");
			return ANSWERED;
		},
		async done(request, reply, factorId) {
			const result = await services.login.finishEnrollment(request.web.session?.attempt_id ?? "", factorId);
			if (result.kind !== "authenticated") return loginRefused(web, request, reply, 401, "message" in result ? result.message : "Please log in again.");
			reply.clearCookie(ENROLL_COOKIE, cookieOptions(web));
			return completeLogin(web, request, reply, result.method, "/account/recovery-codes?welcome=1");
		},
	};

	async function registerPage(request: FastifyRequest, reply: FastifyReply, mode: Mode, user: { id: string; username: string; attemptId: string | null }, notice: Notice, status = 200): Promise<FastifyReply> {
		const ctx = pageContext(request);
		if (!(await services.enrollment.enrollableMethods(user.id)).includes("webauthn")) {
			return sendPage(reply, 400, messageView(ctx, "Register a security key", "Security keys are not available for your account.", { href: mode.back, text: "Back" }));
		}
		const options = await method.registrationOptions({ id: user.id, username: user.username }, user.attemptId);
		const keys = mode.forced ? [] : await services.directory.factors.listActive(user.id, "webauthn");
		const shown = options.kind === "rejected" ? { kind: "error" as const, text: options.message } : notice;
		const registration = options.kind === "options" ? { challengeId: options.challengeId, options: options.options } : null;
		return sendPage(reply, options.kind === "rejected" ? 400 : status, <RegisterKeyPage ctx={ctx} action={mode.base} backHref={mode.back} notice={shown} registration={registration} keys={keys} forced={mode.forced} />);
	}

	for (const mode of [account, forced]) {
		const get = mode.forced ? { access: "half" as const } : { access: "full" as const, stepUp: true, stepUpReturn: mode.base };
		getRoute(server, mode.base, { ...get, fields: {} }, async (request, reply) => {
			const user = await mode.who(request, reply);
			if ("answered" in user) return reply;
			return registerPage(request, reply, mode, user, null);
		});
		postRoute(server, mode.base, { ...get, bodyLimit: BODY_LIMIT, fields: { label: str(64), challengeId: req(64), response: RESPONSE_FIELD } }, async (request, reply, form) => {
			const user = await mode.who(request, reply);
			if ("answered" in user) return reply;
			const begin = await services.enrollment.begin(user.id, "webauthn", form.label, { challengeId: form.challengeId, response: form.response }, mode.context(request));
			if (begin.kind === "active") return mode.done(request, reply, begin.factorId);
			const message = begin.kind === "rejected" ? begin.message : "This registration needs a step this page does not support.";
			return registerPage(request, reply, mode, user, { kind: "error", text: message }, 400);
		});
	}

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
		return sendPage(reply, status, <SecondFactorPage ctx={pageContext(request)} explanation={step.explanation} methods={step.methods} method={wanted} prompt={challenge.kind === "prompt" ? challenge.prompt : null} notice={shown} />);
	}

	/** What a wrong key answer says (the attempts left are appended by the mapper). */
	const KEY_NOT_ACCEPTED = "The security key's answer was not accepted.";

	postRoute(server, "/login/2fa/webauthn", { access: "half", bodyLimit: BODY_LIMIT, fields: { response: RESPONSE_FIELD } }, async (request, reply, form) => {
		const attemptId = request.web.session?.attempt_id ?? "";
		const result = await services.login.submitSecondFactor(attemptId, "webauthn", form.response);
		const again = (notice: Notice, status: number) => secondFactorAgain(request, reply, notice, status);
		return replySecondFactor(web, request, reply, result, { purpose: "login", invalidText: KEY_NOT_ACCEPTED, done: (proven) => completeLogin(web, request, reply, proven), again, restart: again });
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
		const mode = { kind: "second-factor" as const, explanation: step.explanation, methods: step.methods, method: wanted, prompt: challenge.kind === "prompt" ? challenge.prompt : null };
		const shown = challenge.kind === "denied" ? { kind: "error" as const, text: challenge.message } : notice;
		return sendPage(reply, status, <StepUpPage ctx={pageContext(request)} next={next} mode={mode} notice={shown} />);
	}

	postRoute(server, "/account/step-up/webauthn", { access: "full", bodyLimit: BODY_LIMIT, fields: { next: str(200), response: RESPONSE_FIELD } }, async (request, reply, form) => {
		const next = safeReturn(form.next, "/account");
		const attemptId = request.web.session?.attempt_id ?? null;
		if (attemptId === null) return seeOther(reply, `/account/step-up?next=${encodeURIComponent(next)}`);
		const step = await services.login.currentStep(attemptId);
		if (step.kind !== "second-factor") return seeOther(reply, `/account/step-up?next=${encodeURIComponent(next)}`);
		const result = await services.login.submitSecondFactor(attemptId, "webauthn", form.response);
		const again = (notice: Notice, status: number) => stepUpAgain(request, reply, next, notice, status);
		return replySecondFactor(web, request, reply, result, stepUpPage(web, request, reply, next, "webauthn", again, KEY_NOT_ACCEPTED));
	});

	// ---- SSH browser approval (Decision 6) ----

	function checkToken(token: unknown): string {
		if (typeof token !== "string" || !/^[A-Za-z0-9_-]{1,100}$/.test(token)) throw new BadInput("token", "type");
		return token;
	}

	function approvalMissing(request: FastifyRequest, reply: FastifyReply, outcome: { kind: "not-found" } | { kind: "other-user" }): FastifyReply {
		// Another user's link shows nothing about it (not even that it exists).
		const text = outcome.kind === "other-user" ? "This approval link belongs to another account. Log in as the user who started the SSH login." : "This approval link is unknown. Use the link your terminal shows now.";
		return sendPage(reply, outcome.kind === "other-user" ? 403 : 404, messageView(pageContext(request), "Approve SSH login", text, { href: "/account", text: "My account" }));
	}

	async function approvalPage(request: FastifyRequest, reply: FastifyReply, token: string, notice: Notice, status = 200): Promise<FastifyReply> {
		const userId = request.web.session?.user_id ?? "";
		const view = await method.viewApproval(token, userId);
		if (view.kind === "not-found" || view.kind === "other-user") return approvalMissing(request, reply, view);
		const pending = view.kind === "pending" ? { challengeId: view.challengeId, options: view.options } : null;
		return sendPage(reply, status, <ApprovalPage ctx={pageContext(request)} username={request.web.user?.username ?? ""} token={token} details={view.details} pending={pending} notice={notice} />);
	}

	function outcomePage(request: FastifyRequest, reply: FastifyReply, token: string, outcome: ApprovalOutcome): Promise<FastifyReply> | FastifyReply {
		switch (outcome.kind) {
			case "not-found":
			case "other-user":
				return approvalMissing(request, reply, outcome);
			case "invalid":
				return approvalPage(request, reply, token, { kind: "error", text: outcome.message }, 401);
			default:
				return sendPage(reply, 200, <ApprovalPage ctx={pageContext(request)} username={request.web.user?.username ?? ""} token={token} details={outcome.details} pending={null} notice={null} />);
		}
	}

	server.get<{ Params: { token: string } }>("/approve/:token", { config: { access: "full", query: {} } }, async (request, reply) => approvalPage(request, reply, checkToken(request.params.token), null));

	server.post<{ Params: { token: string } }>(
		"/approve/:token",
		{ bodyLimit: BODY_LIMIT, config: { access: "full", form: { challengeId: req(64), response: RESPONSE_FIELD } } },
		async (request, reply) => {
			const token = checkToken(request.params.token);
			const form = request.body as { challengeId: string; response: string };
			return outcomePage(request, reply, token, await method.approve(token, request.web.session?.user_id ?? "", form.challengeId, form.response, request.ip));
		},
	);

	server.post<{ Params: { token: string } }>("/approve/:token/deny", { config: { access: "full", form: {} } }, async (request, reply) => {
		const token = checkToken(request.params.token);
		return outcomePage(request, reply, token, await method.deny(token, request.web.session?.user_id ?? "", request.ip));
	});
};
