/**
 * Live policy for SSH connections (docs/product-decisions.md "Policy changes bite at once", docs/threat-model.md I7,
 * docs/security-matrix.md P1-P4; docs/threat-model.md, Attacks found by review: "Slow revocation").
 *
 * - New work is gated: channels.ts calls gate() before it accepts a channel open, runs an exec,
 *   shell or subsystem, opens a direct-tcpip forward or answers a global request. One indexed
 *   read (flows/session-gate.ts) shows whether the policy version or the user's revocation state
 *   changed since the connection last passed the full check; if so the full check runs first.
 * - Live connections are polled: every ssh.policy_poll_ms the node reads the policy version and
 *   the revocation state of all its connected users in one query, and runs the full check for
 *   every connection whose inputs changed; relays to a server no longer granted to the user are
 *   closed (grant removal). Every ssh.live_check_seconds every connection runs the full check
 *   anyway (the backstop for what no version records, e.g. a lock that expires by time).
 *
 * "revoked" (user disabled, deleted, locked, sessions revoked, or the public key the connection
 * logged in with removed) or "step-up" (the policy now demands a second factor this connection did
 * not prove) closes the connection. A failing check (database down) also closes it: fail closed
 * (Decision 10).
 */
import { relayMayContinue } from "../flows/server-step-up.ts";
import { SessionGate } from "../flows/session-gate.ts";
import type { ServerService } from "../servers/server-service.ts";
import type { PolicySnapshot } from "../storage/policy-version-store.ts";
import type { AuthenticatedSsh } from "./authenticated-ssh.ts";
import type { SshServices } from "./ssh-services.ts";

type Verdict = "ok" | "revoked" | "step-up" | "error";

const STEP_UP_MESSAGE = "Portcullis: the 2FA policy now requires a second factor for this connection. Log in again.";
const CHECK_FAILED_MESSAGE = "Portcullis: your access could not be checked right now, so this connection was closed. Try again later.";
const REVOKED_MESSAGE = "Portcullis: your access was revoked.";

interface Evaluation {
	readonly verdict: Verdict;
	/** The policy version the verdict holds for; null when it could not be read. */
	readonly version: number | null;
	/** The full check ran (after a change): grants of open relays must be checked too. */
	readonly full: boolean;
}

interface TrackedRelay {
	readonly serverId: string;
	readonly close: () => void;
}

export interface LivePolicyOptions {
	/** Full check of every connection (ssh.live_check_seconds). */
	readonly intervalMs?: number;
	/** Version / revocation-state poll (ssh.policy_poll_ms). */
	readonly pollMs?: number;
}

export class LivePolicy {
	readonly #sessions = new Set<AuthenticatedSsh>();
	/** Policy version at which each connection last passed the full check. */
	readonly #checked = new WeakMap<AuthenticatedSsh, number>();
	readonly #relays = new Map<AuthenticatedSsh, Set<TrackedRelay>>();
	readonly #gate: SessionGate;
	readonly #servers: ServerService;
	readonly #pollMs: number;
	/** Polls between two full checks of every connection. */
	readonly #fullEvery: number;
	#ticks = 0;
	#timer: NodeJS.Timeout | null = null;
	#running = false;

	constructor(
		private readonly services: SshServices,
		options: LivePolicyOptions = {},
	) {
		const intervalMs = options.intervalMs ?? services.config.ssh.live_check_seconds * 1000;
		this.#pollMs = Math.min(options.pollMs ?? services.config.ssh.policy_poll_ms, intervalMs);
		this.#fullEvery = Math.max(1, Math.round(intervalMs / this.#pollMs));
		this.#gate = new SessionGate({ login: services.login, policyVersion: services.policyVersion, clock: services.clock });
		this.#servers = services.servers;
	}

	get size(): number {
		return this.#sessions.size;
	}

