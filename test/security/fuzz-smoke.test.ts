/**
 * Fuzzing the authentication surface of a real `portcullis serve` process: generated and mutated
 * SSH transport, user-authentication (RFC 4252/4256) and connection (RFC 4254) messages and HTTP
 * auth-route requests, as in the bad-input classes of Cowrie PR #40264 (a short publickey request
 * crashed the parser) and SSHamble's keyboard-interactive checks. scripts/fuzz.ts does the work;
 * `npm run fuzz -- --minutes N` runs it longer. No kill timer: the campaign ends itself, and the
 * runner's per-test limit catches a hang.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { runFuzz } from "../../scripts/fuzz.ts";

test("20 s of generated and mutated SSH and HTTP auth input against a real server process: no finding", async () => {
	// A fixed seed keeps CI reproducible; the long runs (npm run fuzz) pick a fresh one each time.
	const seed = 20261207;
	const lines: string[] = [];
	const summary = await runFuzz({ durationMs: 20_000, seed, log: (line) => lines.push(line) });
	const total = Object.values(summary.iterations).reduce((sum, count) => sum + count, 0);
	assert.ok(total > 0, "the fuzzer ran cases");
	assert.deepEqual(
		summary.findings.map((finding) => `${finding.kind}: ${finding.detail.slice(0, 500)}`),
		[],
		`findings with seed ${seed}; replay with npm run fuzz -- --seconds 20 --seed ${seed}\n${lines.join("\n")}`,
	);
});
