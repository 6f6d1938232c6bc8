/**
 * Races of guarded 2FA transitions against their guards, across two real server processes on one
 * PostgreSQL database (test/helpers/race-node.ts). Each test fires the transitions together N times.
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
import { ADMIN_ACTOR, createPostgresDatabase, testConfig, WEB } from "../helpers/test-app.ts";

const PASSWORD = "correct horse battery";
const ROUNDS = 8;
const ACCOUNT = { channel: "web", source: "test", duringLogin: false } as const;

describe("2FA state races across two server processes on one PostgreSQL", () => {
	let database: { url: string; drop(): Promise<void> };
	let app: Portcullis;
	let dir: string;
	let nodeA: RaceNode;
	let nodeB: RaceNode;

	before(async () => {
		database = await createPostgresDatabase();
		dir = mkdtempSync(join(tmpdir(), "portcullis-races-"));
		const key = randomBytes(32);
		app = await createPortcullis(testConfig(dir), { database: { kind: "postgres", url: database.url }, secretKey: key });
		await app.admin.createGroup(ADMIN_ACTOR, { name: "sec", forceTwoFactor: true, allowedMethods: null });
		[nodeA, nodeB] = await Promise.all([startRaceNode(database.url, key), startRaceNode(database.url, key)]);
	});

	after(async () => {
		await Promise.all([nodeA?.stop(), nodeB?.stop()]);
		await app?.close();
		await database?.drop();
		rmSync(dir, { recursive: true, force: true });
	});

	async function enrolTotp(userId: string, label: string): Promise<string> {
		const begin = await app.enrollment.begin(userId, "totp", label, {}, ACCOUNT);
		assert.equal(begin.kind, "pending");
		if (begin.kind !== "pending") throw new Error("unreachable");
		const code = totpCodeAt(base32Decode(begin.display.secret!.replace(/ /g, "")), Date.now());
		assert.equal((await app.enrollment.complete(userId, begin.factorId, { code }, ACCOUNT)).kind, "active");
		return begin.factorId;
	}

	test("last-factor rule raced: a forced user removes both factors at once on two nodes; one removal wins, one factor stays", async () => {
		// Attack: post the removal of both factors in parallel so each check sees the other factor
		// still there (docs/threat-model.md, "Read-then-delete races"; the read-then-delete pattern).
		for (let round = 0; round < ROUNDS; round++) {
			const user = await app.admin.createUser(ADMIN_ACTOR, { username: `ra${round}`, password: PASSWORD, isAdmin: false, groups: ["sec"] });
			const first = await enrolTotp(user.id, "one");
			const second = await enrolTotp(user.id, "two");
			const results = (await Promise.all([
				nodeA.call("enrollment.remove", user.id, first, ACCOUNT),
				nodeB.call("enrollment.remove", user.id, second, ACCOUNT),
			])) as { kind: string }[];
			assert.deepEqual(results.map((result) => result.kind).sort(), ["refused", "removed"], `round ${round}: ${JSON.stringify(results)}`);
			assert.equal((await app.stores.factors.listActive(user.id)).length, 1, `round ${round}: one factor left`);
		}
	});

	test("admin reset raced by in-flight forced enrolments: no factor the attacker began ever activates", async () => {
		// Attack: with only the password, keep login attempts open and post forced-enrolment starts
		// while an admin resets the user's 2FA, hoping to land between "factors deleted" and "link
		// stored" (docs/threat-model.md, "Enrolment outliving its login": confirmed bypass, 2 of 5 trials).
		for (let round = 0; round < ROUNDS; round++) {
			const username = `rb${round}`;
			const user = await app.admin.createUser(ADMIN_ACTOR, { username, password: PASSWORD, isAdmin: false, groups: ["sec"] });
			await enrolTotp(user.id, "phone");
			const attempts: string[] = [];
			for (let n = 0; n < 3; n++) {
				const step = await app.login.submitPassword(WEB, username, PASSWORD);
				assert.equal(step.kind, "second-factor");
				if (step.kind === "second-factor") attempts.push(step.attemptId);
			}
			const attack = async (attemptId: string) => {
				const outcomes: unknown[] = [];
				for (let shot = 0; shot < 4; shot++) outcomes.push(await nodeB.send({ op: "attack-enrol", userId: user.id, attemptId, method: "totp" }));
				return outcomes;
			};
			const [reset, ...shots] = await Promise.all([nodeA.call("admin.resetTwoFactor", ADMIN_ACTOR, username, "link"), ...attempts.map(attack)]);
			assert.ok((reset as { link: string | null }).link !== null);
			// After the reset, a fresh password login reaches forced enrolment, but only with the link.
			const fresh = await app.login.submitPassword(WEB, username, PASSWORD);
			assert.equal(fresh.kind, "enroll");
			if (fresh.kind === "enroll") {
				assert.equal(fresh.tokenRequired, true);
				shots.push([await nodeB.send({ op: "attack-enrol", userId: user.id, attemptId: fresh.attemptId, method: "totp" })]);
			}
			const finished = shots.flat().filter((shot) => (shot as { finish?: string }).finish === "authenticated");
			assert.deepEqual(finished, [], `round ${round}: ${JSON.stringify(shots)}`);
			assert.deepEqual(await app.stores.factors.listActive(user.id), [], `round ${round}: the attacker's factor is not active`);
			const refused = await app.db
				.selectFrom("audit_events")
				.select("detail")
				.where("user_id", "=", user.id)
				.where("event", "=", "factor.enroll")
				.where("outcome", "=", "failure")
				.execute();
			assert.ok(refused.length > 0, "refused enrolment starts are audited");
		}
	});

	test("one enrolment link, two nodes: parallel forced enrolments with the same link leave exactly one factor", async () => {
		// Attack: race two enrolments with one admin link to end up with two factors from one link
		// (one link, one factor: product Decision 11).
		for (let round = 0; round < ROUNDS; round++) {
			const username = `rc${round}`;
			const user = await app.admin.createUser(ADMIN_ACTOR, { username, password: PASSWORD, isAdmin: false, groups: ["sec"] });
			const { link } = await app.admin.resetTwoFactor(ADMIN_ACTOR, username, "link");
			const token = link!.slice(link!.lastIndexOf("/") + 1);
			const step = await app.login.submitPassword(WEB, username, PASSWORD);
			assert.equal(step.kind, "enroll");
			if (step.kind !== "enroll") return;
			const context = { channel: "web", source: "test", duringLogin: true, attemptId: step.attemptId, enrollToken: token };
			const begins = (await Promise.all([
				nodeA.call("enrollment.begin", user.id, "totp", "a", {}, context),
				nodeB.call("enrollment.begin", user.id, "totp", "b", {}, context),
			])) as { kind: string; factorId: string; display: { secret: string } }[];
			const completes = (await Promise.all(
				begins.map((begin, index) =>
					(index === 0 ? nodeA : nodeB).call(
						"enrollment.complete",
						user.id,
						begin.factorId,
						{ code: totpCodeAt(base32Decode(begin.display.secret.replace(/ /g, "")), Date.now()) },
						context,
					),
				),
			)) as { kind: string }[];
			assert.equal(completes.filter((done) => done.kind === "active").length, 1, `round ${round}: ${JSON.stringify(completes)}`);
			assert.equal((await app.stores.factors.listActive(user.id)).length, 1);
		}
	});
});
