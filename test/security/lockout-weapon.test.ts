/**
 * Lockout as a weapon and user enumeration through the password stage (docs/threat-model.md, "Lockout
 * as a weapon and user enumeration"): ten anonymous wrong passwords used to lock the owner's password logins on
 * every channel, the lock answered differently from an unknown user (web 403 vs 401, SSH offered
 * keyboard-interactive), and "N attempts left" showed the account-wide count before the first
 * factor was proven. docs/decisions.md "Password throttling" describes what replaced it.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { LightMyRequestResponse } from "fastify";
import { sourceKey } from "../../src/core/source-key.ts";
import type { ClientInfo } from "../../src/flows/login-flow.ts";
import { RawSsh, type AuthEvent } from "../helpers/ssh-client.ts";
import { ADMIN_ACTOR, createTestApp, type Engine, type TestApp } from "../helpers/test-app.ts";
import { addUser, PASSWORD, startFixture, type Fixture } from "../ssh/auth-fixtures.ts";
import { Browser, createWebTest, type WebTest } from "../web/helpers.ts";

const ENGINES: readonly Engine[] = ["sqlite", "postgres"];
const WRONG = "not the password at all";
const GENERIC = { kind: "denied", reason: "invalid-credentials", message: "Invalid username or password." };
const webFrom = (sourceAddress: string): ClientInfo => ({ channel: "web", sourceAddress });
const sshFrom = (sourceAddress: string): ClientInfo => ({ channel: "ssh", sourceAddress });

/** The audit reasons of the password stage for one user, oldest first. */
async function reasons(t: TestApp, username: string): Promise<string[]> {
	const rows = await t.app.stores.audit.query({ username, event: "login.password", limit: 10_000 });
	return rows.reverse().map((row) => String((JSON.parse(row.detail ?? "{}") as { reason?: string }).reason));
}

async function throttleRow(t: TestApp, userId: string, sourceKey: string) {
	return t.app.db.selectFrom("password_throttle").selectAll().where("user_id", "=", userId).where("source_key", "=", sourceKey).executeTakeFirst();
}

