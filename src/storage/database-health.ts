/**
 * Database health: tells an outage (the database cannot be reached or cannot write right now) from
 * every other failure, logs exactly one error line when the database goes away and one when it is
 * back, and answers readiness probes. Adapters ask `isOutage(error)` in their error paths to answer
 * "temporarily unavailable" (web 503, SSH one-line notice) instead of a generic failure; the login
 * is refused either way (fail closed: nothing is ever decided from a cached policy).
 *
 * Classification uses the drivers' own codes: Node's socket errors (ECONNREFUSED, ECONNRESET…),
 * PostgreSQL SQLSTATE classes 08 (connection exception), 53 (insufficient resources), 57P01-57P03
 * (admin/crash shutdown, cannot connect now) and 57014 (statement_timeout), node-postgres' own
 * timeout and "connection terminated" messages, and SQLite's BUSY, LOCKED, READONLY, CANTOPEN,
 * IOERR, FULL result codes (https://www.sqlite.org/rescode.html).
 */
import { type Kysely, sql } from "kysely";
import type { Migrator } from "kysely/migration";
import { PortcullisError } from "../core/errors.ts";
import { errorFields, type Logger } from "../core/logger.ts";
import type { Database } from "./schema.ts";

const SOCKET_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "EHOSTUNREACH", "ENETUNREACH", "ENOTFOUND", "EAI_AGAIN", "ECONNABORTED"]);
const PG_CODES = new Set(["57P01", "57P02", "57P03", "57014", "53300", "53200", "53100"]);
const SQLITE_PREFIXES = ["SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_IOERR", "SQLITE_FULL", "SQLITE_PROTOCOL"];
/** node-postgres and pg-pool report these without a code. */
const PG_MESSAGES = [
	/timeout exceeded when trying to connect/i,
	/connection terminated/i,
	/query read timeout/i,
	/client has encountered a connection error/i,
	/cannot use a pool after calling end/i,
	/connection timeout/i,
];

/** The code carried by the outage error in logs (docs/errors.md). */
export const DATABASE_UNAVAILABLE = "ERR_DATABASE_UNAVAILABLE";

/** True when `error` (or one of its causes) says the database cannot be reached or written right now. */
export function isDatabaseOutageError(error: unknown): boolean {
	let current: unknown = error;
	for (let depth = 0; depth < 6 && current !== null && typeof current === "object"; depth++) {
		if (current instanceof PortcullisError && current.code === "ERR_DATABASE_UNAVAILABLE") return true;
		const code = (current as { code?: unknown }).code;
		if (typeof code === "string") {
			if (SOCKET_CODES.has(code) || PG_CODES.has(code) || code.startsWith("08")) return true;
			if (SQLITE_PREFIXES.some((prefix) => code.startsWith(prefix))) return true;
		}
		const message = (current as { message?: unknown }).message;
		if (typeof message === "string" && PG_MESSAGES.some((pattern) => pattern.test(message))) return true;
		// AggregateError (happy-eyeballs connect to several addresses) keeps the socket errors in `errors`.
		const errors = (current as { errors?: unknown }).errors;
		if (Array.isArray(errors) && errors.some((inner) => isDatabaseOutageError(inner))) return true;
		current = (current as { cause?: unknown }).cause;
	}
	return false;
}

export interface Readiness {
	readonly ready: boolean;
	readonly checks: { readonly database: boolean; readonly migrations: boolean; readonly secretKey: boolean };
}

export interface DatabaseHealthOptions {
	readonly db: Kysely<Database>;
	readonly dialect: "sqlite" | "postgres";
	readonly logger: Logger;
	/** Names every migration the code knows (open-database.ts), to tell whether the schema is current. */
	readonly migrator: Migrator;
	/** How often to probe while the database is down (and, slower, while it is up). */
	readonly probeMs: number;
	/** The longest a probe may take before it counts as a failure. */
	readonly probeTimeoutMs: number;
}

export class DatabaseHealth {
	#down = false;
	#since = 0;
	#timer: NodeJS.Timeout | null = null;
	#probing: Promise<boolean> | null = null;
	#stopped = false;

