/**
 * Online SQLite backup and its restore, through SQLite's online backup API (better-sqlite3's
 * `Database#backup()`, https://www.sqlite.org/backup.html): a consistent copy page by page
 * while the server keeps running and writing (a write by another connection restarts the copy of
 * the pages it touched; WAL readers never block it). A plain `cp` of a live WAL database can
 * miss the last transactions or copy a torn file.
 *
 * Both directions write to a private temporary name next to the destination (mode 0600: the file
 * holds password hashes and sealed secrets), check it (`PRAGMA integrity_check`, and that it is a
 * Portcullis database: the migration table is there), and only then rename it into place, so a
 * crash or a full disk never leaves a half-written file under the final name.
 */
import { existsSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import BetterSqlite3 from "better-sqlite3";
import { PortcullisError } from "../core/errors.ts";

export interface SqliteCopy {
	readonly file: string;
	readonly bytes: number;
	/** Migrations recorded in the copy (its schema's age). */
	readonly migrations: number;
}

/** Opens `file` read-only and checks it is an intact Portcullis database; returns its migration count. */
export function checkSqliteDatabase(file: string): number {
	let db: BetterSqlite3.Database;
	try {
		db = new BetterSqlite3(file, { readonly: true, fileMustExist: true });
	} catch (error) {
		throw new PortcullisError("ERR_BACKUP", `${file} cannot be opened as an SQLite database`, { cause: error });
	}
	try {
		let integrity: unknown;
		try {
			integrity = db.pragma("integrity_check", { simple: true });
		} catch (error) {
			throw new PortcullisError("ERR_BACKUP", `${file} is not an SQLite database`, { cause: error });
		}
		if (integrity !== "ok") throw new PortcullisError("ERR_BACKUP", `${file} is damaged (integrity check: ${String(integrity).slice(0, 200)})`);
		const table = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'kysely_migration'").get();
		if (table === undefined) throw new PortcullisError("ERR_BACKUP", `${file} is not a Portcullis database (no migration table)`);
		const row = db.prepare("SELECT count(*) AS count FROM kysely_migration").get() as { count: number };
		return Number(row.count);
	} finally {
		db.close();
	}
}

/** A private, not yet existing file beside `destination` (same file system: the rename is atomic). */
function partialBeside(destination: string): string {
	const partial = join(dirname(destination), `.${basename(destination)}.partial-${process.pid}`);
	rmSync(partial, { force: true });
	writeFileSync(partial, "", { mode: 0o600, flag: "wx" });
	return partial;
}

/**
 * Copies the database `source` to `destination` with the backup API; `destination` must not exist
 * (an existing file is never overwritten). Returns the checked copy.
 */
export async function copySqliteDatabase(source: string, destination: string, busyTimeoutMs = 5000): Promise<SqliteCopy> {
	if (!existsSync(source)) throw new PortcullisError("ERR_BACKUP", `there is no database at ${source}`);
	if (existsSync(destination)) throw new PortcullisError("ERR_BACKUP", `${destination} already exists; refusing to overwrite it`);
	let db: BetterSqlite3.Database;
	try {
		db = new BetterSqlite3(source, { fileMustExist: true });
	} catch (error) {
		throw new PortcullisError("ERR_BACKUP", `${source} cannot be opened as an SQLite database`, { cause: error });
	}
	let partial: string | null = null;
	try {
		db.pragma(`busy_timeout = ${Math.trunc(busyTimeoutMs)}`);
		partial = partialBeside(destination);
		await db.backup(partial);
		db.close();
		// The copy carries the source's WAL mode in its header; a backup is one self-contained file.
		const copy = new BetterSqlite3(partial, { fileMustExist: true });
		try {
			copy.pragma("journal_mode = DELETE");
		} finally {
			copy.close();
		}
		const migrations = checkSqliteDatabase(partial);
		if (existsSync(destination)) throw new PortcullisError("ERR_BACKUP", `${destination} appeared while copying; refusing to overwrite it`);
		renameSync(partial, destination);
		partial = null;
		return { file: destination, bytes: statSync(destination).size, migrations };
	} catch (error) {
		if (error instanceof PortcullisError) throw error;
		throw new PortcullisError("ERR_BACKUP", `copying ${source} failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
	} finally {
		if (db.open) db.close();
		if (partial !== null) for (const file of sqliteFiles(partial)) rmSync(file, { force: true });
	}
}

/** The database file and its WAL companions (removed together when a restore is undone). */
export function sqliteFiles(file: string): string[] {
	return [file, `${file}-wal`, `${file}-shm`, `${file}-journal`];
}
