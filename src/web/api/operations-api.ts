/**
 * API: servers and grants, the global 2FA settings, the audit log (paged, filtered), web sessions
 * (list, terminate), live SSH sessions (list, terminate with a reason: WebServices.sshSessions) and recordings (list,
 * download). Every change goes through its service's unit of work (ServerService, AdminService).
 *
 * Deliberately absent: target-server credentials (a password or private key is a secret the API
 * never carries; set them in the console or with `portcullis server`).
 */
import { Readable } from "node:stream";
import type { FastifyInstance } from "fastify";
import { IMPLEMENTED_METHODS, type MethodId } from "../../core/method-id.ts";
import { PLAIN_TEXT_PATTERN } from "../../core/untrusted-text.ts";
import { MAX_REASON_LENGTH } from "../../flows/live-sessions.ts";
import type { RecordingRow } from "../../storage/recording-store.ts";
import type { WebServices } from "../services.ts";
import { apiError } from "./api-error.ts";
import { AUDIT_PAGE, DONE, RECORDINGS, SERVER, SERVERS, SETTINGS, SSH_SESSIONS, SSH_TERMINATE, WEB_SESSIONS } from "./api-schemas.ts";
import { apiRoute, NAME, object, SENT } from "./api-route.ts";

const SERVER_NAME = { type: "string", minLength: 1, maxLength: 64 };
const HEX32 = { type: "string", pattern: "^[0-9a-f]{32}$" };
/**
 * A terminate reason as the console takes it: 1-200 characters of plain text (no control, bidi or
 * zero-width characters: src/core/untrusted-text.ts; LiveSessionService checks it again).
 */
const REASON = {
	type: "string",
	minLength: 1,
	maxLength: MAX_REASON_LENGTH,
	pattern: PLAIN_TEXT_PATTERN,
};

function recordingServers(row: RecordingRow): string[] {
	try {
		const parsed: unknown = JSON.parse(row.servers);
		return Array.isArray(parsed) ? parsed.filter((name): name is string => typeof name === "string") : [];
	} catch {
		return [];
	}
}

