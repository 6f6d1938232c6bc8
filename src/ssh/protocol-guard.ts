/**
 * Hooks into ssh2's server-side Protocol object for the three things ssh2 1.17 does not do (or does
 * not let us see) through its public API:
 *
 * 1. SERVICE_REQUEST "ssh-userauth" before authentication (RFC 4253 §10, RFC 4252 §1). ssh2
 *    answers a SERVICE_REQUEST but then also accepts USERAUTH_REQUEST without one. We disconnect
 *    with PROTOCOL_ERROR and report the violation, as OpenSSH's sshd does ("dispatch_protocol_error").
 * 2. Protocol violations during authentication (RFC 4252 §5: the user name or service changing
 *    between requests, an unknown method, a second or foreign SERVICE_REQUEST). ssh2 disconnects
 *    silently, so the gateway could only log "closed by client". We detect the same conditions first,
 *    disconnect with the same codes, and report the reason and both user names.
 * 3. The reason code of a refused channel open. ssh2's reject() always answers CONNECT_FAILED (2)
 *    for a reserved channel; a policy refusal must be SSH_OPEN_ADMINISTRATIVELY_PROHIBITED (1)
 *    (RFC 4254 §5.1), or the client cannot tell "you may not" from "the target is down".
 *
 * These are ssh2 private APIs (`_protocol`, `_handlers`), pinned by package-lock.json and exercised by
 * test/security/ssh-preauth.test.ts, so an ssh2 upgrade that moves them fails the tests instead of
 * silently dropping the checks. When the hooks cannot be installed, installProtocolGuard() returns
 * false and the gateway refuses the connection (fail closed).
 */
import type { Socket } from "node:net";
import type ssh2 from "ssh2";
import { canonicalUsername } from "../core/username.ts";
import { terminalSafe } from "./prompts.ts";

/** RFC 4253 §11.1 disconnect reason codes. */
const SSH_DISCONNECT_PROTOCOL_ERROR = 2;
const SSH_DISCONNECT_SERVICE_NOT_AVAILABLE = 7;
/** RFC 4254 §5.1. */
export const SSH_OPEN_ADMINISTRATIVELY_PROHIBITED = 1;

/** The authentication methods ssh2's server understands; anything else it disconnects on. */
const KNOWN_METHODS = new Set(["none", "password", "publickey", "hostbased", "keyboard-interactive"]);

type Handler = (...args: unknown[]) => unknown;

/** The parts of ssh2 1.17's server-side Protocol used here (private API, see the file comment). */
interface Ssh2Protocol {
	_handlers: Record<string, Handler | undefined>;
	disconnect(reason: number): void;
	channelOpenFail(recipient: number, reason: number, description?: string): void;
}

export type ProtocolViolationReason =
	| "userauth-before-service-request"
	| "unexpected-service-request"
	| "username-changed"
	| "service-changed"
	| "unknown-method";

export interface ProtocolViolation {
	readonly reason: ProtocolViolationReason;
	/** The user name of the first USERAUTH_REQUEST (canonical, or cleaned and cut to 64 characters). */
	readonly username: string | null;
	/** The user name of the offending request, when it is one. */
	readonly requestedUsername: string | null;
	readonly service: string | null;
	readonly method: string | null;
}

/** A user name or service name as it may appear in the audit log: canonical, else cleaned and cut. */
export function auditName(raw: unknown): string | null {
	if (typeof raw !== "string") return null;
	return canonicalUsername(raw) ?? terminalSafe(raw).replace(/\n/g, " ").slice(0, 64);
}

function protocolOf(client: ssh2.Connection): Ssh2Protocol | null {
	// Private ssh2 API (file comment): the server-side Connection keeps its Protocol in `_protocol`.
	const proto = (client as unknown as { _protocol?: Partial<Ssh2Protocol> })._protocol;
	if (proto === undefined || proto === null || typeof proto.disconnect !== "function" || typeof proto.channelOpenFail !== "function") return null;
	const handlers = proto._handlers;
	if (typeof handlers !== "object" || handlers === null) return null;
	if (typeof handlers.SERVICE_REQUEST !== "function" || typeof handlers.USERAUTH_REQUEST !== "function") return null;
	return proto as Ssh2Protocol;
}

