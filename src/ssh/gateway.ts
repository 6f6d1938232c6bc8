/**
 * The SSH gateway: TCP accept → limits → ssh2 transport (RFC 4253) → user authentication mapped
 * onto LoginFlow (authenticate.ts) → channels (channels.ts, owned by the relay work) only after
 * USERAUTH_SUCCESS.
 *
 * Robustness rules (docs/threat-model.md, Bad input: "the process survives"): every socket and ssh2 connection has
 * an 'error' listener, every async path catches, and every limit ends with a clean disconnect.
 * TCP_NODELAY is set on every socket (docs/dependencies.md, Relay behaviour: ~40 ms per round trip otherwise).
 */
import { createServer, type Server as NetServer } from "node:net";
import ssh2 from "ssh2";
import type { Random } from "../core/random.ts";
import { serverAlgorithms } from "./algorithms.ts";
import { attachChannels as defaultAttachChannels } from "./channels.ts";
import { acceptSocket, attachClient, type GatewayContext } from "./gateway-client.ts";
import { trustedProxyMatcher } from "./proxy-header.ts";
import { auditDrops, endConnection, gatewayAudit, noticeConnection, type ConnectionState } from "./gateway-connection.ts";
import { hostKeyPath, loadOrCreateHostKey } from "./host-key.ts";
import { ConnectionLimits, limitSettings } from "./limits.ts";
import { LivePolicy } from "./live-policy.ts";
import { LiveRegistry } from "./live-registry.ts";
import type { SshServices } from "./ssh-services.ts";
import { StartupDropAudit } from "./startup-drop-audit.ts";

export type { AttachChannels } from "./gateway-client.ts";

export interface SshGatewayOptions {
	/** "HOST:PORT" ("[::1]:2222" for IPv6); port 0 picks a free port (tests). */
	readonly listen: string;
	/** Tests may pass a stand-in; production uses channels.ts. */
	readonly attachChannels?: GatewayContext["attach"];
	/** MaxStartups random early drop draws from this (default: the services' Random); tests make it deterministic. */
	readonly random?: Random;
}

export interface SshGateway {
	readonly address: { host: string; port: number };
	readonly hostKeyFingerprint: string;
	readonly hostPublicKey: string;
	/** Live-policy checker (tests call checkAll() to avoid waiting for the timer). */
	readonly livePolicy: LivePolicy;
	/** This node in the live-session registry (tests call flush() and poll() to skip the timers). */
	readonly liveRegistry: LiveRegistry;
	/** Current number of unauthenticated connections (MaxStartups accounting). */
	unauthenticatedCount(): number;
	/** Open connections (authenticated or not). */
	connectionCount(): number;
	/**
	 * Graceful stop, first half: stops accepting, writes `notice` to every open shell and menu, and
	 * waits until every connection has ended or `deadlineMs` passed. Logins in progress may finish.
	 * Returns how many connections were still open at the deadline (close() ends them).
	 */
	drain(deadlineMs: number, notice: string): Promise<number>;
	close(): Promise<void>;
}

/** The DISCONNECT description of connections still open when the gateway closes. */
export const SHUTDOWN_MESSAGE = "Portcullis: this node is restarting; connect again to continue";

/** Settings key where the admin console reads the host key fingerprint. */
export const HOST_FINGERPRINT_SETTING = "ssh_host_fingerprint";
/** Identification string (RFC 4253 §4.2): "SSH-2.0-Portcullis". No version number, nothing to fingerprint. */
const IDENT = "Portcullis";
/** MaxStartups drops are audited at most once per source per this interval (startup-drop-audit.ts). */
const DROP_AUDIT_INTERVAL_MS = 60_000;

export function splitHostPort(listen: string): { host: string; port: number } {
	const colon = listen.lastIndexOf(":");
	return { host: listen.slice(0, colon).replace(/^\[(.*)\]$/, "$1"), port: Number(listen.slice(colon + 1)) };
}

