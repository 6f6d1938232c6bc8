/**
 * JSON schemas of what the API answers. Besides documenting the OpenAPI responses, Fastify
 * serialises each answer through its schema, so a field that is not declared here never leaves the
 * server (a password hash or token hash added to a row by mistake would be dropped, not leaked).
 */
import type { JsonSchema } from "./api-route.ts";

const str = { type: "string" };
const int = { type: "integer" };
const bool = { type: "boolean" };
const nullable = (schema: JsonSchema): JsonSchema => ({ anyOf: [schema, { type: "null" }] });
const strings = { type: "array", items: str };

function obj(properties: Record<string, JsonSchema>): JsonSchema {
	return { type: "object", properties, required: Object.keys(properties) };
}

export const ME = obj({ username: str, admin: bool, serviceAccount: bool, tokenId: str, scopes: strings });

export const USER = obj({ id: str, username: str, admin: bool, disabled: bool, serviceAccount: bool, locked: bool, createdAt: int });
export const USER_WITH_GROUPS = obj({
	id: str,
	username: str,
	admin: bool,
	disabled: bool,
	serviceAccount: bool,
	locked: bool,
	createdAt: int,
	groups: strings,
});
export const USERS = obj({ users: { type: "array", items: USER } });

export const GROUP = obj({
	name: str,
	forceTwoFactor: bool,
	allowedMethods: nullable(strings),
	enrolmentDeadline: nullable(int),
	rememberMinutes: nullable(int),
	members: strings,
});
export const GROUPS = obj({ groups: { type: "array", items: GROUP } });

export const SERVER = obj({
	id: str,
	name: str,
	host: str,
	port: int,
	loginUser: str,
	description: str,
	groups: strings,
	credential: str,
	hostKeyFingerprint: nullable(str),
	createdAt: int,
	recordingMode: nullable(str),
	requireTwoFactor: bool,
	freshMinutes: nullable(int),
	captureSftpContent: bool,
});
export const SERVERS = obj({ servers: { type: "array", items: SERVER } });

export const SETTINGS = obj({ forceTwoFactor: bool, enabledMethods: strings, enrolmentDeadline: nullable(int), rememberMinutes: int, recordingMode: str });

export const AUDIT_PAGE = obj({
	events: {
		type: "array",
		items: obj({
			id: int,
			at: int,
			event: str,
			outcome: str,
			username: nullable(str),
			actor: nullable(str),
			channel: nullable(str),
			method: nullable(str),
			source: nullable(str),
			// Free-form per event (docs/operations.md "Audit log").
			detail: {},
		}),
	},
	next: nullable(int),
});

export const WEB_SESSIONS = obj({
	sessions: {
		type: "array",
		items: obj({ id: str, userId: str, username: nullable(str), state: str, createdAt: int, lastSeenAt: int, expiresAt: int, source: str }),
	},
});

export const SSH_CHANNEL = obj({
	id: str,
	kind: { type: "string", enum: ["menu", "session", "tunnel"] },
	server: nullable(str),
	startedAt: int,
	bytesIn: int,
	bytesOut: int,
});

export const SSH_SESSION = obj({
	id: str,
	username: str,
	source: str,
	node: str,
	nodeId: str,
	startedAt: int,
	firstFactor: str,
	secondFactor: str,
	secondFactorNote: str,
	secondFactorLabel: str,
	bytesIn: int,
	bytesOut: int,
	updatedAt: int,
	servers: strings,
	channels: { type: "array", items: SSH_CHANNEL },
});
export const SSH_SESSIONS = obj({ sessions: { type: "array", items: SSH_SESSION } });

/** A terminate request is recorded; the owning node ends the connection within its poll interval (202). */
export const SSH_TERMINATE = obj({ requested: bool, requestId: str, node: str });

export const RECORDINGS = obj({
	recordings: { type: "array", items: obj({ id: str, username: str, servers: strings, startedAt: int, endedAt: nullable(int), bytes: int }) },
});

export const DONE = (field: string): JsonSchema => obj({ [field]: bool });