/**
 * Wraps ssh2's SERVICE_REQUEST and USERAUTH_REQUEST handlers for this connection. Must be called
 * from the server's 'connection' event (ssh2 emits it after the client's identification line, before
 * any packet is handled). On a violation: DISCONNECT with RFC 4253 §11.1's code, end the socket,
 * then `onViolation` (the gateway audits it and destroys the socket if the peer lingers).
 * Returns false when ssh2's internals are not as expected.
 */
export function installProtocolGuard(client: ssh2.Connection, socket: Socket, onViolation: (violation: ProtocolViolation) => void): boolean {
	const proto = protocolOf(client);
	if (proto === null) return false;
	const handlers = proto._handlers;
	const originalService = handlers.SERVICE_REQUEST as Handler;
	const originalUserauth = handlers.USERAUTH_REQUEST as Handler;
	let serviceRequested = false;
	let firstUsername: string | null = null;
	let violated = false;

	const violation = (code: number, found: Omit<ProtocolViolation, "username">) => {
		if (violated) return;
		violated = true;
		try {
			proto.disconnect(code);
		} catch {
			// The transport is already gone.
		}
		socket.end();
		onViolation({ ...found, username: firstUsername === null ? null : auditName(firstUsername) });
	};

	handlers.SERVICE_REQUEST = (p: unknown, name: unknown) => {
		if (violated) return undefined;
		// RFC 4252 §1: "ssh-userauth" once, before authentication; RFC 4254 "ssh-connection" is only
		// ever named inside USERAUTH_REQUEST. Anything else is SERVICE_NOT_AVAILABLE (RFC 4253 §10).
		if (name === "ssh-userauth" && !serviceRequested && !client.authenticated) {
			serviceRequested = true;
			return originalService(p, name);
		}
		return violation(SSH_DISCONNECT_SERVICE_NOT_AVAILABLE, {
			reason: "unexpected-service-request",
			requestedUsername: null,
			service: auditName(name),
			method: null,
		});
	};

	handlers.USERAUTH_REQUEST = (p: unknown, username: unknown, service: unknown, method: unknown, ...rest: unknown[]) => {
		if (violated) return undefined;
		// After USERAUTH_SUCCESS ssh2 handles (and disconnects on) further requests itself.
		if (client.authenticated) return originalUserauth(p, username, service, method, ...rest);
		const found = { requestedUsername: auditName(username), service: auditName(service), method: auditName(method) };
		if (!serviceRequested) return violation(SSH_DISCONNECT_PROTOCOL_ERROR, { reason: "userauth-before-service-request", ...found });
		// RFC 4252 §5: the server MAY disconnect when the user name or service name changes.
		if (firstUsername !== null && username !== firstUsername) return violation(SSH_DISCONNECT_PROTOCOL_ERROR, { reason: "username-changed", ...found });
		if (service !== "ssh-connection") return violation(SSH_DISCONNECT_SERVICE_NOT_AVAILABLE, { reason: "service-changed", ...found });
		if (typeof method !== "string" || !KNOWN_METHODS.has(method)) return violation(SSH_DISCONNECT_PROTOCOL_ERROR, { reason: "unknown-method", ...found });
		if (typeof username === "string") firstUsername ??= username;
		return originalUserauth(p, username, service, method, ...rest);
	};
	return true;
}

/**
 * Calls ssh2's reject() for a channel open so that the client receives
 * SSH_OPEN_ADMINISTRATIVELY_PROHIBITED (RFC 4254 §5.1) instead of ssh2's CONNECT_FAILED. reject()
 * sends CHANNEL_OPEN_FAILURE synchronously, so the substitution applies to exactly this one answer.
 * Without ssh2's internals (an upgrade moved them), it falls back to the plain reject().
 */
export function rejectProhibited(client: ssh2.Connection, reject: () => void, description = "administratively prohibited"): void {
	const proto = (client as unknown as { _protocol?: Partial<Ssh2Protocol> })._protocol;
	const original = proto?.channelOpenFail;
	if (proto === undefined || proto === null || typeof original !== "function") {
		reject();
		return;
	}
	const hadOwn = Object.hasOwn(proto, "channelOpenFail");
	proto.channelOpenFail = function (this: Ssh2Protocol, recipient: number) {
		// The description is what OpenSSH prints after "open failed: administratively prohibited:".
		return original.call(this, recipient, SSH_OPEN_ADMINISTRATIVELY_PROHIBITED, description);
	};
	try {
		reject();
	} finally {
		if (hadOwn) proto.channelOpenFail = original;
		else delete proto.channelOpenFail;
	}
}
