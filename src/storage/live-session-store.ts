/**
 * The live-session registry (migration 0017): which node holds which authenticated SSH connection
 * and channel, their byte counts (written in batches by the owning node), node heartbeats, and
 * terminate requests. Every node reads and writes the same rows, so any node lists and ends a
 * connection held by another (docs/operations.md "Live sessions").
 *
 * A terminate request is consumed by the owning node with one conditional UPDATE
 * (consumed_at IS NULL → now): two pollers of one node, or a retry, act on it once.
 */
import type { Kysely, Selectable } from "kysely";
import type { Clock } from "../core/clock.ts";
import type { Random } from "../core/random.ts";
import { newId } from "../crypto/tokens.ts";
import type { Database } from "./schema.ts";

export interface LiveNodesTable {
	id: string;
	name: string;
	started_at: number;
	heartbeat_at: number;
}

export interface LiveConnectionsTable {
	id: string;
	node_id: string;
	user_id: string;
	username: string;
	source: string;
	started_at: number;
	first_factor: string;
	second_factor: string;
	second_factor_note: string;
	bytes_in: number;
	bytes_out: number;
	updated_at: number;
}

export interface LiveChannelsTable {
	id: string;
	connection_id: string;
	node_id: string;
	kind: string;
	server: string | null;
	started_at: number;
	bytes_in: number;
	bytes_out: number;
}

export interface LiveKillsTable {
	id: string;
	node_id: string;
	connection_id: string;
	channel_id: string | null;
	actor: string;
	actor_channel: string;
	actor_source: string;
	reason: string;
	requested_at: number;
	consumed_at: number | null;
}

declare module "./schema.ts" {
	interface Database {
		live_nodes: LiveNodesTable;
		live_connections: LiveConnectionsTable;
		live_channels: LiveChannelsTable;
		live_kills: LiveKillsTable;
	}
}

export type LiveNodeRow = Selectable<LiveNodesTable>;
export type LiveConnectionRow = Selectable<LiveConnectionsTable>;
export type LiveChannelRow = Selectable<LiveChannelsTable>;
export type LiveKillRow = Selectable<LiveKillsTable>;

export interface NewKill {
	readonly nodeId: string;
	readonly connectionId: string;
	readonly channelId: string | null;
	readonly actor: string;
	readonly actorChannel: string;
	readonly actorSource: string;
	readonly reason: string;
}

export class LiveSessionStore {
	constructor(
		private readonly db: Kysely<Database>,
		private readonly clock: Clock,
		private readonly random: Random,
	) {}

	/** Registers a node (a gateway start) or renews its row. */
	async registerNode(id: string, name: string): Promise<void> {
		const now = this.clock.now().getTime();
		await this.db
			.insertInto("live_nodes")
			.values({ id, name, started_at: now, heartbeat_at: now })
			.onConflict((conflict) => conflict.column("id").doUpdateSet({ heartbeat_at: now }))
			.execute();
	}

	/** The node's heartbeat; false when its row is gone (it was declared dead meanwhile). */
	async heartbeat(id: string): Promise<boolean> {
		const result = await this.db.updateTable("live_nodes").set({ heartbeat_at: this.clock.now().getTime() }).where("id", "=", id).executeTakeFirst();
		return Number(result.numUpdatedRows) === 1;
	}

	async insertConnection(row: LiveConnectionRow): Promise<void> {
		await this.db
			.insertInto("live_connections")
			.values(row)
			.onConflict((conflict) => conflict.column("id").doNothing())
			.execute();
	}

	async insertChannel(row: LiveChannelRow): Promise<void> {
		await this.db
			.insertInto("live_channels")
			.values(row)
			.onConflict((conflict) => conflict.column("id").doNothing())
			.execute();
	}

	/** One batch of byte counts of a connection and its channels (the owning node, every few seconds). */
	async updateBytes(
		connection: { readonly id: string; readonly bytesIn: number; readonly bytesOut: number },
		channels: readonly { readonly id: string; readonly bytesIn: number; readonly bytesOut: number; readonly server: string | null }[],
	): Promise<void> {
		const now = this.clock.now().getTime();
		await this.db
			.updateTable("live_connections")
			.set({ bytes_in: connection.bytesIn, bytes_out: connection.bytesOut, updated_at: now })
			.where("id", "=", connection.id)
			.execute();
		for (const channel of channels)
			await this.db
				.updateTable("live_channels")
				.set({ bytes_in: channel.bytesIn, bytes_out: channel.bytesOut, server: channel.server })
				.where("id", "=", channel.id)
				.execute();
	}

	async deleteChannel(id: string): Promise<void> {
		await this.db.deleteFrom("live_channels").where("id", "=", id).execute();
	}

