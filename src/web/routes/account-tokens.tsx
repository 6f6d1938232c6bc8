/**
 * Account page for REST API tokens (docs/api.md): list, create, revoke. Creating one needs a
 * fresh second factor (the guard enforces `stepUp`, like every credential change: docs/threat-model.md
 * I8/W11); the token carries the factor the session proved and is shown once. Revoking is a
 * credential removal too, but it only takes power away: it needs the full session, not a step-up.
 */
import type { FastifyReply, FastifyRequest } from "fastify";
import { API_SCOPES } from "../../core/api-scopes.ts";
import type { Actor } from "../../core/actor.ts";
import { isPortcullisError } from "../../core/errors.ts";
import { pageContext, seeOther, sendPage, type RouteModule } from "../context.ts";
import { checkbox, req, str, type FieldSpec } from "../forms.ts";
import { getRoute, postRoute } from "../route-kit.ts";
import { ApiTokensPage, scopeField } from "../views/api-tokens.tsx";
import type { Notice } from "../views/login.tsx";

const MESSAGES: Record<string, Notice> = {
	revoked: { kind: "success", text: "The token was revoked. It no longer works anywhere." },
};

const DAY_MS = 86_400_000;

export const accountTokensRoutes: RouteModule = (server, web) => {
	const { services } = web;

	function actor(request: FastifyRequest): Actor {
		return { name: `user:${request.web.user?.username ?? "?"}`, channel: "web", source: request.ip };
	}

	async function page(request: FastifyRequest, reply: FastifyReply, notice: Notice, status = 200, created: { token: string; name: string } | null = null) {
		const tokens = await services.apiTokens.listOwn(request.web.session?.user_id ?? "");
		return sendPage(
			reply,
			status,
			<ApiTokensPage ctx={pageContext(request)} tokens={tokens} notice={notice} created={created} isAdmin={request.web.user?.is_admin === 1} />,
		);
	}

	getRoute(server, "/account/tokens", { access: "full", fields: { m: str(16) } }, async (request, reply, query) =>
		page(request, reply, query.m !== undefined ? (MESSAGES[query.m] ?? null) : null),
	);

	const scopeFields: Record<string, FieldSpec> = Object.fromEntries(API_SCOPES.map((scope) => [scopeField(scope), checkbox]));
	postRoute(
		server,
		"/account/tokens",
		{ access: "full", stepUp: true, stepUpReturn: "/account/tokens", fields: { name: req(64), days: req(4), ...scopeFields } },
		async (request, reply, form) => {
			const session = request.web.session;
			if (session === null) return seeOther(reply, "/login");
			const fields = form as Record<string, string | boolean | undefined>;
			const scopes = API_SCOPES.filter((scope) => fields[scopeField(scope)] === true);
			const days = /^[0-9]{1,4}$/.test(String(fields.days)) ? Number(fields.days) : Number.NaN;
			try {
				const made = await services.apiTokens.createPersonal(
					actor(request),
					{ userId: session.user_id, sessionEpoch: Number(session.session_epoch), secondFactorMethod: session.second_factor_method },
					{ name: String(fields.name), scopes, expiresAt: services.clock.now().getTime() + days * DAY_MS },
				);
				// Shown once, in this answer only (never in a redirect's URL, never again).
				return page(request, reply, { kind: "success", text: "The token was created." }, 200, { token: made.token, name: made.view.name });
			} catch (error) {
				if (isPortcullisError(error) && (error.code === "ERR_INPUT" || error.code === "ERR_CONFLICT"))
					return page(request, reply, { kind: "error", text: error.message }, 400);
				throw error;
			}
		},
	);

	postRoute(server, "/account/tokens/revoke", { access: "full", fields: { tokenId: req(64) } }, async (request, reply, form) => {
		if (!(await services.apiTokens.revokeOwn(actor(request), request.web.session?.user_id ?? "", form.tokenId)))
			return page(request, reply, { kind: "error", text: "That token does not exist or is not live (any more)." }, 404);
		return seeOther(reply, "/account/tokens?m=revoked");
	});
};
