/**
 * This node's side of the live-session registry (flows/live-sessions.ts, docs/operations.md "Live
 * sessions"): it publishes every authenticated connection and its channels in the shared database,
 * keeps byte counts in memory and writes them in batches, heartbeats the node, cleans up the rows
 * of dead nodes, and picks up terminate requests aimed at this node.
 *
 * The relay hot path only adds to two numbers in memory (relay.ts `bytes`; tunnels are read from
 * the socket's own counters at flush time). Rows are written per connection in order (insert,
 * updates, delete) through one promise chain per connection; a failed write is logged, never
 * thrown into the connection. Terminate requests are polled every ssh.policy_poll_ms (one indexed
 * read, only while the node holds connections), so a kill takes effect within about that time.
 */
import { hostname } from "node:os";
import { errorFields } from "../core/logger.ts";
import { LIVE_FLUSH_MS, type LiveChannelKind, type LiveSessionService } from "../flows/live-sessions.ts";
import type { LiveKillRow } from "../storage/live-session-store.ts";
import type { AuthenticatedSsh } from "./authenticated-ssh.ts";
import type { SshServices } from "./ssh-services.ts";

/** What the gateway may ask of the live-session service (the node side only). */
export type LiveSessions = Pick<
	LiveSessionService,
	| "registerNode"
	| "heartbeat"
	| "removeStale"
	| "removeNode"
	| "connectionOpened"
	| "channelOpened"
	| "updateBytes"
	| "channelClosed"
	| "connectionClosed"
	| "pendingKills"
	| "consumeKill"
>;

/** What an SSH client is told when an administrator ends its connection (the reason stays in the audit log). */
export const TERMINATED_MESSAGE = "Portcullis: an administrator ended this connection";
/** Written to a session channel an administrator ends (the connection stays). */
export const CHANNEL_TERMINATED_MESSAGE = "Portcullis: an administrator ended this session.";

/** Byte counters a relay adds to (in: user → target, out: target → user). */
export interface ByteCounter {
	in: number;
	out: number;
}

export interface LiveChannel {
	readonly id: string;
	/** Added to by the relay; written to the database at the next flush. */
	readonly bytes: ByteCounter;
	/** The server the channel is relayed to now (the menu's visits), or null. */
	setServer(name: string | null): void;
	/** The channel ended: its row is removed, its bytes stay in the connection's total. */
	end(): void;
}

/** One authenticated connection as its channels register with the registry. */
export interface LiveConnection {
	/**
	 * Registers a channel. `close` ends it when an administrator asks; `sample`, when given, reads
	 * the byte counts at flush time instead of the counter (a tunnel's socket counts them already).
	 */
	channel(kind: LiveChannelKind, server: string | null, close: () => void, sample?: () => ByteCounter): LiveChannel;
}

export interface LiveConnectionInfo {
	readonly firstFactor: string;
	/** A method id, "remembered:<method>" or "not-required". */
	readonly secondFactor: string;
	readonly secondFactorNote: string;
	/** Ends the connection with the DISCONNECT description `message`. */
	terminate(message: string): void;
}

type Published = "no" | "pending" | "yes";

interface TrackedChannel {
	readonly id: string;
	readonly kind: LiveChannelKind;
	readonly startedAt: number;
	readonly bytes: ByteCounter;
	readonly sample: (() => ByteCounter) | undefined;
	readonly close: () => void;
	server: string | null;
	flushed: { in: number; out: number; server: string | null };
	/** Its row: written, being written, or not (a failed insert is retried at the next flush). */
	published: Published;
}

interface TrackedConnection {
	readonly session: AuthenticatedSsh;
	readonly info: LiveConnectionInfo;
	readonly startedAt: number;
	readonly channels: Map<string, TrackedChannel>;
	/** Bytes of channels that have ended. */
	readonly ended: ByteCounter;
	flushed: { in: number; out: number };
	/** Its row: written, being written, or not (a failed insert is retried at the next flush). */
	published: Published;
	/** Writes of this connection's rows, in order. */
	chain: Promise<void>;
}

export interface LiveRegistryOptions {
	/** Terminate-request poll (ssh.policy_poll_ms). */
	readonly pollMs: number;
	/** Heartbeat, byte counts and stale cleanup (default LIVE_FLUSH_MS). */
	readonly flushMs?: number;
	/** Shown in the list (default: the host name). */
	readonly nodeName?: string;
}

export class LiveRegistry {
	/** Random per gateway start: a restarted node never adopts the rows of its previous life. */
	readonly nodeId: string;
	readonly nodeName: string;
	readonly #live: LiveSessions;
	readonly #services: Pick<SshServices, "clock" | "random" | "logger">;
	readonly #connections = new Map<string, TrackedConnection>();
	/** Row deletions of closed connections still being written (stop waits for them). */
	readonly #closing = new Set<Promise<void>>();
	/** Rows whose delete failed (an outage): deleted again at the next flush, so none lingers while the node lives. */
	readonly #undeleted = { connections: new Set<string>(), channels: new Set<string>() };
	readonly #pollMs: number;
	readonly #flushMs: number;
	#pollTimer: NodeJS.Timeout | null = null;
	#flushTimer: NodeJS.Timeout | null = null;
	#polling = false;
	#flushing: Promise<void> | null = null;
	#stopped = false;

