/**
 * SSH browser approval (Decision 6): the page of a one-time link, approve with the key, or deny
 * ("this was not me"); only the same user, with a full session.
 */
import type { FastifyReply, FastifyRequest } from "fastify";
import type { ApprovalOutcome } from "../../methods/webauthn/webauthn-method.ts";
import type { WebauthnWeb } from "../services.ts";
import { pageContext, sendPage, type RouteModule } from "../context.ts";
import { BadInput, req } from "../forms.ts";
import { messageView } from "../views/layout.tsx";
import type { Notice } from "../views/login.tsx";
import { ApprovalPage } from "../views/webauthn.tsx";
import { BODY_LIMIT, RESPONSE_FIELD } from "./webauthn.tsx";

export const webauthnApprovalRoutes: RouteModule = (server, web) => {
	const { services } = web;
	const found = services.methods.webauthn;
	if (found === null) return;
	const method: WebauthnWeb = found;

	// ---- SSH browser approval (Decision 6) ----

	function checkToken(token: unknown): string {
		if (typeof token !== "string" || !/^[A-Za-z0-9_-]{1,100}$/.test(token)) throw new BadInput("token", "type");
		return token;
	}

	function approvalMissing(request: FastifyRequest, reply: FastifyReply, outcome: { kind: "not-found" } | { kind: "other-user" }): FastifyReply {
		// Another user's link shows nothing about it (not even that it exists).
		const text =
			outcome.kind === "other-user"
				? "This approval link belongs to another account. Log in as the user who started the SSH login."
				: "This approval link is unknown. Use the link your terminal shows now.";
		return sendPage(
			reply,
			outcome.kind === "other-user" ? 403 : 404,
			messageView(pageContext(request), "Approve SSH login", text, { href: "/account", text: "My account" }),
		);
	}

	async function approvalPage(request: FastifyRequest, reply: FastifyReply, token: string, notice: Notice, status = 200): Promise<FastifyReply> {
		const userId = request.web.session?.user_id ?? "";
		const view = await method.viewApproval(token, userId);
		if (view.kind === "not-found" || view.kind === "other-user") return approvalMissing(request, reply, view);
		const pending = view.kind === "pending" ? { challengeId: view.challengeId, options: view.options } : null;
		return sendPage(
			reply,
			status,
			<ApprovalPage
				ctx={pageContext(request)}
				username={request.web.user?.username ?? ""}
				token={token}
				details={view.details}
				pending={pending}
				notice={notice}
			/>,
		);
	}

	function outcomePage(request: FastifyRequest, reply: FastifyReply, token: string, outcome: ApprovalOutcome): Promise<FastifyReply> | FastifyReply {
		switch (outcome.kind) {
			case "not-found":
			case "other-user":
				return approvalMissing(request, reply, outcome);
			case "invalid":
				return approvalPage(request, reply, token, { kind: "error", text: outcome.message }, 401);
			default:
				return sendPage(
					reply,
					200,
					<ApprovalPage
						ctx={pageContext(request)}
						username={request.web.user?.username ?? ""}
						token={token}
						details={outcome.details}
						pending={null}
						notice={null}
					/>,
				);
		}
	}

	server.get<{ Params: { token: string } }>("/approve/:token", { config: { access: "full", query: {} } }, async (request, reply) =>
		approvalPage(request, reply, checkToken(request.params.token), null),
	);

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
