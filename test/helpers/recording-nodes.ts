/**
 * Two Portcullis nodes on one database for the recording tests: node A carries SSH sessions, node
 * B is "the other node" (its own data directory, so nothing can come from A's disk). PostgreSQL:
 * a fresh database; SQLite: one file both open (WAL), which is what two processes on one host do.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createPortcullis, type Portcullis } from "../../src/app/portcullis.ts";
import type { Logger } from "../../src/core/logger.ts";
import type { DatabaseTarget } from "../../src/storage/open-database.ts";
import { createPostgresDatabase, type Engine, testConfig } from "./test-app.ts";

export interface LogLine {
	readonly level: string;
	readonly fields: Record<string, unknown>;
	readonly message: string;
}

/** A logger that keeps every line (the "never silent" assertions read it). */
export function capturingLogger(lines: LogLine[]): Logger {
	const logger: Logger = {
		error: (fields, message) => void lines.push({ level: "error", fields, message }),
		warn: (fields, message) => void lines.push({ level: "warn", fields, message }),
		info: (fields, message) => void lines.push({ level: "info", fields, message }),
		child: () => logger,
	} as Logger;
	return logger;
}

export interface RecordingNodes {
	readonly a: Portcullis;
	readonly b: Portcullis;
	readonly dirA: string;
	readonly database: DatabaseTarget;
	readonly secretKey: Buffer;
	/** Node A's log lines. */
	readonly logA: LogLine[];
	cleanup(): Promise<void>;
}

export async function createRecordingNodes(engine: Engine, config: Record<string, unknown> = {}): Promise<RecordingNodes> {
	const dirA = mkdtempSync(join(tmpdir(), "portcullis-node-a-"));
	const dirB = mkdtempSync(join(tmpdir(), "portcullis-node-b-"));
	let drop: (() => Promise<void>) | null = null;
	let database: DatabaseTarget;
	if (engine === "postgres") {
		const created = await createPostgresDatabase();
		drop = created.drop;
		database = { kind: "postgres", url: created.url };
	} else database = { kind: "sqlite", file: join(dirA, "shared.sqlite") };
	const secretKey = randomBytes(32);
	const logA: LogLine[] = [];
	const a = await createPortcullis(testConfig(dirA, config), { database, secretKey, logger: capturingLogger(logA) });
	const b = await createPortcullis(testConfig(dirB, config), { database, secretKey, logger: capturingLogger([]) });
	return {
		a,
		b,
		dirA,
		database,
		secretKey,
		logA,
		async cleanup() {
			await a.close();
			await b.close();
			if (drop) await drop();
			rmSync(dirA, { recursive: true, force: true });
			rmSync(dirB, { recursive: true, force: true });
		},
	};
}
