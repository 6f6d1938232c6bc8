/**
 * Only src/config/load-config.ts may read the environment: every other module
 * gets its settings from the validated, frozen Config, so one place documents and checks them.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const ALLOWED = "src/config/load-config.ts";
/** process.env, process["env"], and destructuring `{ env } = process`. */
const ENV_ACCESS = /process\s*(\.\s*env\b|\[\s*["'`]env["'`]\s*\])|\{[^}]*\benv\b[^}]*\}\s*=\s*process\b/;

function sourceFiles(dir: string): string[] {
	const files: string[] = [];
	for (const entry of readdirSync(dir, { withFileTypes: true })) {
		const path = join(dir, entry.name);
		if (entry.isDirectory()) files.push(...sourceFiles(path));
		else if (/\.(ts|tsx|mts|cts|js|mjs|cjs)$/.test(entry.name)) files.push(path);
	}
	return files;
}

test(`no module under src/ except ${ALLOWED} mentions process.env`, () => {
	const offenders: string[] = [];
	for (const file of sourceFiles(join(ROOT, "src"))) {
		const name = relative(ROOT, file).split(sep).join("/");
		if (name === ALLOWED) continue;
		readFileSync(file, "utf8")
			.split("\n")
			.forEach((line, index) => {
				if (ENV_ACCESS.test(line)) offenders.push(`${name}:${index + 1}: ${line.trim()}`);
			});
	}
	assert.deepEqual(offenders, [], `read settings through src/config (Config) instead:\n${offenders.join("\n")}`);
});

test("the guard itself catches the usual spellings", () => {
	for (const line of ["const x = process.env.FOO;", 'process["env"]', "const { env } = process;", "process . env"]) {
		assert.ok(ENV_ACCESS.test(line), line);
	}
	for (const line of ["const environment = config.env;", "processEnvironment()", "// the environment"]) {
		assert.ok(!ENV_ACCESS.test(line), line);
	}
});

test(`${ALLOWED} is where the environment is read`, () => {
	assert.ok(ENV_ACCESS.test(readFileSync(join(ROOT, ALLOWED), "utf8")));
});
