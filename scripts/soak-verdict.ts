/**
 * The soak's growth rule (docs/operations.md "Soak and fault tests", "The growth rule"), pure so
 * that it can be tested on synthetic series (test/ops/soak-verdict.test.ts).
 *
 * The rounds after the warm-up are cut in thirds (the first third, when not a multiple of three,
 * takes the remainder); the first third is left out and the middle and last thirds are judged:
 *
 *   - RSS: the least-squares line through the judged rounds may rise across them by at most
 *     `maxGrowthPercent` of their median. A V8 heap that grows to its working size and is then
 *     not shrunk (the gateway runs with --no-memory-reducer, src/app/node-flags.ts) rises early
 *     and sits on a plateau: the judged rounds sit on it and the line is flat, whatever the garbage
 *     collector's timing adds or takes from single rounds. A leak keeps rising at a steady rate r
 *     per round, and the line rises by r times the number of judged rounds (2n/3 of n): over n
 *     rounds a leak above 1.5·maxGrowth/n percent of RSS per round fails (30-minute run, 45
 *     rounds of 30 s, 5 %: 0.17 % per round, about 0.5 MiB per 30 s on 300 MiB, 60 MiB an hour).
 *     The medians of the two thirds are reported beside it, for the reader.
 *   - Open file descriptors and active handles: exact. What the node holds while idle is the
 *     floor of the series (traffic in flight can only add to it), so the lowest count of the last
 *     third may not exceed the lowest count of the middle third: one descriptor leaked per round
 *     fails, however many sockets were still closing when a round was measured.
 */

export interface RoundStats {
	readonly rss: number;
	readonly fds: number;
	readonly handles: number;
}

export interface GrowthVerdict {
	readonly pass: boolean;
	/** Rise of the least-squares line across the judged rounds, in percent of their median RSS (decides). */
	readonly rssGrowthPercent: number;
	/** Slope of that line, bytes per round. */
	readonly rssSlopePerRound: number;
	/** Median RSS of the last third over the middle third, in percent (information only). */
	readonly rssMedianGrowthPercent: number;
	readonly fdFloor: { readonly middle: number; readonly last: number };
	readonly handleFloor: { readonly middle: number; readonly last: number };
	/** Why it failed, one line per reason (empty when it passed). */
	readonly reasons: readonly string[];
}

export const MIN_MEASURED_ROUNDS = 3;

export function median(values: readonly number[]): number {
	if (values.length === 0) throw new Error("median of nothing");
	const sorted = [...values].sort((a, b) => a - b);
	const middle = Math.floor(sorted.length / 2);
	return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** Slope of the least-squares line through (i, values[i]). */
export function slope(values: readonly number[]): number {
	const n = values.length;
	if (n < 2) return 0;
	const meanX = (n - 1) / 2;
	const meanY = values.reduce((sum, value) => sum + value, 0) / n;
	let num = 0;
	let den = 0;
	for (let i = 0; i < n; i++) {
		num += (i - meanX) * (values[i]! - meanY);
		den += (i - meanX) ** 2;
	}
	return num / den;
}

/**
 * `measured`: one node's rounds after the warm-up, in order. `countSlack` (0: exact) is how much
 * the fd and handle floors may rise: the 2-minute CI run has thirds of three rounds, too few for a
 * floor to be reached every time on a loaded machine, and uses 2; a leak of one per round still
 * raises the floor by a third's length (3) or more.
 */
export function growthVerdict(measured: readonly RoundStats[], maxGrowthPercent: number, countSlack = 0): GrowthVerdict {
	if (measured.length < MIN_MEASURED_ROUNDS) throw new Error(`the growth rule needs at least ${MIN_MEASURED_ROUNDS} rounds after the warm-up`);
	const third = Math.floor(measured.length / 3);
	const middle = measured.slice(measured.length - 2 * third, measured.length - third);
	const last = measured.slice(measured.length - third);
	const judged = [...middle, ...last].map((round) => round.rss);
	const rssSlopePerRound = slope(judged);
	const rssGrowthPercent = ((rssSlopePerRound * judged.length) / median(judged)) * 100;
	const middleRss = median(middle.map((round) => round.rss));
	const rssMedianGrowthPercent = ((median(last.map((round) => round.rss)) - middleRss) / middleRss) * 100;
	const floor = (rounds: readonly RoundStats[], pick: (round: RoundStats) => number) => Math.min(...rounds.map(pick));
	const fdFloor = { middle: floor(middle, (round) => round.fds), last: floor(last, (round) => round.fds) };
	const handleFloor = { middle: floor(middle, (round) => round.handles), last: floor(last, (round) => round.handles) };
	const reasons: string[] = [];
	if (rssGrowthPercent > maxGrowthPercent)
		reasons.push(`RSS grew ${rssGrowthPercent.toFixed(1)} % across the last two thirds (least squares; limit ${maxGrowthPercent} %)`);
	if (fdFloor.last > fdFloor.middle + countSlack) reasons.push(`open file descriptors: floor ${fdFloor.middle} → ${fdFloor.last}`);
	if (handleFloor.last > handleFloor.middle + countSlack) reasons.push(`active handles: floor ${handleFloor.middle} → ${handleFloor.last}`);
	return { pass: reasons.length === 0, rssGrowthPercent, rssSlopePerRound, rssMedianGrowthPercent, fdFloor, handleFloor, reasons };
}
