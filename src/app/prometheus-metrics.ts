/**
 * The Prometheus implementation of the metrics port (src/core/metrics.ts), with prom-client and a
 * registry of its own (never prom-client's global one, so two apps in one test process do not
 * share counters). Built by the composition root when `portcullis serve` runs the operations
 * listener, and served there as `/metrics` (src/web/ops-server.ts). Names and labels:
 * docs/operations.md "Metrics".
 *
 * What moves on a hot path is a plain number: relay bytes are added to `relayBytes` by the relay
 * and copied into their counter when Prometheus scrapes; active web sessions (one indexed count in
 * the shared database) and audit write failures (AuditLog's own count) are read at scrape too.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { LoginOutcome, Metrics, RelayBytes } from "../core/metrics.ts";

/** Read when scraped. */
export interface ScrapeSources {
	/** Live web sessions in the shared database (the same figure on every node). */
	activeWebSessions(): Promise<number>;
	/** Audit writes that failed since this process started (AuditLog.failedWrites). */
	auditWriteFailures(): number;
}

export interface MetricsScrape {
	readonly contentType: string;
	readonly body: string;
}

export class PrometheusMetrics implements Metrics {
	readonly registry = new Registry();
	readonly relayBytes: RelayBytes = { toTarget: 0, toClient: 0 };
	#sources: ScrapeSources | null = null;
	readonly #logins: Counter<"channel" | "method" | "outcome">;
	readonly #lockouts: Counter<"counter">;
	readonly #decisions: Counter<"channel" | "kind">;
	readonly #recordingFailures: Counter<"stage">;
	readonly #database: Histogram;
	readonly #sshConnections: Gauge;
	readonly #sshChannels: Gauge<"type">;

	constructor() {
		const registers = [this.registry];
		// Process figures (CPU, resident memory, heap, event-loop lag, open handles) under their usual names.
		collectDefaultMetrics({ register: this.registry });
		this.#logins = new Counter({
			name: "portcullis_logins_total",
			help: "Finished login attempts by channel, second-factor method (none: not asked; password: refused at the password) and outcome (success, failure, denied, error).",
			labelNames: ["channel", "method", "outcome"],
			registers,
		});
		this.#lockouts = new Counter({
			name: "portcullis_lockouts_total",
			help: "Accounts locked, by counter (password, second-factor).",
			labelNames: ["counter"],
			registers,
		});
		this.#decisions = new Counter({
			name: "portcullis_policy_decisions_total",
			help: "2FA policy decisions made for logins, by channel and kind (challenge, not-required, remembered, enroll, enroll-nudge, …).",
			labelNames: ["channel", "kind"],
			registers,
		});
		this.#recordingFailures = new Counter({
			name: "portcullis_recording_failures_total",
			help: "Session recordings that could not be written, by stage (start, write, visit).",
			labelNames: ["stage"],
			registers,
		});
		this.#database = new Histogram({
			name: "portcullis_database_query_duration_seconds",
			help: "Duration of each database statement.",
			buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15],
			registers,
		});
		this.#sshConnections = new Gauge({
			name: "portcullis_ssh_connections_active",
			help: "SSH connections open on this node (authenticated or not).",
			registers,
		});
		this.#sshChannels = new Gauge({
			name: "portcullis_ssh_channels_active",
			help: "SSH channels open on this node, by type (session, direct-tcpip).",
			labelNames: ["type"],
			registers,
		});
		// Series of the closed label sets start at 0, so a rate() or an alert sees them before the first event.
		for (const counter of ["password", "second-factor"]) this.#lockouts.inc({ counter }, 0);
		for (const stage of ["start", "write", "visit"]) this.#recordingFailures.inc({ stage }, 0);
		for (const type of ["session", "direct-tcpip"]) this.#sshChannels.set({ type }, 0);
		this.#sshConnections.set(0);
		const relayBytes = this.relayBytes;
		new Counter({
			name: "portcullis_relay_bytes_total",
			help: "Bytes relayed between users and targets, by direction (to_target, to_client).",
			labelNames: ["direction"],
			registers,
			collect() {
				this.reset();
				this.inc({ direction: "to_target" }, relayBytes.toTarget);
				this.inc({ direction: "to_client" }, relayBytes.toClient);
			},
		});
		const sources = () => this.#sources;
		new Gauge({
			name: "portcullis_web_sessions_active",
			help: "Live web console sessions in the shared database (all nodes).",
			registers,
			async collect() {
				const from = sources();
				if (from === null) return;
				try {
					this.set(await from.activeWebSessions());
				} catch {
					// The database is down: the scrape still answers (with the last figure), since the
					// outage is exactly when the other metrics matter; /readyz says the database is down.
				}
			},
		});
		new Counter({
			name: "portcullis_audit_write_failures_total",
			help: "Audit events this node could not write (each also logged at error level).",
			registers,
			collect() {
				const from = sources();
				this.reset();
				if (from !== null) this.inc(from.auditWriteFailures());
			},
		});
	}

	/** The figures read at scrape time, once the stores exist (composition root). */
	bind(sources: ScrapeSources): void {
		this.#sources = sources;
	}

	login(channel: string, method: string, outcome: LoginOutcome): void {
		this.#logins.inc({ channel, method, outcome });
	}

	lockout(counter: string): void {
		this.#lockouts.inc({ counter });
	}

	policyDecision(channel: string, kind: string): void {
		this.#decisions.inc({ channel, kind });
	}

	recordingFailure(stage: string): void {
		this.#recordingFailures.inc({ stage });
	}

	databaseQuery(ms: number): void {
		this.#database.observe(ms / 1000);
	}

	sshConnections(delta: 1 | -1): void {
		this.#sshConnections.inc(delta);
	}

	sshChannels(type: string, delta: 1 | -1): void {
		this.#sshChannels.inc({ type }, delta);
	}

	/** The text exposition format; a source that fails (the database is down) fails the scrape. */
	async scrape(): Promise<MetricsScrape> {
		return { contentType: this.registry.contentType, body: await this.registry.metrics() };
	}
}
