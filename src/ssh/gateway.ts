/**
 * The SSH gateway: TCP accept → limits → ssh2 transport (RFC 4253) → user authentication mapped
 * onto LoginFlow (authenticate.ts) → channels (channels.ts, owned by the relay work) only after
 * USERAUTH_SUCCESS.
 *
 * Robustness rules (security.md §6 "the process survives"): every socket and ssh2 connection has
 * an 'error' listener, every async path catches, and every limit ends with a clean disconnect.
 * TCP_NODELAY is set on every socket (stack.md §7: ~40 ms per round trip otherwise).
 */
import { createServer, type Server as NetServer, type Socket } from "node:net";
import ssh2 from "ssh2";
import { SshAuthenticator, type AuthOutcome } from "./authenticate.ts";
import type { AuthenticatedSsh, ChannelDeps } from "./authenticated-ssh.ts";
import { attachChannels as defaultAttachChannels } from "./channels.ts";
import { hostKeyPath, loadOrCreateHostKey } from "./host-key.ts";
import type { Random } from "../core/random.ts";
import { SSH_ALGORITHMS } from "./algorithms.ts";
import { ConnectionLimits, limitSettings, type ConnectionGuard, type LimitKind } from "./limits.ts";
import { LivePolicy } from "./live-policy.ts";
import { installProtocolGuard } from "./protocol-guard.ts";
import type { SshServices } from "./ssh-services.ts";
import { StartupDropAudit, type DropSummary } from "./startup-drop-audit.ts";

export type AttachChannels = (client: ssh2.Connection, session: AuthenticatedSsh, deps: ChannelDeps) => void;

export interface SshGatewayOptions {
	/** "HOST:PORT" ("[::1]:2222" for IPv6); port 0 picks a free port (tests). */
	readonly listen: string;
	/** Tests may pass a stand-in; production uses channels.ts. */
	readonly attachChannels?: AttachChannels;
	/** MaxStartups random early drop draws from this (default: the services' Random); tests make it deterministic. */
	readonly random?: Random;
}

export interface SshGateway {
	readonly address: { host: string; port: number };
	readonly hostKeyFingerprint: string;
	readonly hostPublicKey: string;
	/** Live-policy checker (tests call checkAll() to avoid waiting for the timer). */
	readonly livePolicy: LivePolicy;
	/** Current number of unauthenticated connections (MaxStartups accounting). */
	unauthenticatedCount(): number;
	close(): Promise<void>;
}

/** Settings key where the admin console reads the host key fingerprint. */
export const HOST_FINGERPRINT_SETTING = "ssh_host_fingerprint";
/** Identification string (RFC 4253 §4.2): "SSH-2.0-Portcullis". No version number, nothing to fingerprint. */
const IDENT = "Portcullis";
/** After sending SSH_MSG_DISCONNECT, how long a peer may take to close before the socket is destroyed. */
const DISCONNECT_LINGER_MS = 2000;
/** MaxStartups drops are audited at most once per source per this interval (startup-drop-audit.ts). */
const DROP_AUDIT_INTERVAL_MS = 60_000;

export function splitHostPort(listen: string): { host: string; port: number } {
	const colon = listen.lastIndexOf(":");
	return { host: listen.slice(0, colon).replace(/^\[(.*)\]$/, "$1"), port: Number(listen.slice(colon + 1)) };
}

interface ConnectionState {
	readonly id: string;
	readonly socket: Socket;
	readonly guard: ConnectionGuard;
	readonly sourceAddress: string;
	readonly startedAt: number;
	client: ssh2.Connection | null;
	authenticator: SshAuthenticator | null;
	outcome: AuthOutcome | null;
	closeReason: string | null;
	closed: boolean;
	readonly closeListeners: (() => void)[];
}

