import { sql, type Kysely, type Selectable, type Transaction } from "kysely";
import type { Clock } from "../core/clock.ts";
import { errorFields, type Logger } from "../core/logger.ts";
import type { AuditEventsTable, Database } from "./schema.ts";
import { PortcullisError } from "../core/errors.ts";
import { stripUnsafe } from "../core/untrusted-text.ts";
import type { AuditChain, ChainedFields, VerifyResult } from "./audit-chain.ts";
import { inTransaction } from "./in-transaction.ts";

export type AuditRow = Selectable<AuditEventsTable>;

export interface AuditEvent {
	event: string;
	outcome: "success" | "failure" | "info";
	userId?: string | null;
	username?: string | null;
	actor?: string | null;
	channel?: string | null;
	method?: string | null;
	source?: string | null;
	detail?: Record<string, unknown>;
}

/** Told of a committed event; must not throw (it runs on the login path). */
export type AuditObserver = (event: AuditEvent) => void;

export interface AuditFilter {
	username?: string;
	/**
	 * An event name or a prefix of names: "login.success" matches that event only, "login" matches it
	 * and every "login.*" event, "login.su*" matches every name that starts with "login.su".
	 */
	event?: string;
	since?: number;
	until?: number;
	limit?: number;
	/** Older than this id (the next page, newest first). */
	beforeId?: number;
	/** Newer than this id: the page just above it, still returned newest first. */
	afterId?: number;
}

/** The comparisons `AuditFilter.event` stands for: an exact name, or a prefix that names must start with. */
export function eventMatch(filter: string): { exact: string; prefix: string } | { prefix: string } {
	if (filter.endsWith("*")) return { prefix: filter.replace(/\*+$/, "") };
	const name = filter.replace(/\.+$/, "");
	return { exact: name, prefix: `${name}.` };
}

/** At most this many events per group commit: 13 columns each stays under SQLite's default 999 bound parameters. */
const MAX_BATCH = 64;

interface Pending {
	readonly event: AuditEvent;
	readonly fields: ChainedFields;
	resolve(): void;
	reject(error: unknown): void;
}

/** Strips control characters (log injection, terminal escapes) and caps length. */
function clean(value: string | null | undefined, max = 200): string | null {
	if (value === null || value === undefined) return null;
	return stripUnsafe(value, { replacement: "?" }).slice(0, max);
}

/**
 * Append-only audit trail (Decision 12), in the shared database so every node writes to one log.
 * Every event is appended to the hash chain (audit-chain.ts). A change and its event commit together:
 * a unit of work (unit-of-work.ts) writes its events with `writeIn` inside its own transaction;
 * `write` on a log bound to a transaction joins it, otherwise it runs in a transaction of its own.
 */
export class AuditLog {
	/** Shared by every log bound from this one (`bound`), so the count covers the whole process. */
	readonly #failures: { count: number };
	/** Told of each event once it is committed outside a transaction (metrics: storage/audit-metrics.ts). */
	readonly #observe: AuditObserver;
	/** Events waiting for the next group commit (`write` outside a transaction). */
	readonly #queue: Pending[] = [];
	#draining = false;

	constructor(
		private readonly db: Kysely<Database>,
		private readonly clock: Clock,
		private readonly logger: Logger,
		private readonly chain: AuditChain,
		failures: { count: number } = { count: 0 },
		observe: AuditObserver = () => undefined,
	) {
		this.#failures = failures;
		this.#observe = observe;
	}

	/** The same log writing inside `trx`: its events commit or roll back with that transaction. */
	bound(trx: Transaction<Database>): AuditLog {
		return new AuditLog(trx, this.clock, this.logger, this.chain, this.#failures, this.#observe);
	}

	/** Audit writes that failed since start (each also logged at error level). */
	get failedWrites(): number {
		return this.#failures.count;
	}

	/** Walks the hash chain: OK with the count, or the first broken link (`portcullis audit verify`). */
	verify(): Promise<VerifyResult> {
		return this.chain.verify(this.db);
	}

	/**
	 * For paths that must go on when the audit log cannot be written (closing a revoked connection,
	 * reporting a channel error): writes, and on failure logs at error level and counts instead of
	 * rejecting. Never a silent `.catch(() => undefined)`.
	 */
	async record(event: AuditEvent): Promise<void> {
		try {
			await this.write(event);
		} catch {
			// Logged and counted by write().
		}
	}

	/**
	 * Writes one event and resolves once it is committed; a failure is logged at error level,
	 * counted, and rethrown. On a log bound to a transaction the event joins that transaction.
	 * Otherwise it is appended by a group commit: events written while one append is in flight go
	 * together in the next transaction, so concurrent logins share one hold of the chain head and
	 * one commit instead of queueing for it one by one.
	 */
	async write(event: AuditEvent): Promise<void> {
		if (this.db.isTransaction) {
			const trx = this.db as Transaction<Database>;
			await this.guarded([event], () => this.chain.append(trx, [this.fields(event)]));
			return;
		}
		await new Promise<void>((resolve, reject) => {
			this.#queue.push({ event, fields: this.fields(event), resolve, reject });
			void this.#drain();
		});
		// Only once committed: an event that rolled back never happened. Events written inside a
		// unit of work (admin changes) are not observed: their commit is not known here.
		this.#observe(event);
	}

	async #drain(): Promise<void> {
		if (this.#draining) return;
		this.#draining = true;
		try {
			while (this.#queue.length > 0) {
				const batch = this.#queue.splice(0, MAX_BATCH);
				try {
					await this.#append(batch);
					for (const pending of batch) pending.resolve();
				} catch (error) {
					if (batch.length === 1) {
						batch[0]!.reject(this.failed([batch[0]!.event], error));
						continue;
					}
					// One event the database refuses must not take the others with it: each again on its own.
					for (const pending of batch) {
						try {
							await this.#append([pending]);
							pending.resolve();
						} catch (single) {
							pending.reject(this.failed([pending.event], single));
						}
					}
				}
			}
		} finally {
			this.#draining = false;
		}
	}

	#append(batch: readonly Pending[]): Promise<void> {
		return inTransaction(this.db, (trx) =>
			this.chain.append(
				trx,
				batch.map((pending) => pending.fields),
			),
		);
	}

