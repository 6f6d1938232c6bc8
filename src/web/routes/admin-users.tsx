/**
 * Admin pages for users: list, create, disable/enable, unlock, reset 2FA (with a one-time enrolment
 * link), group membership. Every change goes through AdminService (routes/admin.tsx).
 */
import type { FastifyReply, FastifyRequest } from "fastify";
import { pageContext, seeOther, sendPage, type RouteModule } from "../context.ts";
import { checkbox, req, str } from "../forms.ts";
import { getRoute, postRoute } from "../route-kit.ts";
import { attemptAdminChange, webActor } from "../admin-change.ts";
import type { Notice } from "../views/login.tsx";
import { change, notice } from "./admin.tsx";
import { AdminUserPage, AdminUsersPage, type UserListItem } from "../views/admin.tsx";

export const adminUserRoutes: RouteModule = (server, web) => {
	const { services } = web;

	const actor = webActor;

	const attempt = attemptAdminChange;

	// ---- users ----

	async function userItems(): Promise<(UserListItem & { sshMethod: string | null; created: number; id: string })[]> {
		const now = services.clock.now().getTime();
		const users = await services.directory.users.list();
		return Promise.all(
			users.map(async (user) => ({
				id: user.id,
				username: user.username,
				disabled: user.disabled === 1,
				locked: Number(user.tfa_locked_until) > now || Number(user.pw_locked_until) > now,
				admin: user.is_admin === 1,
				groups: (await services.directory.groups.groupsOfUser(user.id)).map((group) => group.name),
				factors: (await services.directory.factors.listActive(user.id)).length,
				mustChange: user.must_change_password === 1,
				serviceAccount: user.service_account === 1,
				sshMethod: user.ssh_method,
				created: Number(user.created_at),
			})),
		);
	}

	async function usersPage(request: FastifyRequest, reply: FastifyReply, shown: Notice, status = 200): Promise<FastifyReply> {
		const groups = (await services.directory.groups.list()).map((group) => group.name);
		return sendPage(reply, status, <AdminUsersPage ctx={pageContext(request)} users={await userItems()} groups={groups} notice={shown} />);
	}

	async function userPage(
		request: FastifyRequest,
		reply: FastifyReply,
		name: string,
		shown: Notice,
		status = 200,
		resetLink: { link: string; expiresAt: number } | null = null,
	): Promise<FastifyReply> {
		const item = (await userItems()).find((user) => user.username === name);
		if (item === undefined) return usersPage(request, reply, { kind: "error", text: "There is no such user." }, 404);
		const factors = (await services.directory.factors.listActive(item.id)).map((factor) => ({
			method: factor.method,
			label: factor.label,
			lastUsedAt: factor.lastUsedAt,
		}));
		const allGroups = (await services.directory.groups.list()).map((group) => group.name);
		return sendPage(
			reply,
			status,
			<AdminUserPage ctx={pageContext(request)} user={item} factors={factors} allGroups={allGroups} notice={shown} resetLink={resetLink} />,
		);
	}

	getRoute(server, "/admin/users", { access: "admin", fields: { m: str(32) } }, async (request, reply, query) => usersPage(request, reply, notice(query.m)));

	getRoute(server, "/admin/user", { access: "admin", fields: { name: req(256), m: str(32) } }, async (request, reply, query) =>
		userPage(request, reply, query.name, notice(query.m)),
	);

	postRoute(
		server,
		"/admin/users/create",
		{ ...change("/admin/users"), fields: { username: req(256), password: req(1024), group: str(64), admin: checkbox, mustChange: checkbox } },
		async (request, reply, form) => {
			let created = "";
			const failed = await attempt(
				async () => {
					const groups = form.group !== undefined && form.group !== "" ? [form.group] : [];
					const user = await services.admin.createUser(actor(request), {
						username: form.username,
						password: form.password,
						isAdmin: form.admin,
						groups,
						mustChangePassword: form.mustChange,
					});
					created = user.username;
				},
				(shown, status) => usersPage(request, reply, shown, status),
			);
			return failed ?? seeOther(reply, `/admin/user?name=${encodeURIComponent(created)}&m=created`);
		},
	);

	postRoute(
		server,
		"/admin/users/service-account",
		{ ...change("/admin/users"), fields: { username: req(256), admin: checkbox } },
		async (request, reply, form) => {
			let created = "";
			const failed = await attempt(
				async () => {
					created = (await services.apiTokens.createServiceAccount(actor(request), form.username, form.admin)).username;
				},
				(shown, status) => usersPage(request, reply, shown, status),
			);
			return failed ?? seeOther(reply, `/admin/user?name=${encodeURIComponent(created)}&m=created`);
		},
	);

	const userAction = (url: string, done: string, run: (request: FastifyRequest, username: string) => Promise<void>) =>
		postRoute(server, url, { ...change("/admin/users"), fields: { username: req(256) } }, async (request, reply, form) => {
			const failed = await attempt(
				() => run(request, form.username),
				(shown, status) => (status === 404 ? usersPage(request, reply, shown, status) : userPage(request, reply, form.username, shown, status)),
			);
			return failed ?? seeOther(reply, `/admin/user?name=${encodeURIComponent(form.username.toLowerCase())}&m=${done}`);
		});

	userAction("/admin/users/disable", "disabled", (request, username) => services.admin.setDisabled(actor(request), username, true));
	userAction("/admin/users/enable", "enabled", (request, username) => services.admin.setDisabled(actor(request), username, false));
	userAction("/admin/users/unlock", "unlocked", (request, username) => services.admin.unlock(actor(request), username));

	postRoute(server, "/admin/users/reset-2fa", { ...change("/admin/users"), fields: { username: req(256), mode: req(16) } }, async (request, reply, form) => {
		if (form.mode !== "link" && form.mode !== "next-login")
			return userPage(request, reply, form.username, { kind: "error", text: "Choose how the user sets up the new factor." }, 400);
		let result: { link: string | null; expiresAt: number | null } = { link: null, expiresAt: null };
		const mode = form.mode;
		const failed = await attempt(
			async () => {
				result = await services.admin.resetTwoFactor(actor(request), form.username, mode);
			},
			(shown, status) => usersPage(request, reply, shown, status),
		);
		if (failed) return failed;
		const name = (await services.admin.requireUser(form.username)).username;
		if (result.link !== null && result.expiresAt !== null) {
			// Shown once, in this response only (no-store); the database keeps only its hash.
			return userPage(request, reply, name, { kind: "success", text: "Two-factor authentication was reset." }, 200, {
				link: result.link,
				expiresAt: result.expiresAt,
			});
		}
		return seeOther(reply, `/admin/user?name=${encodeURIComponent(name)}&m=reset`);
	});

	const membership = (url: string, done: string, run: (request: FastifyRequest, group: string, username: string) => Promise<void>) =>
		postRoute(server, url, { ...change("/admin/users"), fields: { username: req(256), group: req(64) } }, async (request, reply, form) => {
			const failed = await attempt(
				() => run(request, form.group, form.username),
				(shown, status) => userPage(request, reply, form.username.toLowerCase(), shown, status),
			);
			return failed ?? seeOther(reply, `/admin/user?name=${encodeURIComponent(form.username.toLowerCase())}&m=${done}`);
		});
	membership("/admin/users/add-group", "group-added", (request, group, username) => services.admin.addMember(actor(request), group, username));
	membership("/admin/users/remove-group", "group-removed", (request, group, username) => services.admin.removeMember(actor(request), group, username));
};
