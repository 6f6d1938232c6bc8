/**
 * Admin pages for groups: list, create, update the policy (force 2FA, allowed methods), delete,
 * members. Every change goes through AdminService (routes/admin.tsx).
 */
import type { FastifyReply, FastifyRequest } from "fastify";
import { pageContext, seeOther, sendPage, type RouteModule } from "../context.ts";
import { checkbox, req, str } from "../forms.ts";
import { getRoute, postRoute } from "../route-kit.ts";
import { attemptAdminChange, deadlineChange, rememberChange, webActor } from "../admin-change.ts";
import type { Notice } from "../views/login.tsx";
import { parseAllowed } from "../../storage/group-store.ts";
import { change, checkedMethods, echoFields, METHOD_FIELDS, notice } from "./admin.tsx";
import { AdminGroupPage, AdminGroupsPage, ImpactConfirmPage, type GroupListItem } from "../views/admin.tsx";

export const adminGroupRoutes: RouteModule = (server, web) => {
	const { services } = web;

	const actor = webActor;

	const attempt = attemptAdminChange;

	// ---- groups ----

	async function groupItems(): Promise<GroupListItem[]> {
		const groups = await services.directory.groups.list();
		return Promise.all(
			groups.map(async (group) => ({
				name: group.name,
				force: group.force_2fa === 1,
				allowed: parseAllowed(group.allowed_methods),
				deadline: group.enrol_deadline === null ? null : Number(group.enrol_deadline),
				rememberMinutes: group.remember_minutes === null ? null : Number(group.remember_minutes),
				members: (await services.directory.groups.membersOf(group.id)).map((member) => member.username),
			})),
		);
	}

	async function groupsPage(request: FastifyRequest, reply: FastifyReply, shown: Notice, status = 200): Promise<FastifyReply> {
		return sendPage(
			reply,
			status,
			<AdminGroupsPage ctx={pageContext(request)} groups={await groupItems()} implemented={services.admin.implementedMethods()} notice={shown} />,
		);
	}

	async function groupPage(request: FastifyRequest, reply: FastifyReply, name: string, shown: Notice, status = 200): Promise<FastifyReply> {
		const group = (await groupItems()).find((item) => item.name === name.toLowerCase());
		if (group === undefined) return groupsPage(request, reply, { kind: "error", text: "There is no such group." }, 404);
		const users = (await services.directory.users.list()).map((user) => user.username);
		return sendPage(
			reply,
			status,
			<AdminGroupPage ctx={pageContext(request)} group={group} implemented={services.admin.implementedMethods()} users={users} notice={shown} />,
		);
	}

	getRoute(server, "/admin/groups", { access: "admin", fields: { m: str(32) } }, async (request, reply, query) => groupsPage(request, reply, notice(query.m)));
	getRoute(server, "/admin/group", { access: "admin", fields: { name: req(256), m: str(32) } }, async (request, reply, query) =>
		groupPage(request, reply, query.name, notice(query.m)),
	);

	const groupPolicy = { force: checkbox, unrestricted: checkbox, deadline: str(64), remember: str(8), confirm: checkbox, ...METHOD_FIELDS };

	postRoute(server, "/admin/groups/create", { ...change("/admin/groups"), fields: { name: req(256), ...groupPolicy } }, async (request, reply, form) => {
		let created = "";
		const failed = await attempt(
			async () => {
				const group = await services.admin.createGroup(actor(request), {
					name: form.name,
					forceTwoFactor: form.force,
					allowedMethods: form.unrestricted ? null : checkedMethods(form),
					enrolmentDeadline: deadlineChange(form.deadline, null, services.clock.now().getTime()) ?? null,
					rememberMinutes: rememberChange(form.remember, null) ?? null,
				});
				created = group.name;
			},
			(shown, status) => groupsPage(request, reply, shown, status),
			request,
		);
		return failed ?? seeOther(reply, `/admin/group?name=${encodeURIComponent(created)}&m=created`);
	});

	postRoute(server, "/admin/groups/update", { ...change("/admin/groups"), fields: { name: req(256), ...groupPolicy } }, async (request, reply, form) => {
		let confirmPage: FastifyReply | null = null;
		const failed = await attempt(
			async () => {
				const current = (await groupItems()).find((item) => item.name === form.name.toLowerCase());
				const enrolmentDeadline = deadlineChange(form.deadline, current?.deadline ?? null, services.clock.now().getTime());
				const rememberMinutes = rememberChange(form.remember, null);
				const changes = {
					forceTwoFactor: form.force,
					allowedMethods: form.unrestricted ? null : checkedMethods(form),
					...(enrolmentDeadline !== undefined ? { enrolmentDeadline } : {}),
					...(rememberMinutes !== undefined ? { rememberMinutes } : {}),
				};
				if (!form.confirm) {
					// Impact preview: a change that newly requires 2FA of members is confirmed first.
					const impact = await services.admin.previewGroup(actor(request), form.name, changes);
					if (impact.gaining.length > 0 || impact.selfWithoutFactor) {
						const back = `/admin/group?name=${encodeURIComponent(form.name.toLowerCase())}`;
						confirmPage = sendPage(
							reply,
							200,
							<ImpactConfirmPage ctx={pageContext(request)} action="/admin/groups/update" fields={echoFields(form)} impact={impact} back={back} />,
						);
						return;
					}
				}
				await services.admin.updateGroup(actor(request), form.name, changes);
			},
			(shown, status) => (status === 404 ? groupsPage(request, reply, shown, status) : groupPage(request, reply, form.name, shown, status)),
			request,
		);
		return failed ?? confirmPage ?? seeOther(reply, `/admin/group?name=${encodeURIComponent(form.name.toLowerCase())}&m=saved`);
	});

	postRoute(server, "/admin/groups/delete", { ...change("/admin/groups"), fields: { name: req(256) } }, async (request, reply, form) => {
		const failed = await attempt(
			() => services.admin.deleteGroup(actor(request), form.name),
			(shown, status) => groupsPage(request, reply, shown, status),
		);
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
};
