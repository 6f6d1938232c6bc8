/**
 * `portcullis audit`: the audit trail (Decision 12), oldest first; `--json` is a JSON-lines export.
 * `portcullis audit verify`: walks the hash chain (docs/operations.md "Audit chain and `portcullis audit verify`").
 */
import type { Command } from "commander";
import { PortcullisError } from "../../core/errors.ts";
import { canonicalUsername } from "../../core/username.ts";
import type { AuditRow } from "../../storage/audit-log.ts";
import { withApp, type CommonOptions } from "../context.ts";
import { UsageError } from "../errors.ts";
import { iso } from "../format.ts";
import { println, type CliIo } from "../io.ts";

type AddCommon = (command: Command) => Command;

const PAGE = 10_000;

function parseTime(flag: string, text: string): number {
	// ISO 8601 only: Date.parse also accepts locale formats we do not want to guess at.
	if (!/^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(text))
		throw new UsageError(`${flag} must be an ISO 8601 date or time, e.g. 2026-11-28 or 2026-11-28T09:00:00Z`);
	const ms = Date.parse(text);
	if (Number.isNaN(ms)) throw new UsageError(`${flag} is not a valid date: ${JSON.stringify(text.slice(0, 40))}`);
	return ms;
}

function detail(row: AuditRow): unknown {
	if (row.detail === null) return null;
	try {
		return JSON.parse(row.detail) as unknown;
	} catch {
		return row.detail; // truncated at 4000 characters when written: keep the text
	}
}

export function exportRow(row: AuditRow): Record<string, unknown> {
	return {
		id: Number(row.id),
		at: iso(Number(row.at)),
		event: row.event,
		outcome: row.outcome,
		user: row.username,
		actor: row.actor,
		channel: row.channel,
		method: row.method,
		source: row.source,
		detail: detail(row),
	};
}

export function registerAuditCommand(program: Command, io: CliIo, common: AddCommon): void {
	const audit = program.command("audit");
	common(audit.command("verify").description("check the audit log's hash chain: OK with the count, or the first broken link (exit 1)")).action(
		async (options: CommonOptions) => {
			await withApp(options, async (cli) => {
				const result = await cli.audit.verify();
				if (!result.ok) {
					const at = result.eventId === null ? "" : ` at event #${result.eventId}`;
					throw new PortcullisError("ERR_AUDIT_CHAIN", `audit chain broken${at}: ${result.reason} (${result.checked} events before it verified)`);
				}
				const legacy = result.legacy > 0 ? `, ${result.legacy} older events from before the chain began (not chained)` : "";
				println(io.stdout, `audit chain OK: ${result.events} events verified${legacy}; head ${result.headSeq} ${result.headHash}`);
			});
		},
	);
	common(
		audit
			.description("print the audit log, oldest first")
			.option("--user <name>", "only events about this user")
			.option("--event <event>", "only this event, or a family: login finds login.*, ssh.sess* every name starting so")
			.option("--since <iso>", "only events at or after this time")
			.option("--until <iso>", "only events at or before this time")
			.option("--json", "one JSON object per line (JSON lines)"),
	).action(async (options: CommonOptions & { user?: string; event?: string; since?: string; until?: string; json?: boolean }) => {
		const since = options.since === undefined ? undefined : parseTime("--since", options.since);
		const until = options.until === undefined ? undefined : parseTime("--until", options.until);
		const username = options.user === undefined ? undefined : (canonicalUsername(options.user) ?? options.user);
		await withApp(options, async (cli) => {
			const rows: AuditRow[] = [];
			let beforeId: number | undefined;
			for (;;) {
				const page = await cli.audit.query({
					...(username !== undefined ? { username } : {}),
					...(options.event !== undefined ? { event: options.event } : {}),
					...(since !== undefined ? { since } : {}),
					...(until !== undefined ? { until } : {}),
					...(beforeId !== undefined ? { beforeId } : {}),
					limit: PAGE,
				});
				rows.push(...page);
				if (page.length < PAGE) break;
				beforeId = Number(page[page.length - 1]?.id);
			}
			rows.reverse();
			for (const row of rows) {
				const entry = exportRow(row);
				if (options.json === true) {
					println(io.stdout, JSON.stringify(entry));
					continue;
				}
				const who = row.username ?? "-";
				const by = row.actor === null ? "" : ` by ${row.actor}`;
				const where = [row.channel, row.method, row.source].filter((part) => part !== null).join(" ");
				const extra = row.detail === null ? "" : ` ${row.detail}`;
				println(io.stdout, `${entry.at as string} ${row.event} ${row.outcome} ${who}${by}${where ? ` (${where})` : ""}${extra}`);
			}
		});
	});
}
