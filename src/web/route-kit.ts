/**
 * Route registration helpers: every route gets an access class, and its declared form or query
 * schema, so the guard, the CSRF check, the validator and the tests all read the same table.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { AccessClass } from "./context.ts";
import { CSRF_FIELD, formEcho, parseFields, type FormSchema, type Parsed } from "./forms.ts";

type Handler<S extends FormSchema> = (request: FastifyRequest, reply: FastifyReply, fields: Parsed<S>) => Promise<FastifyReply | string | undefined>;

export interface RouteOptions<S extends FormSchema> {
	readonly access: AccessClass;
	readonly stepUp?: boolean;
	readonly stepUpReturn?: string;
	readonly skipLivePolicy?: boolean;
	/** POST only: a larger body limit for a form with a big field (the default is BODY_LIMIT, 16 KiB). */
	readonly bodyLimit?: number;
	readonly fields: S;
}

export function getRoute<S extends FormSchema>(server: FastifyInstance, url: string, options: RouteOptions<S>, handler: Handler<S>): void {
	server.get(
		url,
		{
			config: {
				access: options.access,
				stepUp: options.stepUp,
				stepUpReturn: options.stepUpReturn,
				skipLivePolicy: options.skipLivePolicy,
				query: options.fields,
			},
		},
		async (request, reply) => handler(request, reply, parseFields(request.query, options.fields)),
	);
}

export function postRoute<S extends FormSchema>(server: FastifyInstance, url: string, options: RouteOptions<S>, handler: Handler<S>): void {
	server.post(
		url,
		{
			...(options.bodyLimit !== undefined ? { bodyLimit: options.bodyLimit } : {}),
			config: {
				access: options.access,
				stepUp: options.stepUp,
				stepUpReturn: options.stepUpReturn,
				skipLivePolicy: options.skipLivePolicy,
				form: options.fields,
			},
		},
		async (request, reply) => {
			const form = parseFields(request.body, options.fields, [CSRF_FIELD]);
			// Kept for a page that answers a refusal: the form shows what was typed (views/form-echo.tsx).
			request.web.echo = formEcho(url, form as Readonly<Record<string, string | boolean | undefined>>);
			return handler(request, reply, form);
		},
	);
}

/** Only local paths of the console are valid return targets (no open redirect). */
export function safeReturn(next: string | undefined, fallback: string): string {
	if (typeof next !== "string" || !/^\/(account|admin|terminal)(\/[A-Za-z0-9._/-]*)?(\?[A-Za-z0-9=&._%-]*)?$/.test(next) || next.includes("//"))
		return fallback;
	return next;
}
