/**
 * Servers and their grants to groups (session recordings: recording-store.ts). The table types are added to the
 * shared `Database` interface by module augmentation, so schema.ts (core storage) stays untouched.
 */
import { insertReferencing } from "./referenced-row.ts";
import type { Kysely, Selectable } from "kysely";
import type { Clock } from "../core/clock.ts";
import type { Random } from "../core/random.ts";
import { newId } from "../crypto/tokens.ts";
import type { Database } from "./schema.ts";

export interface ServersTable {
	id: string;
	name: string;
	host: string;
	port: number;
	login_user: string;
	description: string;
	credential_enc: string | null;
	host_key: string | null;
	created_at: number;
	/** "strict" | "best-effort" when recording fails (src/core/recording-mode.ts); null: the global setting. */
	recording_mode: string | null;
	/** 1: every relay to this server needs a second factor proven by the connection (migration 0015). */
	require_2fa: number;
	/** With require_2fa: that factor must be at most this many minutes old; null = any age. */
	fresh_minutes: number | null;
	/** 1: the content of files moved through relayed SFTP is captured (migration 0026); 0: never (default). */
	capture_sftp_content: number;
}

export interface ServerGrantsTable {
	server_id: string;
	group_id: string;
}

declare module "./schema.ts" {
	interface Database {
		servers: ServersTable;
		server_grants: ServerGrantsTable;
	}
}

export type ServerRow = Selectable<ServersTable>;

export interface NewServer {
	name: string;
	host: string;
	port: number;
	loginUser: string;
	description: string;
	recordingMode?: string | null;
	requireTwoFactor?: boolean;
	freshMinutes?: number | null;
	captureSftpContent?: boolean;
}

export class ServerStore {
	constructor(
		private readonly db: Kysely<Database>,
		private readonly clock: Clock,
		private readonly random: Random,
	) {}

	async create(input: NewServer): Promise<ServerRow> {
		const row: ServerRow = {
			id: newId(this.random),
			name: input.name,
			host: input.host,
			port: input.port,
			login_user: input.loginUser,
			description: input.description,
			credential_enc: null,
			host_key: null,
			recording_mode: input.recordingMode ?? null,
			created_at: this.clock.now().getTime(),
			require_2fa: input.requireTwoFactor === true ? 1 : 0,
			fresh_minutes: input.freshMinutes ?? null,
			capture_sftp_content: input.captureSftpContent === true ? 1 : 0,
		};
		await this.db.insertInto("servers").values(row).execute();
		return row;
	}

	async update(
		id: string,
		changes: Partial<
			Pick<
				ServerRow,
				| "host"
				| "port"
				| "login_user"
				| "description"
				| "credential_enc"
				| "host_key"
				| "recording_mode"
				| "require_2fa"
				| "fresh_minutes"
				| "capture_sftp_content"
			>
		>,
	): Promise<void> {
		if (Object.keys(changes).length === 0) return;
		await this.db.updateTable("servers").set(changes).where("id", "=", id).execute();
	}

	/** Trust on first use without a race: only the first of two concurrent first contacts writes. */
	async setHostKeyIfUnset(id: string, hostKey: string): Promise<boolean> {
		const result = await this.db.updateTable("servers").set({ host_key: hostKey }).where("id", "=", id).where("host_key", "is", null).executeTakeFirst();
		return Number(result.numUpdatedRows) === 1;
	}

	async remove(id: string): Promise<void> {
		await this.db.deleteFrom("servers").where("id", "=", id).execute();
	}

	async findByName(name: string): Promise<ServerRow | undefined> {
		return this.db.selectFrom("servers").selectAll().where("name", "=", name).executeTakeFirst();
	}

	async findById(id: string): Promise<ServerRow | undefined> {
		return this.db.selectFrom("servers").selectAll().where("id", "=", id).executeTakeFirst();
	}

	async list(): Promise<ServerRow[]> {
		return this.db.selectFrom("servers").selectAll().orderBy("name").execute();
	}

	/** False when the grant already existed. One statement: two concurrent grants cannot collide on the primary key. */
	async grant(serverId: string, groupId: string): Promise<boolean> {
		const result = await insertReferencing("the server or the group", () =>
			this.db
				.insertInto("server_grants")
				.values({ server_id: serverId, group_id: groupId })
				.onConflict((conflict) => conflict.columns(["server_id", "group_id"]).doNothing())
				.executeTakeFirst(),
		);
		return Number(result.numInsertedOrUpdatedRows ?? 0) > 0;
	}

	async revoke(serverId: string, groupId: string): Promise<boolean> {
		const result = await this.db.deleteFrom("server_grants").where("server_id", "=", serverId).where("group_id", "=", groupId).executeTakeFirst();
		return Number(result.numDeletedRows) > 0;
	}

	/** Group names each server is granted to, keyed by server id. */
	async grantsByServer(): Promise<Map<string, string[]>> {
		const rows = await this.db
			.selectFrom("server_grants")
			.innerJoin("groups", "groups.id", "server_grants.group_id")
			.select(["server_grants.server_id as serverId", "groups.name as groupName"])
			.orderBy("groups.name")
			.execute();
		const map = new Map<string, string[]>();
		for (const row of rows) map.set(row.serverId, [...(map.get(row.serverId) ?? []), row.groupName]);
		return map;
	}

	/** Servers granted to any group the user belongs to: the only ones the user may reach. */
	async listForUser(userId: string): Promise<ServerRow[]> {
		return this.db
			.selectFrom("servers")
			.selectAll("servers")
			.where("servers.id", "in", (qb) =>
				qb
					.selectFrom("server_grants")
					.innerJoin("group_members", "group_members.group_id", "server_grants.group_id")
					.select("server_grants.server_id")
					.where("group_members.user_id", "=", userId),
			)
			.orderBy("servers.name")
			.execute();
	}
}
