/**
 * A failed audit write is never silent (issue 12 item 7): it is logged at error level and counted,
 * whether the caller awaits it (`write`, which still rejects) or must go on regardless (`record`).
 */
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import assert from "node:assert/strict";
import Database from "better-sqlite3";
import { Kysely, SqliteDialect } from "kysely";
import { systemClock } from "../../src/core/clock.ts";
import type { Logger } from "../../src/core/logger.ts";
import { AuditLog } from "../../src/storage/audit-log.ts";
import { AuditChain, auditChainKey } from "../../src/storage/audit-chain.ts";
import type { Database as Schema } from "../../src/storage/schema.ts";

function recordingLogger(): Logger & { readonly lines: { level: string; fields: Record<string, unknown>; message: string }[] } {
	const lines: { level: string; fields: Record<string, unknown>; message: string }[] = [];
	const logger = {
		lines,
		error: (fields: Record<string, unknown>, message: string) => void lines.push({ level: "error", fields, message }),
		warn: (fields: Record<string, unknown>, message: string) => void lines.push({ level: "warn", fields, message }),
		info: (fields: Record<string, unknown>, message: string) => void lines.push({ level: "info", fields, message }),
		child: () => logger,
	};
	return logger;
}

/** A database without the audit_events table: every insert fails, as when the database is down. */
function brokenDatabase(): Kysely<Schema> {
	return new Kysely<Schema>({ dialect: new SqliteDialect({ database: new Database(":memory:") }) });
}

test("record() on a failing database resolves, logs at error level and counts", async () => {
	const db = brokenDatabase();
	const logger = recordingLogger();
	const audit = new AuditLog(db, systemClock, logger, new AuditChain(auditChainKey(randomBytes(32))));
	await audit.record({ event: "ssh.revoked", outcome: "info", channel: "ssh" });
	assert.equal(audit.failedWrites, 1);
	assert.equal(logger.lines.length, 1);
	assert.equal(logger.lines[0]!.level, "error");
	assert.equal(logger.lines[0]!.message, "audit write failed");
	assert.equal(logger.lines[0]!.fields.event, "ssh.revoked");
	await db.destroy();
});

test("write() on a failing database still rejects, and is logged and counted too", async () => {
	const db = brokenDatabase();
	const logger = recordingLogger();
	const audit = new AuditLog(db, systemClock, logger, new AuditChain(auditChainKey(randomBytes(32))));
	await assert.rejects(audit.write({ event: "login.error", outcome: "failure" }));
	await assert.rejects(audit.write({ event: "login.error", outcome: "failure" }));
	assert.equal(audit.failedWrites, 2);
	assert.deepEqual(
		logger.lines.map((line) => line.level),
		["error", "error"],
	);
	await db.destroy();
});
