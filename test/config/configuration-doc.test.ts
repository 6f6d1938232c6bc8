/**
 * docs/configuration.md stays in step with the schema (src/config/config.ts): every key has a
 * row with its real default, no row names a key the schema lacks, and the example TOML loads.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import { configSchema } from "../../src/config/config.ts";
import { loadConfig } from "../../src/config/load-config.ts";

const DOC = readFileSync(new URL("../../docs/configuration.md", import.meta.url), "utf8");

interface JsonSchema {
	type?: string;
	default?: unknown;
	properties?: Record<string, JsonSchema>;
}

/** Every leaf key of the schema ("http.listen") with its default (undefined: optional, no default). */
function schemaKeys(): Map<string, unknown> {
	const keys = new Map<string, unknown>();
	const walk = (node: JsonSchema, prefix: string) => {
		for (const [name, child] of Object.entries(node.properties ?? {})) {
			const path = prefix === "" ? name : `${prefix}.${name}`;
			if (child.type === "object" && child.properties !== undefined) walk(child, path);
			else keys.set(path, child.default);
		}
	};
	walk(z.toJSONSchema(configSchema, { io: "input" }) as JsonSchema, "");
	return keys;
}

/** Rows of the "Keys" table: "| `http.listen` | `"127.0.0.1:8080"` | unit | meaning |". */
function documentedKeys(): Map<string, string> {
	const rows = new Map<string, string>();
	for (const line of DOC.split("\n")) {
		const match = /^\|\s*`([a-z_]+(?:\.[a-z_]+)?)`\s*\|\s*([^|]*?)\s*\|/.exec(line);
		if (match?.[1] !== undefined && match[2] !== undefined) rows.set(match[1], match[2]);
	}
	return rows;
}

/** How a default is written in the table: TOML-like, in backticks. */
function shown(value: unknown): string {
	if (value === undefined) return "(unset)";
	return `\`${JSON.stringify(value)}\``;
}

test("every configuration key is documented with its default", () => {
	const documented = documentedKeys();
	const problems: string[] = [];
	for (const [key, value] of schemaKeys()) {
		const cell = documented.get(key);
		if (cell === undefined) problems.push(`${key}: no row in docs/configuration.md (default ${shown(value)})`);
		else if (cell !== shown(value)) problems.push(`${key}: the doc says ${cell}, the schema's default is ${shown(value)}`);
	}
	assert.deepEqual(problems, []);
});

test("docs/configuration.md names no key the schema lacks", () => {
	const keys = schemaKeys();
	const stale = [...documentedKeys().keys()].filter((key) => !keys.has(key));
	assert.deepEqual(stale, []);
});

test("the example TOML in docs/configuration.md is a valid configuration", () => {
	const example = /```toml\n([\s\S]*?)```/.exec(DOC)?.[1];
	assert.ok(example !== undefined, "no ```toml block");
	const dir = mkdtempSync(join(tmpdir(), "portcullis-doc-"));
	try {
		const file = join(dir, "example.toml");
		writeFileSync(file, example);
		const config = loadConfig({ configFile: file, env: {} });
		assert.equal(config.http.public_url, "https://bastion.example.com");
	} finally {
		rmSync(dir, { recursive: true, force: true });
	}
});
