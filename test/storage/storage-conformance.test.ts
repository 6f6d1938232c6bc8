/**
 * The storage conformance suite, run against SQLite and PostgreSQL: every
 * single-use operation is one conditional UPDATE whose parallel callers see exactly one winner,
 * data survives a restart, and a kill -9 in the middle of an enrolment leaves nothing that counts.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createPortcullis, type Portcullis } from "../../src/app/portcullis.ts";
import { FakeClock } from "../../src/core/clock.ts";
import { sha256Hex } from "../../src/crypto/tokens.ts";
import type { DatabaseTarget } from "../../src/storage/open-database.ts";

/** A trusted in-process caller's guard: no origin, generation 0 (a new user's), no link. */
const TRUSTED = { origin: null, generation: 0, linkHash: null } as const;
import { ADMIN_ACTOR, createPostgresDatabase, testConfig, WEB } from "../helpers/test-app.ts";

const LOCKOUT = { maxFailures: 5, windowMs: 900_000, lockMs: 900_000, maxLockMs: 86_400_000, leaseMs: 300_000 };

for (const engine of ["sqlite", "postgres"] as const) {
	describe(`storage conformance (${engine})`, () => {
		let dir: string;
		let target: DatabaseTarget;
		let drop: (() => Promise<void>) | null = null;
		let app: Portcullis;
		const clock = new FakeClock(Date.UTC(2026, 10, 28, 9));
		const key = randomBytes(32);
		const open = () => createPortcullis(testConfig(dir), { clock, database: target, secretKey: key });

		before(async () => {
			dir = mkdtempSync(join(tmpdir(), "portcullis-storage-"));
			if (engine === "postgres") {
				const created = await createPostgresDatabase();
				drop = created.drop;
				target = { kind: "postgres", url: created.url };
			} else {
				target = { kind: "sqlite", file: join(dir, "portcullis.sqlite") };
			}
			app = await open();
			await app.admin.createGroup(ADMIN_ACTOR, { name: "ops", forceTwoFactor: true, allowedMethods: null });
			await app.admin.createUser(ADMIN_ACTOR, { username: "alice", password: "a long password", isAdmin: false, groups: ["ops"] });
		});
		after(async () => {
			await app.close();
			if (drop) await drop();
			rmSync(dir, { recursive: true, force: true });
		});

		async function alice() {
			return (await app.stores.users.findByUsername("alice"))!;
		}

		test("migrations are idempotent: reopening applies nothing twice", async () => {
			await app.close();
			app = await open();
			assert.ok(await alice());
		});

		test("a user and their group memberships are created together or not at all", async () => {
			const ops = await app.admin.requireGroup("ops");
			const created = await app.stores.users.create({
				username: "grace",
				passwordHash: null,
				isAdmin: false,
				mustChangePassword: false,
				groupIds: [ops.id, ops.id],
			});
			assert.deepEqual(
				(await app.stores.groups.groupsOfUser(created.id)).map((group) => group.name),
				["ops"],
			);
			// A group deleted between the admin's check and the insert (foreign key): no user without it.
			await assert.rejects(
				app.stores.users.create({ username: "henry", passwordHash: null, isAdmin: false, mustChangePassword: false, groupIds: [ops.id, "no-such-group"] }),
			);
			assert.equal(await app.stores.users.findByUsername("henry"), undefined);
		});

		test("factor counter compare-and-set: 20 parallel advances to the same step, one winner; lower steps refused", async () => {
			const user = await alice();
			const id = (await app.stores.factors.insert({ userId: user.id, method: "totp", label: "x", status: "active", secretEnc: null }, TRUSTED))!;
			const wins = await Promise.all(Array.from({ length: 20 }, () => app.stores.factors.advanceCounter(id, 1000)));
			assert.equal(wins.filter(Boolean).length, 1);
			assert.equal(await app.stores.factors.advanceCounter(id, 999), false);
			assert.equal(await app.stores.factors.advanceCounter(id, 1001), true);
			await app.stores.factors.remove(id, user.id);
		});

		test("pending factor activation happens once and never after its expiry", async () => {
			const user = await alice();
			const id = (await app.stores.factors.insert({ userId: user.id, method: "totp", label: "x", status: "pending", secretEnc: null }, TRUSTED))!;
			const wins = await Promise.all(Array.from({ length: 10 }, () => app.stores.factors.activate(id, user.id, 5, TRUSTED)));
			assert.equal(wins.filter(Boolean).length, 1);
			const late = (await app.stores.factors.insert({ userId: user.id, method: "totp", label: "y", status: "pending", secretEnc: null }, TRUSTED))!;
			clock.advance(16 * 60_000);
			assert.equal(await app.stores.factors.activate(late, user.id, 5, TRUSTED), false);
			await app.stores.factors.removeAllOfUser(user.id);
		});

		test("recovery code consumption: parallel double use has one winner", async () => {
			const user = await alice();
			await app.stores.recoveryCodes.replace(user.id, ["h1", "h2"]);
			const [first] = await app.stores.recoveryCodes.unused(user.id);
			const wins = await Promise.all(Array.from({ length: 10 }, () => app.stores.recoveryCodes.consume(first!.id)));
			assert.equal(wins.filter(Boolean).length, 1);
			assert.equal(await app.stores.recoveryCodes.countUnused(user.id), 1);
			await app.stores.recoveryCodes.removeAll(user.id);
		});

		test("attempt completion is single use; expired attempts are not live", async () => {
			const user = await alice();
			const attempt = await app.stores.attempts.create({ userId: user.id, channel: "web", purpose: "login", source: "x", ttlMs: 60_000, required: true });
			const wins = await Promise.all(Array.from({ length: 10 }, () => app.stores.attempts.complete(attempt.id, "totp")));
			assert.equal(wins.filter(Boolean).length, 1);
			const other = await app.stores.attempts.create({ userId: user.id, channel: "web", purpose: "login", source: "x", ttlMs: 60_000, required: true });
			clock.advance(61_000);
			assert.equal(await app.stores.attempts.getLive(other.id), undefined);
			assert.equal(await app.stores.attempts.complete(other.id, "totp"), false);
		});

		test("lockout reservation: 50 parallel reservations, at most maxFailures evaluated; in flight is not a failure", async () => {
			const user = await alice();
			const results = await Promise.all(Array.from({ length: 50 }, () => app.stores.users.reserveAttempt(user.id, "tfa", LOCKOUT)));
			const granted = results.flatMap((result) => (result.kind === "ok" ? [result.reservation] : []));
			assert.equal(granted.length, 5);
			assert.equal(results.filter((result) => result.kind === "busy").length, 45, "the others are busy, not locked");
			assert.equal(Number((await alice()).tfa_locked_until), 0, "answers in flight never lock");
			const settled = await Promise.all(granted.map((reservation) => app.stores.users.settleWrong(user.id, "tfa", reservation, LOCKOUT)));
			assert.equal(settled.filter((failure) => failure.lockedNow).length, 1, "exactly one settlement writes the lock");
			assert.equal((await app.stores.users.reserveAttempt(user.id, "tfa", LOCKOUT)).kind, "locked");
			await app.stores.users.unlock(user.id);
			const again = await app.stores.users.reserveAttempt(user.id, "tfa", LOCKOUT);
			assert.equal(again.kind, "ok");
			if (again.kind === "ok") await app.stores.users.settleCorrect(again.reservation, LOCKOUT);
			assert.equal(Number((await alice()).tfa_inflight), 0);
		});

		test("enrolment link: 10 parallel activations with one link, one factor; none after expiry or from another attempt", async () => {
			const user = await alice();
			const attempt = await app.stores.attempts.create({ userId: user.id, channel: "web", purpose: "login", source: "x", ttlMs: 3_600_000, required: true });
			const guard = { origin: `attempt:${attempt.id}`, generation: 0, linkHash: sha256Hex("tok") };
			await app.stores.users.setEnrollToken(user.id, sha256Hex("tok"), clock.now().getTime() + 60_000);
			const ids = await Promise.all(
				Array.from({ length: 10 }, (_, n) =>
					app.stores.factors.insert({ userId: user.id, method: "totp", label: `f${n}`, status: "pending", secretEnc: null }, guard),
				),
			);
			const wins = await Promise.all(ids.map((id) => app.stores.factors.activate(id!, user.id, 5, guard)));
			assert.equal(wins.filter(Boolean).length, 1, "one link, one factor");
			assert.equal((await app.stores.users.findById(user.id))!.enroll_token_hash, null, "the link is spent by that activation");
			// A factor of another attempt, or one begun without the link, cannot use a fresh link either.
			await app.stores.users.setEnrollToken(user.id, sha256Hex("tok2"), clock.now().getTime() + 60_000);
			const other = await app.stores.attempts.create({ userId: user.id, channel: "web", purpose: "login", source: "x", ttlMs: 3_600_000, required: true });
			const foreign = (await app.stores.factors.insert(
				{ userId: user.id, method: "totp", label: "g", status: "pending", secretEnc: null },
				{ ...guard, origin: `attempt:${other.id}` },
			))!;
			assert.equal(await app.stores.factors.activate(foreign, user.id, 5, { ...guard, linkHash: sha256Hex("tok2") }), false, "another attempt's factor");
			assert.equal(
				await app.stores.factors.activate(foreign, user.id, 5, { ...guard, origin: `attempt:${other.id}`, linkHash: null }),
				false,
				"no link while one is outstanding",
			);
			clock.advance(61_000);
			assert.equal(
				await app.stores.factors.activate(foreign, user.id, 5, { ...guard, origin: `attempt:${other.id}`, linkHash: sha256Hex("tok2") }),
				false,
				"expired link",
			);
			await app.stores.users.setEnrollToken(user.id, null, null);
			await app.stores.factors.removeAllOfUser(user.id);
		});

		test("session rotation issues a new token and kills the old one", async () => {
			const user = await alice();
			const { token } = await app.stores.sessions.create({
				userId: user.id,
				attemptId: null,
				state: "half",
				secondFactorMethod: null,
				stepUpAt: null,
				sessionEpoch: 0,
				source: "x",
				ttlMs: 60_000,
			});
			const rotated = await app.stores.sessions.rotate(token, { state: "full" });
			assert.ok(rotated);
			assert.notEqual(rotated.token, token);
			assert.equal(await app.stores.sessions.find(token), undefined);
			assert.equal((await app.stores.sessions.find(rotated.token))?.state, "full");
			// Rotating the dead token again yields nothing (no fixation via an old cookie).
			assert.equal(await app.stores.sessions.rotate(token, { state: "full" }), null);
		});

		test("secrets are sealed at rest: the TOTP key is not in the database in clear", async () => {
			const user = await alice();
			const begin = await app.enrollment.begin(user.id, "totp", "phone", {}, { channel: "web", source: "t", duringLogin: false });
			assert.equal(begin.kind, "pending");
			const row = await app.db.selectFrom("factors").selectAll().where("user_id", "=", user.id).executeTakeFirstOrThrow();
			assert.match(row.secret_enc ?? "", /^v1:/);
			const base32 = begin.kind === "pending" ? begin.display.secret!.replace(/ /g, "") : "";
			assert.ok(!JSON.stringify(row).includes(base32));
			await app.stores.factors.removeAllOfUser(user.id);
		});

		test("data survives a restart", async () => {
			await app.admin.createUser(ADMIN_ACTOR, { username: "persisted", password: "a long password", isAdmin: false, groups: ["ops"] });
			await app.close();
			app = await open();
			assert.ok(await app.stores.users.findByUsername("persisted"));
			assert.equal((await app.stores.groups.groupsOfUser((await app.stores.users.findByUsername("persisted"))!.id))[0]?.name, "ops");
		});

		test("kill -9 in the middle of an enrolment leaves no half-made factor that counts", async () => {
			await app.close();
			const url = target.kind === "postgres" ? target.url : "sqlite";
			const child = spawn(process.execPath, ["--import", "tsx", join(import.meta.dirname, "enroll-then-die.ts"), dir, url, key.toString("hex")], {
				stdio: ["ignore", "pipe", "inherit"],
			});
			const factorId = await new Promise<string>((resolve, reject) => {
				let out = "";
				child.stdout.on("data", (chunk: Buffer) => {
					out += chunk.toString();
					if (out.includes("\n")) resolve(out.trim());
				});
				child.on("exit", () => reject(new Error(`child exited early: ${out}`)));
			});
			child.kill("SIGKILL");
			await new Promise((resolve) => child.once("exit", resolve));
			assert.notEqual(factorId, "none");
			app = await open();
			const factor = await app.stores.factors.get(factorId);
			assert.equal(factor?.status, "pending");
			// The pending factor does not count: alice still has to enrol, on every channel.
			const step = await app.login.submitPassword(WEB, "alice", "a long password");
			assert.equal(step.kind, "enroll");
		});
	});
}