for (const engine of ENGINES) {
	describe(`password stage without a lock-out weapon (${engine})`, () => {
		test("an anonymous client hammering wrong passwords from one source does not stop the owner logging in from another (web and SSH)", async () => {
			// Attack: lock the owner out by sending wrong passwords from anywhere (the lock-out weapon; docs/threat-model.md, "Lockout as a weapon and user enumeration").
			const t = await createTestApp({ engine });
			try {
				const owner = await t.app.admin.createUser(ADMIN_ACTOR, { username: "olivia", password: PASSWORD, isAdmin: false, groups: [] });
				// 120 guesses as fast as possible: all but the first 5 are refused unchecked.
				for (let guess = 0; guess < 120; guess++)
					assert.deepEqual(await t.app.login.submitPassword(guess % 2 === 0 ? webFrom("203.0.113.9") : sshFrom("203.0.113.9"), "olivia", WRONG), GENERIC);
				assert.equal((await t.app.login.submitPassword(webFrom("198.51.100.7"), "olivia", PASSWORD)).kind, "authenticated");
				assert.equal((await t.app.login.submitPassword(sshFrom("198.51.100.7"), "olivia", PASSWORD)).kind, "authenticated");
				// 120 guesses, each waiting out its delay: every one is checked, still no lock.
				for (let guess = 0; guess < 120; guess++) {
					const row = await throttleRow(t, owner.id, "203.0.113.9");
					const wait = Math.max(0, Number(row?.blocked_until ?? 0) - t.clock.now().getTime());
					t.clock.advance(wait);
					assert.deepEqual(await t.app.login.submitPassword(webFrom("203.0.113.9"), "olivia", WRONG), GENERIC);
				}
				const checked = (await reasons(t, "olivia")).filter((reason) => reason === "wrong-password").length;
				assert.ok(checked >= 120, `the waiting guesser was checked each time (${checked})`);
				assert.equal(Number((await t.app.stores.users.findById(owner.id))!.pw_locked_until), 0, "the account was never locked");
				assert.equal((await t.app.login.submitPassword(sshFrom("198.51.100.7"), "olivia", PASSWORD)).kind, "authenticated");
				assert.equal((await t.app.login.submitPassword(webFrom("2001:db8:5:6::1"), "olivia", PASSWORD)).kind, "authenticated");
				assert.equal((await t.app.stores.audit.query({ username: "olivia", event: "account.locked" })).length, 0);
			} finally {
				await t.cleanup();
			}
		});

		test("a guessing source is slowed by a doubling delay, refused unchecked (right password too) with an unknown user's answer", async () => {
			// Attack: guess passwords fast from one source and learn from a distinct "locked" answer that the account exists (docs/threat-model.md, "Lockout as a weapon and user enumeration").
			const t = await createTestApp({ engine });
			try {
				const owner = await t.app.admin.createUser(ADMIN_ACTOR, { username: "olivia", password: PASSWORD, isAdmin: false, groups: [] });
				const attacker = webFrom("2001:db8:aa:bb:1::1");
				const unknown = await t.app.login.submitPassword(attacker, "nobody", WRONG);
				assert.deepEqual(unknown, GENERIC);
				for (let guess = 0; guess < 5; guess++) assert.deepEqual(await t.app.login.submitPassword(attacker, "olivia", WRONG), unknown);
				// Blocked for 1 s, then 2 s, 4 s, 8 s: right up to the end of each block even the right
				// password (from another address of the same /64) is refused, and the refusal is the
				// unknown user's answer.
				const sameSubnet = webFrom("2001:db8:aa:bb:ffff::2");
				for (const delay of [1000, 2000, 4000, 8000]) {
					assert.deepEqual(await t.app.login.submitPassword(sameSubnet, "olivia", PASSWORD), unknown);
					t.clock.advance(delay - 1);
					assert.deepEqual(await t.app.login.submitPassword(attacker, "olivia", WRONG), unknown);
					t.clock.advance(1);
					assert.deepEqual(await t.app.login.submitPassword(attacker, "olivia", WRONG), unknown, "checked (and wrong) once the delay is over");
				}
				assert.deepEqual(
					(await reasons(t, "olivia")).filter((reason) => reason !== "throttled"),
					Array(9).fill("wrong-password"),
				);
				assert.equal((await reasons(t, "olivia")).filter((reason) => reason === "throttled").length, 8);
				assert.deepEqual(await reasons(t, "nobody"), ["unknown-user"]);
				// The delay doubles up to the cap (15 min) and stays there.
				for (let guess = 0; guess < 12; guess++) {
					t.clock.advance(Number((await throttleRow(t, owner.id, "2001:db8:aa:bb::/64"))!.blocked_until) - t.clock.now().getTime());
					await t.app.login.submitPassword(attacker, "olivia", WRONG);
				}
				const capped = (await throttleRow(t, owner.id, "2001:db8:aa:bb::/64"))!;
				assert.equal(Number(capped.blocked_until) - t.clock.now().getTime(), t.app.config.security.password_delay_max_seconds * 1000);
				// The owner, waiting out the delay, logs in from there, and that clears the source.
				t.clock.advance(t.app.config.security.password_delay_max_seconds * 1000);
				assert.equal((await t.app.login.submitPassword(sameSubnet, "olivia", PASSWORD)).kind, "authenticated");
				assert.equal(await throttleRow(t, owner.id, "2001:db8:aa:bb::/64"), undefined);
			} finally {
				await t.cleanup();
			}
		});

		test("the account-wide ceiling (100 wrong passwords from many sources) locks, is audited, answers like an unknown user, and admin unlock clears it and every source", async () => {
			// Attack: spread guesses over many sources to get past the per-source delay (NIST SP 800-63B §5.2.2 caps consecutive failures at 100; docs/threat-model.md, "Lockout as a weapon and user enumeration").
			const t = await createTestApp({ engine });
			try {
				const owner = await t.app.admin.createUser(ADMIN_ACTOR, { username: "olivia", password: PASSWORD, isAdmin: false, groups: [] });
				assert.equal(t.app.config.security.password_max_failures, 100);
				// 20 sources × 5 free guesses = 100 checked wrong passwords within the window.
				for (let source = 1; source <= 20; source++) {
					for (let guess = 0; guess < 5; guess++) await t.app.login.submitPassword(webFrom(`192.0.2.${source}`), "olivia", WRONG);
				}
				assert.ok(Number((await t.app.stores.users.findById(owner.id))!.pw_locked_until) > t.clock.now().getTime(), "the ceiling locked the account");
				const audit = await t.app.stores.audit.query({ username: "olivia", event: "account.locked" });
				assert.equal(audit.length, 1);
				assert.match(audit[0]?.detail ?? "", /"counter":"password"/);
				// Locked: even the right password from a fresh source is refused, like an unknown user.
				assert.deepEqual(await t.app.login.submitPassword(sshFrom("198.51.100.7"), "olivia", PASSWORD), GENERIC);
				assert.equal((await reasons(t, "olivia")).at(-1), "locked");
				// A source still in its delay (192.0.2.1, blocked 1 s) and the locked account both clear.
				await t.app.admin.unlock(ADMIN_ACTOR, "olivia");
				assert.equal((await t.app.db.selectFrom("password_throttle").select("source_key").where("user_id", "=", owner.id).execute()).length, 0);
				assert.equal((await t.app.login.submitPassword(webFrom("192.0.2.1"), "olivia", PASSWORD)).kind, "authenticated");
			} finally {
				await t.cleanup();
			}
		});

		test("parallel wrong passwords from one source cannot get more than the free guesses checked", async () => {
			// Attack: fire wrong passwords in parallel so all are checked before any failure is recorded (Keycloak CVE-2024-4629).
			const t = await createTestApp({ engine });
			try {
				const owner = await t.app.admin.createUser(ADMIN_ACTOR, { username: "olivia", password: PASSWORD, isAdmin: false, groups: [] });
				const results = await Promise.all(Array.from({ length: 40 }, () => t.app.login.submitPassword(webFrom("203.0.113.50"), "olivia", WRONG)));
				assert.ok(results.every((result) => JSON.stringify(result) === JSON.stringify(GENERIC)));
				const all = await reasons(t, "olivia");
				assert.equal(all.filter((reason) => reason === "wrong-password").length, t.app.config.security.password_delay_after_failures);
				assert.equal(all.filter((reason) => reason === "throttled").length, 40 - t.app.config.security.password_delay_after_failures);
				assert.equal((await throttleRow(t, owner.id, "203.0.113.50"))!.failures, t.app.config.security.password_delay_after_failures);
			} finally {
				await t.cleanup();
			}
		});
	});
}

