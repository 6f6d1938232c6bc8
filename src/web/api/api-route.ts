/**
 * One API route: its rights (scope, admin), its JSON schemas (validated by Fastify, published in
 * the OpenAPI document) and a handler that maps HTTP onto a flow call.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { ApiScope } from "../../core/api-scopes.ts";
import type { Actor } from "../../core/actor.ts";
import type { ApiPrincipal } from "../../flows/api-tokens.ts";
import type { WebServices } from "../services.ts";

export type JsonSchema = Record<string, unknown>;

export interface ApiRouteSpec {
	readonly method: "GET" | "POST" | "PATCH" | "PUT" | "DELETE";
	readonly url: string;
	readonly tag: string;
	readonly summary: string;
	/** null: any live token (GET /me). */
	readonly scope: ApiScope | null;
	/** The owner must be an administrator at the time of the call. */
	readonly admin: boolean;
	/** What the console guards with a fresh step-up: the token must have been made with a proven second factor (RouteRights.provenFactor). */
	readonly provenFactor?: boolean;
	readonly params?: JsonSchema;
	readonly query?: JsonSchema;
	readonly body?: JsonSchema;
	/** The success answer (2xx); omitted for downloads. Undeclared fields are not sent. */
	readonly response?: JsonSchema;
}

export interface ApiCall {
	readonly request: FastifyRequest;
	readonly reply: FastifyReply;
	readonly principal: ApiPrincipal;
	/** The audit actor of a change: the owner and the token id. */
	readonly actor: Actor;
	readonly params: Record<string, string>;
	readonly query: Record<string, unknown>;
	readonly body: Record<string, unknown>;
}

/**
 * What a handler returns when it has sent the answer itself (a download). Never the reply: a reply
 * is a thenable, so awaiting it would resolve after it was sent (see ANSWERED in ../context.ts).
 */
export const SENT = Symbol("sent");

const ERROR = { type: "object", properties: { error: { type: "string" }, message: { type: "string" } }, required: ["error", "message"] };

/** An object schema whose every property is listed: anything else is refused (400). */
export function object(properties: Record<string, JsonSchema>, required: readonly string[] = []): JsonSchema {
	return { type: "object", properties, required: [...required], additionalProperties: false };
}

export const NAME = { type: "string", minLength: 1, maxLength: 64 };

export function apiRoute(api: FastifyInstance, services: WebServices, spec: ApiRouteSpec, handler: (call: ApiCall) => Promise<unknown>): void {
	api.route({
		method: spec.method,
		url: spec.url,
		config: { access: "api", rights: { scope: spec.scope, admin: spec.admin, provenFactor: spec.provenFactor === true } },
		schema: {
			tags: [spec.tag],
			summary: spec.summary,
			description: `Scope: ${spec.scope ?? "any"}${spec.admin ? "; the token's owner must be an administrator" : ""}${spec.provenFactor ? "; the token must have been made with a proven second factor (or be a service account's)" : ""}.`,
			...(spec.params ? { params: spec.params } : {}),
			querystring: spec.query ?? object({}),
			...(spec.body ? { body: spec.body } : {}),
			response: { ...(spec.response ? { "2xx": spec.response } : {}), 400: ERROR, 401: ERROR, 403: ERROR, 404: ERROR, 409: ERROR },
		},
		handler: async (request, reply) => {
			const principal = request.api;
			// The onRequest hook admitted the call; a route reached without a principal is a wiring bug: refuse.
			if (principal === null) return reply.code(401).send({ error: "unauthorized", message: "An API token is required." });
			const result = await handler({
				request,
				reply,
				principal,
				actor: services.apiTokens.actorOf(principal, request.ip),
				params: (request.params ?? {}) as Record<string, string>,
				query: (request.query ?? {}) as Record<string, unknown>,
				body: (request.body ?? {}) as Record<string, unknown>,
			});
			if (result === SENT) return reply;
			return reply.header("cache-control", "no-store").send(result);
		},
	});
}
