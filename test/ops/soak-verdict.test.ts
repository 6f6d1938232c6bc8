/**
 * The soak's growth rule (scripts/soak-verdict.ts) on synthetic series: a heap that climbs to a
 * plateau passes, a steady leak fails, file descriptors and handles are exact.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { growthVerdict, median, type RoundStats, slope } from "../../scripts/soak-verdict.ts";

const MiB = 1048576;

/** Deterministic noise in [-1, 1] (no randomness in tests). */
const wobble = (i: number) => Math.sin(i * 12.9898) * 0.5 + Math.sin(i * 78.233) * 0.5;

function series(n: number, rss: (i: number) => number, fds: (i: number) => number = () => 40, handles: (i: number) => number = () => 28): RoundStats[] {
	return Array.from({ length: n }, (_, i) => ({ rss: rss(i), fds: fds(i), handles: handles(i) }));
}

describe("soak growth rule", () => {
	test("median and least-squares slope", () => {
		assert.equal(median([3, 1, 2]), 2);
		assert.equal(median([4, 1, 3, 2]), 2.5);
		assert.equal(slope([1, 3, 5, 7]), 2);
		assert.equal(slope([5, 5, 5]), 0);
	});

	test("a flat plateau with noise passes", () => {
		const verdict = growthVerdict(
			series(45, (i) => (322 + 3 * wobble(i)) * MiB),
			5,
		);
		assert.equal(verdict.pass, true, verdict.reasons.join("; "));
		assert.ok(Math.abs(verdict.rssGrowthPercent) < 2);
	});

	test("a heap that climbs to its working size and then stays (S1's shape) passes", () => {
		// 220 MiB rising to 322 MiB over the first 12 measured rounds, then flat with ±8 MiB GC noise.
		const verdict = growthVerdict(
			series(45, (i) => (Math.min(322, 220 + (102 * i) / 12) + 8 * wobble(i)) * MiB),
			5,
		);
		assert.equal(verdict.pass, true, verdict.reasons.join("; "));
	});

	test("the old rule (first measured round against the end) would have failed that same plateau", () => {
		const rss = series(45, (i) => Math.min(322, 220 + (102 * i) / 12) * MiB).map((round) => round.rss);
		assert.ok(((rss.at(-1)! - rss[0]!) / rss[0]!) * 100 > 5);
	});

	test("a steady leak fails: 1 MiB per round on 300 MiB over 45 rounds", () => {
		const verdict = growthVerdict(
			series(45, (i) => (300 + i + 3 * wobble(i)) * MiB),
			5,
		);
		assert.equal(verdict.pass, false);
		assert.match(verdict.reasons.join("; "), /RSS grew/);
		assert.ok(verdict.rssSlopePerRound > 0.9 * MiB && verdict.rssSlopePerRound < 1.1 * MiB);
	});

	test("a leak of 0.7 MiB per round fails over 45 rounds; a plateau with GC noise of ±8 MiB does not", () => {
		assert.equal(
			growthVerdict(
				series(45, (i) => (300 + 0.7 * i + 8 * wobble(i)) * MiB),
				5,
			).pass,
			false,
		);
		assert.equal(
			growthVerdict(
				series(45, (i) => (300 + 8 * wobble(i)) * MiB),
				5,
			).pass,
			true,
		);
	});

	test("a leak that starts after a plateau fails too", () => {
		const verdict = growthVerdict(
			series(45, (i) => (i < 15 ? 300 : 300 + 2 * (i - 15)) * MiB),
			5,
		);
		assert.equal(verdict.pass, false);
	});

	test("file descriptors: in-flight noise above a flat floor passes", () => {
		const verdict = growthVerdict(
			series(
				30,
				() => 300 * MiB,
				(i) => 37 + (i % 4 === 0 ? 6 : 0),
			),
			5,
		);
		assert.equal(verdict.pass, true, verdict.reasons.join("; "));
	});

	test("file descriptors: one leaked per round fails, though RSS is flat", () => {
		const verdict = growthVerdict(
			series(
				30,
				() => 300 * MiB,
				(i) => 37 + i,
			),
			5,
		);
		assert.equal(verdict.pass, false);
		assert.match(verdict.reasons.join("; "), /open file descriptors/);
	});

	test("file descriptors: a single leaked descriptor in the last third fails (exact, no percentage)", () => {
		const verdict = growthVerdict(
			series(
				30,
				() => 300 * MiB,
				(i) => (i >= 20 ? 41 : 40),
			),
			5,
		);
		assert.equal(verdict.pass, false);
		assert.deepEqual(verdict.fdFloor, { middle: 40, last: 41 });
	});

	test("active handles: a leak fails", () => {
		const verdict = growthVerdict(
			series(
				12,
				() => 300 * MiB,
				() => 40,
				(i) => 28 + Math.floor(i / 2),
			),
			5,
		);
		assert.equal(verdict.pass, false);
		assert.match(verdict.reasons.join("; "), /active handles/);
	});

	test("the CI run's slack: a floor up by 2 passes, a leak of one per round over 9 rounds does not", () => {
		const noisy = series(
			9,
			() => 200 * MiB,
			(i) => (i >= 6 ? 32 : 30),
		);
		assert.equal(growthVerdict(noisy, 30, 2).pass, true);
		assert.equal(growthVerdict(noisy, 30, 0).pass, false, "exact without slack");
		const leak = series(
			9,
			() => 200 * MiB,
			(i) => 30 + i,
		);
		assert.equal(growthVerdict(leak, 30, 2).pass, false);
	});

	test("too few rounds to judge is an error, not a pass", () => {
		assert.throws(
			() =>
				growthVerdict(
					series(2, () => 300 * MiB),
					5,
				),
			/at least 3 rounds/,
		);
	});
});
