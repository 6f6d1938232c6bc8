/**
 * API: who the token is (/me), users and groups (policy and members). Changes go through
 * AdminService (one unit of work each: the change and its audit event commit together).
 *
 * Deliberately absent (docs/api.md "Not a side door"): passwords (no field, no route: a `password`
 * in a body is refused by the schema), second factors (no reset, unlock, enrolment or removal) and
 * tokens (none is minted or listed here).
 */
import type { FastifyInstance } from "fastify";
import { IMPLEMENTED_METHODS, type MethodId } from "../../core/method-id.ts";
import type { UserRow } from "../../storage/user-store.ts";
import { groupRule, type GroupRow } from "../../storage/group-store.ts";
import type { WebServices } from "../services.ts";
import { DONE, GROUP, GROUPS, ME, USER, USER_WITH_GROUPS, USERS } from "./api-schemas.ts";
import { apiRoute, NAME, object } from "./api-route.ts";

const METHODS = { type: "array", items: { type: "string", enum: [...IMPLEMENTED_METHODS] }, maxItems: IMPLEMENTED_METHODS.length, uniqueItems: true };

function userView(user: UserRow, now: number) {
	return {
		id: user.id,
		username: user.username,
		admin: user.is_admin === 1,
		disabled: user.disabled === 1,
		serviceAccount: user.service_account === 1,
		locked: Number(user.tfa_locked_until) > now,
		createdAt: Number(user.created_at),
	};
}

