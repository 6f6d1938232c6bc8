/**
 * The REST API, `/api/v1` on the console's Fastify server (docs/api.md). One encapsulated plugin:
 *
 *   onRequest   Bearer token only (RFC 6750 §2.1); cookies are never read, so CSRF does not apply
 *               → ApiTokenService.authenticate (live token, and the owner passes the live-policy
 *               check on channel "api" on every call, in the database, no cache)
 *               → ApiTokenService.refusal (the route's scope, admin routes need an admin owner, and
 *                 step-up-class routes a token made with a proven second factor)
 *   validation  every route's JSON schema (params, query, body; unknown fields refused)
 *   onSend      one `api.call` audit event per authenticated call, with the token id, before the answer leaves
 *
 * The OpenAPI document is generated from the same schemas by @fastify/swagger and served at
 * /api/v1/openapi.json. The routes map HTTP onto flows (AdminService, ServerService, ...), whose
 * units of work commit each change with its audit event; nothing here decides a policy.
 */
import swagger from "@fastify/swagger";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { isPortcullisError } from "../../core/errors.ts";
import type { ApiPrincipal } from "../../flows/api-tokens.ts";
import type { RouteModule, WebContext } from "../context.ts";
import { apiError } from "./api-error.ts";
import { directoryApi } from "./directory-api.ts";
import { operationsApi } from "./operations-api.ts";

declare module "fastify" {
	interface FastifyRequest {
		/** The admitted token's owner and scopes (API routes only). */
		api: ApiPrincipal | null;
	}
}

export const API_PREFIX = "/api/v1";

/** apiError for hooks and handlers of the plugin itself: they must return the reply once it is sent. */
function replyError(reply: FastifyReply, status: number, error: string, message: string): FastifyReply {
	apiError(reply, status, error, message);
	return reply;
}

function bearerOf(request: FastifyRequest): string | null {
	const header = request.headers.authorization;
	if (typeof header !== "string") return null;
	const match = /^Bearer ([A-Za-z0-9_-]{1,100})$/.exec(header.trim());
	return match ? (match[1] as string) : null;
}

export const apiRoutes: RouteModule = async (server, web) => {
	await server.register(
		async (api) => {
			await registerApi(api, web);
		},
		{ prefix: API_PREFIX },
	);
};

async function registerApi(api: FastifyInstance, web: WebContext): Promise<void> {
	const { services } = web;
	api.decorateRequest("api", null);
	// JSON only: a form post (what a cross-site page can send without a preflight) is 415.
	api.removeContentTypeParser("application/x-www-form-urlencoded");

	await api.register(swagger, {
		openapi: {
			openapi: "3.1.0",
			info: {
				title: "Portcullis REST API",
				version: "1",
				description: "Scoped personal and service-account tokens (docs/api.md). No route manages second factors, passwords or tokens.",
			},
			components: { securitySchemes: { bearer: { type: "http", scheme: "bearer", description: "A Portcullis API token (pct_…)" } } },
			security: [{ bearer: [] }],
		},
	});

	api.addHook("onRequest", async (request, reply) => {
		request.api = null;
		const config = request.routeOptions.config;
		if (config.access !== "api") return undefined;
		const raw = bearerOf(request);
		if (raw === null) {
			reply.header("www-authenticate", 'Bearer realm="portcullis"').header("x-access-denied", "token");
			apiError(reply, 401, "unauthorized", "An API token is required (Authorization: Bearer <token>). Cookies do not authenticate the API.");
			return reply;
		}
		const result = await services.apiTokens.authenticate(raw, request.ip);
		if (result.kind === "refused") {
			reply.header("www-authenticate", 'Bearer realm="portcullis", error="invalid_token"').header("x-access-denied", "token");
			apiError(reply, 401, "invalid_token", "The token is unknown, expired or revoked, or its owner may not use it now.");
			return reply;
		}
		request.api = result.principal;
		const rights = config.rights ?? { scope: null, admin: true };
		const refusal = services.apiTokens.refusal(result.principal, rights);
		if (refusal !== null) {
			reply.header("www-authenticate", `Bearer realm="portcullis", error="insufficient_scope"${rights.scope ? `, scope="${rights.scope}"` : ""}`);
			reply.header("x-access-denied", "forbidden");
			apiError(
				reply,
				403,
				"forbidden",
				refusal === "second-factor"
					? "This route needs a token made with a proven second factor (the console's step-up stands behind it; docs/api.md)."
					: rights.admin
						? "This route needs an administrator's token with the right scope."
						: "The token lacks the scope this route needs.",
			);
			return reply;
		}
		return undefined;
	});

	// onSend, not onResponse: the call is in the audit log before its answer leaves (a client that
	// got an answer can rely on finding the call audited; "every call audited with the token id").
	api.addHook("onSend", async (request, reply, payload) => {
		const principal = request.api;
		if (principal === null) return payload;
		// record(): a failed audit write is logged at error level and counted, and the answer still goes out.
		await services.audit.record({
			event: "api.call",
			outcome: reply.statusCode < 400 ? "success" : "failure",
			userId: principal.user.id,
			username: principal.user.username,
			actor: services.apiTokens.actorOf(principal, request.ip).name,
			channel: "api",
			source: request.ip,
			detail: { tokenId: principal.tokenId, method: request.method, route: request.routeOptions.url ?? null, status: reply.statusCode },
		});
		return payload;
	});

	api.setNotFoundHandler(async (_request, reply) => {
		apiError(reply, 404, "not_found", "There is no API route at this address.");
		return reply;
	});

	api.setErrorHandler(async (error, request, reply) => {
		if (services.databaseHealth.isOutage(error)) {
			reply.header("retry-after", "5");
			return replyError(reply, 503, "unavailable", "Portcullis is temporarily unavailable. Try again in a moment.");
		}
		if (typeof error === "object" && error !== null && "validation" in error && (error as { validation?: unknown }).validation) {
			return replyError(reply, 400, "bad_request", String((error as { message?: unknown }).message ?? "invalid request").slice(0, 300));
		}
		if (isPortcullisError(error)) {
			const status = { ERR_INPUT: 400, ERR_POLICY_INVALID: 400, ERR_NOT_FOUND: 404, ERR_CONFLICT: 409 }[error.code as string];
			if (status !== undefined)
				return replyError(reply, status, { 400: "bad_request", 404: "not_found", 409: "conflict" }[status] ?? "bad_request", error.message.slice(0, 300));
		}
		if (typeof error === "object" && error !== null && "statusCode" in error) {
			const code = Number((error as { statusCode: unknown }).statusCode);
			if (code === 413) return replyError(reply, 413, "too_large", "The request body is too large.");
			if (code === 415) return replyError(reply, 415, "unsupported_media_type", "Send the body as JSON (content-type: application/json).");
			if (code >= 400 && code < 500) return replyError(reply, code, "bad_request", "The request was not valid.");
		}
		request.log.error({ err: error }, "unhandled error in the REST API");
		return replyError(reply, 500, "internal", "The request could not be completed. It has been logged.");
	});

	// The document describes the routes; it holds no data, so it is public (docs/api.md).
	api.get("/openapi.json", { config: { access: "public" }, schema: { hide: true } }, async (_request, reply) =>
		reply.header("cache-control", "no-store").send(api.swagger()),
	);

	await directoryApi(api, services);
	await operationsApi(api, services);
}
