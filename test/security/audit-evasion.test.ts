/**
 * Probing the SSH gateway while its audit writes fail (database overloaded or full) left no trace
 * anywhere: every SSH audit write ended in `.catch(() => undefined)` and src/ssh had no logger
 * (issue 12, architecture review finding "silent failures"). Now each failed write is logged at
 * error level through the gateway's injected logger and counted.
 */
import { randomBytes } from "node:crypto";
import assert from "node:assert/strict";
import { connect } from "node:net";
import { after, before, describe, test } from "node:test";
import Database from "better-sqlite3";
import { Kysely, SqliteDialect } from "kysely";
import type { Logger } from "../../src/core/logger.ts";
import { startSshGateway, type SshGateway } from "../../src/ssh/gateway.ts";
import { AuditLog } from "../../src/storage/audit-log.ts";
import { AuditChain, auditChainKey } from "../../src/storage/audit-chain.ts";
import type { Database as Schema } from "../../src/storage/schema.ts";
import { createTestApp, type TestApp } from "../helpers/test-app.ts";

interface Line {
	readonly level: string;
	readonly fields: Record<string, unknown>;
	readonly message: string;
}

function recordingLogger(lines: Line[]): Logger {
	const logger: Logger = {
		error: (fields, message) => void lines.push({ level: "error", fields, message }),
		warn: (fields, message) => void lines.push({ level: "warn", fields, message }),
		info: (fields, message) => void lines.push({ level: "info", fields, message }),
		child: () => logger,
	};
	return logger;
}

describe("SSH audit writes that fail", () => {
	let t: TestApp;
	let gateway: SshGateway;
	let brokenDb: Kysely<Schema>;
	let audit: AuditLog;
	const lines: Line[] = [];
	before(async () => {
		t = await createTestApp();
		const logger = recordingLogger(lines);
		// No audit_events table: every audit insert fails, as when the database refuses writes.
		brokenDb = new Kysely<Schema>({ dialect: new SqliteDialect({ database: new Database(":memory:") }) });
		audit = new AuditLog(brokenDb, t.app.clock, logger, new AuditChain(auditChainKey(randomBytes(32))));
		gateway = await startSshGateway({ ...t.app.ssh, audit, logger }, { listen: "127.0.0.1:0" });
	});
	after(async () => {
		await gateway?.close();
		await brokenDb?.destroy();
		await t?.cleanup();
	});

	test("a connection whose ssh.connect audit write fails is logged at error level and counted", async () => {
		const socket = connect({ host: "127.0.0.1", port: gateway.address.port });
		socket.on("error", () => undefined);
		// Generous bounded wait (no timing threshold): the write fails within one event-loop turn or so.
		for (let i = 0; i < 300 && !lines.some((line) => line.fields.event === "ssh.connect"); i++) await new Promise((resolve) => setTimeout(resolve, 100));
		socket.destroy();
		const line = lines.find((entry) => entry.fields.event === "ssh.connect");
		assert.ok(line, `no log line for the failed ssh.connect audit write: ${JSON.stringify(lines)}`);
		assert.equal(line.level, "error");
		assert.equal(line.message, "audit write failed");
		assert.ok(audit.failedWrites >= 1);
	});
});
