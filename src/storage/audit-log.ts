import type { Kysely, Selectable } from "kysely";
import type { Clock } from "../core/clock.ts";
import { errorFields, fallbackLogger, type Logger } from "../core/logger.ts";
import type { AuditEventsTable, Database } from "./schema.ts";
import { stripUnsafe } from "../core/untrusted-text.ts";

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

export interface AuditFilter {
	username?: string;
	event?: string;
	since?: number;
	until?: number;
	limit?: number;
	beforeId?: number;
}

/** Strips control characters (log injection, terminal escapes) and caps length. */
function clean(value: string | null | undefined, max = 200): string | null {
	if (value === null || value === undefined) return null;
	return stripUnsafe(value, { replacement: "?" }).slice(0, max);
}

/** Append-only audit trail (Decision 12), in the shared database so every node writes to one log. */
export class AuditLog {
	#failedWrites = 0;

	constructor(
		private readonly db: Kysely<Database>,
		private readonly clock: Clock,
		private readonly logger: Logger = fallbackLogger(),
	) {}

	/** Audit writes that failed since start (each also logged at error level). */
	get failedWrites(): number {
		return this.#failedWrites;
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

	/** Writes one event; a failure is logged at error level, counted, and rethrown. */
	async write(event: AuditEvent): Promise<void> {
		try {
			await this.insert(event);
		} catch (error) {
			this.#failedWrites += 1;
			this.logger.error(
				{ ...errorFields(error), event: event.event, outcome: event.outcome, channel: event.channel ?? null, failedWrites: this.#failedWrites },
				"audit write failed",
			);
			throw error;
		}
	}

	private async insert(event: AuditEvent): Promise<void> {
		await this.db
			.insertInto("audit_events")
			.values({
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
			})
			.execute();
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
		if (filter.event) query = query.where("event", "=", filter.event);
		if (filter.since !== undefined) query = query.where("at", ">=", filter.since);
		if (filter.until !== undefined) query = query.where("at", "<=", filter.until);
		if (filter.beforeId !== undefined) query = query.where("id", "<", filter.beforeId);
		return query
			.orderBy("id", "desc")
			.limit(Math.min(filter.limit ?? 200, 10_000))
			.execute();
	}
}
