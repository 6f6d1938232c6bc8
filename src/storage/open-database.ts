/**
 * Opens the database (embedded SQLite by default, PostgreSQL when a postgres:// URL is given) and
 * brings the schema up to date. Everything above this file sees only Kysely<Database>.
 */
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import BetterSqlite3 from "better-sqlite3";
import { Kysely, PostgresDialect, SqliteDialect, type LogEvent } from "kysely";
import { Migrator, type Migration, type MigrationProvider } from "kysely/migration";
import { PortcullisError } from "../core/errors.ts";
import type { Database } from "./schema.ts";
import { initialMigration } from "./migrations/0001-initial.ts";
import { extraMigrations } from "./migrations/index.ts";
import { cachingStatements } from "./statement-cache.ts";

export type DatabaseTarget = { kind: "sqlite"; file: string } | { kind: "postgres"; url: string };

export interface OpenDatabase {
	readonly db: Kysely<Database>;
	readonly dialect: "sqlite" | "postgres";
	/** Knows every migration of this build: the readiness check asks it whether all are applied. */
	readonly migrator: Migrator;
	close(): Promise<void>;
}

/** Deadlines so that no request waits on the database forever (docs/operations.md "Outages"). */
export interface DatabaseTimeouts {
	/** PostgreSQL: wait for a pool connection (pg connectionTimeoutMillis). */
	readonly connectMs: number;
	/** PostgreSQL: server statement_timeout and client query_timeout. */
	readonly statementMs: number;
	/** SQLite: busy_timeout for a locked database. */
	readonly sqliteBusyMs: number;
}

export const DEFAULT_TIMEOUTS: DatabaseTimeouts = { connectMs: 5000, statementMs: 15000, sqliteBusyMs: 5000 };

function migrationProvider(dialect: "sqlite" | "postgres"): MigrationProvider {
	return {
		async getMigrations(): Promise<Record<string, Migration>> {
			return { "0001-initial": initialMigration(dialect), ...extraMigrations(dialect) };
		},
	};
}

/**
 * `onQuery`: told each statement's duration (ms), failed ones included (the metrics'
 * database latency); Kysely measures only when a log function is given, so without it nothing is timed.
 */
export async function openDatabase(
	target: DatabaseTarget,
	timeouts: DatabaseTimeouts = DEFAULT_TIMEOUTS,
	onQuery?: (ms: number) => void,
): Promise<OpenDatabase> {
	let db: Kysely<Database>;
	const log = onQuery === undefined ? {} : { log: (event: LogEvent) => onQuery(event.queryDurationMillis) };
	if (target.kind === "sqlite") {
		if (target.file !== ":memory:") mkdirSync(dirname(target.file), { recursive: true });
		const sqlite = new BetterSqlite3(target.file);
		sqlite.pragma("journal_mode = WAL");
		sqlite.pragma("foreign_keys = ON");
		sqlite.pragma(`busy_timeout = ${Math.trunc(timeouts.sqliteBusyMs)}`);
		db = new Kysely<Database>({ dialect: new SqliteDialect({ database: cachingStatements(sqlite) }), ...log });
	} else {
		// Loaded only for PostgreSQL: an SQLite process (and every CLI command on it) never needs the driver.
		const { default: pg } = await import("pg");
		// pg returns int8 as string by default; our bigints are epoch milliseconds and counters, well
		// inside Number's safe range.
		pg.types.setTypeParser(20, (value: string) => Number(value));
		const pool = new pg.Pool({
			connectionString: target.url,
			max: 10,
			// A stopped or unreachable server fails the request after these instead of hanging it:
			// the connect deadline, the server-side statement_timeout (SQLSTATE 57014) and the
			// client-side query_timeout for a connection that went silent mid-query.
			connectionTimeoutMillis: timeouts.connectMs,
			statement_timeout: timeouts.statementMs,
			query_timeout: timeouts.statementMs + 1000,
		});
		// An idle-client error (server restart) must not crash the process: fail the next query instead.
		pool.on("error", () => undefined);
		// A client that is checked out when its connection breaks emits 'error' itself (pg-pool only
		// listens on idle ones): without a listener a reset connection would crash the process.
		// The query in flight is rejected anyway and classified as an outage (database-health.ts).
		pool.on("connect", (client) => client.on("error", () => undefined));
		db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }), ...log });
	}
	// Feature migrations are independent of each other, so a database that met them in another order is fine.
	const migrator = new Migrator({ db, provider: migrationProvider(target.kind), allowUnorderedMigrations: true });
	const { error } = await migrator.migrateToLatest();
	if (error !== undefined) {
		await db.destroy();
		throw new PortcullisError("ERR_DATABASE", "database migration failed", { cause: error });
	}
	return { db, dialect: target.kind, migrator, close: () => db.destroy() };
}