	add(session: AuthenticatedSsh): void {
		this.#sessions.add(session);
		session.onClose(() => {
			this.#sessions.delete(session);
			this.#relays.delete(session);
		});
		if (this.#timer === null) {
			this.#timer = setInterval(() => void this.poll(), this.#pollMs);
			this.#timer.unref();
		}
	}

	/**
	 * Before new work on a connection: true when it may go ahead. When not, the connection is
	 * closed (and audited) before this resolves. Never throws.
	 */
	async gate(session: AuthenticatedSsh): Promise<boolean> {
		if (!this.#sessions.has(session)) return false;
		const verdict = await this.#settle(session, await this.#evaluate(session));
		return verdict === "ok" && this.#sessions.has(session);
	}

	/**
	 * A relay (session channel or direct-tcpip forward) to a server: closed when a later check finds
	 * the server no longer granted to the user. Returns the function that stops tracking it.
	 */
	trackRelay(session: AuthenticatedSsh, serverId: string, close: () => void): () => void {
		const entry: TrackedRelay = { serverId, close };
		let set = this.#relays.get(session);
		if (set === undefined) {
			set = new Set();
			this.#relays.set(session, set);
		}
		set.add(entry);
		return () => void this.#relays.get(session)?.delete(entry);
	}

	/**
	 * One poll: one query for the version and the revocation state of every connected user, then
	 * the full check for the connections whose inputs changed (all of them every live_check_seconds).
	 * Overlapping passes are skipped. Never throws.
	 */
	async poll(): Promise<void> {
		if (this.#running || this.#sessions.size === 0) return this.#stopWhenIdle();
		this.#ticks += 1;
		const full = this.#ticks >= this.#fullEvery;
		if (full) this.#ticks = 0;
		await this.#pass(full);
	}

	/** Full check of every live connection now (and of the grants of their relays). */
	async checkAll(): Promise<void> {
		await this.#pass(true);
	}

	/** Checks one connection now and closes it when it may not continue. */
	async check(session: AuthenticatedSsh): Promise<Verdict> {
		return this.#settle(session, await this.#evaluate(session, undefined, true));
	}

	/**
	 * Connections with the same (user, epoch, method, key) share one evaluation per pass: a user
	 * with many tunnels costs one check, not one per connection.
	 */
	async #pass(full: boolean): Promise<void> {
		if (this.#running) return;
		this.#running = true;
		try {
			const sessions = [...this.#sessions];
			let snapshots: Map<string, PolicySnapshot> | null = null;
			try {
				snapshots = await this.services.policyVersion.snapshots([...new Set(sessions.map((session) => session.userId))]);
			} catch {
				// Cannot read: every connection runs the full check, which fails closed if the database is down.
			}
			const verdicts = new Map<string, Promise<Evaluation>>();
			await Promise.all(
				sessions.map(async (session) => {
					const snapshot = snapshots?.get(session.userId);
					const key = `${session.userId}|${session.sessionEpoch}|${session.secondFactorMethod ?? ""}|${session.publicKeyFingerprint ?? ""}|${session.sourceAddress}|${this.#checked.get(session) ?? 0}`;
					let verdict = verdicts.get(key);
					if (verdict === undefined) {
						verdict =
							snapshots !== null && snapshot === undefined
								? Promise.resolve<Evaluation>({ verdict: "revoked", version: null, full: true })
								: this.#evaluate(session, snapshot, full || snapshots === null);
						verdicts.set(key, verdict);
					}
					await this.#settle(session, await verdict);
				}),
			);
		} finally {
			this.#running = false;
			this.#stopWhenIdle();
		}
	}

	#stopWhenIdle(): void {
		if (this.#sessions.size === 0 && this.#timer !== null) {
			clearInterval(this.#timer);
			this.#timer = null;
		}
	}

	/**
	 * Grant removal: relays to a server the user may no longer reach are closed; the connection stays.
	 * So are relays to a server that now requires a second factor this connection never proved
	 * (per-server step-up switched on while the relay was open).
	 */
	async #closeUngrantedRelays(session: AuthenticatedSsh): Promise<void> {
		const relays = this.#relays.get(session);
		if (relays === undefined || relays.size === 0) return;
		let granted: Map<string, Awaited<ReturnType<ServerService["listForUser"]>>[number]>;
		try {
			granted = new Map((await this.#servers.listForUser(session.userId)).map((server) => [server.id, server]));
		} catch {
			// Fail closed: grants that cannot be read are not granted.
			granted = new Map();
		}
		const now = this.services.clock.now().getTime();
		for (const entry of [...relays]) {
			const server = granted.get(entry.serverId);
			const reason = server === undefined ? "grant removed" : relayMayContinue(session, server, now) ? null : "server requires a second factor";
			if (reason === null) continue;
			relays.delete(entry);
			await this.services.audit.record({
				event: "ssh.relay-revoked",
				outcome: "info",
				userId: session.userId,
				username: session.username,
				channel: "ssh",
				source: session.sourceAddress,
				detail: { connectionId: session.connectionId, serverId: entry.serverId, reason },
			});
			try {
				entry.close();
			} catch {
				// Already gone.
			}
		}
	}

	/** Acts on an evaluation: stamps the version, closes relays no longer granted, or closes the connection. */
	async #settle(session: AuthenticatedSsh, evaluation: Evaluation): Promise<Verdict> {
		if (evaluation.verdict !== "ok") {
			await this.#apply(session, evaluation.verdict);
			return evaluation.verdict;
		}
		if (evaluation.full) {
			if (evaluation.version !== null) this.#checked.set(session, evaluation.version);
			// A full check ran because something changed: the grants may have changed too.
			await this.#closeUngrantedRelays(session);
		}
		return "ok";
	}

	/**
	 * The gate: fast path when the version and the user's revocation state are unchanged since the
	 * connection last passed (and `forceFull` is not set), else the full check.
	 */
	async #evaluate(session: AuthenticatedSsh, snapshot?: PolicySnapshot, forceFull = false): Promise<Evaluation> {
		try {
			const result = await this.#gate.check({
				userId: session.userId,
				sessionEpoch: session.sessionEpoch,
				secondFactorMethod: session.secondFactorMethod,
				publicKeyFingerprint: session.publicKeyFingerprint,
				sourceAddress: session.sourceAddress,
				channel: "ssh",
				checkedVersion: forceFull ? -1 : (this.#checked.get(session) ?? 0),
				...(snapshot !== undefined ? { snapshot } : {}),
			});
			return { verdict: result.verdict, version: result.version, full: result.full };
		} catch {
			return { verdict: "error", version: null, full: true };
		}
	}

	async #apply(session: AuthenticatedSsh, verdict: Verdict): Promise<void> {
		if (verdict === "ok" || !this.#sessions.has(session)) return;
		// Out of the set first: a second gate or poll in flight does not audit and close it twice.
		this.#sessions.delete(session);
		this.#relays.delete(session);
		await this.services.audit.record({
			event: "ssh.revoked",
			outcome: "info",
			userId: session.userId,
			username: session.username,
			channel: "ssh",
			method: session.secondFactorMethod,
			source: session.sourceAddress,
			detail: { connectionId: session.connectionId, reason: verdict },
		});
		// The client is told why (OpenSSH prints the DISCONNECT description), not just "11:".
		let message = STEP_UP_MESSAGE;
		if (verdict === "error") message = CHECK_FAILED_MESSAGE;
		else if (verdict === "revoked") {
			message = await this.services.login
				.revocationMessage({ userId: session.userId, sessionEpoch: session.sessionEpoch, publicKeyFingerprint: session.publicKeyFingerprint })
				.catch(() => REVOKED_MESSAGE);
		}
		session.close(verdict === "step-up" ? "policy now requires a second factor" : verdict === "revoked" ? "access revoked" : "policy check failed", message);
	}

	stop(): void {
		if (this.#timer !== null) clearInterval(this.#timer);
		this.#timer = null;
		this.#sessions.clear();
		this.#relays.clear();
	}
}