	constructor(services: Pick<SshServices, "live" | "clock" | "random" | "logger">, options: LiveRegistryOptions) {
		this.#live = services.live;
		this.#services = services;
		this.nodeId = services.random.bytes(16).toString("hex");
		this.nodeName = (options.nodeName ?? hostname()).slice(0, 100);
		this.#pollMs = options.pollMs;
		this.#flushMs = options.flushMs ?? LIVE_FLUSH_MS;
	}

	get size(): number {
		return this.#connections.size;
	}

	/** Registers the node and starts the heartbeat and the terminate poll. */
	async start(): Promise<void> {
		await this.#live.registerNode(this.nodeId, this.nodeName);
		this.#flushTimer = setInterval(() => void this.flush(), this.#flushMs);
		this.#flushTimer.unref();
		this.#pollTimer = setInterval(() => void this.poll(), this.#pollMs);
		this.#pollTimer.unref();
	}

	#now(): number {
		return this.#services.clock.now().getTime();
	}

	#log(error: unknown, what: string): void {
		this.#services.logger.error({ ...errorFields(error), node: this.nodeId }, `live sessions: ${what} failed`);
	}

	#enqueue(tracked: TrackedConnection, what: string, write: () => Promise<void>): void {
		tracked.chain = tracked.chain.then(write).catch((error: unknown) => this.#log(error, what));
	}

	#insertConnection(tracked: TrackedConnection): void {
		const { session, info } = tracked;
		tracked.published = "pending";
		this.#enqueue(tracked, "connection insert", async () => {
			tracked.published = "no";
			await this.#live.connectionOpened({
				id: session.connectionId,
				node_id: this.nodeId,
				user_id: session.userId,
				username: session.username,
				source: session.sourceAddress,
				started_at: tracked.startedAt,
				first_factor: info.firstFactor,
				second_factor: info.secondFactor,
				second_factor_note: info.secondFactorNote,
				bytes_in: tracked.flushed.in,
				bytes_out: tracked.flushed.out,
				updated_at: this.#now(),
			});
			tracked.published = "yes";
		});
	}

	#insertChannel(tracked: TrackedConnection, channel: TrackedChannel): void {
		channel.published = "pending";
		this.#enqueue(tracked, "channel insert", async () => {
			channel.published = "no";
			await this.#live.channelOpened({
				id: channel.id,
				connection_id: tracked.session.connectionId,
				node_id: this.nodeId,
				kind: channel.kind,
				server: channel.server,
				started_at: channel.startedAt,
				bytes_in: channel.flushed.in,
				bytes_out: channel.flushed.out,
			});
			channel.published = "yes";
		});
	}

	/** Deletes a row; a failure is remembered for the next flush, then rethrown (logged by the chain). */
	async #delete(kind: "connections" | "channels", id: string): Promise<void> {
		try {
			if (kind === "connections") await this.#live.connectionClosed(id);
			else await this.#live.channelClosed(id);
			this.#undeleted[kind].delete(id);
		} catch (error) {
			this.#undeleted[kind].add(id);
			throw error;
		}
	}

	/** Publishes an authenticated connection; its rows go when it closes. */
	open(session: AuthenticatedSsh, info: LiveConnectionInfo): LiveConnection {
		const tracked: TrackedConnection = {
			session,
			info,
			startedAt: session.authenticatedAt,
			channels: new Map(),
			ended: { in: 0, out: 0 },
			flushed: { in: 0, out: 0 },
			published: "no",
			chain: Promise.resolve(),
		};
		if (!this.#stopped) {
			this.#connections.set(session.connectionId, tracked);
			this.#insertConnection(tracked);
		}
		session.onClose(() => {
			if (this.#connections.get(session.connectionId) !== tracked) return;
			this.#connections.delete(session.connectionId);
			this.#enqueue(tracked, "connection delete", () => this.#delete("connections", session.connectionId));
			const closing = tracked.chain;
			this.#closing.add(closing);
			void closing.finally(() => this.#closing.delete(closing));
		});
		return {
			channel: (kind, server, close, sample) => {
				const channel: TrackedChannel = {
					id: this.#services.random.bytes(16).toString("hex"),
					kind,
					startedAt: this.#now(),
					bytes: { in: 0, out: 0 },
					sample,
					close,
					server,
					flushed: { in: 0, out: 0, server },
					published: "no",
				};
				let ended = false;
				if (this.#connections.get(session.connectionId) === tracked) {
					tracked.channels.set(channel.id, channel);
					this.#insertChannel(tracked, channel);
				}
				return {
					id: channel.id,
					bytes: channel.bytes,
					setServer(name) {
						channel.server = name;
					},
					end: () => {
						if (ended) return;
						ended = true;
						const final = channel.sample?.() ?? channel.bytes;
						tracked.ended.in += final.in;
						tracked.ended.out += final.out;
						if (tracked.channels.delete(channel.id) && this.#connections.get(session.connectionId) === tracked)
							this.#enqueue(tracked, "channel delete", () => this.#delete("channels", channel.id));
					},
				};
			},
		};
	}

	/**
	 * Heartbeat, stale cleanup and the byte counts that changed since the last flush. When this
	 * node's row was removed meanwhile (declared dead after an outage), it re-registers and
	 * re-publishes its connections. Never throws.
	 */
	flush(): Promise<void> {
		this.#flushing ??= this.#flush().finally(() => {
			this.#flushing = null;
		});
		return this.#flushing;
	}

	async #flush(): Promise<void> {
		if (this.#stopped) return;
		let rejoined = false;
		try {
			if (!(await this.#live.heartbeat(this.nodeId))) {
				await this.#live.registerNode(this.nodeId, this.nodeName);
				rejoined = true;
			}
			await this.#live.removeStale();
		} catch (error) {
			this.#log(error, "heartbeat");
		}
		await Promise.all([...this.#closing]);
		for (const kind of ["connections", "channels"] as const)
			for (const id of [...this.#undeleted[kind]]) await this.#delete(kind, id).catch((error: unknown) => this.#log(error, `${kind} delete (retry)`));
		// Rows removed while this node was declared dead, and inserts that failed (an outage): written again.
		for (const tracked of this.#connections.values()) {
			if (rejoined || tracked.published === "no") this.#insertConnection(tracked);
			for (const channel of tracked.channels.values()) if (rejoined || channel.published === "no") this.#insertChannel(tracked, channel);
		}
		for (const tracked of this.#connections.values()) {
			const total = { in: tracked.ended.in, out: tracked.ended.out };
			const changed: { id: string; bytesIn: number; bytesOut: number; server: string | null }[] = [];
			for (const channel of tracked.channels.values()) {
				const now = channel.sample?.() ?? channel.bytes;
				total.in += now.in;
				total.out += now.out;
				if (now.in !== channel.flushed.in || now.out !== channel.flushed.out || channel.server !== channel.flushed.server) {
					channel.flushed = { in: now.in, out: now.out, server: channel.server };
					changed.push({ id: channel.id, bytesIn: now.in, bytesOut: now.out, server: channel.server });
				}
			}
			if (changed.length === 0 && total.in === tracked.flushed.in && total.out === tracked.flushed.out) continue;
			tracked.flushed = total;
			this.#enqueue(tracked, "byte counts", () =>
				this.#live.updateBytes({ id: tracked.session.connectionId, bytesIn: total.in, bytesOut: total.out }, changed),
			);
		}
		await Promise.all([...this.#connections.values()].map((tracked) => tracked.chain));
	}

	/** Picks up this node's terminate requests and acts on the ones it wins. Never throws. */
	async poll(): Promise<void> {
		if (this.#polling || this.#stopped || this.#connections.size === 0) return;
		this.#polling = true;
		try {
			for (const kill of await this.#live.pendingKills(this.nodeId)) await this.#act(kill);
		} catch (error) {
			this.#log(error, "terminate poll");
		} finally {
			this.#polling = false;
		}
	}

	async #act(kill: LiveKillRow): Promise<void> {
		const tracked = this.#connections.get(kill.connection_id);
		const channel = kill.channel_id === null ? undefined : tracked?.channels.get(kill.channel_id);
		const found = tracked !== undefined && (kill.channel_id === null || channel !== undefined);
		const won = await this.#live.consumeKill(kill, {
			userId: tracked?.session.userId ?? null,
			username: tracked?.session.username ?? null,
			source: tracked?.session.sourceAddress ?? null,
			found,
		});
		if (!won) return;
		if (!found) {
			// The node no longer holds it: a row left behind (its delete failed) goes now.
			const stale = kill.channel_id === null ? this.#delete("connections", kill.connection_id) : this.#delete("channels", kill.channel_id);
			await stale.catch((error: unknown) => this.#log(error, "stale row delete"));
			return;
		}
		try {
			if (channel !== undefined) channel.close();
			else tracked.info.terminate(TERMINATED_MESSAGE);
		} catch (error) {
			this.#log(error, "terminate");
		}
	}

	/** Stops the timers and removes this node's rows (graceful stop). */
	async stop(): Promise<void> {
		if (this.#stopped) return;
		this.#stopped = true;
		if (this.#pollTimer !== null) clearInterval(this.#pollTimer);
		if (this.#flushTimer !== null) clearInterval(this.#flushTimer);
		await this.#flushing;
		await Promise.all([...this.#connections.values()].map((tracked) => tracked.chain));
		await Promise.all([...this.#closing]);
		this.#connections.clear();
		try {
			await this.#live.removeNode(this.nodeId);
		} catch (error) {
			this.#log(error, "node removal");
		}
	}
}
