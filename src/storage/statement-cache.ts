/**
 * A prepared-statement cache for SQLite. Kysely's SqliteDriver calls `database.prepare(sql)` for
 * every query it runs; better-sqlite3 then parses and plans the SQL again each time, which was the
 * largest single cost of an authenticated console request (docs/benchmarks.md "Console hot path":
 * ~21 % of the CPU profile of GET /account). The console's queries are a small fixed set of SQL
 * texts, so a statement is prepared once and reused.
 *
 * Safe because better-sqlite3 runs each statement to completion synchronously (`all`, `run`): a
 * statement is never in use by two queries at once, except an iterator (Kysely's `stream()`), for
 * which a busy statement is never handed out again: a fresh one is prepared instead. SQLite
 * re-prepares a cached statement by itself after a schema change (sqlite3_prepare_v2, SQLITE_SCHEMA).
 */
import type { Database as SqliteHandle, Statement } from "better-sqlite3";
import type { SqliteDatabase } from "kysely";

/** Generous: the code base has a few hundred distinct statements; IN lists of varying length add more. */
const MAX_STATEMENTS = 2000;

export function cachingStatements(database: SqliteHandle, max = MAX_STATEMENTS): SqliteDatabase {
	const cache = new Map<string, Statement>();
	return {
		prepare(sql: string) {
			const cached = cache.get(sql);
			if (cached !== undefined && !cached.busy) return cached;
			const statement = database.prepare(sql);
			if (cached === undefined) {
				// Simple bound: forget everything rather than track use (the working set is small).
				if (cache.size >= max) cache.clear();
				cache.set(sql, statement);
			}
			return statement;
		},
		close() {
			cache.clear();
			database.close();
		},
	};
}
