/**
 * Live sessions across nodes (docs/operations.md "Live sessions"): the
 * one service the admin console, the CLI and the REST API use to list every authenticated SSH
 * connection of every node and to end one (or one of its channels), and the one the gateway uses
 * to publish its connections and to pick up terminate requests.
 *
 * - The registry is rows in the shared database (storage/live-session-store.ts, migration 0017):
 *   a connection row at USERAUTH_SUCCESS, channel rows, byte counts flushed in batches by the
 *   owning node, all removed at close. Each node heartbeats; a node silent for longer than the
 *   stale window is dead: its rows are hidden from the list at once and removed by the next
 *   cleanup of any node.
 * - Terminate: a request row and its audit event (`ssh.terminate-requested`, with the admin and
 *   the reason) commit together; the owning node polls its requests (ssh.policy_poll_ms), consumes
 *   each with one conditional UPDATE and writes `ssh.terminated` (admin and reason again) in the
 *   same transaction, then closes the connection or the channel.
 *
 * Who may terminate is the adapters' access rule (console: admin with a fresh step-up; CLI: the
 * operator on the host); this service records who did.
 */
import type { Actor } from "../core/actor.ts";
import type { Clock } from "../core/clock.ts";
import { PortcullisError } from "../core/errors.ts";
import { hasUnsafe } from "../core/untrusted-text.ts";
import type { LiveChannelRow, LiveConnectionRow, LiveKillRow, LiveSessionStore } from "../storage/live-session-store.ts";
import type { UnitOfWork } from "../storage/unit-of-work.ts";

/** A node whose heartbeat is older than this is dead (its rows are hidden, then removed). */
export const LIVE_STALE_MS = 30_000;
/** How often a node writes its heartbeat and its connections' byte counts. */
export const LIVE_FLUSH_MS = 5_000;
/** The longest terminate reason kept (it goes into the audit log twice). */
export const MAX_REASON_LENGTH = 200;

/** What a channel of a connection is. ProxyJump tunnels carry ssh, scp or sftp end to end encrypted: the gateway cannot tell which. */
export type LiveChannelKind = "menu" | "session" | "tunnel" | "web-terminal";

export interface LiveChannelView {
	readonly id: string;
	readonly kind: LiveChannelKind;
	/** The server the channel is relayed to (the menu's current visit), or null. */
	readonly server: string | null;
	readonly startedAt: number;
	readonly bytesIn: number;
	readonly bytesOut: number;
}

export interface LiveConnectionView {
	readonly id: string;
	readonly nodeId: string;
	readonly nodeName: string;
	readonly userId: string;
	readonly username: string;
	readonly source: string;
	readonly startedAt: number;
	readonly firstFactor: string;
	/** A method id, "remembered:<method>" or "not-required". */
	readonly secondFactor: string;
	/** For "not-required": why ("policy", "enrolment-deadline"). */
	readonly secondFactorNote: string;
	/** Bytes from the user to targets and back, as of the owning node's last flush. */
	readonly bytesIn: number;
	readonly bytesOut: number;
	readonly updatedAt: number;
	readonly channels: readonly LiveChannelView[];
}

export interface TerminateRequest {
	readonly connectionId: string;
	/** One channel of the connection; absent or null ends the whole connection. */
	readonly channelId?: string | null;
	readonly reason: string;
}

/** How the second factor of a connection reads on the console and the CLI. */
export function secondFactorLabel(view: Pick<LiveConnectionView, "secondFactor" | "secondFactorNote">): string {
	if (view.secondFactor.startsWith("remembered:")) return `remembered (${view.secondFactor.slice("remembered:".length)})`;
	if (view.secondFactor !== "not-required") return view.secondFactor;
	if (view.secondFactorNote === "enrolment-deadline") return "not required yet (before the enrolment deadline)";
	return "not required (the policy requires none for this user and source)";
}

const CONNECTION_ID = /^[0-9a-f]{16}$/;
const CHANNEL_ID = /^[0-9a-f]{32}$/;

export interface LiveSessionDeps {
	readonly store: LiveSessionStore;
	/** A terminate request (or its consumption) and its audit event commit together. */
	readonly work: Pick<UnitOfWork, "run">;
	readonly clock: Clock;
	readonly staleMs?: number;
}

export class LiveSessionService {
	readonly #store: LiveSessionStore;
	readonly #work: Pick<UnitOfWork, "run">;
	readonly #clock: Clock;
	readonly #staleMs: number;

	constructor(deps: LiveSessionDeps) {
		this.#store = deps.store;
		this.#work = deps.work;
		this.#clock = deps.clock;
		this.#staleMs = deps.staleMs ?? LIVE_STALE_MS;
	}