export async function startSshGateway(services: SshServices, options: SshGatewayOptions): Promise<SshGateway> {
	const hostKey = loadOrCreateHostKey(hostKeyPath(services.config));
	await services.publishHostKeyFingerprint(hostKey.fingerprint);

	const attach = options.attachChannels ?? defaultAttachChannels;
		const limits = new ConnectionLimits(limitSettings(services.config), options.random ?? services.random);
	const livePolicy = new LivePolicy(services);
	const dropAudit = new StartupDropAudit(DROP_AUDIT_INTERVAL_MS);
	const connections = new Map<string, ConnectionState>();
	const byPeer = new Map<string, ConnectionState>();
	let closing = false;

	const audit = (event: string, outcome: "success" | "failure" | "info", state: ConnectionState | null, detail: Record<string, unknown>, extra: { userId?: string; username?: string; method?: string | null } = {}) => {
		void services.audit
			.record({
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

	/** Sends DISCONNECT (when the transport is up) and destroys the socket if the peer lingers. */
	const endConnection = (state: ConnectionState, reason: string) => {
		if (state.closed) return;
		state.closeReason ??= reason;
		try {
			if (state.client) state.client.end();
			else state.socket.end();
		} catch {
			// Already torn down.
		}
		setTimeout(() => state.socket.destroy(), DISCONNECT_LINGER_MS).unref();
	};

	const auditDrops = (summary: DropSummary) => {
		const { start, rate, full } = limitSettings(services.config).maxStartups;
		void services.audit
			.record({
				event: "ssh.limit",
				outcome: "failure",
				userId: null,
				username: null,
				channel: "ssh",
				method: null,
				source: summary.source,
				detail: { limit: "max-startups", refused: summary.refused, ...summary.byReason, maxStartups: `${start}:${rate}:${full}`, perSource: services.config.ssh.per_source_max_startups },
			});
	};
	const dropFlush = setInterval(() => {
		for (const summary of dropAudit.flush(services.clock.now().getTime())) auditDrops(summary);
	}, DROP_AUDIT_INTERVAL_MS);
	dropFlush.unref();

	// Algorithms: src/ssh/algorithms.ts (no pre-authentication compression, ETM SHA-2 MACs only).
	const sshServer = new ssh2.Server({ hostKeys: [hostKey.privateKey], ident: IDENT, algorithms: SSH_ALGORITHMS }, (client, info) => {
		const state = byPeer.get(`${info.ip}|${info.port}`);
		if (state === undefined || state.closed || closing) {
			client.on("error", () => undefined);
			client.end();
			return;
		}
		state.client = client;
		// SERVICE_REQUEST required, protocol violations audited (protocol-guard.ts). Emitted after the
		// client's identification line, before ssh2 handles any packet of this connection.
		const guarded = installProtocolGuard(client, state.socket, (violation) => {
			state.closeReason ??= `protocol violation: ${violation.reason}`;
			audit(
				"ssh.protocol-violation",
				"failure",
				state,
				{ reason: violation.reason, requestedUsername: violation.requestedUsername, service: violation.service, method: violation.method },
				violation.username === null ? {} : { username: violation.username },
			);
			endConnection(state, `protocol violation: ${violation.reason}`);
		});
		if (!guarded) {
			// Fail closed: without the guard, USERAUTH_REQUEST would be accepted without SERVICE_REQUEST.
			client.on("error", () => undefined);
			endConnection(state, "ssh2 protocol guard unavailable");
			return;
		}
		// Malformed packets, resets, keepalive timeouts: ssh2 reports them here and closes; never rethrow.
		client.on("error", (error: Error & { level?: string }) => {
			state.closeReason ??= `error: ${String(error.message).slice(0, 120)}`;
		});
		const authenticator = new SshAuthenticator({
			services,
			connectionId: state.id,
			sourceAddress: state.sourceAddress,
			guard: state.guard,
			disconnect: (reason: string, limit?: LimitKind) => {
				if (limit !== undefined) audit("ssh.limit", "failure", state, { limit, authRequests: state.guard.authRequests });
				endConnection(state, reason);
			},
		});
		state.authenticator = authenticator;
		client.on("authentication", (ctx) => authenticator.handle(ctx));
		client.on("ready", () => {
			// Emitted synchronously inside ctx.accept(), which only authenticate.ts#grant calls.
			const outcome = authenticator.takeGranted();
			if (outcome === null || state.closed) {
				endConnection(state, "authenticated without an outcome");
				return;
			}
			state.guard.authenticated();
			state.outcome = outcome;
			const session = makeSession(state, outcome, services.clock.now().getTime());
			audit("ssh.authenticated", "success", state, { firstFactor: outcome.firstFactor, secondFactor: outcome.secondFactorMethod }, { userId: outcome.userId, username: outcome.username, method: outcome.secondFactorMethod });
			livePolicy.add(session);
			try {
				attach(client, session, { services, livePolicy });
			} catch (error) {
				endConnection(state, `channel setup failed: ${error instanceof Error ? error.message.slice(0, 100) : "unknown"}`);
			}
		});
	});
	sshServer.on("error", () => undefined);

	const makeSession = (state: ConnectionState, outcome: AuthOutcome, at: number): AuthenticatedSsh => ({
		connectionId: state.id,
		userId: outcome.userId,
		username: outcome.username,
		sourceAddress: state.sourceAddress,
		secondFactorMethod: outcome.secondFactorMethod,
		publicKeyFingerprint: outcome.publicKeyFingerprint,
		sessionEpoch: outcome.sessionEpoch,
		authenticatedAt: at,
		onClose(listener: () => void) {
			if (state.closed) {
				try {
					listener();
				} catch {
					// A listener's failure must not affect others.
				}
			} else state.closeListeners.push(listener);
		},
		close(reason: string) {
			endConnection(state, reason);
		},
	});

	const onSocket = (socket: Socket) => {
		socket.on("error", () => undefined);
		socket.setNoDelay(true);
		if (closing) {
			socket.destroy();
			return;
		}
		const sourceAddress = socket.remoteAddress ?? "unknown";
		let state: ConnectionState | null = null;
		const admission = limits.admit(sourceAddress, () => {
			if (state === null) return;
			audit("ssh.limit", "failure", state, { limit: "login-grace", graceSeconds: services.config.ssh.login_grace_seconds });
			endConnection(state, "login grace time exceeded");
		});
		if (!admission.admitted) {
			// MaxStartups / PerSourceMaxStartups: closed before any SSH work is done; audited as one
			// summary per source per minute (startup-drop-audit.ts), never one row per drop.
			const summary = dropAudit.record(admission.source, admission.reason, services.clock.now().getTime());
			if (summary !== null) auditDrops(summary);
			socket.destroy();
			return;
		}
		const guard = admission.guard;
		state = {
			id: services.random.bytes(8).toString("hex"),
			socket,
			guard,
			sourceAddress,
			startedAt: Date.now(),
			client: null,
			authenticator: null,
			outcome: null,
			closeReason: null,
			closed: false,
			closeListeners: [],
		};
		const current = state;
		const peerKey = `${socket.remoteAddress}|${socket.remotePort}`;
		connections.set(current.id, current);
		byPeer.set(peerKey, current);
		audit("ssh.connect", "info", current, { port: socket.remotePort });
		socket.once("close", () => {
			current.closed = true;
			guard.release();
			connections.delete(current.id);
			if (byPeer.get(peerKey) === current) byPeer.delete(peerKey);
			current.authenticator?.close();
			for (const listener of current.closeListeners.splice(0)) {
				try {
					listener();
				} catch {
					// Keep closing the others.
				}
			}
			const outcome = current.outcome;
			audit(
				"ssh.disconnect",
				"info",
				current,
				{ reason: current.closeReason ?? "closed by client", authenticated: outcome !== null, durationMs: Date.now() - current.startedAt },
				outcome ? { userId: outcome.userId, username: outcome.username, method: outcome.secondFactorMethod } : {},
			);
		});
		try {
			sshServer.injectSocket(socket);
		} catch {
			socket.destroy();
		}
	};

	const netServer: NetServer = createServer({ noDelay: true }, onSocket);
	netServer.on("error", () => undefined);
	const { host, port } = splitHostPort(options.listen);
	await new Promise<void>((resolve, reject) => {
		const onError = (error: Error) => reject(error);
		netServer.once("error", onError);
		netServer.listen({ host, port }, () => {
			netServer.off("error", onError);
			resolve();
		});
	});
	const bound = netServer.address();
	const address = typeof bound === "object" && bound !== null ? { host: bound.address, port: bound.port } : { host, port };

	return {
		address,
		hostKeyFingerprint: hostKey.fingerprint,
		hostPublicKey: hostKey.publicKey,
		livePolicy,
		unauthenticatedCount: () => limits.unauthenticated,
		async close() {
			if (closing) return;
			closing = true;
			livePolicy.stop();
			clearInterval(dropFlush);
			for (const summary of dropAudit.flush(services.clock.now().getTime(), true)) auditDrops(summary);
			const closed = new Promise<void>((resolve) => netServer.close(() => resolve()));
			for (const state of [...connections.values()]) {
				endConnection(state, "gateway shutting down");
				// Shutdown does not linger: the database closes right after this.
				state.socket.destroy();
			}
			await closed;
		},
	};
}
