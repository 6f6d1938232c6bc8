/**
 * `portcullis audit verify` end to end (docs/operations.md "Audit chain and `portcullis audit verify`"):
 * the real CLI reports OK with the count, and after one row is edited directly in the database it
 * names that event and exits 1. Then two nodes (separate processes) on one PostgreSQL write
 * concurrently and the chain they leave still verifies.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import pg from "pg";
import { createPortcullis, type Portcullis } from "../../src/app/portcullis.ts";
import { startRaceNode, type RaceNode } from "../helpers/race-nodes.ts";
import { ADMIN_ACTOR, createPostgresDatabase, testConfig } from "../helpers/test-app.ts";
import { assertOk, cliEngine, runCli, type CliResult } from "./run-cli.ts";

for (const engine of ["sqlite", "postgres"] as const)
	describe(`portcullis audit verify (${engine})`, () => {
		let dir: string;
		let env: NodeJS.ProcessEnv;
		let databaseUrl: string | undefined;
		let drop: () => Promise<void>;
		const cli = (args: readonly string[], input?: string): Promise<CliResult> =>
			runCli([...args, "--data", dir], { env, ...(input !== undefined ? { input } : {}) });

		/** Runs one statement directly against the CLI's database, behind Portcullis's back. */
		async function tamper(statement: string): Promise<void> {
			if (databaseUrl === undefined) {
				const db = new Database(join(dir, "portcullis.sqlite"));
				try {
					db.exec(statement);
				} finally {
					db.close();
				}
				return;
			}
			const client = new pg.Client({ connectionString: databaseUrl });
			await client.connect();
			try {
				await client.query(statement);
			} finally {
				await client.end();
			}
		}

		before(async () => {
			dir = mkdtempSync(join(tmpdir(), "portcullis-verify-"));
			const created = await cliEngine(engine);
			env = created.env;
			databaseUrl = created.databaseUrl;
			drop = created.drop;
		});
		after(async () => {
			await drop?.();
			rmSync(dir, { recursive: true, force: true });
		});

		test("OK with the count; an edited row is named, exit 1", async () => {
			assertOk(await cli(["group", "add", "ops"]), "group add");
			assertOk(await cli(["group", "add", "dev"]), "group add");
			assertOk(await cli(["user", "add", "alice", "--group", "ops"], "a long enough password\n"), "user add");
			const ok = await cli(["audit", "verify"]);
			assertOk(ok, "audit verify");
			assert.match(ok.stdout, /^audit chain OK: 3 events verified; head 3 [0-9a-f]{64}\n$/);

			const listed = await cli(["audit", "--json"]);
			assertOk(listed, "audit --json");
			const events = listed.stdout
				.trim()
				.split("\n")
				.map((line) => JSON.parse(line) as { id: number; event: string });
			const second = events[1]!;
			assert.equal(second.event, "group.created");
			await tamper(`UPDATE audit_events SET detail = '{"group":"nothing-to-see"}' WHERE id = ${second.id}`);

			const broken = await cli(["audit", "verify"]);
			assert.equal(broken.code, 1, broken.stderr);
			assert.equal(broken.stdout, "");
			assert.equal(
				broken.stderr,
				`portcullis: audit chain broken at event #${second.id}: event #${second.id} was altered (its content does not match its hash) (1 events before it verified)\n`,
			);
		});
	});

describe("two nodes on one PostgreSQL append to one valid chain", () => {
	let database: { url: string; drop(): Promise<void> };
	let app: Portcullis;
	let nodes: RaceNode[] = [];
	let dir: string;
	before(async () => {
		const key = randomBytes(32);
		dir = mkdtempSync(join(tmpdir(), "portcullis-chain-race-"));
		database = await createPostgresDatabase();
		app = await createPortcullis(testConfig(dir), { database: { kind: "postgres", url: database.url }, secretKey: key });
		nodes = await Promise.all([startRaceNode(database.url, key), startRaceNode(database.url, key)]);
	});
	after(async () => {
		await Promise.all(nodes.map((node) => node.stop()));
		await app?.close();
		await database?.drop();
		rmSync(dir, { recursive: true, force: true });
	});

	test("60 concurrent admin changes from two processes: every one audited once, the chain verifies", async () => {
		// Every command is sent before any answer is awaited, so the two processes really interleave.
		const calls = nodes.flatMap((node, n) =>
			Array.from({ length: 30 }, (_, index) =>
				node.call("admin.createGroup", ADMIN_ACTOR, { name: `n${n}-g${index}`, forceTwoFactor: false, allowedMethods: null }),
			),
		);
		await Promise.all(calls);
		const rows = await app.db.selectFrom("audit_events").selectAll().orderBy("chain_seq").execute();
		assert.equal(rows.length, 60);
		assert.equal(new Set(rows.map((row) => JSON.parse(row.detail ?? "{}").group)).size, 60);
		const result = await app.stores.audit.verify();
		assert.equal(result.ok, true, JSON.stringify(result));
		if (result.ok) assert.equal(result.events, 60);
	});
});
