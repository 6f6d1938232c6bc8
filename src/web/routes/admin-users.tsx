/**
 * Admin pages for users: list (searchable, paged), create, disable/enable, unlock, reset 2FA (with
 * a one-time enrolment link), a one-time password link, group membership. Every change goes through AdminService (routes/admin.tsx).
 */
import type { FastifyReply, FastifyRequest } from "fastify";
import { pageContext, seeOther, sendPage, type RouteModule } from "../context.ts";
import { checkbox, req, str } from "../forms.ts";
import { getRoute, postRoute } from "../route-kit.ts";
import { attemptAdminChange, webActor } from "../admin-change.ts";
import type { Notice } from "../views/login.tsx";
import { change, notice } from "./admin.tsx";
import { AdminUserPage, AdminUsersPage, type UserListItem } from "../views/admin.tsx";
import type { UserRow } from "../../storage/user-store.ts";

/** Users per page of the list: a long list stays one screenful, found by search. */
export const USERS_PAGE_SIZE = 50;

export const adminUserRoutes: RouteModule = (server, web) => {
	const { services } = web;

	const actor = webActor;

	const attempt = attemptAdminChange;

	// ---- users ----

	type UserItem = UserListItem & { sshMethod: string | null; created: number; id: string };

	function itemOf(user: UserRow, groups: string[], factors: number, now: number): UserItem {
		return {
			id: user.id,
			username: user.username,
			disabled: user.disabled === 1,
			locked: Number(user.tfa_locked_until) > now || Number(user.pw_locked_until) > now,
			admin: user.is_admin === 1,
			groups,
			factors,
			mustChange: user.must_change_password === 1,
			serviceAccount: user.service_account === 1,
			directory: user.source === "ldap",
			directoryDn: user.directory_dn,
			directoryDisabled: Number(user.directory_disabled) === 1,
			sshMethod: user.ssh_method,
			created: Number(user.created_at),
		};
	}

	/** The rows of one page in two queries whatever the number of users (was two more per user). */
	async function userItems(users: readonly UserRow[]): Promise<UserItem[]> {
		const now = services.clock.now().getTime();
		const [groups, factors] = await Promise.all([services.directory.groups.groupNamesByUser(), services.directory.factors.activeCountsByUser()]);
		return users.map((user) => itemOf(user, groups.get(user.id) ?? [], factors.get(user.id) ?? 0, now));
	}

	/** The list: usernames containing the search text (case-insensitive), USERS_PAGE_SIZE per page, in name order. */
	async function usersPage(
		request: FastifyRequest,
		reply: FastifyReply,
		shown: Notice,
		status = 200,
		view: { q?: string; page?: string } = {},
	): Promise<FastifyReply> {
		const groups = (await services.directory.groups.list()).map((group) => group.name);
		const q = (view.q ?? "").trim();
		const needle = q.normalize("NFKC").toLowerCase();
		const matching = (await services.directory.users.list())
			.filter((user) => needle === "" || user.username.includes(needle))
			.sort((a, b) => (a.username < b.username ? -1 : a.username > b.username ? 1 : 0));
		const pages = Math.max(1, Math.ceil(matching.length / USERS_PAGE_SIZE));
		const page = Math.min(pages, Math.max(1, /^\d{1,6}$/.test(view.page ?? "") ? Number(view.page) : 1));
		const shownUsers = await userItems(matching.slice((page - 1) * USERS_PAGE_SIZE, page * USERS_PAGE_SIZE));
		const href = (to: number) => `/admin/users?${new URLSearchParams({ ...(q !== "" ? { q } : {}), page: String(to) }).toString()}`;
		return sendPage(
			reply,
			status,
			<AdminUsersPage
				ctx={pageContext(request)}
				users={shownUsers}
				groups={groups}
				notice={shown}
				list={{ q, page, pages, total: matching.length, previousHref: page > 1 ? href(page - 1) : null, nextHref: page < pages ? href(page + 1) : null }}
			/>,
		);
	}

	async function userPage(
		request: FastifyRequest,
		reply: FastifyReply,
		name: string,
		shown: Notice,
		status = 200,
		resetLink: { link: string; expiresAt: number } | null = null,
		passwordLink: { link: string; expiresAt: number } | null = null,
	): Promise<FastifyReply> {
		const user = (await services.directory.users.list()).find((candidate) => candidate.username === name);
		if (user === undefined) return usersPage(request, reply, { kind: "error", text: "There is no such user." }, 404);
		const active = await services.directory.factors.listActive(user.id);
		const groups = (await services.directory.groups.groupsOfUser(user.id)).map((group) => group.name);
		const item = itemOf(user, groups, active.length, services.clock.now().getTime());
		const factors = active.map((factor) => ({
			method: factor.method,
			label: factor.label,
			lastUsedAt: factor.lastUsedAt,
		}));
		const allGroups = (await services.directory.groups.list()).map((group) => group.name);
		return sendPage(
			reply,
			status,
			<AdminUserPage
				ctx={pageContext(request)}
				user={item}
				factors={factors}
				allGroups={allGroups}
				notice={shown}
				resetLink={resetLink}
				passwordLink={passwordLink}
			/>,
		);
	}

	getRoute(server, "/admin/users", { access: "admin", fields: { m: str(32), q: str(64), page: str(8) } }, async (request, reply, query) =>
		usersPage(request, reply, notice(query.m), 200, query),
	);

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
				request,
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

	postRoute(server, "/admin/users/password-link", { ...change("/admin/users"), fields: { username: req(256) } }, async (request, reply, form) => {
		let issued: { link: string; expiresAt: number } | null = null;
		const failed = await attempt(
			async () => {
				issued = await services.admin.issuePasswordLink(actor(request), form.username);
			},
			(shown, status) => usersPage(request, reply, shown, status),
		);
		if (failed) return failed;
		const name = (await services.admin.requireUser(form.username)).username;
		// Shown once, in this response only (no-store); the database keeps only its hash.
		return userPage(request, reply, name, { kind: "success", text: "A one-time password link was created." }, 200, null, issued);
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
