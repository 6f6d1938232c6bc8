/**
 * Builds a real Portcullis (real SQLite file or a fresh PostgreSQL database) with a fake clock,
 * for flow, storage and web tests. PostgreSQL runs at 127.0.0.1:5432 with trust auth (see .ci/run).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import pg from "pg";
import { configSchema, type Config } from "../../src/config/config.ts";
import { FakeClock } from "../../src/core/clock.ts";
import type { Sleep } from "../../src/core/sleep.ts";
import { createPortcullis, type Portcullis } from "../../src/app/portcullis.ts";

export type Engine = "sqlite" | "postgres";

export const POSTGRES_ADMIN_URL = "postgres://postgres@127.0.0.1:5432/test";

export interface TestApp {
	app: Portcullis;
	clock: FakeClock;
	dir: string;
	cleanup(): Promise<void>;
}

export function testConfig(dir: string, overrides: Record<string, unknown> = {}): Config {
	return configSchema.parse({ data_dir: dir, http: { listen: "127.0.0.1:0", public_url: "http://127.0.0.1:8080" }, ...overrides });
}

/** Creates a throwaway PostgreSQL database; fails (never skips) if the server is unreachable. */
export async function createPostgresDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
	const name = `portcullis_t_${randomBytes(6).toString("hex")}`;
	const admin = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
	await admin.connect();
	await admin.query(`CREATE DATABASE ${name}`);
	await admin.end();
	const url = `postgres://postgres@127.0.0.1:5432/${name}`;
	return {
		url,
		async drop() {
			const client = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
			await client.connect();
			await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
			await client.end();
		},
	};
}

export async function createTestApp(options: { engine?: Engine; clock?: FakeClock; config?: Record<string, unknown>; sleep?: Sleep } = {}): Promise<TestApp> {
	const engine = options.engine ?? "sqlite";
	const clock = options.clock ?? new FakeClock(Date.UTC(2026, 10, 28, 9, 0, 0));
	const dir = mkdtempSync(join(tmpdir(), "portcullis-test-"));
	const config = testConfig(dir, options.config);
	let drop: (() => Promise<void>) | null = null;
	let database;
	if (engine === "postgres") {
		const created = await createPostgresDatabase();
		drop = created.drop;
		database = { kind: "postgres" as const, url: created.url };
	} else {
		database = { kind: "sqlite" as const, file: join(dir, "portcullis.sqlite") };
	}
	const app = await createPortcullis(config, { clock, database, secretKey: randomBytes(32), ...(options.sleep ? { sleep: options.sleep } : {}) });
	return {
		app,
		clock,
		dir,
		async cleanup() {
			await app.close();
			if (drop) await drop();
			rmSync(dir, { recursive: true, force: true });
		},
	};
}

export const ADMIN_ACTOR = { name: "test-admin", channel: "cli" as const, source: "test" };
export const WEB = { channel: "web" as const, sourceAddress: "192.0.2.10" };
export const SSH = { channel: "ssh" as const, sourceAddress: "192.0.2.20" };
