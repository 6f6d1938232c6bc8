/**
 * What the gateway does with each accepted socket (admission, bookkeeping, close) and with each
 * ssh2 connection (protocol guard, authentication, channels after USERAUTH_SUCCESS). Split out
 * of startSshGateway; the rules are unchanged, see gateway.ts.
 */
import { coalesceWrites } from "./coalesce-writes.ts";
import type { Socket } from "node:net";
import type ssh2 from "ssh2";
import { SshAuthenticator } from "./authenticate.ts";
import type { AuthenticatedSsh, ChannelDeps } from "./authenticated-ssh.ts";
import { auditDrops, endConnection, makeSession, type ConnectionState, type GatewayAuditFn } from "./gateway-connection.ts";
import type { ConnectionLimits, LimitKind } from "./limits.ts";
import type { LivePolicy } from "./live-policy.ts";
import type { LiveRegistry } from "./live-registry.ts";
import { installProtocolGuard } from "./protocol-guard.ts";
import { readProxyHeader } from "./proxy-header.ts";
import type { SshServices } from "./ssh-services.ts";
import type { StartupDropAudit } from "./startup-drop-audit.ts";

export type AttachChannels = (client: ssh2.Connection, session: AuthenticatedSsh, deps: ChannelDeps) => void;

/** The gateway-wide state each connection handler works with. */
export interface GatewayContext {
	readonly services: SshServices;
	readonly attach: AttachChannels;
	readonly limits: ConnectionLimits;
	readonly livePolicy: LivePolicy;
	/** This node's connections in the shared live-session registry (list and terminate from any node). */
	readonly registry: LiveRegistry;
	readonly dropAudit: StartupDropAudit;
	readonly connections: Map<string, ConnectionState>;
	readonly byPeer: Map<string, ConnectionState>;
	readonly audit: GatewayAuditFn;
	isClosing(): boolean;
	/** True for a peer in `ssh.trusted_proxies`: its connections start with a PROXY protocol header. */
	isTrustedProxy(address: string | undefined): boolean;
	/** Sockets from a trusted proxy whose header has not arrived yet (destroyed on shutdown). */
	readonly awaitingProxyHeader: Set<Socket>;
}

/** ssh2's connection callback: the transport is up for a socket acceptSocket admitted. */
export function attachClient(gateway: GatewayContext, client: ssh2.Connection, info: ssh2.ClientInfo): void {
	const { services, audit, livePolicy } = gateway;
	const state = gateway.byPeer.get(`${info.ip}|${info.port}`);
	if (state === undefined || state.closed || gateway.isClosing()) {
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
		// With ssh.pq_only a classical-only client fails here (RFC 4253 §7.1: no common method); say why.
		const refusedClassical = services.config.ssh.pq_only && /no matching key exchange/i.test(String(error.message));
		state.closeReason ??= refusedClassical
			? "refused: the client offers no post-quantum key exchange (ssh.pq_only)"
			: `error: ${String(error.message).slice(0, 120)}`;
	});
	// Which key exchange protected this login (post-quantum or not) goes into the audit trail.
	client.on("handshake", (negotiated: { kex?: string }) => {
		state.kex = typeof negotiated.kex === "string" ? negotiated.kex.slice(0, 64) : null;
	});
	const authenticator = new SshAuthenticator({
		services,
		connectionId: state.id,
		sourceAddress: state.sourceAddress,
		guard: state.guard,
		disconnect: (reason: string, limit?: LimitKind, userMessage?: string) => {
			if (limit !== undefined) audit("ssh.limit", "failure", state, { limit, authRequests: state.guard.authRequests });
			endConnection(state, reason, userMessage);
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
		audit(
			"ssh.authenticated",
			"success",
			state,
			{ firstFactor: outcome.firstFactor, secondFactor: outcome.secondFactorMethod, kex: state.kex },
			{ userId: outcome.userId, username: outcome.username, method: outcome.secondFactorMethod },
		);
		livePolicy.add(session);
		const method = outcome.secondFactorMethod;
		const liveSession = gateway.registry.open(session, {
			firstFactor: outcome.firstFactor,
			secondFactor: method === null ? "not-required" : outcome.secondFactorRemembered === true ? `remembered:${method}` : method,
			secondFactorNote: method === null ? (outcome.secondFactorWaiver ?? "policy") : "",
			terminate: (message) => endConnection(state, "terminated by an administrator", message),
		});
		try {
			gateway.attach(client, session, { services, livePolicy, liveSession });
		} catch (error) {
			endConnection(state, `channel setup failed: ${error instanceof Error ? error.message.slice(0, 100) : "unknown"}`);
		}
	});
}

