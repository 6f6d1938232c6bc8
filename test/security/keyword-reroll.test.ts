/**
 * Access Keyword re-roll (docs/threat-model.md, "Access Keyword re-roll"): every display of the keyword
 * prompt used to draw new positions (each 2FA page GET, each SSH `:keyword` switch, each reconnect),
 * so an attacker holding the password and ONE observed answer redrew, free and unaudited, until the
 * same positions came back. These tests pin the fix: the positions are per-user state in the shared
 * database, drawn once, shown again by every prompt on every channel and node, kept after a wrong
 * answer, ended by a correct answer, and an abandoned (expired) challenge costs one failure.
 * Run on SQLite and PostgreSQL, with two Portcullis instances on one database ("two nodes").
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createPortcullis, type Portcullis } from "../../src/app/portcullis.ts";
import { FakeClock } from "../../src/core/clock.ts";
import { keywordChallengeTtlMs } from "../../src/storage/keyword-challenge-store.ts";
import { startSshGateway, type SshGateway } from "../../src/ssh/gateway.ts";
import type { DatabaseTarget } from "../../src/storage/open-database.ts";
import { RawSsh, type AuthEvent } from "../helpers/ssh-client.ts";
import { ADMIN_ACTOR, createPostgresDatabase, SSH, testConfig, WEB } from "../helpers/test-app.ts";
import { enrolKeyword, enrolTotp, KEYWORD, keywordAnswer, PASSWORD, standInChannels } from "../ssh/auth-fixtures.ts";

const DRAWN = "second-factor.challenge-drawn";
/** Generous: a loaded CI machine must never fail a test by waiting too little. */
const WAIT_MS = 60_000;

function infoPrompt(event: AuthEvent): string {
	assert.equal(event.type, "info-request", JSON.stringify(event));
	return event.type === "info-request" ? (event.prompts[0]?.prompt ?? "") : "";
}