	#liveSince(): number {
		return this.#clock.now().getTime() - this.#staleMs;
	}

	// ---- the admin side: console, CLI, API -------------------------------------------------

	/** Every connection of every live node, oldest first, with its channels. */
	async list(): Promise<LiveConnectionView[]> {
		const since = this.#liveSince();
		const connections = await this.#store.listConnections(since);
		const channels = await this.#store.listChannels(since);
		const byConnection = new Map<string, LiveChannelView[]>();
		for (const channel of channels) {
			const list = byConnection.get(channel.connection_id) ?? [];
			list.push(channelView(channel));
			byConnection.set(channel.connection_id, list);
		}
		return connections.map((row) => connectionView(row, byConnection.get(row.id) ?? []));
	}

	/** One connection of a live node, or undefined. */
	async find(connectionId: string): Promise<LiveConnectionView | undefined> {
		if (!CONNECTION_ID.test(connectionId)) return undefined;
		return (await this.list()).find((view) => view.id === connectionId);
	}

	/**
	 * Asks the node holding the connection to end it (or one channel of it). The request and its
	 * audit event commit together; the owning node acts within its poll interval (ssh.policy_poll_ms).
	 * ERR_INPUT for a malformed id or reason, ERR_NOT_FOUND when no live node holds the connection
	 * (or it has no such channel).
	 */
	async terminate(actor: Actor, request: TerminateRequest): Promise<{ readonly requestId: string; readonly node: string }> {
		const connectionId = String(request.connectionId ?? "").trim();
		const channelId = request.channelId === undefined || request.channelId === null || request.channelId === "" ? null : String(request.channelId).trim();
		const reason = String(request.reason ?? "").trim();
		if (!CONNECTION_ID.test(connectionId)) throw new PortcullisError("ERR_INPUT", "a connection id is 16 hexadecimal characters");
		if (channelId !== null && !CHANNEL_ID.test(channelId)) throw new PortcullisError("ERR_INPUT", "a channel id is 32 hexadecimal characters");
		if (reason === "") throw new PortcullisError("ERR_INPUT", "a reason is required: it goes into the audit log with your name");
		if (reason.length > MAX_REASON_LENGTH || hasUnsafe(reason))
			throw new PortcullisError("ERR_INPUT", `the reason must be at most ${MAX_REASON_LENGTH} characters of plain text`);
		const since = this.#liveSince();
		return this.#work.run(async (work) => {
			const connection = await work.liveSessions.findConnection(connectionId, since);
			if (connection === undefined) throw new PortcullisError("ERR_NOT_FOUND", "no live connection has this id (it may have ended already)");
			if (channelId !== null) {
				const channel = await work.liveSessions.findChannel(channelId);
				if (channel === undefined || channel.connection_id !== connectionId)
					throw new PortcullisError("ERR_NOT_FOUND", "the connection has no open channel with this id (it may have ended already)");
			}
			const kill = await work.liveSessions.insertKill({
				nodeId: connection.node_id,
				connectionId,
				channelId,
				actor: actor.name,
				actorChannel: actor.channel,
				actorSource: actor.source,
				reason,
			});
			work.audit({
				event: "ssh.terminate-requested",
				outcome: "info",
				actor: actor.name,
				channel: actor.channel,
				source: actor.source,
				userId: connection.user_id,
				username: connection.username,
				detail: {
					connectionId,
					channelId,
					reason,
					node: connection.node_name,
					userSource: connection.source,
					request: kill.id,
				},
			});
			return { requestId: kill.id, node: connection.node_name };
		});
	}

	// ---- the node side: the SSH gateway (src/ssh/live-registry.ts) -------------------------

	registerNode(nodeId: string, name: string): Promise<void> {
		return this.#store.registerNode(nodeId, name);
	}

	heartbeat(nodeId: string): Promise<boolean> {
		return this.#store.heartbeat(nodeId);
	}

	/** Removes the rows of dead nodes (any node runs it with its heartbeat). */
	removeStale(): Promise<number> {
		return this.#store.removeStale(this.#liveSince());
	}

	removeNode(nodeId: string): Promise<number> {
		return this.#store.removeNode(nodeId);
	}

	connectionOpened(row: LiveConnectionRow): Promise<void> {
		return this.#store.insertConnection(row);
	}

	channelOpened(row: LiveChannelRow): Promise<void> {
		return this.#store.insertChannel(row);
	}

	updateBytes(...args: Parameters<LiveSessionStore["updateBytes"]>): Promise<void> {
		return this.#store.updateBytes(...args);
	}

	channelClosed(channelId: string): Promise<void> {
		return this.#store.deleteChannel(channelId);
	}

	connectionClosed(connectionId: string): Promise<void> {
		return this.#store.deleteConnection(connectionId);
	}

	pendingKills(nodeId: string): Promise<LiveKillRow[]> {
		return this.#store.pendingKills(nodeId);
	}

	/**
	 * Takes one terminate request (one conditional UPDATE) and writes `ssh.terminated` in the same
	 * transaction. True for exactly one caller: only then does the node close anything.
	 * `found` says whether the node still holds the connection (or channel).
	 */
	consumeKill(
		kill: LiveKillRow,
		target: { readonly userId: string | null; readonly username: string | null; readonly source: string | null; readonly found: boolean },
	): Promise<boolean> {
		return this.#work.run(async (work) => {
			if (!(await work.liveSessions.consumeKill(kill.id))) return false;
			work.audit({
				event: "ssh.terminated",
				outcome: target.found ? "success" : "info",
				actor: kill.actor,
				channel: "ssh",
				source: target.source,
				userId: target.userId,
				username: target.username,
				detail: {
					connectionId: kill.connection_id,
					channelId: kill.channel_id,
					reason: kill.reason,
					requestedVia: kill.actor_channel,
					requestedFrom: kill.actor_source,
					request: kill.id,
					result: target.found ? "ended" : "already closed",
				},
			});
			return true;
		});
	}
}

function channelView(row: LiveChannelRow): LiveChannelView {
	return {
		id: row.id,
		kind: row.kind as LiveChannelKind,
		server: row.server,
		startedAt: Number(row.started_at),
		bytesIn: Number(row.bytes_in),
		bytesOut: Number(row.bytes_out),
	};
}

function connectionView(row: LiveConnectionRow & { node_name: string }, channels: LiveChannelView[]): LiveConnectionView {
	return {
		id: row.id,
		nodeId: row.node_id,
		nodeName: row.node_name,
		userId: row.user_id,
		username: row.username,
		source: row.source,
		startedAt: Number(row.started_at),
		firstFactor: row.first_factor,
		secondFactor: row.second_factor,
		secondFactorNote: row.second_factor_note,
		bytesIn: Number(row.bytes_in),
		bytesOut: Number(row.bytes_out),
		updatedAt: Number(row.updated_at),
		channels,
	};
}