// Address rotation: a host with an IPv6 /64 (or a dual-stack socket's mapped form) must not get a
// fresh allowance per address (the per-address limit bypass of JumpServer CVE-2023-46123).
test("address rotation inside one IPv6 /64, and IPv4-mapped forms, count as one source", () => {
	// Attack: rotate through the addresses of one IPv6 /64 (or IPv4-mapped forms) so each guess looks like a new source.
	const keys = ["2001:db8:aa:bb::1", "2001:DB8:AA:BB:ffff:ffff:ffff:ffff", "2001:db8:aa:bb:1:2:3:4%eth0"].map(sourceKey);
	assert.deepEqual(new Set(keys), new Set(["2001:db8:aa:bb::/64"]));
	assert.notEqual(sourceKey("2001:db8:aa:bc::1"), keys[0]);
	assert.deepEqual(["192.0.2.1", "::ffff:192.0.2.1", "::ffff:c000:201"].map(sourceKey), ["192.0.2.1", "192.0.2.1", "192.0.2.1"]);
});

/** A login page with the per-request parts (CSRF token, the echoed username) blanked out. */
function normalised(response: LightMyRequestResponse, username: string): string {
	return response.body.replace(/name="_csrf" value="[^"]+"/g, 'name="_csrf" value=""').replaceAll(`value="${username}"`, 'value=""');
}

