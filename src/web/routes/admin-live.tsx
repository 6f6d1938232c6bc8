/**
 * Admin "Live sessions" (docs/operations.md "Live sessions"): the list of every node's SSH
 * connections and the terminate action. The page is admin only; ending anything needs a fresh
 * step-up (config.stepUp) and a reason, and goes through LiveSessionService, which writes the
 * request and its audit event together; the owning node ends the connection within its poll.
 */
import type { FastifyReply, FastifyRequest } from "fastify";
import { pageContext, seeOther, sendPage, type RouteModule } from "../context.ts";
import { req, str } from "../forms.ts";
import { getRoute, postRoute } from "../route-kit.ts";
import { attemptAdminChange, webActor } from "../admin-change.ts";
import type { Notice } from "../views/login.tsx";
import { LiveSessionsPage } from "../views/live-sessions.tsx";

const DONE: Record<string, string> = {
	requested: "Requested: the node holding it ends it within about a second (audited with your name and the reason).",
};

export const adminLiveRoutes: RouteModule = (server, web) => {
	const { services } = web;

	async function page(request: FastifyRequest, reply: FastifyReply, notice: Notice, status = 200): Promise<FastifyReply> {
		return sendPage(reply, status, <LiveSessionsPage ctx={pageContext(request)} connections={await services.liveSessions.list()} notice={notice} />);
	}

	getRoute(server, "/admin/live", { access: "admin", fields: { m: str(32) } }, async (request, reply, query) => {
		const done = query.m === undefined ? undefined : DONE[query.m];
		return page(request, reply, done === undefined ? null : { kind: "success", text: done });
	});

	postRoute(
		server,
		"/admin/live/terminate",
		{ access: "admin", stepUp: true, stepUpReturn: "/admin/live", fields: { connection: req(64), channel: str(64), reason: str(400) } },
		async (request, reply, form) => {
			const failed = await attemptAdminChange(
				async () =>
					void (await services.liveSessions.terminate(webActor(request), {
						connectionId: form.connection,
						channelId: form.channel ?? null,
						reason: form.reason ?? "",
					})),
				(shown, status) => page(request, reply, shown, status),
			);
			return failed ?? seeOther(reply, "/admin/live?m=requested");
		},
	);
};
