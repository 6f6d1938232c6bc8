/**
 * Admin page for the network rules of the 2FA policy (docs/decisions.md "Network rules"). Like
 * every admin page: config.access = "admin", declared fields, changes need a fresh step-up, and
 * NetworkRuleService refusals (a bypass mode, a bad CIDR, an empty deny list) become a visible
 * form error.
 */
import type { FastifyReply, FastifyRequest } from "fastify";
import { pageContext, seeOther, sendPage, type RouteModule } from "../context.ts";
import { req, str } from "../forms.ts";
import { getRoute, postRoute } from "../route-kit.ts";
import { attemptAdminChange, webActor } from "../admin-change.ts";
import type { Notice } from "../views/login.tsx";
import { NetworkRulesPage } from "../views/network-rules.tsx";

const DONE: Record<string, string> = { saved: "Rule saved.", removed: "Rule removed." };

export const adminNetworkRoutes: RouteModule = (server, web) => {
	const { services } = web;
	const change = { access: "admin" as const, stepUp: true, stepUpReturn: "/admin/network" };

	async function page(request: FastifyRequest, reply: FastifyReply, notice: Notice, status = 200): Promise<FastifyReply> {
		const groups = (await services.directory.groups.list()).map((group) => group.name);
		return sendPage(reply, status, <NetworkRulesPage ctx={pageContext(request)} rules={await services.networkRules.list()} groups={groups} notice={notice} />);
	}

	getRoute(server, "/admin/network", { access: "admin", fields: { m: str(32) } }, async (request, reply, query) => {
		const done = query.m === undefined ? undefined : DONE[query.m];
		return page(request, reply, done === undefined ? null : { kind: "success", text: done });
	});

	postRoute(server, "/admin/network/set", { ...change, fields: { scope: str(64), mode: req(32), networks: str(8192) } }, async (request, reply, form) => {
		const networks = (form.networks ?? "").split(/[\s,]+/).filter((entry) => entry !== "");
		const failed = await attemptAdminChange(
			async () => void (await services.networkRules.set(webActor(request), form.scope ? form.scope : null, form.mode, networks)),
			(shown, status) => page(request, reply, shown, status),
		);
		return failed ?? seeOther(reply, "/admin/network?m=saved");
	});

	postRoute(server, "/admin/network/clear", { ...change, fields: { scope: str(64), mode: req(32) } }, async (request, reply, form) => {
		const failed = await attemptAdminChange(
			async () => void (await services.networkRules.clear(webActor(request), form.scope ? form.scope : null, form.mode)),
			(shown, status) => page(request, reply, shown, status),
		);
		return failed ?? seeOther(reply, "/admin/network?m=removed");
	});
};
