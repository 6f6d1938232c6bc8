/** The README's CLI reference names every command the CLI has (new commands must be documented). */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { buildProgram } from "../../src/cli/program.ts";
import { processIo } from "../../src/cli/io.ts";

function leafCommands(command: Command, prefix: string[] = []): string[] {
	const leaves: string[] = [];
	for (const child of command.commands) {
		if (child.name() === "help") continue;
		const path = [...prefix, child.name()];
		if (child.commands.length === 0) leaves.push(path.join(" "));
		else leaves.push(...leafCommands(child, path));
	}
	return leaves;
}

test("README.md documents every portcullis command, with an example", () => {
	const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
	const commands = leafCommands(buildProgram(processIo, () => undefined));
	assert.ok(commands.includes("user add") && commands.includes("serve"));
	const undocumented = commands.filter((command) => !new RegExp(`\`${command}[ \`]`).test(readme));
	assert.deepEqual(undocumented, [], "add these to the README's CLI reference");
	const withoutExample = commands.filter((command) => !readme.includes(`npx portcullis ${command}`));
	assert.deepEqual(withoutExample, [], "give these an example line in the README");
});
