/**
 * The compiled `portcullis` (dist/, built by scripts/build.js) for the tests that run the real
 * binary. `npm test` builds it first (scripts/test.sh); a test file run on its own rebuilds it when
 * it is missing or older than a source file, so a test never passes against yesterday's program.
 */
import { readdirSync, renameSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

export const ROOT = fileURLToPath(new URL("../../", import.meta.url));
/** The `portcullis` command (package.json "bin"): runs dist/cli.js on the pinned Node. */
export const BIN = join(ROOT, "bin", "portcullis.js");
export const DIST = join(ROOT, "dist");
/** The entry point of the build. */
export const DIST_CLI = join(DIST, "cli.js");

function newestChange(dir: string): number {
	let newest = 0;
	for (const entry of readdirSync(dir, { withFileTypes: true })) {
		const path = join(dir, entry.name);
		newest = Math.max(newest, entry.isDirectory() ? newestChange(path) : statSync(path).mtimeMs);
	}
	return newest;
}

function isFresh(): boolean {
	let built: number;
	try {
		built = statSync(DIST_CLI).mtimeMs;
	} catch {
		return false;
	}
	return built >= Math.max(newestChange(join(ROOT, "src")), statSync(join(ROOT, "scripts", "build.js")).mtimeMs);
}

let building: Promise<void> | undefined;

/** Builds dist/ unless it is already the build of the current sources. */
export function ensureBuilt(): Promise<void> {
	building ??= (async () => {
		if (isFresh()) return;
		// Built aside and moved into place, so a test file running at the same time never sees a
		// half-written dist/.
		const { build } = (await import(pathToFileURL(join(ROOT, "scripts", "build.js")).href)) as { build(outdir: string): Promise<unknown> };
		const aside = join(ROOT, `dist.build-${process.pid}`);
		await build(aside);
		rmSync(DIST, { recursive: true, force: true });
		renameSync(aside, DIST);
	})();
	return building;
}
