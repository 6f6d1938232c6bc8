/**
 * Admin pages. Every change goes through AdminService (shared with the CLI), which validates and
 * audits; this module maps its PortcullisErrors to a visible form error (never a 500). Changes
 * need a fresh step-up like account management (security.md I8: "change force-2FA settings").
 */
import type { FastifyReply, FastifyRequest } from "fastify";
import { METHOD_IDS, type MethodId } from "../../core/method-id.ts";
import { parseAllowed } from "../../storage/group-store.ts";
import type { AuditFilter, AuditRow } from "../../storage/audit-log.ts";
import { pageContext, seeOther, sendPage, type RouteModule } from "../context.ts";
import { checkbox, req, str } from "../forms.ts";
import { getRoute, postRoute } from "../route-kit.ts";
import { attemptAdminChange, webActor } from "../admin-change.ts";
import { AdminAuditPage, AdminGroupPage, AdminGroupsPage, AdminSettingsPage, AdminUserPage, AdminUsersPage, type GroupListItem, type UserListItem } from "../views/admin.tsx";
import type { Notice } from "../views/login.tsx";

const DONE: Record<string, string> = {
	saved: "Saved.",
	created: "Created.",
	disabled: "The account is disabled and its sessions have ended.",
	enabled: "The account is enabled.",
	unlocked: "The account is unlocked.",
	reset: "Two-factor authentication was reset. The user sets up a new factor at the next login.",
	"group-added": "Added to the group.",
	"group-removed": "Removed from the group.",
	deleted: "Deleted.",
	"member-added": "Member added.",
	"member-removed": "Member removed.",
};


/** Checkbox fields method_<id> for every known method (the service refuses unimplemented ones). */
const METHOD_FIELDS: Record<`method_${MethodId}`, typeof checkbox> = Object.fromEntries(METHOD_IDS.map((method) => [`method_${method}`, checkbox])) as Record<`method_${MethodId}`, typeof checkbox>;

function checkedMethods(form: Record<string, unknown>): MethodId[] {
	return METHOD_IDS.filter((method) => form[`method_${method}`] === true);
}

function notice(m: string | undefined): Notice {
	return m !== undefined && DONE[m] ? { kind: "success", text: DONE[m] } : null;
}

/** "2026-11-28T09:00" (datetime-local, read as UTC) or "2026-11-28" → epoch ms; "" → undefined; else null. */
export function parseUtc(value: string | undefined): number | undefined | null {
	if (value === undefined || value.trim() === "") return undefined;
	const text = value.trim();
	const match = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2}))?)?$/.exec(text);
	if (match === null) return null;
	const [, y, mo, d, h, mi, s] = match;
	const ms = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h ?? 0), Number(mi ?? 0), Number(s ?? 0));
	return Number.isFinite(ms) ? ms : null;
}

/** Details are stored as JSON text, truncated at 4000 characters; a truncated one is exported as text. */
function parseDetail(detail: string | null): unknown {
	if (detail === null) return null;
	try {
		return JSON.parse(detail) as unknown;
	} catch {
		return detail;
	}
}

