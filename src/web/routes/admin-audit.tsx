/**
 * The audit log for admins: filtered pages (AUDIT_PAGE_SIZE events, newer/older by id) and the
 * JSON-lines export (itself audited).
 */
import { pageContext, sendPage, type RouteModule } from "../context.ts";
import { str } from "../forms.ts";
import { getRoute } from "../route-kit.ts";
import type { Notice } from "../views/login.tsx";
import type { AuditFilter, AuditRow } from "../../storage/audit-log.ts";
import { AdminAuditPage } from "../views/audit.tsx";

/** Events per page: a screenful or two, not a 9,700 px page after ten minutes of use. */
export const AUDIT_PAGE_SIZE = 50;

/** "2026-11-28T09:00" (datetime-local, read as UTC) or "2026-11-28" → epoch ms; "" → undefined; else null. */
export function parseUtc(value: string | undefined): number | undefined | null {
	if (value === undefined || value.trim() === "") return undefined;
	const text = value.trim();
	const match = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2}))?)?$/.exec(text);
	if (match === null) return null;
	const [, y, mo, d, h, mi, s] = match;
	const ms = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h ?? 0), Number(mi ?? 0), Number(s ?? 0));
	return Number.isFinite(ms) ? ms : null;
}

/** Details are stored as JSON text, truncated at 4000 characters; a truncated one is exported as text. */
function parseDetail(detail: string | null): unknown {
	if (detail === null) return null;
	try {
		return JSON.parse(detail) as unknown;
	} catch {
		return detail;
	}
}

export const adminAuditRoutes: RouteModule = (server, web) => {
	const { services } = web;

	// ---- audit ----

	const auditFields = { user: str(64), event: str(64), since: str(32), until: str(32), before: str(20), after: str(20) };

	function auditFilter(query: {
		user?: string;
		event?: string;
		since?: string;
		until?: string;
		before?: string;
		after?: string;
	}): AuditFilter | { error: string } {
		const since = parseUtc(query.since);
		const until = parseUtc(query.until);
		if (since === null || until === null) return { error: "Use dates like 2026-11-28 or 2026-11-28T09:30 (UTC)." };
		const before = query.before !== undefined && /^\d{1,15}$/.test(query.before) ? Number(query.before) : undefined;
		const filter: AuditFilter = {};
		if (query.user !== undefined && query.user.trim() !== "") filter.username = query.user.trim().normalize("NFKC").toLowerCase();
		if (query.event !== undefined && query.event.trim() !== "") filter.event = query.event.trim();
		if (since !== undefined) filter.since = since;
		if (until !== undefined) filter.until = until;
		if (before !== undefined) filter.beforeId = before;
		else if (query.after !== undefined && /^\d{1,15}$/.test(query.after)) filter.afterId = Number(query.after);
		return filter;
	}

	function filterQuery(query: Record<string, string | undefined>, extra: Record<string, string> = {}): string {
		const params = new URLSearchParams();
		for (const key of ["user", "event", "since", "until"]) {
			const value = query[key];
			if (value !== undefined && value !== "") params.set(key, value);
		}
		for (const [key, value] of Object.entries(extra)) params.set(key, value);
		const text = params.toString();
		return text === "" ? "" : `?${text}`;
	}

	getRoute(server, "/admin/audit", { access: "admin", fields: auditFields }, async (request, reply, query) => {
		const filter = auditFilter(query);
		const view = { user: query.user ?? "", event: query.event ?? "", since: query.since ?? "", until: query.until ?? "" };
		let rows: AuditRow[] = [];
		let shown: Notice = null;
		let olderHref: string | null = null;
		let newerHref: string | null = null;
		if ("error" in filter) shown = { kind: "error", text: filter.error };
		else {
			// One more than a page tells whether there is a further page in the direction read.
			const fetched = await services.audit.query({ ...filter, limit: AUDIT_PAGE_SIZE + 1 });
			const more = fetched.length > AUDIT_PAGE_SIZE;
			rows = filter.afterId !== undefined ? fetched.slice(fetched.length - Math.min(fetched.length, AUDIT_PAGE_SIZE)) : fetched.slice(0, AUDIT_PAGE_SIZE);
			const first = rows[0];
			const last = rows[rows.length - 1];
			const hasOlder =
				filter.afterId !== undefined
					? last !== undefined && (await services.audit.query({ ...filter, afterId: undefined, beforeId: Number(last.id), limit: 1 })).length > 0
					: more;
			const hasNewer =
				filter.afterId !== undefined
					? more
					: first !== undefined &&
						filter.beforeId !== undefined &&
						(await services.audit.query({ ...filter, beforeId: undefined, afterId: Number(first.id), limit: 1 })).length > 0;
			if (hasOlder && last !== undefined) olderHref = `/admin/audit${filterQuery(query, { before: String(last.id) })}`;
			if (hasNewer && first !== undefined) newerHref = `/admin/audit${filterQuery(query, { after: String(first.id) })}`;
		}
		return sendPage(
			reply,
			"error" in filter ? 400 : 200,
			<AdminAuditPage
				ctx={pageContext(request)}
				rows={rows}
				filter={view}
				exportHref={`/admin/audit.jsonl${filterQuery(query)}`}
				olderHref={olderHref}
				newerHref={newerHref}
				pageSize={AUDIT_PAGE_SIZE}
				notice={shown}
			/>,
		);
	});

	/** Decision 12: exportable as JSON lines, one event per line, newest first. */
	getRoute(server, "/admin/audit.jsonl", { access: "admin", fields: auditFields }, async (request, reply, query) => {
		const filter = auditFilter(query);
		if ("error" in filter) return reply.code(400).header("cache-control", "no-store").type("text/plain; charset=utf-8").send(`${filter.error}\n`);
		const rows = await services.audit.query({ ...filter, limit: 10_000 });
		const lines = rows.map((row) =>
			JSON.stringify({
				id: row.id,
				at: new Date(Number(row.at)).toISOString(),
				event: row.event,
				outcome: row.outcome,
				user: row.username,
				actor: row.actor,
				channel: row.channel,
				method: row.method,
				source: row.source,
				detail: parseDetail(row.detail),
			}),
		);
		await services.audit.write({
			event: "audit.exported",
			outcome: "info",
			actor: request.web.user?.username ?? null,
			channel: "web",
			source: request.ip,
			detail: { rows: rows.length },
		});
		return reply
			.header("cache-control", "no-store")
			.header("content-disposition", 'attachment; filename="portcullis-audit.jsonl"')
			.type("application/x-ndjson; charset=utf-8")
			.send(lines.length === 0 ? "" : `${lines.join("\n")}\n`);
	});
};
