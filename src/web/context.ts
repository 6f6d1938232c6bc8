/**
 * Shared types of the web adapter: route access classes, per-request state, and the context each
 * route module receives. The web layer maps HTTP to flow calls and renders LoginStep values; it
 * never decides anything about 2FA (docs/architecture.md).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { h, type VNode } from "preact";
import { renderToString } from "preact-render-to-string";
import type { SessionRow } from "../storage/session-store.ts";
import type { UserRow } from "../storage/user-store.ts";
import type { ClientInfo } from "../flows/login-flow.ts";
import type { RouteRights } from "../flows/api-tokens.ts";
import type { Csrf } from "./csrf.ts";
import type { FormEcho, FormSchema } from "./forms.ts";
import type { WebServices } from "./services.ts";
import type { PageContext } from "./views/layout.tsx";
import { FormEchoContext } from "./views/form-echo.tsx";

/**
 * Every route declares one (docs/security-matrix.md W2: the route table is classified, and a route without a
 * class is refused at registration).
 * - public: anyone (login, enrolment link, logout, static files);
 * - half: a session that proved the first factor only (second-factor and forced-enrolment pages);
 * - full: a fully authenticated session (account pages);
 * - password-change: a full session, also while an admin-set password must be changed;
 * - admin: a full session of an administrator;
 * - api: the REST API (src/web/api/): a Bearer token only. The cookie guard and CSRF skip these
 *   routes, and cookies never authenticate them (docs/api.md).
 */
export const ACCESS_CLASSES = ["public", "half", "full", "password-change", "admin", "api"] as const;
export type AccessClass = (typeof ACCESS_CLASSES)[number];

declare module "fastify" {
	interface FastifyContextConfig {
		access?: AccessClass;
		/** Needs a fresh second factor (session.step_up_at within security.step_up_minutes). */
		stepUp?: boolean;
		/** Where the step-up page returns to after a stale POST. */
		stepUpReturn?: string;
		/** Declared form fields (POST) or query fields (GET); validated before the handler. */
		form?: FormSchema;
		query?: FormSchema;
		/** Skip the live policy check (logout, static files). */
		skipLivePolicy?: boolean;
		/**
		 * A public static file (stylesheet, script): the guard reads no session for it, and the
		 * request log writes its line at debug level, not info.
		 */
		asset?: boolean;
		/** API routes (access "api"): the scope a token needs, and whether the owner must be an administrator now. */
		rights?: RouteRights;
	}
	interface FastifyRequest {
		web: WebRequestState;
	}
}

export interface WebRequestState {
	/** The valid session row, or null (none, expired, revoked). */
	session: SessionRow | null;
	/** The raw session token from the cookie, only when `session` is set. */
	token: string | null;
	user: UserRow | null;
	/** The pre-session cookie (CSRF subject before any session exists). */
	preToken: string | null;
	/** The CSRF token to put in forms rendered for this request. */
	csrf: string;
	/** Set when the guard ended the session (revoked); the login page explains it. */
	ended: boolean;
	/** Staged rollout: the enrolment nudge the banner shows on every page (set by the guard's live-policy check). */
	nudge?: { readonly message: string; readonly daysLeft: number } | null;
	/** The POST's fields, shown again when the answer is a refusal page (forms.ts FormEcho, views/form-echo.tsx). */
	echo?: FormEcho | null;
}

export interface RouteInfo {
	readonly method: string;
	readonly url: string;
	readonly access: AccessClass | undefined;
	readonly stepUp: boolean;
	readonly form: FormSchema | undefined;
	readonly query: FormSchema | undefined;
	/** The route's body limit in bytes (forms must fit in it). */
	readonly bodyLimit: number;
}

export interface WebContext {
	/** What the console may call (src/web/services.ts); never the app object, a database or a store. */
	readonly services: WebServices;
	readonly csrf: Csrf;
	readonly secureCookies: boolean;
	/** Every route registered, collected by the onRoute hook (the access test walks it). */
	readonly routes: RouteInfo[];
}

export type RouteModule = (server: FastifyInstance, web: WebContext) => void | Promise<void>;

export const SESSION_COOKIE = "pc_session";
export const PRE_COOKIE = "pc_pre";
export const ENROLL_COOKIE = "pc_enroll";

export function clientOf(request: FastifyRequest): ClientInfo {
	return { channel: "web", sourceAddress: request.ip };
}

export function pageContext(request: FastifyRequest): PageContext {
	const { session, user } = request.web;
	const state = session === null ? "none" : session.state === "full" ? "full" : "half";
	return {
		user: user && session ? { username: user.username, isAdmin: user.is_admin === 1 && state === "full" } : null,
		state,
		csrf: request.web.csrf,
		path: request.url.split("?")[0] ?? "/",
		nudge: state === "full" ? (request.web.nudge ?? null) : null,
	};
}

/**
 * What an async helper returns when it has already answered the request. It must never return the
 * FastifyReply itself: a reply is a thenable (fastify's Reply.prototype.then), so `await helper()`
 * resolves to undefined once the reply is sent, and the caller's next line threw after the
 * response had gone out (found by scripts/fuzz.ts). The route handler then returns the reply.
 */
export const ANSWERED = { answered: true } as const;
export type Answered = typeof ANSWERED;

/** Sends a server-rendered page. Pages are never cached: they carry CSRF tokens and account data. */
export function sendPage(reply: FastifyReply, status: number, page: VNode): FastifyReply {
	// A refusal (4xx) of a POST shows the form as it was sent, not empty (views/form-echo.tsx).
	const echo = status >= 400 ? (reply.request.web?.echo ?? null) : null;
	const html = echo === null ? renderToString(page) : renderToString(h(FormEchoContext.Provider, { value: echo }, page));
	return reply.code(status).header("cache-control", "no-store").type("text/html; charset=utf-8").send(`<!doctype html>${html}`);
}

export function seeOther(reply: FastifyReply, location: string): FastifyReply {
	return reply.header("cache-control", "no-store").redirect(location, 303);
}
