/**
 * `portcullis backup FILE` and `portcullis restore FILE` (docs/operations.md "Backup and restore").
 *
 * The backup is the SQLite database only, copied online (storage/sqlite-backup.ts). The secret key
 * is deliberately NOT in it: with the key, the database's sealed secrets (TOTP seeds, backend
 * secrets) open, so a backup and its key kept together are one theft away from every second
 * factor. The command says where the key lives and that it must be backed up apart.
 *
 * A restore goes into an empty data directory only (nothing is ever overwritten), needs the key
 * (`--key-file`, or one already configured), and proves that the key belongs to the backup before
 * it keeps anything: the audit chain's HMAC key is derived from the secret key
 * (storage/audit-chain.ts), so the chain verifies only with the right key. A refused restore
 * removes what it wrote.
 *
 * PostgreSQL deployments use the database's own tools; both commands print the advice and fail.
 */
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import type { Config } from "../config/config.ts";
import { PortcullisError } from "../core/errors.ts";
import { copySqliteDatabase, sqliteFiles, type SqliteCopy } from "../storage/sqlite-backup.ts";
import { createPortcullis, databaseTarget } from "./portcullis.ts";

/** One line (the CLI prints failures as one line). */
export const POSTGRES_BACKUP_ADVICE =
	"this deployment uses PostgreSQL (database.url), which Portcullis does not copy itself: back it up with " +
	'`pg_dump --format=custom --file=portcullis.dump "$DATABASE_URL"` and restore into an empty database with ' +
	'`pg_restore --no-owner --dbname="$DATABASE_URL" portcullis.dump`; the secret key (secrets.key or secrets.key_file) is not in the database: back it up apart';

/** Names a data directory may hold before a restore: the configuration and key files an operator copies in first. */
export const RESTORE_ALLOWED_FILES: readonly string[] = ["portcullis.toml", "secret.key", "ssh_host_ed25519_key", "gateway_ed25519_key"];

/** Where the secret key lives, in words for the operator. */
export function secretKeyLocation(config: Config): string {
	if (config.secrets.key !== "") return "the configuration (secrets.key, or PORTCULLIS_SECRETS__KEY)";
	return resolve(keyFilePath(config));
}

function keyFilePath(config: Config): string {
	return config.secrets.key_file !== "" ? config.secrets.key_file : join(config.data_dir, "secret.key");
}

function sqliteFile(config: Config): string {
	const target = databaseTarget(config);
	if (target.kind === "postgres") throw new PortcullisError("ERR_BACKUP", POSTGRES_BACKUP_ADVICE);
	return target.file;
}

export interface BackupReport extends SqliteCopy {
	readonly keyLocation: string;
}

export async function backupDatabase(config: Config, file: string): Promise<BackupReport> {
	const copy = await copySqliteDatabase(sqliteFile(config), resolve(file), config.database.sqlite_busy_timeout_ms);
	return { ...copy, keyLocation: secretKeyLocation(config) };
}

export interface RestoreReport extends SqliteCopy {
	readonly keyLocation: string;
	readonly auditEvents: number;
	readonly users: number;
}

function readKey(file: string): Buffer {
	let text: string;
	try {
		text = readFileSync(file, "utf8");
	} catch (error) {
		throw new PortcullisError("ERR_BACKUP", `the key file ${file} cannot be read`, { cause: error });
	}
	const key = Buffer.from(text.trim(), "base64");
	if (key.length !== 32) throw new PortcullisError("ERR_BACKUP", `the key file ${file} does not hold 32 base64 bytes`);
	return key;
}

/**
 * The data directory must be empty apart from RESTORE_ALLOWED_FILES; it is created (0700) when
 * missing. Returns whether it was created (a refused restore removes it again).
 */
function requireEmptyDataDir(dir: string): boolean {
	if (!existsSync(dir)) {
		mkdirSync(dir, { recursive: true, mode: 0o700 });
		return true;
	}
	const other = readdirSync(dir).filter((name) => !RESTORE_ALLOWED_FILES.includes(name));
	if (other.length > 0) {
		const shown = other.slice(0, 5).join(", ") + (other.length > 5 ? ", …" : "");
		throw new PortcullisError(
			"ERR_BACKUP",
			`the data directory ${dir} is not empty (${shown}); restore only into an empty one, never over a live installation`,
		);
	}
	return false;
}

/**
 * Restores `file` into the (empty) data directory of `config`. `keyFile`: the secret key backed up
 * apart, copied to the configured key file (0600); without it a key must already be configured.
 */
export async function restoreDatabase(config: Config, file: string, keyFile?: string): Promise<RestoreReport> {
	const target = sqliteFile(config);
	const source = resolve(file);
	if (!existsSync(source)) throw new PortcullisError("ERR_BACKUP", `there is no backup at ${source}`);
	const dataDir = resolve(config.data_dir);
	if (existsSync(target)) throw new PortcullisError("ERR_BACKUP", `${target} already exists; restore only into an empty data directory`);
	const created = requireEmptyDataDir(dataDir);

	const written: string[] = [];
	const undo = () => {
		for (const path of written) rmSync(path, { force: true });
		if (created && readdirSync(dataDir).length === 0) rmSync(dataDir, { recursive: true, force: true });
	};
	try {
		if (keyFile !== undefined) {
			if (config.secrets.key !== "")
				throw new PortcullisError("ERR_BACKUP", "--key-file given, but the configuration already sets secrets.key: use one or the other");
			const key = readKey(resolve(keyFile));
			const destination = resolve(keyFilePath(config));
			if (existsSync(destination)) {
				if (!readKey(destination).equals(key))
					throw new PortcullisError("ERR_BACKUP", `${destination} already holds a different key; remove it or leave out --key-file`);
			} else {
				mkdirSync(resolve(destination, ".."), { recursive: true, mode: 0o700 });
				copyFileSync(resolve(keyFile), destination);
				written.push(destination);
				// copyFileSync keeps the source's mode; the key must be private whatever it was.
				chmodSync(destination, 0o600);
			}
		} else if (config.secrets.key === "" && !existsSync(keyFilePath(config))) {
			throw new PortcullisError(
				"ERR_BACKUP",
				`no secret key: pass --key-file with the key backed up apart (it belongs at ${resolve(keyFilePath(config))}); without it the restored second factors cannot be read`,
			);
		}
		written.push(...sqliteFiles(target));
		const copy = await copySqliteDatabase(source, target, config.database.sqlite_busy_timeout_ms);
		// Prove the key belongs to this backup before keeping anything: open it as the server would
		// (migrations of a newer build run here) and verify the audit chain, keyed from the secret key.
		const app = await createPortcullis(config, { database: { kind: "sqlite", file: target } });
		let auditEvents: number;
		let users: number;
		try {
			const verified = await app.stores.audit.verify();
			if (!verified.ok)
				throw new PortcullisError(
					"ERR_BACKUP",
					`the audit chain of ${basename(source)} does not verify with this secret key (${verified.reason}): the wrong key, or an altered backup; nothing was kept`,
				);
			auditEvents = verified.events;
			users = await app.stores.users.count();
		} finally {
			await app.close();
		}
		return { ...copy, keyLocation: secretKeyLocation(config), auditEvents, users };
	} catch (error) {
		undo();
		throw error;
	}
}