	/** A closed connection: its row, its channels and its terminate requests. */
	async deleteConnection(id: string): Promise<void> {
		await this.db.deleteFrom("live_kills").where("connection_id", "=", id).execute();
		await this.db.deleteFrom("live_channels").where("connection_id", "=", id).execute();
		await this.db.deleteFrom("live_connections").where("id", "=", id).execute();
	}

	/** Connections of nodes whose heartbeat is at or after `liveSince`, oldest first. */
	async listConnections(liveSince: number): Promise<(LiveConnectionRow & { node_name: string })[]> {
		return this.db
			.selectFrom("live_connections")
			.innerJoin("live_nodes", "live_nodes.id", "live_connections.node_id")
			.selectAll("live_connections")
			.select("live_nodes.name as node_name")
			.where("live_nodes.heartbeat_at", ">=", liveSince)
			.orderBy("live_connections.started_at")
			.orderBy("live_connections.id")
			.execute();
	}

	async listChannels(liveSince: number): Promise<LiveChannelRow[]> {
		return this.db
			.selectFrom("live_channels")
			.innerJoin("live_nodes", "live_nodes.id", "live_channels.node_id")
			.selectAll("live_channels")
			.where("live_nodes.heartbeat_at", ">=", liveSince)
			.orderBy("live_channels.started_at")
			.orderBy("live_channels.id")
			.execute();
	}

	/** One connection of a live node, or undefined. */
	async findConnection(id: string, liveSince: number): Promise<(LiveConnectionRow & { node_name: string }) | undefined> {
		return this.db
			.selectFrom("live_connections")
			.innerJoin("live_nodes", "live_nodes.id", "live_connections.node_id")
			.selectAll("live_connections")
			.select("live_nodes.name as node_name")
			.where("live_connections.id", "=", id)
			.where("live_nodes.heartbeat_at", ">=", liveSince)
			.executeTakeFirst();
	}

	async findChannel(id: string): Promise<LiveChannelRow | undefined> {
		return this.db.selectFrom("live_channels").selectAll().where("id", "=", id).executeTakeFirst();
	}

	async insertKill(kill: NewKill): Promise<LiveKillRow> {
		const row: LiveKillRow = {
			id: newId(this.random),
			node_id: kill.nodeId,
			connection_id: kill.connectionId,
			channel_id: kill.channelId,
			actor: kill.actor,
			actor_channel: kill.actorChannel,
			actor_source: kill.actorSource,
			reason: kill.reason,
			requested_at: this.clock.now().getTime(),
			consumed_at: null,
		};
		await this.db.insertInto("live_kills").values(row).execute();
		return row;
	}

	/** Terminate requests for this node not yet acted on (one indexed read per poll). */
	async pendingKills(nodeId: string): Promise<LiveKillRow[]> {
		return this.db
			.selectFrom("live_kills")
			.selectAll()
			.where("node_id", "=", nodeId)
			.where("consumed_at", "is", null)
			.orderBy("requested_at")
			.orderBy("id")
			.execute();
	}

	/** Takes one terminate request: true for exactly one caller (conditional UPDATE). */
	async consumeKill(id: string): Promise<boolean> {
		const result = await this.db
			.updateTable("live_kills")
			.set({ consumed_at: this.clock.now().getTime() })
			.where("id", "=", id)
			.where("consumed_at", "is", null)
			.executeTakeFirst();
		return Number(result.numUpdatedRows) === 1;
	}

	/**
	 * Removes every row of nodes whose heartbeat is older than `liveSince` (crashed or cut off), and
	 * rows whose node row is gone. Returns how many connections were removed.
	 */
	async removeStale(liveSince: number): Promise<number> {
		const stale = (await this.db.selectFrom("live_nodes").select("id").where("heartbeat_at", "<", liveSince).execute()).map((row) => row.id);
		let removed = 0;
		for (const nodeId of stale) removed += await this.removeNode(nodeId);
		// Rows of a node whose row was already removed (a cleanup that raced the node's own inserts).
		const orphans = this.db.selectFrom("live_nodes").select("id");
		const result = await this.db.deleteFrom("live_connections").where("node_id", "not in", orphans).executeTakeFirst();
		await this.db.deleteFrom("live_channels").where("node_id", "not in", orphans).execute();
		await this.db.deleteFrom("live_kills").where("node_id", "not in", orphans).execute();
		return removed + Number(result.numDeletedRows);
	}

	/** Every row of one node (its graceful stop, or its cleanup when dead). Returns the connections removed. */
	async removeNode(nodeId: string): Promise<number> {
		await this.db.deleteFrom("live_kills").where("node_id", "=", nodeId).execute();
		await this.db.deleteFrom("live_channels").where("node_id", "=", nodeId).execute();
		const result = await this.db.deleteFrom("live_connections").where("node_id", "=", nodeId).executeTakeFirst();
		await this.db.deleteFrom("live_nodes").where("id", "=", nodeId).execute();
		return Number(result.numDeletedRows);
	}
}
