/**
 * `npm run test:guards`: proves that each guard matters. For every site in scripts/guards.ts it
 * disables the guard with a small textual patch, runs the named tests, and expects at least one of
 * them to FAIL (the guard is "killed"); then it restores the file. A guard whose tests still pass
 * without it is reported as surviving, and the script exits 1.
 *
 *   npm run test:guards                 every guard
 *   npm run test:guards -- <id> [<id>]  only these
 *
 * The patched file is restored (the exact bytes read) in a finally block and on SIGINT/SIGTERM, so
 * an interrupted run leaves the tree as it was. Do not edit guarded files while it runs.
 */
import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { GUARDS, type Guard } from "./guards.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));

let restore: (() => void) | null = null;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
	process.on(signal, () => {
		restore?.();
		process.exit(130);
	});
}

function escapeRegExp(text: string): string {
	return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

async function check(guard: Guard): Promise<"killed" | "survived" | "broken"> {
	const path = `${ROOT}${guard.file}`;
	const original = readFileSync(path, "utf8");
	const count = original.split(guard.find).length - 1;
	if (count !== 1) {
		console.log(`  ${guard.id}: the patch's anchor occurs ${count} times in ${guard.file} (must be exactly once)`);
		return "broken";
	}
	const pattern = guard.tests.names.map(escapeRegExp).join("|");
	// Async (not spawnSync), so a SIGINT/SIGTERM restores the file at once instead of after the run.
	const runTests = () =>
		new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
			const child = spawn(process.execPath, ["--import", "tsx", "--test", "--test-reporter=spec", `--test-name-pattern=${pattern}`, guard.tests.file], {
				cwd: ROOT,
				env: { ...process.env, NO_COLOR: "1" },
			});
			let stdout = "";
			let stderr = "";
			child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
			child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
			child.on("close", (status) => resolve({ status, stdout, stderr }));
		});
	// The named tests must pass with the guard in place first: a test that fails for another reason
	// (a broken environment, a wrong Node.js) would otherwise count as a kill.
	const baseline = await runTests();
	if (baseline.status !== 0) {
		console.log(`  ${guard.id}: the named tests fail even with the guard in place:\n${`${baseline.stdout}\n${baseline.stderr}`.slice(-2000)}`);
		return "broken";
	}
	restore = () => writeFileSync(path, original);
	try {
		writeFileSync(path, original.replace(guard.find, guard.replace));
		const run = await runTests();
		const output = `${run.stdout}\n${run.stderr}`;
		// Killed means a NAMED test failed (not a crash before any test ran).
		const failedNamed = guard.tests.names.some((name) => output.includes(`✖ ${name}`));
		if (run.status !== 0 && failedNamed) return "killed";
		if (run.status !== 0) {
			console.log(`  ${guard.id}: the run failed but none of the named tests did:\n${output.slice(-2000)}`);
			return "broken";
		}
		return "survived";
	} finally {
		restore();
		restore = null;
	}
}

const only = process.argv.slice(2).filter((arg) => !arg.startsWith("-"));
const selected = only.length === 0 ? GUARDS : GUARDS.filter((guard) => only.includes(guard.id));
if (selected.length === 0) {
	console.error(`no guard named ${only.join(", ")}; known: ${GUARDS.map((guard) => guard.id).join(", ")}`);
	process.exit(2);
}
let bad = 0;
for (const guard of selected) {
	const started = Date.now();
	const outcome = await check(guard);
	if (outcome !== "killed") bad++;
	console.log(
		`${outcome === "killed" ? "killed  " : outcome === "survived" ? "SURVIVED" : "BROKEN  "} ${guard.id} (${((Date.now() - started) / 1000).toFixed(1)} s): ${guard.why}`,
	);
}
console.log(`${selected.length - bad} of ${selected.length} guards killed`);
process.exit(bad === 0 ? 0 : 1);