export async function startSshGateway(services: SshServices, options: SshGatewayOptions): Promise<SshGateway> {
	const hostKey = loadOrCreateHostKey(hostKeyPath(services.config));
	await services.publishHostKeyFingerprint(hostKey.fingerprint);

	const connections = new Map<string, ConnectionState>();
	let closing = false;
	const registry = new LiveRegistry(services, {
		pollMs: services.config.ssh.policy_poll_ms,
		...(services.config.ssh.node_name !== "" ? { nodeName: services.config.ssh.node_name } : {}),
	});
	await registry.start();
	const gateway: GatewayContext = {
		services,
		attach: options.attachChannels ?? defaultAttachChannels,
		limits: new ConnectionLimits(limitSettings(services.config), options.random ?? services.random),
		livePolicy: new LivePolicy(services),
		registry,
		dropAudit: new StartupDropAudit(DROP_AUDIT_INTERVAL_MS),
		connections,
		byPeer: new Map<string, ConnectionState>(),
		audit: gatewayAudit(services),
		isClosing: () => closing,
		isTrustedProxy: trustedProxyMatcher(services.config.ssh.trusted_proxies),
		awaitingProxyHeader: new Set(),
	};
	const { limits, livePolicy, dropAudit } = gateway;
	const dropFlush = setInterval(() => {
		for (const summary of dropAudit.flush(services.clock.now().getTime())) auditDrops(services, summary);
	}, DROP_AUDIT_INTERVAL_MS);
	dropFlush.unref();

	// Algorithms: src/ssh/algorithms.ts (ssh.kex with ML-KEM first, no pre-authentication compression, ETM SHA-2 MACs only).
	const algorithms = serverAlgorithms(services.config);
	const sshServer = new ssh2.Server({ hostKeys: [hostKey.privateKey], ident: IDENT, algorithms }, (client, info) => attachClient(gateway, client, info));
	sshServer.on("error", () => undefined);

	const netServer: NetServer = createServer({ noDelay: true }, (socket) => acceptSocket(gateway, socket, sshServer));
	netServer.on("error", () => undefined);
	const { host, port } = splitHostPort(options.listen);
	try {
		await new Promise<void>((resolve, reject) => {
			const onError = (error: Error) => reject(error);
			netServer.once("error", onError);
			netServer.listen({ host, port }, () => {
				netServer.off("error", onError);
				resolve();
			});
		});
	} catch (error) {
		// Not listening: this node holds no connection, so it leaves the live-session registry at once.
		clearInterval(dropFlush);
		await registry.stop();
		throw error;
	}
	const bound = netServer.address();
	const address = typeof bound === "object" && bound !== null ? { host: bound.address, port: bound.port } : { host, port };

	const listenerClosed = new Promise<void>((resolve) => netServer.once("close", () => resolve()));
	const stopListening = () => {
		if (netServer.listening) netServer.close();
	};
	const allClosed = (deadline: number) =>
		new Promise<void>((resolve) => {
			const check = () => {
				if (connections.size === 0 || Date.now() >= deadline) resolve();
				else setTimeout(check, 50).unref();
			};
			check();
		});

	return {
		address,
		hostKeyFingerprint: hostKey.fingerprint,
		hostPublicKey: hostKey.publicKey,
		livePolicy,
		liveRegistry: registry,
		unauthenticatedCount: () => limits.unauthenticated,
		connectionCount: () => connections.size,
		async drain(deadlineMs: number, notice: string) {
			stopListening();
			for (const state of connections.values()) noticeConnection(state, notice);
			await allClosed(Date.now() + deadlineMs);
			return connections.size;
		},
		async close() {
			if (closing) return;
			closing = true;
			stopListening();
			livePolicy.stop();
			clearInterval(dropFlush);
			for (const summary of dropAudit.flush(services.clock.now().getTime(), true)) auditDrops(services, summary);
			for (const state of [...connections.values()]) endConnection(state, "gateway shutting down", SHUTDOWN_MESSAGE);
			// Connections from a trusted proxy still waiting for their PROXY header are not in `connections` yet.
			for (const socket of [...gateway.awaitingProxyHeader]) socket.destroy();
			// Each socket is destroyed at most DISCONNECT_LINGER_MS after its DISCONNECT, so this is
			// bounded; waiting lets channel close handlers (recordings, audit) run before the database closes.
			await allClosed(Date.now() + 5000);
			for (const state of [...connections.values()]) state.socket.destroy();
			// This node's rows leave the live-session list (a node that dies instead is cleaned up by the others).
			await registry.stop();
			await listenerClosed;
		},
	};
}
