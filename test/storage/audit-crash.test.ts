/**
 * Crash test (docs/operations.md "Audit log: atomic with every change"): admin changes in a loop,
 * in two separate processes at once, each killed with SIGKILL at a random point (20 kills), plus
 * real `portcullis` CLI commands killed at random moments. Afterwards every persisted change has its audit event and every
 * audit event its change (replaying the events in chain order gives exactly the stored state), and
 * the chain verifies. Nothing here has a timing bound: the kill points are random, and only the
 * final state is asserted.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomInt } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import type { Portcullis } from "../../src/app/portcullis.ts";
import { assertOk, cliEngine, openApp, runCli, spawnCli, type CliEngine } from "../cli/run-cli.ts";

const LOOP = fileURLToPath(new URL("../helpers/admin-loop.ts", import.meta.url));
/** Two loops per round, each SIGKILLed: 20 kills of admin-change processes in all. */
const ROUNDS = 10;
const CLI_ROUNDS = 4;

interface State {
	users: Map<string, boolean>;
	groups: Set<string>;
	members: Set<string>;
	servers: Set<string>;
	grants: Set<string>;
}

/** What the audit log says the state is: every event replayed in chain order. */
async function replay(app: Portcullis): Promise<State> {
	const state: State = { users: new Map(), groups: new Set(), members: new Set(), servers: new Set(), grants: new Set() };
	const rows = await app.db.selectFrom("audit_events").selectAll().orderBy("chain_seq").execute();
	for (const row of rows) {
		const detail = (row.detail === null ? {} : JSON.parse(row.detail)) as { group?: string; groups?: string[]; server?: string };
		const user = row.username ?? "";
		switch (row.event) {
			case "user.created":
				state.users.set(user, false);
				for (const group of detail.groups ?? []) state.members.add(`${group}/${user}`);
				break;
			case "user.disabled":
			case "user.enabled":
				state.users.set(user, row.event === "user.disabled");
				break;
			case "group.created":
				state.groups.add(detail.group!);
				break;
			case "group.deleted":
				state.groups.delete(detail.group!);
				for (const key of [...state.members]) if (key.startsWith(`${detail.group}/`)) state.members.delete(key);
				for (const key of [...state.grants]) if (key.endsWith(`/${detail.group}`)) state.grants.delete(key);
				break;
			case "group.member-added":
				state.members.add(`${detail.group}/${user}`);
				break;
			case "group.member-removed":
				state.members.delete(`${detail.group}/${user}`);
				break;
			case "server.created":
				state.servers.add(detail.server!);
				for (const group of detail.groups ?? []) state.grants.add(`${detail.server}/${group}`);
				break;
			case "server.granted":
				state.grants.add(`${detail.server}/${detail.group}`);
				break;
			case "server.revoked":
				state.grants.delete(`${detail.server}/${detail.group}`);
				break;
			case "server.deleted":
				state.servers.delete(detail.server!);
				for (const key of [...state.grants]) if (key.startsWith(`${detail.server}/`)) state.grants.delete(key);
				break;
			default:
				throw new Error(`unexpected event ${row.event}`);
		}
	}
	return state;
}

/** What the database holds. */
async function stored(app: Portcullis): Promise<State> {
	const users = await app.db.selectFrom("users").select(["username", "disabled"]).execute();
	const groups = await app.db.selectFrom("groups").select("name").execute();
	const members = await app.db
		.selectFrom("group_members")
		.innerJoin("groups", "groups.id", "group_members.group_id")
		.innerJoin("users", "users.id", "group_members.user_id")
		.select(["groups.name as group", "users.username as user"])
		.execute();
	const servers = await app.stores.servers.list();
	const grants = await app.stores.servers.grantsByServer();
	const byId = new Map(servers.map((server) => [server.id, server.name]));
	return {
		users: new Map(users.map((row) => [row.username, row.disabled === 1])),
		groups: new Set(groups.map((row) => row.name)),
		members: new Set(members.map((row) => `${row.group}/${row.user}`)),
		servers: new Set(servers.map((server) => server.name)),
		grants: new Set([...grants].flatMap(([id, names]) => names.map((name) => `${byId.get(id)}/${name}`))),
	};
}

