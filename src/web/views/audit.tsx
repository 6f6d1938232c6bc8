/**
 * The admin audit log page: a filter form, one page of events, newer/older links. Times to the
 * second with the zone; an event's detail (stored as JSON text) shown as labelled fields.
 */
import type { AuditRow } from "../../storage/audit-log.ts";
import { Field, Layout, TimeSeconds, type PageContext } from "./layout.tsx";
import { NoticeBox, type Notice } from "./login.tsx";

export interface AuditFilterView {
	readonly user: string;
	readonly event: string;
	readonly since: string;
	readonly until: string;
}

/** "factorId" / "factor_id" → "factor id": field names as words. */
export function detailLabel(key: string): string {
	return key
		.replace(/([a-z0-9])([A-Z])/g, "$1 $2")
		.replace(/[_-]+/g, " ")
		.toLowerCase()
		.trim();
}

/** One value in words: lists joined, yes/no, nested objects as compact JSON (rare: kept whole, not lost). */
export function detailValue(value: unknown): string {
	// "not set", not "none": a null allowed-methods list means "no restriction", the opposite of none.
	if (value === null || value === undefined) return "not set";
	if (typeof value === "boolean") return value ? "yes" : "no";
	if (typeof value === "string") return value === "" ? "(empty)" : value;
	if (typeof value === "number" || typeof value === "bigint") return String(value);
	if (Array.isArray(value)) return value.length === 0 ? "none" : value.map(detailValue).join(", ");
	return JSON.stringify(value);
}

/** The stored detail as (label, value) pairs; text that is not a JSON object (a truncated detail) is one "detail" field. */
export function detailFields(detail: string | null): { label: string; value: string }[] {
	if (detail === null || detail === "") return [];
	let parsed: unknown;
	try {
		parsed = JSON.parse(detail);
	} catch {
		return [{ label: "detail", value: detail }];
	}
	if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) return [{ label: "detail", value: detailValue(parsed) }];
	return Object.entries(parsed as Record<string, unknown>).map(([key, value]) => ({ label: detailLabel(key), value: detailValue(value) }));
}

function Detail({ detail }: { detail: string | null }) {
	const fields = detailFields(detail);
	if (fields.length === 0) return null;
	return (
		<dl class="detail-fields">
			{fields.map((field) => (
				<div>
					<dt>{field.label}</dt>
					<dd>{field.value}</dd>
				</div>
			))}
		</dl>
	);
}

export function AdminAuditPage({
	ctx,
	rows,
	filter,
	exportHref,
	olderHref,
	newerHref,
	pageSize,
	notice,
}: {
	ctx: PageContext;
	rows: readonly AuditRow[];
	filter: AuditFilterView;
	exportHref: string;
	olderHref: string | null;
	newerHref: string | null;
	pageSize: number;
	notice: Notice;
}) {
	const pager =
		olderHref !== null || newerHref !== null ? (
			<nav class="pager" aria-label="Audit log pages">
				{newerHref !== null ? (
					<a href={newerHref} rel="prev">
						← Newer events
					</a>
				) : (
					<span />
				)}
				{olderHref !== null ? (
					<a href={olderHref} rel="next">
						Older events →
					</a>
				) : null}
			</nav>
		) : null;
	return (
		<Layout ctx={ctx} title="Audit log">
			<NoticeBox notice={notice} />
			<form method="get" action="/admin/audit" class="card filters">
				<Field id="f-user" name="user" label="User" value={filter.user} maxLength={64} />
				<Field id="f-event" name="event" label="Event" hint="login finds every login.* event" value={filter.event} maxLength={64} />
				<Field id="f-since" name="since" label="From (UTC)" type="datetime-local" value={filter.since} maxLength={32} />
				<Field id="f-until" name="until" label="Until (UTC)" type="datetime-local" value={filter.until} maxLength={32} />
				<div class="filter-actions">
					<button type="submit" class="primary">
						Filter
					</button>
					<a href={exportHref}>Export as JSON lines</a>
				</div>
			</form>
			<section class="card table-wrap">
				<p class="hint">Newest first, {pageSize} per page. Times are UTC, to the second.</p>
				{pager}
				{rows.length === 0 ? (
					<p>No events match.</p>
				) : (
					<table class="audit">
						<caption class="visually-hidden">Audit events, newest first</caption>
						<thead>
							<tr>
								<th scope="col">Time (UTC)</th>
								<th scope="col">Event</th>
								<th scope="col">Outcome</th>
								<th scope="col">User</th>
								<th scope="col">By</th>
								<th scope="col">Channel</th>
								<th scope="col">Method</th>
								<th scope="col">Source</th>
								<th scope="col">Detail</th>
							</tr>
						</thead>
						<tbody>
							{rows.map((row) => (
								<tr data-event-id={String(row.id)}>
									<td class="nowrap">
										<TimeSeconds ms={Number(row.at)} />
									</td>
									<td>{row.event}</td>
									<td>
										<span class={`tag ${row.outcome === "failure" ? "tag-bad" : row.outcome === "success" ? "tag-good" : ""}`}>{row.outcome}</span>
									</td>
									<td>{row.username ?? ""}</td>
									<td>{row.actor ?? ""}</td>
									<td>{row.channel ?? ""}</td>
									<td>{row.method ?? ""}</td>
									<td>{row.source ?? ""}</td>
									<td class="detail">
										<Detail detail={row.detail} />
									</td>
								</tr>
							))}
						</tbody>
					</table>
				)}
				{pager}
			</section>
		</Layout>
	);
}