export async function operationsApi(api: FastifyInstance, services: WebServices): Promise<void> {
	const { admin } = services;

	// --- servers and grants ---
	apiRoute(
		api,
		services,
		{ method: "GET", url: "/servers", tag: "servers", summary: "Servers and the groups granted each", scope: "read", admin: true, response: SERVERS },
		async () => ({
			servers: await services.servers.list(),
		}),
	);

	apiRoute(
		api,
		services,
		{
			method: "POST",
			url: "/servers",
			tag: "servers",
			summary: "Add a server (credentials are set in the console or on the host, never through the API)",
			scope: "servers:write",
			admin: true,
			response: SERVER,
			body: object(
				{
					name: SERVER_NAME,
					host: { type: "string", minLength: 1, maxLength: 255 },
					port: { type: "integer", minimum: 1, maximum: 65535 },
					loginUser: { type: "string", maxLength: 64 },
					description: { type: "string", maxLength: 500 },
					groups: { type: "array", items: NAME, maxItems: 100 },
					requireTwoFactor: { type: "boolean" },
					freshMinutes: { anyOf: [{ type: "integer", minimum: 1, maximum: 1440 }, { type: "null" }] },
					// Store the content of files moved through SFTP (docs/ssh-relay.md "Content capture"); default false.
					captureSftpContent: { type: "boolean" },
				},
				["name", "host"],
			),
		},
		async (call) => {
			const row = await services.servers.add(call.actor, call.body as { name: string; host: string });
			call.reply.code(201);
			return (await services.servers.list()).find((server) => server.id === row.id) ?? { name: row.name };
		},
	);

	apiRoute(
		api,
		services,
		{
			method: "DELETE",
			url: "/servers/:name",
			tag: "servers",
			summary: "Remove a server",
			scope: "servers:write",
			admin: true,
			response: DONE("deleted"),
			params: object({ name: SERVER_NAME }, ["name"]),
		},
		async (call) => {
			await services.servers.remove(call.actor, call.params.name as string);
			return { deleted: true };
		},
	);

	const grant = object({ name: SERVER_NAME, group: NAME }, ["name", "group"]);
	apiRoute(
		api,
		services,
		{
			method: "PUT",
			url: "/servers/:name/grants/:group",
			tag: "servers",
			summary: "Grant a server to a group",
			scope: "servers:write",
			admin: true,
			response: DONE("changed"),
			params: grant,
		},
		async (call) => ({ changed: await services.servers.grant(call.actor, call.params.name as string, call.params.group as string) }),
	);
	apiRoute(
		api,
		services,
		{
			method: "DELETE",
			url: "/servers/:name/grants/:group",
			tag: "servers",
			summary: "Revoke a group's grant",
			scope: "servers:write",
			admin: true,
			response: DONE("changed"),
			params: grant,
		},
		async (call) => ({ changed: await services.servers.revoke(call.actor, call.params.name as string, call.params.group as string) }),
	);

	// --- settings ---
	const settingsView = async () => {
		const settings = await services.directory.settings.getTwoFactor();
		return {
			forceTwoFactor: settings.forceTwoFactor,
			enabledMethods: settings.enabledMethods,
			enrolmentDeadline: settings.enrolmentDeadline ?? null,
			rememberMinutes: settings.rememberMinutes ?? 0,
			recordingMode: await services.servers.globalRecordingMode(),
		};
	};
	apiRoute(
		api,
		services,
		{ method: "GET", url: "/settings", tag: "settings", summary: "The global 2FA settings", scope: "read", admin: true, response: SETTINGS },
		settingsView,
	);
	apiRoute(
		api,
		services,
		{
			method: "PATCH",
			url: "/settings",
			tag: "settings",
			summary: "Change the global 2FA settings (validated like the console: Decision 3)",
			scope: "settings:write",
			admin: true,
			response: SETTINGS,
			body: object({
				forceTwoFactor: { type: "boolean" },
				enabledMethods: { type: "array", items: { type: "string", enum: [...IMPLEMENTED_METHODS] }, maxItems: IMPLEMENTED_METHODS.length, uniqueItems: true },
				rememberMinutes: { type: "integer", minimum: 0, maximum: 720 },
			}),
		},
		async (call) => {
			const body = call.body as { forceTwoFactor?: boolean; enabledMethods?: MethodId[]; rememberMinutes?: number };
			await admin.updateSettings(call.actor, body);
			return settingsView();
		},
	);

	// --- audit (paged: newest first; `before` is the `next` of the previous page) ---
	apiRoute(
		api,
		services,
		{
			method: "GET",
			url: "/audit",
			tag: "audit",
			summary: "Audit events, newest first, filtered and paged",
			scope: "audit:read",
			admin: true,
			response: AUDIT_PAGE,
			query: object({
				username: { type: "string", maxLength: 64 },
				event: { type: "string", maxLength: 64 },
				since: { type: "integer", minimum: 0 },
				until: { type: "integer", minimum: 0 },
				before: { type: "integer", minimum: 1 },
				limit: { type: "integer", minimum: 1, maximum: 1000 },
			}),
		},
		async (call) => {
			const query = call.query as { username?: string; event?: string; since?: number; until?: number; before?: number; limit?: number };
			const limit = query.limit ?? 100;
			const rows = await services.audit.query({
				...(query.username ? { username: query.username } : {}),
				...(query.event ? { event: query.event } : {}),
				...(query.since !== undefined ? { since: query.since } : {}),
				...(query.until !== undefined ? { until: query.until } : {}),
				...(query.before !== undefined ? { beforeId: query.before } : {}),
				limit,
			});
			const events = rows.map((row) => ({
				id: Number(row.id),
				at: Number(row.at),
				event: row.event,
				outcome: row.outcome,
				username: row.username,
				actor: row.actor,
				channel: row.channel,
				method: row.method,
				source: row.source,
				detail: row.detail === null ? null : (JSON.parse(row.detail) as unknown),
			}));
			const last = events[events.length - 1];
			return { events, next: events.length === limit && last !== undefined ? last.id : null };
		},
	);

	// --- web sessions ---
	apiRoute(
		api,
		services,
		{ method: "GET", url: "/web-sessions", tag: "sessions", summary: "Live console sessions", scope: "read", admin: true, response: WEB_SESSIONS },
		async () => ({
			sessions: await admin.listWebSessions(),
		}),
	);
	apiRoute(
		api,
		services,
		{
			method: "DELETE",
			url: "/web-sessions/:id",
			tag: "sessions",
			summary: "End a console session",
			scope: "users:write",
			admin: true,
			response: DONE("terminated"),
			params: object({ id: { type: "string", pattern: "^[0-9a-f]{64}$" } }, ["id"]),
		},
		async (call) => {
			if (!(await admin.terminateWebSession(call.actor, call.params.id as string))) return apiError(call.reply, 404, "not_found", "No such live session.");
			return { terminated: true };
		},
	);

	// --- live SSH sessions (app/web-ssh-sessions.ts over flows/live-sessions.ts; docs/api.md "Live SSH sessions") ---
	const notWired = "Live SSH sessions are not available in this build (docs/api.md).";
	apiRoute(
		api,
		services,
		{ method: "GET", url: "/ssh-sessions", tag: "sessions", summary: "Live SSH connections of every node", scope: "read", admin: true, response: SSH_SESSIONS },
		async (call) => {
			if (services.sshSessions === null) return apiError(call.reply, 501, "not_implemented", notWired);
			return { sessions: await services.sshSessions.list() };
		},
	);
	apiRoute(
		api,
		services,
		{
			method: "DELETE",
			url: "/ssh-sessions/:id",
			tag: "sessions",
			summary: "End a live SSH connection (or one channel of it) on whichever node holds it; the reason is audited",
			scope: "users:write",
			admin: true,
			// The console asks a fresh step-up here; the API asks a token made with a proven second factor.
			provenFactor: true,
			response: SSH_TERMINATE,
			params: object({ id: { type: "string", pattern: "^[0-9a-f]{16}$" } }, ["id"]),
			// In the query, not a body: a DELETE body has no defined meaning (RFC 9110 §9.3.5) and proxies may drop it.
			query: object({ reason: REASON, channel: { type: "string", pattern: "^[0-9a-f]{32}$" } }, ["reason"]),
		},
		async (call) => {
			if (services.sshSessions === null) return apiError(call.reply, 501, "not_implemented", notWired);
			const query = call.query as { reason: string; channel?: string };
			// ERR_NOT_FOUND (no live node holds it) → 404 and ERR_INPUT → 400, by the plugin's error handler.
			const done = await services.sshSessions.terminate(call.actor, { id: call.params.id as string, channelId: query.channel ?? null, reason: query.reason });
			call.reply.code(202);
			return { requested: true, requestId: done.requestId, node: done.node };
		},
	);

	// --- recordings ---
	apiRoute(
		api,
		services,
		{
			method: "GET",
			url: "/recordings",
			tag: "recordings",
			summary: "SSH session recordings, newest first",
			scope: "audit:read",
			admin: true,
			response: RECORDINGS,
			query: object({ username: { type: "string", maxLength: 64 }, limit: { type: "integer", minimum: 1, maximum: 1000 } }),
		},
		async (call) => {
			const query = call.query as { username?: string; limit?: number };
			const rows = await services.recordings.list({ limit: query.limit ?? 100, ...(query.username ? { username: query.username.toLowerCase() } : {}) });
			return {
				recordings: rows.map((row) => ({
					id: row.id,
					username: row.username,
					servers: recordingServers(row),
					startedAt: Number(row.started_at),
					endedAt: row.ended_at === null ? null : Number(row.ended_at),
					bytes: Number(row.bytes),
				})),
			};
		},
	);

	apiRoute(
		api,
		services,
		{
			method: "GET",
			url: "/recordings/:id",
			tag: "recordings",
			summary: "Download a recording (asciicast v2)",
			scope: "audit:read",
			admin: true,
			params: object({ id: HEX32 }, ["id"]),
		},
		async (call) => {
			const row = await services.recordings.find(call.params.id as string);
			if (row === undefined) return apiError(call.reply, 404, "not_found", "No such recording.");
			const pieces = services.recordings.read(row);
			let first: IteratorResult<string>;
			try {
				first = await pieces.next();
			} catch {
				return apiError(call.reply, 404, "not_found", "The recording cannot be read.");
			}
			await services.audit.write({
				event: "ssh.recording-viewed",
				outcome: "info",
				actor: call.actor.name,
				channel: "api",
				source: call.request.ip,
				username: row.username,
				userId: row.user_id,
				detail: { recording: row.id, tokenId: call.principal.tokenId },
			});
			async function* body(): AsyncGenerator<string> {
				if (first.done) return;
				yield first.value;
				yield* pieces;
			}
			call.reply
				.header("cache-control", "no-store")
				.header("content-disposition", `attachment; filename="portcullis-${row.username}-${row.id.slice(0, 8)}.cast"`)
				.type("application/x-asciicast; charset=utf-8")
				.send(Readable.from(body(), { objectMode: false }));
			return SENT;
		},
	);
}
