/**
 * A node:test reporter (scripts/test.sh adds it beside `spec`) that writes each test file's wall
 * time, slowest first, to test-times.log: where `npm test`'s minutes go, measured on every run
 * instead of guessed (docs/benchmarks.md, "npm test"). With process isolation each file is one
 * top-level test named by its path; its duration is the whole subprocess, imports included.
 */
import { relative } from "node:path";

interface FileEvent {
	type: string;
	data: { name?: string; file?: string; nesting?: number; details?: { duration_ms?: number; passed?: boolean } };
}

export default async function* fileTimes(source: AsyncIterable<FileEvent>): AsyncGenerator<string> {
	const started = performance.now();
	const files: { file: string; ms: number; passed: boolean }[] = [];
	for await (const event of source) {
		if (event.type !== "test:complete") continue;
		const { name, file, nesting, details } = event.data;
		if (nesting !== 0 || file === undefined || name !== relative(process.cwd(), file)) continue;
		files.push({ file: name, ms: details?.duration_ms ?? 0, passed: details?.passed !== false });
	}
	files.sort((a, b) => b.ms - a.ms);
	const sum = files.reduce((total, entry) => total + entry.ms, 0);
	yield `# ${files.length} files, wall ${((performance.now() - started) / 1000).toFixed(1)} s, sum of file times ${(sum / 1000).toFixed(1)} s\n`;
	for (const entry of files) yield `${(entry.ms / 1000).toFixed(1).padStart(7)} s  ${entry.passed ? "" : "FAILED "}${entry.file}\n`;
}
