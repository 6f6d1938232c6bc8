/**
 * Web routes of the WebAuthn method (docs/product-decisions.md Decision 6):
 *
 *   /account/factors/webauthn            GET page with registration options, POST the new key   (full, step-up)
 *   /login/enroll/webauthn               the same during forced enrolment                        (half)
 *   /login/2fa/webauthn[/options]        the second-factor page's key answer                     (half)
 *   /account/step-up/webauthn[/options]  the step-up page's key answer                           (full)
 *   /approve/:token                      SSH browser approval: details, approve with the key     (full, same user)
 *   /approve/:token/deny                 "this was not me"                                       (full, same user)
 *   /static/webauthn.js, /static/simplewebauthn/*   the page script and @simplewebauthn/browser (public)
 *
 * This file: the scripts and registration; the key answers are in webauthn-answer.tsx, the SSH
 * approval in webauthn-approval.tsx.
 *
 * Every answer is a normal form POST carrying the CSRF token; the JSON from the browser travels in
 * the "response" field. The routes only move data: the method (src/methods/webauthn) decides.
 */
import { readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative, sep } from "node:path";
import type { FastifyReply, FastifyRequest } from "fastify";
import type { EnrollContext } from "../../flows/enrollment-flow.ts";
import { MAX_RESPONSE_LENGTH } from "../../methods/webauthn/webauthn-method.ts";
import { ANSWERED, pageContext, seeOther, sendPage, type Answered, type RouteModule } from "../context.ts";
import { req, str } from "../forms.ts";
import type { WebauthnWeb } from "../services.ts";
import { getRoute, postRoute } from "../route-kit.ts";
import { rotateSession } from "../session.ts";
import { messageView } from "../views/layout.tsx";
import type { Notice } from "../views/login.tsx";
import { accountEnrollContext, finishForcedEnrollment, forcedEnrollContext, forcedEnrollStep } from "./enroll.tsx";
import { RegisterKeyPage } from "../views/webauthn.tsx";

/** The JSON answers are a few KiB; the body limit leaves room for URL-encoding of every character. */
export const RESPONSE_FIELD = req(MAX_RESPONSE_LENGTH);
export const BODY_LIMIT = 4 * MAX_RESPONSE_LENGTH;

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
	const method: WebauthnWeb = found;

	// ---- static scripts ----

	server.get("/static/webauthn.js", { config: { access: "public", skipLivePolicy: true, asset: true, query: {} } }, async (_request, reply) =>
		reply.header("cache-control", "public, max-age=3600").type("text/javascript; charset=utf-8").send(PAGE_SCRIPT),
	);
	server.get<{ Params: { "*": string } }>(
		"/static/simplewebauthn/*",
		{ config: { access: "public", skipLivePolicy: true, asset: true, query: {} } },
		async (request, reply) => {
			const file = BROWSER_LIBRARY.get(request.params["*"]);
			if (file === undefined)
				return sendPage(reply, 404, messageView(pageContext(request), "Not found", "There is no such file.", { href: "/", text: "Start page" }));
			return reply.header("cache-control", "public, max-age=3600").type("text/javascript; charset=utf-8").send(file);
		},
	);

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
			if (!(await rotateSession(web, request, reply, { secondFactorMethod: "webauthn", stepUpAt: services.clock.now().getTime() })))
				return seeOther(reply, "/login?m=ended");
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
			const step = await forcedEnrollStep(web, request, reply, "webauthn");
			return "answered" in step ? ANSWERED : { id: step.userId, username: step.username, attemptId: step.attemptId };
		},
		done: (request, reply, factorId) => finishForcedEnrollment(web, request, reply, factorId),
	};

	async function registerPage(
		request: FastifyRequest,
		reply: FastifyReply,
		mode: Mode,
		user: { id: string; username: string; attemptId: string | null },
		notice: Notice,
		status = 200,
	): Promise<FastifyReply> {
		const ctx = pageContext(request);
		if (!(await services.enrollment.enrollableMethods(user.id)).includes("webauthn")) {
			return sendPage(
				reply,
				400,
				messageView(ctx, "Register a security key", "Security keys are not available for your account.", { href: mode.back, text: "Back" }),
			);
		}
		const options = await method.registrationOptions({ id: user.id, username: user.username }, user.attemptId);
		const keys = mode.forced ? [] : await services.directory.factors.listActive(user.id, "webauthn");
		const shown = options.kind === "rejected" ? { kind: "error" as const, text: options.message } : notice;
		const registration = options.kind === "options" ? { challengeId: options.challengeId, options: options.options } : null;
		return sendPage(
			reply,
			options.kind === "rejected" ? 400 : status,
			<RegisterKeyPage ctx={ctx} action={mode.base} backHref={mode.back} notice={shown} registration={registration} keys={keys} forced={mode.forced} />,
		);
	}

	for (const mode of [account, forced]) {
		const get = mode.forced ? { access: "half" as const } : { access: "full" as const, stepUp: true, stepUpReturn: mode.base };
		getRoute(server, mode.base, { ...get, fields: {} }, async (request, reply) => {
			const user = await mode.who(request, reply);
			if ("answered" in user) return reply;
			return registerPage(request, reply, mode, user, null);
		});
		postRoute(
			server,
			mode.base,
			{ ...get, bodyLimit: BODY_LIMIT, fields: { label: str(64), challengeId: req(64), response: RESPONSE_FIELD } },
			async (request, reply, form) => {
				const user = await mode.who(request, reply);
				if ("answered" in user) return reply;
				const begin = await services.enrollment.begin(
					user.id,
					"webauthn",
					form.label,
					{ challengeId: form.challengeId, response: form.response },
					mode.context(request),
				);
				if (begin.kind === "active") return mode.done(request, reply, begin.factorId);
				const message = begin.kind === "rejected" ? begin.message : "This registration needs a step this page does not support.";
				return registerPage(request, reply, mode, user, { kind: "error", text: message }, 400);
			},
		);
	}
};