	constructor(private readonly options: DatabaseHealthOptions) {}

	/** False from the first outage error until a probe succeeds again. */
	get available(): boolean {
		return !this.#down;
	}

	/**
	 * Called by adapters with any error they caught: true when it is an outage (the caller answers
	 * "temporarily unavailable"); the first one logs the outage line and starts probing for recovery.
	 */
	isOutage(error: unknown): boolean {
		if (!isDatabaseOutageError(error)) return false;
		this.#markDown(error);
		return true;
	}

	/** Starts the background probe (every probeMs while down, every 5 × probeMs while up). */
	start(): void {
		this.#stopped = false;
		this.#schedule();
	}

	stop(): void {
		this.#stopped = true;
		if (this.#timer !== null) clearTimeout(this.#timer);
		this.#timer = null;
	}

	/** One round trip to the database now, bounded by probeTimeoutMs; updates the state and logs transitions. */
	probe(): Promise<boolean> {
		this.#probing ??= this.#probeOnce().finally(() => {
			this.#probing = null;
		});
		return this.#probing;
	}

	/** Readiness: the database answers now, every known migration is applied, the secret key is loaded. */
	async readiness(secretKeyLoaded: boolean): Promise<Readiness> {
		const database = await this.probe();
		let migrations = false;
		if (database) {
			try {
				const known = await withDeadline(this.options.migrator.getMigrations(), this.options.probeTimeoutMs);
				migrations = known.every((migration) => migration.executedAt !== undefined);
			} catch (error) {
				this.isOutage(error);
			}
		}
		return { ready: database && migrations && secretKeyLoaded, checks: { database, migrations, secretKey: secretKeyLoaded } };
	}

	async #probeOnce(): Promise<boolean> {
		try {
			await withDeadline(this.#roundTrip(), this.options.probeTimeoutMs);
			this.#markUp();
			return true;
		} catch (error) {
			// Any failure of `select 1` means the database cannot serve requests, whatever its code.
			this.#markDown(error);
			return false;
		}
	}

	/**
	 * PostgreSQL: `select 1` on a pool connection (connects if needed). SQLite: take and release the
	 * write lock (BEGIN IMMEDIATE; ROLLBACK) on the one connection, since a locked or read-only file
	 * still answers reads: without this, every failed write would be followed by a "back" line.
	 */
	async #roundTrip(): Promise<void> {
		if (this.options.dialect === "postgres") {
			await sql`select 1`.execute(this.options.db);
			return;
		}
		await this.options.db.connection().execute(async (connection) => {
			await sql`begin immediate`.execute(connection);
			await sql`rollback`.execute(connection);
		});
	}

	#markDown(error: unknown): void {
		if (this.#down) return;
		this.#down = true;
		this.#since = Date.now();
		this.options.logger.error({ code: DATABASE_UNAVAILABLE, cause: errorFields(error) }, "database unavailable: requests are refused until it is back");
		this.#schedule();
	}

	#markUp(): void {
		if (!this.#down) return;
		this.#down = false;
		this.options.logger.error({ code: DATABASE_UNAVAILABLE, downMs: Date.now() - this.#since }, "database available again");
		this.#schedule();
	}

	#schedule(): void {
		if (this.#stopped) return;
		if (this.#timer !== null) clearTimeout(this.#timer);
		this.#timer = setTimeout(
			() => {
				this.#timer = null;
				void this.probe().finally(() => {
					if (this.#timer === null) this.#schedule();
				});
			},
			this.#down ? this.options.probeMs : this.options.probeMs * 5,
		);
		this.#timer.unref();
	}
}

/** Rejects with a timeout error when `promise` takes longer than `ms` (the promise itself runs on). */
function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
	return new Promise<T>((resolve, reject) => {
		const timer = setTimeout(() => reject(new PortcullisError("ERR_DATABASE_UNAVAILABLE", `database did not answer within ${ms} ms`)), ms);
		timer.unref();
		promise.then(
			(value) => {
				clearTimeout(timer);
				resolve(value);
			},
			(error: unknown) => {
				clearTimeout(timer);
				reject(error);
			},
		);
	});
}
