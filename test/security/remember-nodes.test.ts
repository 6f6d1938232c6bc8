/**
 * The SSH remember window across two real server processes on one PostgreSQL database
 * (test/helpers/race-node.ts): a grant made on node A lets the next SSH login on node B skip the
 * second factor (nothing lives in process memory), and a revocation made on node B (password
 * change, policy change) ends it for the very next login on node A. Fired together, a revocation
 * and logins never leave a login after the revocation remembered.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createPortcullis, type Portcullis } from "../../src/app/portcullis.ts";
import { totpCodeAt } from "../../src/methods/totp/totp-method.ts";
import { base32Decode } from "../helpers/base32.ts";
import { startRaceNode, type RaceNode } from "../helpers/race-nodes.ts";
import { ADMIN_ACTOR, createPostgresDatabase, testConfig } from "../helpers/test-app.ts";

const PASSWORD = "correct horse battery";
const ACCOUNT = { channel: "web", source: "test", duringLogin: false } as const;
const SSH = { channel: "ssh", sourceAddress: "192.0.2.7" } as const;

describe("SSH remember window across two server processes on one PostgreSQL", () => {
	let database: { url: string; drop(): Promise<void> };
	let app: Portcullis;
	let dir: string;
	let nodes: RaceNode[];

	before(async () => {
		database = await createPostgresDatabase();
		dir = mkdtempSync(join(tmpdir(), "portcullis-remember-nodes-"));
		const key = randomBytes(32);
		app = await createPortcullis(testConfig(dir), { database: { kind: "postgres", url: database.url }, secretKey: key });
		await app.admin.updateSettings(ADMIN_ACTOR, { forceTwoFactor: true, rememberMinutes: 60 });
		nodes = await Promise.all([startRaceNode(database.url, key), startRaceNode(database.url, key)]);
	});

	after(async () => {
		await Promise.all((nodes ?? []).map((node) => node.stop()));
		await app?.close();
		await database?.drop();
		rmSync(dir, { recursive: true, force: true });
	});

	async function userWithTotp(username: string): Promise<Buffer> {
		const user = await app.admin.createUser(ADMIN_ACTOR, { username, password: PASSWORD, isAdmin: false, groups: [] });
		const begin = await app.enrollment.begin(user.id, "totp", "phone", {}, ACCOUNT);
		if (begin.kind !== "pending") throw new Error(`enrolment: ${begin.kind}`);
		const secret = base32Decode(begin.display.secret!.replace(/ /g, ""));
		assert.equal((await app.enrollment.complete(user.id, begin.factorId, { code: totpCodeAt(secret, Date.now() - 30_000) }, ACCOUNT)).kind, "active");
		return secret;
	}

	/** An SSH login (password first) on `node`: "remembered" when no second factor was asked. */
	async function sshLogin(node: RaceNode, username: string): Promise<{ kind: string; attemptId?: string; method?: string | null }> {
		return (await node.call("login.submitPassword", SSH, username, PASSWORD)) as { kind: string; attemptId?: string; method?: string | null };
	}

	test("a grant made on node A is honoured on node B; a revocation on node B is seen at once on node A", async () => {
		const secret = await userWithTotp("rita");
		const [a, b] = nodes as [RaceNode, RaceNode];
		const first = await sshLogin(a, "rita");
		assert.equal(first.kind, "second-factor");
		const proven = (await a.call("login.submitSecondFactor", first.attemptId, "totp", totpCodeAt(secret, Date.now()))) as { kind: string };
		assert.equal(proven.kind, "authenticated");

		const onB = await sshLogin(b, "rita");
		assert.equal(onB.kind, "authenticated", "node B honours the grant node A made");
		assert.equal(onB.method, "totp");

		await b.call("admin.setPassword", ADMIN_ACTOR, "rita", PASSWORD, false);
		assert.equal((await sshLogin(a, "rita")).kind, "second-factor", "node A sees node B's revocation at once");
	});

	test("a policy change fired together with logins: every login that starts after it is asked again", async () => {
		const secret = await userWithTotp("ravi");
		const [a, b] = nodes as [RaceNode, RaceNode];
		const first = await sshLogin(a, "ravi");
		assert.equal(first.kind, "second-factor");
		assert.equal(
			((await a.call("login.submitSecondFactor", first.attemptId, "totp", totpCodeAt(secret, Date.now()))) as { kind: string }).kind,
			"authenticated",
		);
		assert.equal((await sshLogin(b, "ravi")).kind, "authenticated");

		// Four, not more: concurrent password checks are each charged to the per-source delay first
		// (security.password_delay_after_failures = 5), and more in flight would be throttled.
		const racing = Promise.all(Array.from({ length: 4 }, (_, index) => sshLogin(nodes[index % 2] as RaceNode, "ravi")));
		await b.call("admin.createGroup", ADMIN_ACTOR, { name: "late", forceTwoFactor: false, allowedMethods: null });
		const raced = await racing;
		// Logins racing the change may go either way (they began before it committed) …
		for (const result of raced) assert.ok(result.kind === "authenticated" || result.kind === "second-factor", JSON.stringify(result));
		// … but none after it is remembered, on either node.
		for (const node of [a, b]) assert.equal((await sshLogin(node, "ravi")).kind, "second-factor");
	});
});