/**
 * Starts the loop, lets it complete a random number of changes, then SIGKILLs it at a uniformly
 * random moment within about the next two changes (their length measured from the ones before, so
 * the kill lands anywhere inside a change on a fast or a slow machine alike).
 */
async function killLoopAtRandom(dir: string, prefix: string, databaseUrl: string | undefined): Promise<number> {
	const child = spawn(process.execPath, ["--import", "tsx", LOOP, dir, prefix, ...(databaseUrl === undefined ? [] : [databaseUrl])], {
		stdio: ["ignore", "pipe", "inherit"],
	});
	const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once("exit", (_code, signal) => resolve(signal)));
	const target = randomInt(3, 12);
	const times: number[] = [];
	await new Promise<void>((resolve, reject) => {
		createInterface({ input: child.stdout! }).on("line", (line) => {
			if (line.startsWith("done ")) times.push(performance.now());
			if (times.length === target) resolve();
		});
		void exited.then(() => reject(new Error(`admin loop exited on its own after ${times.length} changes`)));
	});
	const perChange = (times[times.length - 1]! - times[0]!) / (times.length - 1);
	await new Promise((resolve) => setTimeout(resolve, Math.random() * 2 * perChange));
	child.kill("SIGKILL");
	assert.equal(await exited, "SIGKILL");
	return times.length;
}

/** A real CLI command killed with SIGKILL after a random delay (it may be starting, writing, or done). */
async function killCliAtRandom(dir: string, env: NodeJS.ProcessEnv, round: number): Promise<void> {
	const args = randomInt(2) === 0 ? ["group", "add", `cli${round}`] : ["server", "add", `cli${round}`, "--host", "192.0.2.9"];
	const child = await spawnCli([...args, "--data", dir], env);
	child.stdin?.end();
	const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
	// The built CLI finishes such a change in about half a second: most kills land while it starts or writes.
	await new Promise((resolve) => setTimeout(resolve, randomInt(100, 1500)));
	child.kill("SIGKILL");
	await exited;
}

for (const engine of ["sqlite", "postgres"] as const)
	describe(`kill -9 during admin changes leaves no change without its audit event (${engine})`, () => {
		let dir: string;
		let engineEnv: CliEngine;
		before(async () => {
			dir = mkdtempSync(join(tmpdir(), "portcullis-crash-"));
			engineEnv = await cliEngine(engine);
			// First use: creates the data directory, the key file and the schema (not part of the crash test).
			assertOk(await runCli(["group", "add", "base", "--data", dir], { env: engineEnv.env }), "group add base");
		});
		after(async () => {
			await engineEnv?.drop();
			rmSync(dir, { recursive: true, force: true });
		});

		test(`${2 * ROUNDS} SIGKILLs of admin loops (two at once) and ${CLI_ROUNDS} of CLI commands; then state and audit log agree and the chain verifies`, async () => {
			let completed = 0;
			// Two loops at once on the same database, each killed at its own random point: concurrent
			// writers (two processes) must still leave one valid chain.
			for (let round = 0; round < ROUNDS; round++) {
				const counts = await Promise.all(["a", "b"].map((loop) => killLoopAtRandom(dir, `r${round}${loop}-`, engineEnv.databaseUrl)));
				completed += counts[0]! + counts[1]!;
			}
			for (let round = 0; round < CLI_ROUNDS; round++) await killCliAtRandom(dir, engineEnv.env, round);
			const app = await openApp(dir, engineEnv.databaseUrl);
			try {
				const [expected, actual] = [await replay(app), await stored(app)];
				const events = await app.db.selectFrom("audit_events").select("id").execute();
				console.log(
					`crash test (${engine}): ${completed} changes acknowledged before the kills, ${events.length} events, ${actual.users.size} users, ${actual.groups.size} groups, ${actual.servers.size} servers`,
				);
				assert.deepEqual(actual, expected);
				const result = await app.stores.audit.verify();
				assert.equal(result.ok, true, JSON.stringify(result));
			} finally {
				await app.close();
			}
		});
	});
