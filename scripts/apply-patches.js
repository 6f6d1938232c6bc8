// `postinstall`, first step: applies every patches/<package>+<version>.patch to node_modules/<package>
// (the patch-package naming, applied with the system's `patch -p1`). Idempotent: a patch already in
// place is recognised by a reverse dry run and left alone. Fails the install when the installed
// version differs from the one the patch was written for, or when a hunk does not apply: a silently
// unpatched dependency would drop a feature the project relies on (for ssh2: the post-quantum key
// exchange, which src/ssh/algorithms.ts then refuses to start without). docs/dependencies.md, "Patched dependencies".
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const patchesDir = join(root, "patches");

function fail(message) {
	console.error(`apply-patches: ${message}`);
	process.exit(1);
}

// --force, not --batch: --batch "assumes that patches are reversed if they look like they are", so a
// reverse dry run on an unpatched tree would succeed and the patch would be reported as applied.
function patch(packageDir, patchFile, ...flags) {
	return spawnSync("patch", ["-p1", "--force", "--silent", ...flags, "-i", patchFile], { cwd: packageDir, encoding: "utf8" });
}

const files = existsSync(patchesDir) ? readdirSync(patchesDir).filter((name) => name.endsWith(".patch")) : [];
for (const file of files.sort()) {
	const match = /^(.+)\+(\d+\.\d+\.\d+[^+]*)\.patch$/.exec(file);
	if (!match) fail(`${file}: name must be <package>+<version>.patch`);
	const [, name, version] = match;
	const packageDir = join(root, "node_modules", ...name.split("+"));
	const manifest = join(packageDir, "package.json");
	if (!existsSync(manifest)) fail(`${file}: ${name} is not installed`);
	const installed = JSON.parse(readFileSync(manifest, "utf8")).version;
	if (installed !== version)
		fail(`${file}: installed ${name} is ${installed}, the patch is for ${version}; port the patch to ${installed} (docs/dependencies.md)`);
	const patchFile = join(patchesDir, file);
	if (patch(packageDir, patchFile, "--reverse", "--dry-run").status === 0) {
		console.log(`apply-patches: ${file} already applied`);
		continue;
	}
	const check = patch(packageDir, patchFile, "--forward", "--dry-run");
	if (check.status !== 0) fail(`${file} does not apply to ${packageDir}:\n${check.stdout}${check.stderr}`);
	const applied = patch(packageDir, patchFile, "--forward");
	if (applied.status !== 0) fail(`${file} failed while applying:\n${applied.stdout}${applied.stderr}`);
	console.log(`apply-patches: ${file} applied`);
}
