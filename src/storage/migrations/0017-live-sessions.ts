import type { Kysely } from "kysely";
import type { Migration } from "kysely/migration";

/**
 * Live sessions across nodes (docs/operations.md "Live sessions"; storage/live-session-store.ts):
 *
 * - live_nodes: one row per running gateway (a random id per start), with a heartbeat. A node whose
 *   heartbeat is older than the stale window is dead: its rows are hidden at once and removed by the
 *   next cleanup of any node.
 * - live_connections: one row per authenticated SSH connection, inserted at USERAUTH_SUCCESS,
 *   removed at close; byte counts are written in batches (not per packet).
 * - live_channels: the connection's channels (menu, session, tunnel) and their byte counts.
 * - live_kills: a terminate request for a connection (channel_id null) or one channel, consumed by
 *   the owning node with one conditional UPDATE (consumed_at IS NULL → now).
 */
export function liveSessionsMigration(_dialect: "sqlite" | "postgres"): Migration {
	return {
		async up(db: Kysely<unknown>) {
			await db.schema
				.createTable("live_nodes")
				.addColumn("id", "text", (col) => col.primaryKey())
				.addColumn("name", "text", (col) => col.notNull())
				.addColumn("started_at", "bigint", (col) => col.notNull())
				.addColumn("heartbeat_at", "bigint", (col) => col.notNull())
				.execute();
			await db.schema
				.createTable("live_connections")
				.addColumn("id", "text", (col) => col.primaryKey())
				.addColumn("node_id", "text", (col) => col.notNull())
				.addColumn("user_id", "text", (col) => col.notNull())
				.addColumn("username", "text", (col) => col.notNull())
				.addColumn("source", "text", (col) => col.notNull())
				.addColumn("started_at", "bigint", (col) => col.notNull())
				.addColumn("first_factor", "text", (col) => col.notNull())
				/** A method id, "remembered:<method>" or "not-required". */
				.addColumn("second_factor", "text", (col) => col.notNull())
				/** Why no second factor was asked ("policy", "enrolment-deadline"), else "". */
				.addColumn("second_factor_note", "text", (col) => col.notNull())
				.addColumn("bytes_in", "bigint", (col) => col.notNull())
				.addColumn("bytes_out", "bigint", (col) => col.notNull())
				.addColumn("updated_at", "bigint", (col) => col.notNull())
				.execute();
			await db.schema.createIndex("live_connections_node").on("live_connections").column("node_id").execute();
			await db.schema
				.createTable("live_channels")
				.addColumn("id", "text", (col) => col.primaryKey())
				.addColumn("connection_id", "text", (col) => col.notNull())
				.addColumn("node_id", "text", (col) => col.notNull())
				/** "menu", "session" (a shell or command on a server) or "tunnel" (-J / direct-tcpip). */
				.addColumn("kind", "text", (col) => col.notNull())
				.addColumn("server", "text")
				.addColumn("started_at", "bigint", (col) => col.notNull())
				.addColumn("bytes_in", "bigint", (col) => col.notNull())
				.addColumn("bytes_out", "bigint", (col) => col.notNull())
				.execute();
			await db.schema.createIndex("live_channels_connection").on("live_channels").column("connection_id").execute();
			await db.schema.createIndex("live_channels_node").on("live_channels").column("node_id").execute();
			await db.schema
				.createTable("live_kills")
				.addColumn("id", "text", (col) => col.primaryKey())
				.addColumn("node_id", "text", (col) => col.notNull())
				.addColumn("connection_id", "text", (col) => col.notNull())
				.addColumn("channel_id", "text")
				.addColumn("actor", "text", (col) => col.notNull())
				.addColumn("actor_channel", "text", (col) => col.notNull())
				.addColumn("actor_source", "text", (col) => col.notNull())
				.addColumn("reason", "text", (col) => col.notNull())
				.addColumn("requested_at", "bigint", (col) => col.notNull())
				.addColumn("consumed_at", "bigint")
				.execute();
			await db.schema.createIndex("live_kills_node").on("live_kills").columns(["node_id", "consumed_at"]).execute();
		},
		async down(db: Kysely<unknown>) {
			await db.schema.dropTable("live_kills").execute();
			await db.schema.dropTable("live_channels").execute();
			await db.schema.dropTable("live_connections").execute();
			await db.schema.dropTable("live_nodes").execute();
		},
	};
}
