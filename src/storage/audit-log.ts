import type { Kysely, Selectable } from "kysely";
import type { Clock } from "../core/clock.ts";
import type { AuditEventsTable, Database } from "./schema.ts";

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
	// eslint-disable-next-line no-control-regex
	return value.replace(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g, "?").slice(0, max);
}

/** Append-only audit trail (Decision 12), in the shared database so every node writes to one log. */
export class AuditLog {
	constructor(
		private readonly db: Kysely<Database>,
		private readonly clock: Clock,
	) {}

	async write(event: AuditEvent): Promise<void> {
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