export async function directoryApi(api: FastifyInstance, services: WebServices): Promise<void> {
	const { admin, directory } = services;
	const now = () => services.clock.now().getTime();

	async function groupView(group: GroupRow) {
		const rule = groupRule(group);
		const members = await directory.groups.membersOf(group.id);
		return {
			name: group.name,
			forceTwoFactor: rule.forceTwoFactor,
			allowedMethods: rule.allowedMethods,
			enrolmentDeadline: rule.enrolmentDeadline ?? null,
			rememberMinutes: rule.rememberMinutes ?? null,
			members: members.map((member) => member.username),
		};
	}

	apiRoute(
		api,
		services,
		{ method: "GET", url: "/me", tag: "tokens", summary: "The token's owner and scopes", scope: null, admin: false, response: ME },
		async (call) => ({
			username: call.principal.user.username,
			admin: call.principal.user.is_admin === 1,
			serviceAccount: call.principal.user.service_account === 1,
			tokenId: call.principal.tokenId,
			scopes: call.principal.scopes,
		}),
	);

	apiRoute(api, services, { method: "GET", url: "/users", tag: "users", summary: "List users", scope: "read", admin: true, response: USERS }, async () => ({
		users: (await directory.users.list()).map((user) => userView(user, now())),
	}));

	apiRoute(
		api,
		services,
		{
			method: "GET",
			url: "/users/:username",
			tag: "users",
			summary: "One user and their groups",
			scope: "read",
			admin: true,
			response: USER_WITH_GROUPS,
			params: object({ username: NAME }, ["username"]),
		},
		async (call) => {
			const user = await admin.requireUser(call.params.username as string);
			const groups = await directory.groups.groupsOfUser(user.id);
			return { ...userView(user, now()), groups: groups.map((group) => group.name) };
		},
	);

	apiRoute(
		api,
		services,
		{
			method: "POST",
			url: "/users",
			tag: "users",
			summary: "Create a user (no password: it is set in the console or on the host) or a service account",
			scope: "users:write",
			admin: true,
			response: USER,
			body: object({ username: NAME, admin: { type: "boolean" }, groups: { type: "array", items: NAME, maxItems: 100 }, serviceAccount: { type: "boolean" } }, [
				"username",
			]),
		},
		async (call) => {
			const body = call.body as { username: string; admin?: boolean; groups?: string[]; serviceAccount?: boolean };
			let user: UserRow;
			if (body.serviceAccount === true) {
				user = await services.apiTokens.createServiceAccount(call.actor, body.username, body.admin === true);
				for (const group of body.groups ?? []) await admin.addMember(call.actor, group, user.username);
			} else {
				user = await admin.createUser(call.actor, { username: body.username, password: null, isAdmin: body.admin === true, groups: body.groups ?? [] });
			}
			call.reply.code(201);
			return userView(user, now());
		},
	);

	apiRoute(
		api,
		services,
		{
			method: "PATCH",
			url: "/users/:username",
			tag: "users",
			summary: "Disable, enable, or change a user's admin role",
			scope: "users:write",
			admin: true,
			response: USER,
			params: object({ username: NAME }, ["username"]),
			body: object({ disabled: { type: "boolean" }, admin: { type: "boolean" } }),
		},
		async (call) => {
			const body = call.body as { disabled?: boolean; admin?: boolean };
			const user = await admin.requireUser(call.params.username as string);
			if (body.disabled !== undefined) await admin.setDisabled(call.actor, user.username, body.disabled);
			if (body.admin !== undefined) await admin.setAdmin(call.actor, user.username, body.admin);
			return userView(await admin.requireUser(user.username), now());
		},
	);

	apiRoute(
		api,
		services,
		{ method: "GET", url: "/groups", tag: "groups", summary: "Groups with their 2FA policy and members", scope: "read", admin: true, response: GROUPS },
		async () => ({
			groups: await Promise.all((await directory.groups.list()).map(groupView)),
		}),
	);

	apiRoute(
		api,
		services,
		{
			method: "POST",
			url: "/groups",
			tag: "groups",
			summary: "Create a group with its 2FA policy",
			scope: "settings:write",
			admin: true,
			response: GROUP,
			body: object({ name: NAME, forceTwoFactor: { type: "boolean" }, allowedMethods: { anyOf: [METHODS, { type: "null" }] } }, ["name"]),
		},
		async (call) => {
			const body = call.body as { name: string; forceTwoFactor?: boolean; allowedMethods?: MethodId[] | null };
			const group = await admin.createGroup(call.actor, {
				name: body.name,
				forceTwoFactor: body.forceTwoFactor === true,
				allowedMethods: body.allowedMethods ?? null,
			});
			call.reply.code(201);
			return groupView(group);
		},
	);

	apiRoute(
		api,
		services,
		{
			method: "PATCH",
			url: "/groups/:name",
			tag: "groups",
			summary: "Change a group's 2FA policy (validated like the console: Decision 3)",
			scope: "settings:write",
			admin: true,
			response: GROUP,
			params: object({ name: NAME }, ["name"]),
			body: object({ forceTwoFactor: { type: "boolean" }, allowedMethods: { anyOf: [METHODS, { type: "null" }] } }),
		},
		async (call) => {
			const body = call.body as { forceTwoFactor?: boolean; allowedMethods?: MethodId[] | null };
			await admin.updateGroup(call.actor, call.params.name as string, {
				...(body.forceTwoFactor !== undefined ? { forceTwoFactor: body.forceTwoFactor } : {}),
				...(body.allowedMethods !== undefined ? { allowedMethods: body.allowedMethods } : {}),
			});
			return groupView(await admin.requireGroup(call.params.name as string));
		},
	);

	apiRoute(
		api,
		services,
		{
			method: "DELETE",
			url: "/groups/:name",
			tag: "groups",
			summary: "Delete a group",
			scope: "settings:write",
			admin: true,
			response: DONE("deleted"),
			params: object({ name: NAME }, ["name"]),
		},
		async (call) => {
			await admin.deleteGroup(call.actor, call.params.name as string);
			return { deleted: true };
		},
	);

	const membership = object({ name: NAME, username: NAME }, ["name", "username"]);
	apiRoute(
		api,
		services,
		{
			method: "PUT",
			url: "/groups/:name/members/:username",
			tag: "groups",
			summary: "Add a member",
			scope: "users:write",
			admin: true,
			response: GROUP,
			params: membership,
		},
		async (call) => {
			await admin.addMember(call.actor, call.params.name as string, call.params.username as string);
			return groupView(await admin.requireGroup(call.params.name as string));
		},
	);
	apiRoute(
		api,
		services,
		{
			method: "DELETE",
			url: "/groups/:name/members/:username",
			tag: "groups",
			summary: "Remove a member",
			scope: "users:write",
			admin: true,
			response: GROUP,
			params: membership,
		},
		async (call) => {
			await admin.removeMember(call.actor, call.params.name as string, call.params.username as string);
			return groupView(await admin.requireGroup(call.params.name as string));
		},
	);
}
