/**
 * Audit summaries for connections dropped by MaxStartups / PerSourceMaxStartups. A flood is exactly
 * when drops happen, so each drop cannot be one audit row (that would turn a connection flood into
 * a database write flood). Instead, per source (sourceKey: IPv4 address or IPv6 /64):
 *
 *   - the first drop in a quiet period is reported at once (`refused: 1`);
 *   - further drops within `intervalMs` (one minute) are counted, not written;
 *   - the count is reported by the next drop after the interval, or by flush() (the gateway calls it
 *     every interval and at shutdown), so no drop goes unreported, at most one row per source per
 *     minute.
 *
 * Sources tracked at once are bounded (`maxSources`); beyond that, drops are counted under "*"
 * ("other sources") so a spoofed-source flood cannot grow this map. Time comes from the caller
 * (the app's Clock), so tests are deterministic.
 */
export type DropReason = "full" | "random-early-drop" | "per-source";

export interface DropSummary {
	readonly source: string;
	readonly refused: number;
	readonly byReason: Readonly<Record<DropReason, number>>;
}

interface Entry {
	lastReported: number;
	pending: Record<DropReason, number>;
}

const none = (): Record<DropReason, number> => ({ full: 0, "random-early-drop": 0, "per-source": 0 });
const total = (counts: Record<DropReason, number>): number => counts.full + counts["random-early-drop"] + counts["per-source"];

export class StartupDropAudit {
	readonly #entries = new Map<string, Entry>();

	constructor(
		private readonly intervalMs = 60_000,
		private readonly maxSources = 1024,
	) {}

	/** Records one drop; returns the summary to write now, or null (counted for a later summary). */
	record(source: string, reason: DropReason, nowMs: number): DropSummary | null {
		let key = source;
		if (!this.#entries.has(key) && this.#entries.size >= this.maxSources) key = "*";
		let entry = this.#entries.get(key);
		if (entry === undefined) {
			entry = { lastReported: Number.NEGATIVE_INFINITY, pending: none() };
			this.#entries.set(key, entry);
		}
		entry.pending[reason] += 1;
		if (nowMs - entry.lastReported < this.intervalMs) return null;
		return this.#report(key, entry, nowMs);
	}

	/**
	 * Summaries of counted drops whose interval has passed (all of them when `all`, at shutdown);
	 * forgets sources that have been quiet for a whole interval.
	 */
	flush(nowMs: number, all = false): DropSummary[] {
		const out: DropSummary[] = [];
		for (const [key, entry] of this.#entries) {
			const due = all || nowMs - entry.lastReported >= this.intervalMs;
			if (!due) continue;
			if (total(entry.pending) > 0) out.push(this.#report(key, entry, nowMs));
			else this.#entries.delete(key);
		}
		return out;
	}

	#report(key: string, entry: Entry, nowMs: number): DropSummary {
		const byReason = entry.pending;
		entry.pending = none();
		entry.lastReported = nowMs;
		return { source: key, refused: total(byReason), byReason };
	}
}