export const adminRoutes: RouteModule = (server, web) => {
	const { services } = web;
	const change = (back: string) => ({ access: "admin" as const, stepUp: true, stepUpReturn: back });

	const actor = webActor;

	const attempt = attemptAdminChange;

	server.get("/admin", { config: { access: "admin" } }, async (_request, reply) => seeOther(reply, "/admin/users"));

	// ---- settings ----

	async function settingsPage(request: FastifyRequest, reply: FastifyReply, shown: Notice, status = 200): Promise<FastifyReply> {
		const settings = await services.directory.settings.getTwoFactor();
		return sendPage(
			reply,
			status,
			<AdminSettingsPage ctx={pageContext(request)} force={settings.forceTwoFactor} enabled={settings.enabledMethods} implemented={services.admin.implementedMethods()} notice={shown} />,
		);
	}

	getRoute(server, "/admin/settings", { access: "admin", fields: { m: str(32) } }, async (request, reply, query) => settingsPage(request, reply, notice(query.m)));

	postRoute(server, "/admin/settings", { ...change("/admin/settings"), fields: { force: checkbox, ...METHOD_FIELDS } }, async (request, reply, form) => {
		const failed = await attempt(
			() => services.admin.updateSettings(actor(request), { forceTwoFactor: form.force === true, enabledMethods: checkedMethods(form) }),
			(shown, status) => settingsPage(request, reply, shown, status),
		);
		return failed ?? seeOther(reply, "/admin/settings?m=saved");
	});

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
				sshMethod: user.ssh_method,
				created: Number(user.created_at),
			})),
		);
	}

	async function usersPage(request: FastifyRequest, reply: FastifyReply, shown: Notice, status = 200): Promise<FastifyReply> {
		const groups = (await services.directory.groups.list()).map((group) => group.name);
		return sendPage(reply, status, <AdminUsersPage ctx={pageContext(request)} users={await userItems()} groups={groups} notice={shown} />);
	}

	async function userPage(request: FastifyRequest, reply: FastifyReply, name: string, shown: Notice, status = 200, resetLink: { link: string; expiresAt: number } | null = null): Promise<FastifyReply> {
		const item = (await userItems()).find((user) => user.username === name);
		if (item === undefined) return usersPage(request, reply, { kind: "error", text: "There is no such user." }, 404);
		const factors = (await services.directory.factors.listActive(item.id)).map((factor) => ({ method: factor.method, label: factor.label, lastUsedAt: factor.lastUsedAt }));
		const allGroups = (await services.directory.groups.list()).map((group) => group.name);
		return sendPage(reply, status, <AdminUserPage ctx={pageContext(request)} user={item} factors={factors} allGroups={allGroups} notice={shown} resetLink={resetLink} />);
	}

	getRoute(server, "/admin/users", { access: "admin", fields: { m: str(32) } }, async (request, reply, query) => usersPage(request, reply, notice(query.m)));

	getRoute(server, "/admin/user", { access: "admin", fields: { name: req(256), m: str(32) } }, async (request, reply, query) => userPage(request, reply, query.name, notice(query.m)));

	postRoute(
		server,
		"/admin/users/create",
		{ ...change("/admin/users"), fields: { username: req(256), password: req(1024), group: str(64), admin: checkbox, mustChange: checkbox } },
		async (request, reply, form) => {
			let created = "";
			const failed = await attempt(
				async () => {
					const groups = form.group !== undefined && form.group !== "" ? [form.group] : [];
					const user = await services.admin.createUser(actor(request), { username: form.username, password: form.password, isAdmin: form.admin, groups, mustChangePassword: form.mustChange });
					created = user.username;
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
		if (form.mode !== "link" && form.mode !== "next-login") return userPage(request, reply, form.username, { kind: "error", text: "Choose how the user sets up the new factor." }, 400);
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
			return userPage(request, reply, name, { kind: "success", text: "Two-factor authentication was reset." }, 200, { link: result.link, expiresAt: result.expiresAt });
		}
		return seeOther(reply, `/admin/user?name=${encodeURIComponent(name)}&m=reset`);
	});

	const membership = (url: string, done: string, run: (request: FastifyRequest, group: string, username: string) => Promise<void>) =>
		postRoute(server, url, { ...change("/admin/users"), fields: { username: req(256), group: req(64) } }, async (request, reply, form) => {
			const failed = await attempt(() => run(request, form.group, form.username), (shown, status) => userPage(request, reply, form.username.toLowerCase(), shown, status));
			return failed ?? seeOther(reply, `/admin/user?name=${encodeURIComponent(form.username.toLowerCase())}&m=${done}`);
		});
	membership("/admin/users/add-group", "group-added", (request, group, username) => services.admin.addMember(actor(request), group, username));
	membership("/admin/users/remove-group", "group-removed", (request, group, username) => services.admin.removeMember(actor(request), group, username));

	// ---- groups ----

	async function groupItems(): Promise<GroupListItem[]> {
		const groups = await services.directory.groups.list();
		return Promise.all(
			groups.map(async (group) => ({
				name: group.name,
				force: group.force_2fa === 1,
				allowed: parseAllowed(group.allowed_methods),
				members: (await services.directory.groups.membersOf(group.id)).map((member) => member.username),
			})),
		);
	}

	async function groupsPage(request: FastifyRequest, reply: FastifyReply, shown: Notice, status = 200): Promise<FastifyReply> {
		return sendPage(reply, status, <AdminGroupsPage ctx={pageContext(request)} groups={await groupItems()} implemented={services.admin.implementedMethods()} notice={shown} />);
	}

	async function groupPage(request: FastifyRequest, reply: FastifyReply, name: string, shown: Notice, status = 200): Promise<FastifyReply> {
		const group = (await groupItems()).find((item) => item.name === name.toLowerCase());
		if (group === undefined) return groupsPage(request, reply, { kind: "error", text: "There is no such group." }, 404);
		const users = (await services.directory.users.list()).map((user) => user.username);
		return sendPage(reply, status, <AdminGroupPage ctx={pageContext(request)} group={group} implemented={services.admin.implementedMethods()} users={users} notice={shown} />);
	}

	getRoute(server, "/admin/groups", { access: "admin", fields: { m: str(32) } }, async (request, reply, query) => groupsPage(request, reply, notice(query.m)));
	getRoute(server, "/admin/group", { access: "admin", fields: { name: req(256), m: str(32) } }, async (request, reply, query) => groupPage(request, reply, query.name, notice(query.m)));

	const groupPolicy = { force: checkbox, unrestricted: checkbox, ...METHOD_FIELDS };

	postRoute(server, "/admin/groups/create", { ...change("/admin/groups"), fields: { name: req(256), ...groupPolicy } }, async (request, reply, form) => {
		let created = "";
		const failed = await attempt(
			async () => {
				const group = await services.admin.createGroup(actor(request), { name: form.name, forceTwoFactor: form.force, allowedMethods: form.unrestricted ? null : checkedMethods(form) });
				created = group.name;
			},
			(shown, status) => groupsPage(request, reply, shown, status),
		);
		return failed ?? seeOther(reply, `/admin/group?name=${encodeURIComponent(created)}&m=created`);
	});

	postRoute(server, "/admin/groups/update", { ...change("/admin/groups"), fields: { name: req(256), ...groupPolicy } }, async (request, reply, form) => {
		const failed = await attempt(
			() => services.admin.updateGroup(actor(request), form.name, { forceTwoFactor: form.force, allowedMethods: form.unrestricted ? null : checkedMethods(form) }),
			(shown, status) => (status === 404 ? groupsPage(request, reply, shown, status) : groupPage(request, reply, form.name, shown, status)),
		);
		return failed ?? seeOther(reply, `/admin/group?name=${encodeURIComponent(form.name.toLowerCase())}&m=saved`);
	});

	postRoute(server, "/admin/groups/delete", { ...change("/admin/groups"), fields: { name: req(256) } }, async (request, reply, form) => {
		const failed = await attempt(() => services.admin.deleteGroup(actor(request), form.name), (shown, status) => groupsPage(request, reply, shown, status));
		return failed ?? seeOther(reply, "/admin/groups?m=deleted");
	});

	const member = (url: string, done: string, run: (request: FastifyRequest, group: string, username: string) => Promise<void>) =>
		postRoute(server, url, { ...change("/admin/groups"), fields: { name: req(256), username: req(256) } }, async (request, reply, form) => {
			const failed = await attempt(
				() => run(request, form.name, form.username),
				(shown, status) => (status === 404 ? groupsPage(request, reply, shown, status) : groupPage(request, reply, form.name, shown, status)),
			);
			return failed ?? seeOther(reply, `/admin/group?name=${encodeURIComponent(form.name.toLowerCase())}&m=${done}`);
		});
	member("/admin/groups/add-member", "member-added", (request, group, username) => services.admin.addMember(actor(request), group, username));
	member("/admin/groups/remove-member", "member-removed", (request, group, username) => services.admin.removeMember(actor(request), group, username));

	// ---- audit ----

	const auditFields = { user: str(64), event: str(64), since: str(32), until: str(32), before: str(20) };

	function auditFilter(query: { user?: string; event?: string; since?: string; until?: string; before?: string }): AuditFilter | { error: string } {
		const since = parseUtc(query.since);
		const until = parseUtc(query.until);
		if (since === null || until === null) return { error: "Use dates like 2026-11-28 or 2026-11-28T09:30 (UTC)." };
		const before = query.before !== undefined && /^\d{1,15}$/.test(query.before) ? Number(query.before) : undefined;
		const filter: AuditFilter = {};
		if (query.user !== undefined && query.user.trim() !== "") filter.username = query.user.trim().normalize("NFKC").toLowerCase();
		if (query.event !== undefined && query.event.trim() !== "") filter.event = query.event.trim();
		if (since !== undefined) filter.since = since;
		if (until !== undefined) filter.until = until;
		if (before !== undefined) filter.beforeId = before;
		return filter;
	}

	function filterQuery(query: Record<string, string | undefined>, extra: Record<string, string> = {}): string {
		const params = new URLSearchParams();
		for (const key of ["user", "event", "since", "until"]) {
			const value = query[key];
			if (value !== undefined && value !== "") params.set(key, value);
		}
		for (const [key, value] of Object.entries(extra)) params.set(key, value);
		const text = params.toString();
		return text === "" ? "" : `?${text}`;
	}

	getRoute(server, "/admin/audit", { access: "admin", fields: auditFields }, async (request, reply, query) => {
		const filter = auditFilter(query);
		const view = { user: query.user ?? "", event: query.event ?? "", since: query.since ?? "", until: query.until ?? "" };
		let rows: AuditRow[] = [];
		let shown: Notice = null;
		if ("error" in filter) shown = { kind: "error", text: filter.error };
		else rows = await services.audit.query({ ...filter, limit: 200 });
		const last = rows[rows.length - 1];
		const olderHref = rows.length === 200 && last !== undefined ? `/admin/audit${filterQuery(query, { before: String(last.id) })}` : null;
		return sendPage(
			reply,
			"error" in filter ? 400 : 200,
			<AdminAuditPage ctx={pageContext(request)} rows={rows} filter={view} exportHref={`/admin/audit.jsonl${filterQuery(query)}`} olderHref={olderHref} notice={shown} />,
		);
	});

	/** Decision 12: exportable as JSON lines, one event per line, newest first. */
	getRoute(server, "/admin/audit.jsonl", { access: "admin", fields: auditFields }, async (request, reply, query) => {
		const filter = auditFilter(query);
		if ("error" in filter) return reply.code(400).header("cache-control", "no-store").type("text/plain; charset=utf-8").send(`${filter.error}\n`);
		const rows = await services.audit.query({ ...filter, limit: 10_000 });
		const lines = rows.map((row) =>
			JSON.stringify({
				id: row.id,
				at: new Date(Number(row.at)).toISOString(),
				event: row.event,
				outcome: row.outcome,
				user: row.username,
				actor: row.actor,
				channel: row.channel,
				method: row.method,
				source: row.source,
				detail: parseDetail(row.detail),
			}),
		);
		await services.audit.write({ event: "audit.exported", outcome: "info", actor: request.web.user?.username ?? null, channel: "web", source: request.ip, detail: { rows: rows.length } });
		return reply
			.header("cache-control", "no-store")
			.header("content-disposition", 'attachment; filename="portcullis-audit.jsonl"')
			.type("application/x-ndjson; charset=utf-8")
			.send(lines.length === 0 ? "" : `${lines.join("\n")}\n`);
	});
};
