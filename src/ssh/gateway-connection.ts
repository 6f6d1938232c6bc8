/**
 * One TCP connection of the gateway, from accept to close, and what is written about it: the
 * per-connection state, the clean disconnect, the AuthenticatedSsh handed to channels, and the
 * gateway's audit events (split out of startSshGateway).
 */
import type { Socket } from "node:net";
import type ssh2 from "ssh2";
import type { AuthOutcome, SshAuthenticator } from "./authenticate.ts";
import type { AuthenticatedSsh } from "./authenticated-ssh.ts";
import { limitSettings, type ConnectionGuard } from "./limits.ts";
import type { SshServices } from "./ssh-services.ts";
import type { DropSummary } from "./startup-drop-audit.ts";
import { disconnectWithMessage } from "./disconnect-message.ts";

/** After sending SSH_MSG_DISCONNECT, how long a peer may take to close before the socket is destroyed. */
const DISCONNECT_LINGER_MS = 2000;

export interface ConnectionState {
	readonly id: string;
	readonly socket: Socket;
	readonly guard: ConnectionGuard;
	readonly sourceAddress: string;
	readonly startedAt: number;
	client: ssh2.Connection | null;
	authenticator: SshAuthenticator | null;
	outcome: AuthOutcome | null;
	closeReason: string | null;
	/** Key exchange method of the last completed handshake (audited with ssh.authenticated). */
	kex: string | null;
	closed: boolean;
	readonly closeListeners: (() => void)[];
	/** Open shells and menus that a notice (the node is stopping) is written to. */
	readonly noticeListeners: Set<(text: string) => void>;
}

/** Writes `text` to every open shell and menu of the connection (graceful stop). */
export function noticeConnection(state: ConnectionState, text: string): void {
	for (const listener of [...state.noticeListeners]) {
		try {
			listener(text);
		} catch {
			// A channel that closed meanwhile; the others still get the notice.
		}
	}
}

/**
 * Sends DISCONNECT (when the transport is up) and destroys the socket if the peer lingers.
 * `userMessage`, when given, is the DISCONNECT description the client prints (disconnect-message.ts).
 */
export function endConnection(state: ConnectionState, reason: string, userMessage?: string): void {
	if (state.closed) return;
	state.closeReason ??= reason;
	try {
		if (state.client && userMessage !== undefined) disconnectWithMessage(state.client, userMessage);
		else if (state.client) state.client.end();
		else state.socket.end();
	} catch {
		// Already torn down.
	}
	setTimeout(() => state.socket.destroy(), DISCONNECT_LINGER_MS).unref();
}

/** The authenticated connection as channels.ts and the live policy see it. */
export function makeSession(state: ConnectionState, outcome: AuthOutcome, at: number): AuthenticatedSsh {
	return {
		connectionId: state.id,
		userId: outcome.userId,
		username: outcome.username,
		sourceAddress: state.sourceAddress,
		secondFactorMethod: outcome.secondFactorMethod,
		secondFactorRemembered: outcome.secondFactorRemembered === true,
		publicKeyFingerprint: outcome.publicKeyFingerprint,
		sessionEpoch: outcome.sessionEpoch,
		authenticatedAt: at,
		kex: state.kex,
		boundServer: outcome.boundServer ?? null,
		onClose(listener: () => void) {
			if (state.closed) {
				try {
					listener();
				} catch {
					// A listener's failure must not affect others.
				}
			} else state.closeListeners.push(listener);
		},
		close(reason: string, userMessage?: string) {
			endConnection(state, reason, userMessage);
		},
		onNotice(listener: (text: string) => void) {
			state.noticeListeners.add(listener);
			return () => state.noticeListeners.delete(listener);
		},
	};
}

export type GatewayAuditFn = (
	event: string,
	outcome: "success" | "failure" | "info",
	state: ConnectionState | null,
	detail: Record<string, unknown>,
	extra?: { userId?: string; username?: string; method?: string | null },
) => void;

/** Connection events; a failed write is logged and counted by AuditLog.record, never swallowed. */
export function gatewayAudit(services: Pick<SshServices, "audit">): GatewayAuditFn {
	return (event, outcome, state, detail, extra = {}) => {
		void services.audit.record({
			event,
			outcome,
			userId: extra.userId ?? null,
			username: extra.username ?? null,
			channel: "ssh",
			method: extra.method ?? null,
			source: state?.sourceAddress ?? null,
			detail: state ? { connectionId: state.id, ...detail } : detail,
		});
	};
}

/** One summary row per source and interval for MaxStartups drops (startup-drop-audit.ts). */
export function auditDrops(services: Pick<SshServices, "audit" | "config">, summary: DropSummary): void {
	const { start, rate, full } = limitSettings(services.config).maxStartups;
	void services.audit.record({
		event: "ssh.limit",
		outcome: "failure",
		userId: null,
		username: null,
		channel: "ssh",
		method: null,
		source: summary.source,
		detail: {
			limit: "max-startups",
			refused: summary.refused,
			...summary.byReason,
			maxStartups: `${start}:${rate}:${full}`,
			perSource: services.config.ssh.per_source_max_startups,
		},
	});
}