	/**
	 * Writes `events` in order inside `trx`, the transaction of the change they record; a failure
	 * is logged and counted, and rethrown so that the change rolls back with it (fail closed).
	 */
	async writeIn(trx: Transaction<Database>, events: readonly AuditEvent[]): Promise<void> {
		await this.guarded(events, () =>
			this.chain.append(
				trx,
				events.map((event) => this.fields(event)),
			),
		);
	}

	private async guarded(events: readonly AuditEvent[], write: () => Promise<void>): Promise<void> {
		try {
			await write();
		} catch (error) {
			throw this.failed(events, error);
		}
	}

	/** Logs and counts a failed write; the coded error to throw (docs/errors.md ERR_DATABASE). The change it records rolls back with it. */
	private failed(events: readonly AuditEvent[], error: unknown): PortcullisError {
		this.#failures.count += events.length;
		for (const event of events) {
			this.logger.error(
				{ ...errorFields(error), event: event.event, outcome: event.outcome, channel: event.channel ?? null, failedWrites: this.#failures.count },
				"audit write failed",
			);
		}
		return new PortcullisError("ERR_DATABASE", "the audit log could not be written", { cause: error });
	}

	private fields(event: AuditEvent): ChainedFields {
		return {
			at: this.clock.now().getTime(),
			event: event.event,
			outcome: event.outcome,
			user_id: event.userId ?? null,
			username: clean(event.username),
			actor: clean(event.actor),
			channel: event.channel ?? null,
			method: event.method ?? null,
			source: clean(event.source, 100),
			detail: event.detail === undefined ? null : JSON.stringify(event.detail).slice(0, 4000),
		};
	}

	/** Users who ever logged in on the web console (the enrolment-status view: SSH-only users cannot enrol over SSH). */
	async webLoginUserIds(): Promise<Set<string>> {
		const rows = await this.db
			.selectFrom("audit_events")
			.select("user_id")
			.distinct()
			.where("event", "=", "login.success")
			.where("channel", "=", "web")
			.where("user_id", "is not", null)
			.execute();
		return new Set(rows.map((row) => row.user_id as string));
	}

	async query(filter: AuditFilter = {}): Promise<AuditRow[]> {
		let query = this.db.selectFrom("audit_events").selectAll();
		if (filter.username) query = query.where("username", "=", filter.username);
		if (filter.event) {
			const match = eventMatch(filter.event);
			// substr(), not LIKE: "_" and "%" in a filter stay literal, and both engines count characters alike.
			const starts = sql<string>`substr(${sql.ref("event")}, 1, ${sql.lit(Array.from(match.prefix).length)})`;
			query = query.where((eb) => ("exact" in match ? eb.or([eb("event", "=", match.exact), eb(starts, "=", match.prefix)]) : eb(starts, "=", match.prefix)));
		}
		if (filter.since !== undefined) query = query.where("at", ">=", filter.since);
		if (filter.until !== undefined) query = query.where("at", "<=", filter.until);
		if (filter.beforeId !== undefined) query = query.where("id", "<", filter.beforeId);
		const limit = Math.min(filter.limit ?? 200, 10_000);
		if (filter.afterId !== undefined) {
			// The events just above afterId: the nearest ones first, then turned back to newest first.
			const rows = await query.where("id", ">", filter.afterId).orderBy("id", "asc").limit(limit).execute();
			return rows.reverse();
		}
		return query.orderBy("id", "desc").limit(limit).execute();
	}
}
