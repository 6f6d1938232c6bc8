/**
 * One-time password links, public: an admin creates one on the user's page
 * (routes/admin-users.tsx) or with `portcullis user password-link`; the user opens it and chooses
 * a new password. GET only reads (link previews and scanners use nothing up); POST sets the
 * password and clears the link in one conditional UPDATE (AdminService.setPasswordByLink). The
 * second factor is not touched: the next login still asks for it.
 */
import { isPortcullisError } from "../../core/errors.ts";
import { messageView } from "../views/layout.tsx";
import { pageContext, seeOther, sendPage, type RouteModule } from "../context.ts";
import { req, str } from "../forms.ts";
import { PasswordLinkPage } from "../views/password-link.tsx";

const UNUSABLE =
	"This password link cannot be used: it was used already, has expired or was replaced by a newer one, or the account is disabled. Ask your administrator for a new link.";

export const passwordLinkRoutes: RouteModule = (server, web) => {
	const { services } = web;

	server.get<{ Params: { token: string } }>("/password-link/:token", { config: { access: "public", query: {} } }, async (request, reply) => {
		const action = `/password-link/${encodeURIComponent(request.params.token)}`;
		const username = await services.admin.passwordLinkUser(request.params.token);
		if (username === null) return sendPage(reply, 410, messageView(pageContext(request), "Link not usable", UNUSABLE, { href: "/login", text: "Log in" }));
		return sendPage(reply, 200, <PasswordLinkPage ctx={pageContext(request)} action={action} username={username} notice={null} />);
	});

	server.post<{ Params: { token: string } }>(
		"/password-link/:token",
		{ config: { access: "public", form: { password: req(1024), confirm: req(1024), username: str(256) } } },
		async (request, reply) => {
			const token = request.params.token;
			const action = `/password-link/${encodeURIComponent(token)}`;
			const form = request.body as { password?: string; confirm?: string };
			const username = await services.admin.passwordLinkUser(token);
			if (username === null) return sendPage(reply, 410, messageView(pageContext(request), "Link not usable", UNUSABLE, { href: "/login", text: "Log in" }));
			const again = (text: string) =>
				sendPage(reply, 400, <PasswordLinkPage ctx={pageContext(request)} action={action} username={username} notice={{ kind: "error", text }} />);
			if (form.password !== form.confirm) return again("The two new passwords do not match.");
			try {
				const result = await services.admin.setPasswordByLink(token, form.password ?? "", request.ip);
				if (result.kind === "refused")
					return sendPage(reply, 410, messageView(pageContext(request), "Link not usable", UNUSABLE, { href: "/login", text: "Log in" }));
			} catch (error) {
				if (isPortcullisError(error) && error.code === "ERR_INPUT") return again(error.message);
				throw error;
			}
			return seeOther(reply, "/login?m=password-changed");
		},
	);
};