for (const engine of ["sqlite", "postgres"] as const) {
	describe(`keyword re-roll (${engine})`, () => {
		let dir: string;
		let drop: (() => Promise<void>) | null = null;
		let nodeA: Portcullis;
		let nodeB: Portcullis;
		let gatewayA: SshGateway;
		let gatewayB: SshGateway;
		const clock = new FakeClock(Date.UTC(2026, 11, 2, 9));
		const open: RawSsh[] = [];
		let users = 0;

		before(async () => {
			dir = mkdtempSync(join(tmpdir(), "portcullis-reroll-"));
			let target: DatabaseTarget;
			if (engine === "postgres") {
				const created = await createPostgresDatabase();
				drop = created.drop;
				target = { kind: "postgres", url: created.url };
			} else {
				target = { kind: "sqlite", file: join(dir, "portcullis.sqlite") };
			}
			const key = randomBytes(32);
			// Two nodes: two composition roots on the same database, sharing nothing in memory.
			nodeA = await createPortcullis(testConfig(join(dir, "a")), { clock, database: target, secretKey: key });
			nodeB = await createPortcullis(testConfig(join(dir, "b")), { clock, database: target, secretKey: key });
			// The keyword is not enabled by default on a new installation (docs/decisions.md).
			await nodeA.admin.updateSettings(ADMIN_ACTOR, { enabledMethods: ["totp", "access-keyword", "recovery-code"] });
			gatewayA = await startSshGateway(nodeA.ssh, { listen: "127.0.0.1:0", attachChannels: standInChannels({ calls: [] }) });
			gatewayB = await startSshGateway(nodeB.ssh, { listen: "127.0.0.1:0", attachChannels: standInChannels({ calls: [] }) });
		});

		after(async () => {
			for (const raw of open) raw.end();
			await gatewayA?.close();
			await gatewayB?.close();
			await nodeA?.close();
			await nodeB?.close();
			if (drop) await drop();
			rmSync(dir, { recursive: true, force: true });
		});

		/** A user with an access keyword (and TOTP when `withTotp`, so SSH can switch between them). */
		async function keywordUser(withTotp = false): Promise<{ id: string; username: string }> {
			users += 1;
			const username = `kw${users}`;
			const user = await nodeA.admin.createUser(ADMIN_ACTOR, { username, password: PASSWORD, isAdmin: false, groups: [] });
			if (withTotp) await enrolTotp({ app: nodeA, clock } as Parameters<typeof enrolTotp>[0], user.id);
			await enrolKeyword({ app: nodeA }, user.id);
			return { id: user.id, username };
		}

		/** One display of the keyword prompt: first factor, then LoginFlow.startChallenge, on `node`. */
		async function showPrompt(node: Portcullis, username: string, client: typeof WEB | typeof SSH = WEB): Promise<{ attemptId: string; prompt: string }> {
			const step = await node.login.submitPassword(client, username, PASSWORD);
			assert.equal(step.kind, "second-factor", JSON.stringify(step));
			if (step.kind !== "second-factor") throw new Error("unreachable");
			const challenge = await node.login.startChallenge(step.attemptId, "access-keyword");
			assert.equal(challenge.kind, "prompt", JSON.stringify(challenge));
			if (challenge.kind !== "prompt") throw new Error("unreachable");
			return { attemptId: step.attemptId, prompt: challenge.prompt };
		}

		async function draws(username: string): Promise<{ positions: number[]; replaced: string }[]> {
			const rows = await nodeA.stores.audit.query({ username, event: DRAWN });
			return rows.map((row) => JSON.parse(row.detail ?? "{}") as { positions: number[]; replaced: string });
		}

		async function tfaFailures(username: string): Promise<number> {
			return Number((await nodeA.stores.users.findByUsername(username))!.tfa_failures);
		}

		test("50 prompt displays across two nodes, web and SSH attempts alike, show the same positions and draw once", async () => {
			// Attack: reload the keyword prompt (web GET, SSH :keyword, another node) until the positions of one observed answer come back (docs/threat-model.md, "Access Keyword re-roll").
			const { username } = await keywordUser();
			const prompts = new Set<string>();
			for (let index = 0; index < 50; index++) {
				const node = index % 2 === 0 ? nodeA : nodeB;
				const shown = await showPrompt(node, username, index % 3 === 0 ? SSH : WEB);
				// The same attempt shown again (a page reload) re-uses them too.
				assert.equal((await node.login.startChallenge(shown.attemptId, "access-keyword")).kind, "prompt");
				prompts.add(shown.prompt);
			}
			assert.equal(prompts.size, 1, `one set of positions, saw ${[...prompts].join(" | ")}`);
			const drawn = await draws(username);
			assert.equal(drawn.length, 1, "one draw, audited once; re-use is not a draw");
			assert.match([...prompts][0]!, new RegExp(`characters ${drawn[0]!.positions.slice(0, 2).join(", ")} and ${drawn[0]!.positions[2]}`));
			assert.equal(await tfaFailures(username), 0, "showing the prompt is not charged");
		});

		test("a wrong answer keeps the same positions; a correct one ends them and the next login draws anew", async () => {
			// Attack: answer wrongly on purpose to get new positions drawn (docs/threat-model.md, "Access Keyword re-roll").
			const { username } = await keywordUser();
			const first = await showPrompt(nodeA, username);
			const wrong = await nodeB.login.submitSecondFactor(first.attemptId, "access-keyword", "\u2603\u2603\u2603");
			assert.equal(wrong.kind, "invalid");
			const again = await showPrompt(nodeB, username);
			assert.equal(again.prompt, first.prompt, "a wrong answer does not buy new positions");
			assert.equal((await draws(username)).length, 1);

			const ok = await nodeA.login.submitSecondFactor(again.attemptId, "access-keyword", keywordAnswer(`${again.prompt}:`, KEYWORD) ?? "");
			assert.equal(ok.kind, "authenticated", JSON.stringify(ok));
			await showPrompt(nodeB, username);
			const drawn = await draws(username);
			assert.equal(drawn.length, 2, "after a correct answer the next login draws a new challenge");
			assert.equal(drawn[0]!.replaced, "none", "a correct answer leaves nothing to charge");
			assert.equal(await tfaFailures(username), 0, "the correct answer cleared the wrong one; nothing was charged since");
		});

		test("an abandoned challenge (fake clock past expiry) costs one failure, charged once even when two nodes redraw at once, and is audited", async () => {
			// Attack: let the challenge expire unanswered, on two nodes at once, so a redraw costs nothing (docs/threat-model.md, "Access Keyword re-roll").
			const { username } = await keywordUser();
			const first = await showPrompt(nodeA, username);
			const security = nodeA.config.security;
			clock.advance(
				keywordChallengeTtlMs({ maxFailures: security.lockout_max_failures, windowMs: security.lockout_window_seconds * 1000, lockMs: 0, maxLockMs: 0 }) + 1,
			);

			// Two nodes show the prompt at the same moment: one draw, one charge, the same positions.
			const stepA = await nodeA.login.submitPassword(WEB, username, PASSWORD);
			const stepB = await nodeB.login.submitPassword(SSH, username, PASSWORD);
			assert.ok(stepA.kind === "second-factor" && stepB.kind === "second-factor");
			const [shownA, shownB] = await Promise.all([
				nodeA.login.startChallenge(stepA.attemptId, "access-keyword"),
				(engine === "postgres" ? nodeB : nodeA).login.startChallenge(stepB.attemptId, "access-keyword"),
			]);
			assert.ok(shownA.kind === "prompt" && shownB.kind === "prompt", JSON.stringify([shownA, shownB]));
			assert.equal(shownA.prompt, shownB.prompt);

			assert.equal(await tfaFailures(username), 1, "the abandoned challenge counts as exactly one failure");
			const failures = await nodeA.stores.audit.query({ username, event: "second-factor.failure" });
			assert.equal(failures.length, 1);
			assert.match(failures[0]!.detail ?? "", /"reason":"abandoned"/);
			const drawn = await draws(username);
			assert.equal(drawn.length, 2, "the first draw and its replacement, each audited once");
			assert.equal(drawn.filter((draw) => draw.replaced === "abandoned").length, 1);
			// The old attempt's positions are gone with the old challenge.
			const late = await nodeA.login.submitSecondFactor(first.attemptId, "access-keyword", keywordAnswer(`${first.prompt}:`, KEYWORD) ?? "");
			assert.notEqual(late.kind, "authenticated");
		});

		test("abandoning is never free: five abandoned draws lock the account like five wrong answers", async () => {
			// Attack: abandon challenge after challenge as a free re-roll, since only wrong answers were counted (docs/threat-model.md, "Access Keyword re-roll").
			const { username } = await keywordUser();
			const security = nodeA.config.security;
			const ttl = keywordChallengeTtlMs({
				maxFailures: security.lockout_max_failures,
				windowMs: security.lockout_window_seconds * 1000,
				lockMs: 0,
				maxLockMs: 0,
			});
			await showPrompt(nodeA, username);
			for (let index = 0; index < security.lockout_max_failures; index++) {
				clock.advance(ttl + 1);
				await showPrompt(index % 2 === 0 ? nodeB : nodeA, username);
			}
			const user = (await nodeA.stores.users.findByUsername(username))!;
			assert.ok(Number(user.tfa_locked_until) > clock.now().getTime(), "locked after max_failures abandoned challenges");
			const refused = await nodeB.login.submitPassword(WEB, username, PASSWORD);
			assert.equal(refused.kind, "denied");
			assert.ok(refused.kind === "denied" && refused.reason === "locked");
		});

		test("SSH: ':keyword' switches and reconnects (to either node's gateway) show the same positions", async () => {
			// Attack: switch methods with :keyword (10 per connection) and reconnect to either gateway to redraw positions (docs/threat-model.md, "Access Keyword re-roll": 1,064 draws on 97 connections).
			const { username } = await keywordUser(true);
			const connect = async (port: number): Promise<RawSsh> => {
				const raw = await RawSsh.connect(port, { timeoutMs: WAIT_MS });
				open.push(raw);
				raw.password(username, PASSWORD);
				const partial = await raw.next(WAIT_MS);
				assert.ok(partial.type === "failure" && partial.partial, JSON.stringify(partial));
				raw.keyboard(username);
				return raw;
			};
			/** The keyword prompt on this connection (switching to it when another method is asked first). */
			const keywordPrompt = async (raw: RawSsh): Promise<string> => {
				let prompt = infoPrompt(await raw.next(WAIT_MS));
				if (!/Access keyword/.test(prompt)) {
					raw.respond([":keyword"]);
					prompt = infoPrompt(await raw.next(WAIT_MS));
				}
				return prompt;
			};

			const prompts = new Set<string>();
			for (let connection = 0; connection < 6; connection++) {
				const raw = await connect(connection % 2 === 0 ? gatewayA.address.port : gatewayB.address.port);
				prompts.add(await keywordPrompt(raw));
				// Within the per-connection limit of 10 switches: away and back, four times.
				for (let round = 0; round < 4; round++) {
					raw.respond([":totp"]);
					assert.match(infoPrompt(await raw.next(WAIT_MS)), /TOTP/);
					raw.respond([":keyword"]);
					prompts.add(infoPrompt(await raw.next(WAIT_MS)));
				}
				raw.end();
				assert.ok(await raw.waitClosed(WAIT_MS));
			}
			assert.equal(prompts.size, 1, `one set of positions on every prompt, saw ${[...prompts].join(" | ")}`);
			assert.equal((await draws(username)).length, 1, "54 displays, one draw");

			// And the positions shown are the ones that log in.
			const raw = await connect(gatewayB.address.port);
			const prompt = await keywordPrompt(raw);
			raw.respond([keywordAnswer(prompt, KEYWORD) ?? ""]);
			assert.equal((await raw.next(WAIT_MS)).type, "success");
		});
	});
}
