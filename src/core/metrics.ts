/**
 * The metrics port: what the flows, the storage and the adapters report, with no knowledge of how
 * it is exposed. The Prometheus implementation (prom-client) lives in the composition root
 * (src/app/prometheus-metrics.ts) and is served by the operations listener (`/metrics`,
 * src/web/ops-server.ts); everything else gets `noMetrics` unless it is handed one.
 *
 * Label values are closed sets (channel, method id, outcome, decision kind, stage), never a user
 * name, an address or free text, so the number of series stays bounded (docs/operations.md "Metrics").
 */

/** A finished login attempt, as its audit event says (storage/audit-metrics.ts maps one to the other). */
export type LoginOutcome = "success" | "failure" | "denied" | "error";

/**
 * Relay byte counts, plain numbers that the relay adds to on every chunk (no call, no label lookup
 * on the hot path) and the exporter reads when it is scraped.
 */
export interface RelayBytes {
	/** From the user to the target (what the user typed or uploaded). */
	toTarget: number;
	/** From the target to the user (output). */
	toClient: number;
}

export interface Metrics {
	/** One login attempt ended: channel (web, ssh), the second-factor method (or "none", "password"), outcome. */
	login(channel: string, method: string, outcome: LoginOutcome): void;
	/** An account was locked; `counter` says which one ("password", "second-factor"). */
	lockout(counter: string): void;
	/** The 2FA policy decided a login (decide-second-factor.ts kinds: challenge, not-required, …). */
	policyDecision(channel: string, kind: string): void;
	/** A session recording could not be written (stage: start, write, visit); the session may go on. */
	recordingFailure(stage: string): void;
	/** One database statement took `ms` milliseconds. */
	databaseQuery(ms: number): void;
	/** SSH connections (authenticated or not) open now: +1 on accept, -1 on close. */
	sshConnections(delta: 1 | -1): void;
	/** SSH channels open now by type (session, direct-tcpip): +1 when accepted, -1 when closed. */
	sshChannels(type: string, delta: 1 | -1): void;
	readonly relayBytes: RelayBytes;
}

/** For tests and commands that do not export metrics: every report is dropped. */
export function createNoMetrics(): Metrics {
	return {
		login: () => undefined,
		lockout: () => undefined,
		policyDecision: () => undefined,
		recordingFailure: () => undefined,
		databaseQuery: () => undefined,
		sshConnections: () => undefined,
		sshChannels: () => undefined,
		relayBytes: { toTarget: 0, toClient: 0 },
	};
}
