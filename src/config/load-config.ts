/**
 * The only module that reads process.env. Sources, later wins:
 *   1. defaults (config.ts)
 *   2. the TOML file (--config, PORTCULLIS_CONFIG, or <data_dir>/portcullis.toml when present)
 *   3. environment: PORTCULLIS_DATABASE_URL, PORTCULLIS_DATA_DIR, and PORTCULLIS_<SECTION>__<KEY>
 *   4. explicit overrides from the CLI (--data, --http, --ssh)
 * An invalid config throws ERR_CONFIG_INVALID listing every problem at once.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse as parseToml } from "smol-toml";
import { PortcullisError } from "../core/errors.ts";
import { z } from "zod";
import { configSchema, type Config } from "./config.ts";

type Raw = Record<string, unknown>;

export interface LoadOptions {
	configFile?: string;
	env?: Readonly<Record<string, string | undefined>>;
	overrides?: { data_dir?: string; http_listen?: string; ssh_listen?: string; database_url?: string };
}

function deepFreeze<T>(value: T): T {
	if (value !== null && typeof value === "object") {
		for (const child of Object.values(value)) deepFreeze(child);
		Object.freeze(value);
	}
	return value;
}

function section(raw: Raw, name: string): Raw {
	const existing = raw[name];
	if (existing !== null && typeof existing === "object" && !Array.isArray(existing)) return existing as Raw;
	const created: Raw = {};
	raw[name] = created;
	return created;
}

/** The schema type a `section.key` expects, so an env string is converted only where the field wants it. */
function expectedKind(sectionName: string, key: string): "number" | "boolean" | "array" | "string" {
	const unwrap = (schema: unknown): unknown => {
		let current = schema;
		while (current instanceof z.ZodDefault || current instanceof z.ZodOptional) current = current.unwrap();
		return current;
	};
	const sectionSchema = unwrap((configSchema.shape as Record<string, unknown>)[sectionName]);
	if (!(sectionSchema instanceof z.ZodObject)) return "string";
	const field = unwrap((sectionSchema.shape as Record<string, unknown>)[key]);
	if (field instanceof z.ZodNumber) return "number";
	if (field instanceof z.ZodBoolean) return "boolean";
	if (field instanceof z.ZodArray) return "array";
	return "string";
}

/** Env values are strings; numbers, booleans and arrays are converted only for fields of that type. */
function coerceFor(sectionName: string, key: string, text: string): unknown {
	const kind = expectedKind(sectionName, key);
	if (kind === "string") return text;
	return coerce(text);
}

function coerce(text: string): unknown {
	if (/^-?\d+$/.test(text)) return Number(text);
	if (text === "true") return true;
	if (text === "false") return false;
	if (text.startsWith("[")) {
		try {
			return JSON.parse(text) as unknown;
		} catch {
			return text;
		}
	}
	return text;
}

export function loadConfig(options: LoadOptions = {}): Config {
	const env = options.env ?? process.env;
	const problems: string[] = [];
	let raw: Raw = {};

	const dataDirHint = options.overrides?.data_dir ?? env.PORTCULLIS_DATA_DIR ?? "./data";
	const implicitFile = join(dataDirHint, "portcullis.toml");
	const file = options.configFile ?? env.PORTCULLIS_CONFIG ?? (existsSync(implicitFile) ? implicitFile : undefined);
	if (file !== undefined) {
		try {
			raw = parseToml(readFileSync(file, "utf8")) as Raw;
		} catch (error) {
			problems.push(`${file}: ${(error as Error).message.split("\n")[0]}`);
		}
	}

	for (const [name, value] of Object.entries(env)) {
		if (value === undefined || !name.startsWith("PORTCULLIS_")) continue;
		const rest = name.slice("PORTCULLIS_".length);
		if (rest === "DATABASE_URL") section(raw, "database").url = value;
		else if (rest === "DATA_DIR") raw.data_dir = value;
		else if (rest.includes("__")) {
			const [sectionName, key] = rest.toLowerCase().split("__", 2) as [string, string];
			section(raw, sectionName)[key] = coerceFor(sectionName, key, value);
		}
	}

	const overrides = options.overrides ?? {};
	if (overrides.data_dir !== undefined) raw.data_dir = overrides.data_dir;
	if (overrides.http_listen !== undefined) section(raw, "http").listen = overrides.http_listen;
	if (overrides.ssh_listen !== undefined) section(raw, "ssh").listen = overrides.ssh_listen;
	if (overrides.database_url !== undefined) section(raw, "database").url = overrides.database_url;

	const parsed = configSchema.safeParse(raw);
	if (!parsed.success) {
		for (const issue of parsed.error.issues) problems.push(`${issue.path.join(".") || "(root)"}: ${issue.message}`);
	}
	// Checked on the raw value too, so a bad URL is reported alongside every schema problem.
	const database = raw.database;
	const rawUrl = database !== null && typeof database === "object" ? (database as Raw).url : undefined;
	const url = typeof rawUrl === "string" ? rawUrl : "";
	if (url !== "" && !/^postgres(ql)?:\/\//.test(url)) problems.push("database.url: must start with postgres:// (or be empty for SQLite)");
	if (problems.length > 0 || !parsed.success) {
		throw new PortcullisError("ERR_CONFIG_INVALID", `invalid configuration:\n  - ${problems.join("\n  - ")}`);
	}
	return deepFreeze(parsed.data);
}