/**
 * A new TCP connection. From a trusted proxy (`ssh.trusted_proxies`) the PROXY protocol header is
 * read first and names the client (proxy-header.ts); then the same path as a direct connection.
 */
export function acceptSocket(gateway: GatewayContext, socket: Socket, sshServer: ssh2.Server): void {
	socket.on("error", () => undefined);
	socket.setNoDelay(true);
	coalesceWrites(socket);
	if (gateway.isClosing()) {
		socket.destroy();
		return;
	}
	if (!gateway.isTrustedProxy(socket.remoteAddress)) return admitSocket(gateway, socket, sshServer, socket.remoteAddress ?? "unknown", null);
	gateway.awaitingProxyHeader.add(socket);
	void readProxyHeader(socket, gateway.services.config.ssh.login_grace_seconds * 1000).then((read) => {
		gateway.awaitingProxyHeader.delete(socket);
		if (!read.ok) {
			void gateway.services.audit.record({
				event: "ssh.proxy-header-refused",
				outcome: "failure",
				channel: "ssh",
				source: socket.remoteAddress ?? "unknown",
				detail: { reason: read.reason, proxy: socket.remoteAddress ?? "unknown" },
			});
			socket.destroy();
			return;
		}
		if (gateway.isClosing() || socket.destroyed) {
			socket.destroy();
			return;
		}
		// No client address in the header (LOCAL, UNKNOWN): "unknown" is outside every trusted network.
		admitSocket(gateway, socket, sshServer, read.source ?? "unknown", { proxy: socket.remoteAddress ?? "unknown", version: read.version });
	});
}

/** Limits first (MaxStartups, LoginGraceTime), then bookkeeping, then ssh2. */
function admitSocket(
	gateway: GatewayContext,
	socket: Socket,
	sshServer: ssh2.Server,
	sourceAddress: string,
	proxied: { readonly proxy: string; readonly version: 1 | 2 } | null,
): void {
	const { services, audit } = gateway;
	let state: ConnectionState | null = null;
	const admission = gateway.limits.admit(sourceAddress, () => {
		if (state === null) return;
		audit("ssh.limit", "failure", state, { limit: "login-grace", graceSeconds: services.config.ssh.login_grace_seconds });
		endConnection(state, "login grace time exceeded");
	});
	if (!admission.admitted) {
		// MaxStartups / PerSourceMaxStartups: closed before any SSH work is done; audited as one
		// summary per source per minute (startup-drop-audit.ts), never one row per drop.
		const summary = gateway.dropAudit.record(admission.source, admission.reason, services.clock.now().getTime());
		if (summary !== null) auditDrops(services, summary);
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
		kex: null,
		closed: false,
		closeListeners: [],
		noticeListeners: new Set(),
	};
	const current = state;
	const peerKey = `${socket.remoteAddress}|${socket.remotePort}`;
	gateway.connections.set(current.id, current);
	gateway.byPeer.set(peerKey, current);
	services.metrics.sshConnections(1);
	audit("ssh.connect", "info", current, { port: socket.remotePort, ...(proxied === null ? {} : { via: proxied.proxy, proxyProtocol: proxied.version }) });
	socket.once("close", () => {
		current.closed = true;
		guard.release();
		gateway.connections.delete(current.id);
		services.metrics.sshConnections(-1);
		if (gateway.byPeer.get(peerKey) === current) gateway.byPeer.delete(peerKey);
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
}