describe("the web console answers a throttled source, a locked account and an unknown user alike", () => {
	let w: WebTest;
	before(async () => {
		w = await createWebTest();
		await w.app.admin.createUser(ADMIN_ACTOR, { username: "olivia", password: PASSWORD, isAdmin: false, groups: [] });
		await w.app.admin.createUser(ADMIN_ACTOR, { username: "lena", password: PASSWORD, isAdmin: false, groups: [] });
		await w.app.admin.createUser(ADMIN_ACTOR, { username: "walt", password: PASSWORD, isAdmin: false, groups: [] });
	});
	after(async () => w.close());

	test("same status and page for unknown user, wrong password, throttled source (right password), locked account (right password); no attempt count", async () => {
		// Attack: tell an existing, throttled or locked account from an unknown one by the web answer (status, page; docs/threat-model.md, "Lockout as a weapon and user enumeration").
		const attacker = new Browser(w.server, "203.0.113.9");
		const unknown = await attacker.login("nobody", WRONG);
		assert.equal(unknown.statusCode, 401);
		const reference = normalised(unknown, "nobody");
		assert.match(reference, /Invalid username or password\./);
		const pages: [string, LightMyRequestResponse][] = [];
		for (let guess = 0; guess < 5; guess++) pages.push([`wrong ${guess}`, await attacker.login("olivia", WRONG)]);
		pages.push(["throttled, right password", await attacker.login("olivia", PASSWORD)]);
		const lena = await w.app.stores.users.findByUsername("lena");
		await w.app.stores.users.lock(lena!.id, "pw", { maxFailures: 100, windowMs: 900_000, lockMs: 900_000, maxLockMs: 900_000 });
		const lenaPage = await new Browser(w.server, "198.51.100.7").login("lena", PASSWORD);
		for (const [label, page] of pages) {
			assert.equal(page.statusCode, 401, label);
			assert.equal(normalised(page, "olivia"), reference, label);
		}
		assert.equal(lenaPage.statusCode, 401, "account lock");
		assert.equal(normalised(lenaPage, "lena"), reference, "account lock");
		for (const page of [unknown, lenaPage, ...pages.map(([, page]) => page)]) assert.doesNotMatch(page.body, /attempts? left|locked/i);
		// The owner from elsewhere is not affected.
		const owner = await new Browser(w.server, "198.51.100.8").login("olivia", PASSWORD);
		assert.equal(owner.statusCode, 303);
		assert.equal(owner.headers.location, "/account");
	});

	test("password step-up inside a session shows no remaining-attempt count", async () => {
		// Attack: read the account-wide failure count from a "N attempts left" message (docs/threat-model.md, "Lockout as a weapon and user enumeration").
		const browser = new Browser(w.server, "198.51.100.20");
		await browser.follow(await browser.login("walt"));
		w.clock.advance(11 * 60_000);
		await browser.get("/account");
		const stepUp = await browser.follow(await browser.post("/account/factors/totp", { label: "" }));
		assert.match(stepUp.body, /Your password/);
		for (let guess = 0; guess < 6; guess++) {
			const wrong = await browser.post("/account/step-up", { password: WRONG, next: "/account" });
			assert.equal(wrong.statusCode, 401);
			assert.doesNotMatch(wrong.body, /attempts? left/i);
			assert.match(wrong.body, guess < 5 ? /Wrong password\./ : /Too many wrong passwords\. Wait a little/);
		}
	});
});

describe("the SSH gateway answers a throttled source, a locked account and an unknown user alike", () => {
	let f: Fixture;
	const open: RawSsh[] = [];
	before(async () => {
		f = await startFixture();
		await addUser(f, "olivia");
		await addUser(f, "lena");
	});
	after(async () => {
		for (const raw of open) raw.end();
		await f.close();
	});

	/** One connection: a password, then "none" (which methods may continue?), each reply recorded. */
	const exchange = async (username: string, password: string): Promise<AuthEvent[]> => {
		const raw = await RawSsh.connect(f.port);
		open.push(raw);
		raw.password(username, password);
		const first = await raw.next();
		raw.none(username);
		const second = await raw.next();
		raw.end();
		return [first, second];
	};

	test("same USERAUTH_FAILURE (methods, partial flag) and nothing else", async () => {
		// Attack: tell an existing or locked account from an unknown one by the SSH methods offered or the partial flag (docs/threat-model.md, "Lockout as a weapon and user enumeration").
		const unknown = await exchange("nobody", WRONG);
		assert.deepEqual(unknown, [
			{ type: "failure", methods: ["publickey", "password"], partial: false },
			{ type: "failure", methods: ["publickey", "password"], partial: false },
		]);
		for (let guess = 0; guess < 5; guess++) assert.deepEqual(await exchange("olivia", WRONG), unknown, `wrong ${guess}`);
		assert.deepEqual(await exchange("olivia", PASSWORD), unknown, "throttled source, right password");
		const lena = await f.app.stores.users.findByUsername("lena");
		await f.app.stores.users.lock(lena!.id, "pw", { maxFailures: 100, windowMs: 900_000, lockMs: 900_000, maxLockMs: 900_000 });
		assert.deepEqual(await exchange("lena", PASSWORD), unknown, "locked account, right password");
		const audited = await f.app.stores.audit.query({ event: "login.password", limit: 10_000 });
		const seen = new Set(audited.map((row) => String((JSON.parse(row.detail ?? "{}") as { reason?: string }).reason)));
		for (const reason of ["unknown-user", "wrong-password", "throttled", "locked"]) assert.ok(seen.has(reason), `audit keeps the real reason ${reason}`);
	});
});
