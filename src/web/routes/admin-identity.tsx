/**
 * Admin page: identity sources (LDAP / Active Directory; docs/identity.md). Read-only settings (the
 * directory is configured in TOML), Test connection, and a test login. Both tests need a fresh
 * step-up like every admin change: the test login is a password check against the directory.
 */
import type { FastifyReply, FastifyRequest } from "fastify";
import { pageContext, sendPage, type RouteModule } from "../context.ts";
import { req } from "../forms.ts";
import { getRoute, postRoute } from "../route-kit.ts";
import { webActor } from "../admin-change.ts";
import { IdentitySourcesPage } from "../views/identity-sources.tsx";

export const adminIdentityRoutes: RouteModule = (server, web) => {
	const { services } = web;
	const sources = services.identitySources;
	const change = { access: "admin" as const, stepUp: true, stepUpReturn: "/admin/identity" };

	function page(request: FastifyRequest, reply: FastifyReply, extra: Omit<Parameters<typeof IdentitySourcesPage>[0], "ctx" | "sources" | "notice">) {
		return sendPage(reply, 200, <IdentitySourcesPage ctx={pageContext(request)} sources={sources?.ldap ?? null} notice={null} {...extra} />);
	}

	getRoute(server, "/admin/identity", { access: "admin", fields: {} }, async (request, reply) => page(request, reply, {}));

	postRoute(server, "/admin/identity/test-connection", { ...change, fields: {} }, async (request, reply) => {
		if (sources === null) return page(request, reply, {});
		return page(request, reply, { connection: await sources.accounts.testConnection(webActor(request)) });
	});

	postRoute(server, "/admin/identity/test-login", { ...change, fields: { username: req(256), password: req(1024) } }, async (request, reply, form) => {
		if (sources === null) return page(request, reply, {});
		const result = await sources.accounts.testLogin(webActor(request), form.username, form.password);
		return page(request, reply, { testLogin: { username: form.username, result } });
	});
};
