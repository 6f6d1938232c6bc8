/**
 * Directory users through the one login flow (docs/identity.md), against a real slapd: just-in-time
 * accounts marked "ldap", mapped groups driving the 2FA policy, the charged lockout accounting, the
 * disabled bit, the periodic sync (group removal, disable, deletion) reaching live sessions through
 * policy_version / session_epoch, fail closed on an outage with local accounts still working, no
 * password change in Portcullis, and LDAP injection refused before any directory call.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { DIRECTORY_UNAVAILABLE } from "../../src/flows/login-messages.ts";
import { GROUPS, PEOPLE, SERVICE_DN, SERVICE_PASSWORD, type Slapd, slapdSkip, startSlapd } from "../helpers/slapd.ts";
import { opensslSkip } from "../helpers/test-ca.ts";
import { ADMIN_ACTOR, createTestApp, SSH, type TestApp, WEB } from "../helpers/test-app.ts";

const LOCAL_PASSWORD = "correct horse battery";
const skip = slapdSkip() || opensslSkip();

async function events(t: TestApp, username: string, event: string): Promise<Record<string, unknown>[]> {
	const rows = await t.app.stores.audit.query({ username, event });
	return rows.map((row) => JSON.parse(String(row.detail ?? "{}")) as Record<string, unknown>);
}

describe("directory users (slapd)", { skip }, () => {
	// One slapd per engine: the tests change the directory (removals, disables).
	let slapd: Slapd;
	let caDir: string;
	for (const engine of ["sqlite", "postgres"] as const)
		describe(engine, () => {
			let t: TestApp;
			before(async () => {
				slapd = await startSlapd(
					[
						{ uid: "alice", password: "alice-pw" },
						{ uid: "bob", password: "bob-pw" },
						{ uid: "carol", password: "carol-pw" },
						{ uid: "dave", password: "dave-pw", userAccountControl: 514 },
						{ uid: "erin", password: "erin-pw", userAccountControl: 512 },
						{ uid: "frank", password: "frank-pw" },
						{ uid: "gina", password: "gina-pw" },
						{ uid: "hank", password: "hank-pw" },
					],
					[
						{ cn: "ops", members: ["alice", "carol", "erin", "frank"] },
						{ cn: "unix-admins", members: ["bob"], posix: true },
					],
				);
				caDir = mkdtempSync(join(tmpdir(), "portcullis-ldap-ca-"));
				writeFileSync(join(caDir, "ca.pem"), slapd.ca.caCert);
				t = await createTestApp({
					engine,
					config: {
						ldap: {
							url: slapd.ldapsUrl,
							ca_file: join(caDir, "ca.pem"),
							bind_dn: SERVICE_DN,
							bind_password: SERVICE_PASSWORD,
							user_base: PEOPLE,
							group_base: GROUPS,
							group_filter: "(|(&(objectClass=groupOfNames)(member={dn}))(&(objectClass=posixGroup)(memberUid={username})))",
							group_map: { [slapd.groupDn("ops")]: "ops", [slapd.groupDn("unix-admins")]: "admins-unix" },
							timeout_ms: 30_000,
						},
					},
				});
				await t.app.admin.createGroup(ADMIN_ACTOR, { name: "ops", forceTwoFactor: true, allowedMethods: null });
				await t.app.admin.createGroup(ADMIN_ACTOR, { name: "admins-unix", forceTwoFactor: false, allowedMethods: null });
				await t.app.admin.createUser(ADMIN_ACTOR, { username: "root", password: LOCAL_PASSWORD, isAdmin: true, groups: [] });
			});
			after(async () => {
				await t?.cleanup();
				await slapd?.close();
				if (caDir !== undefined) rmSync(caDir, { recursive: true, force: true });
			});

			test("first login creates the account just in time, marked ldap, in its mapped groups; the forced group asks for a second factor", async () => {
				assert.equal(await t.app.stores.users.findByUsername("alice"), undefined);
				const step = await t.app.login.submitPassword(WEB, "Alice", "alice-pw");
				assert.equal(step.kind, "enroll", JSON.stringify(step));
				const alice = await t.app.stores.users.findByUsername("alice");
				assert.equal(alice?.source, "ldap");
				assert.equal(alice?.password_hash, null);
				assert.equal(alice?.directory_dn, slapd.userDn("alice"));
				assert.deepEqual(
					(await t.app.stores.groups.groupsOfUser(alice.id)).map((g) => g.name),
					["ops"],
				);
				assert.equal((await events(t, "alice", "user.provisioned")).length, 1);
				// bob: a posixGroup member (group search), mapped to a group that forces nothing.
				const bob = await t.app.login.submitPassword(WEB, "bob", "bob-pw");
				assert.equal(bob.kind, "authenticated", JSON.stringify(bob));
				const bobRow = await t.app.stores.users.findByUsername("bob");
				assert.deepEqual(
					(await t.app.stores.groups.groupsOfUser(bobRow!.id)).map((g) => g.name),
					["admins-unix"],
				);
			});

			test("two first logins at once create one account and both go on", async () => {
				const steps = await Promise.all([t.app.login.submitPassword(WEB, "hank", "hank-pw"), t.app.login.submitPassword(SSH, "hank", "hank-pw")]);
				assert.deepEqual(
					steps.map((step) => step.kind),
					["authenticated", "authenticated"],
				);
				assert.equal((await t.app.stores.users.list()).filter((user) => user.username === "hank").length, 1);
				assert.equal((await events(t, "hank", "user.provisioned")).length, 1);
			});

			test("a wrong directory password is charged like a local one (generic answer, counters, audit)", async () => {
				const step = await t.app.login.submitPassword(SSH, "carol", "not-carols");
				assert.equal(step.kind, "denied");
				assert.equal(step.kind === "denied" && step.reason, "invalid-credentials");
				const carol = await t.app.stores.users.findByUsername("carol");
				assert.equal(carol?.pw_failures, 1);
				assert.ok((await events(t, "carol", "login.password")).some((d) => d.reason === "wrong-password"));
				// The right one then works and clears the counter.
				assert.equal((await t.app.login.submitPassword(WEB, "carol", "carol-pw")).kind, "enroll");
				assert.equal((await t.app.stores.users.findByUsername("carol"))?.pw_failures, 0);
			});

			test("a user disabled in the directory (AD userAccountControl bit 2) is refused", async () => {
				const step = await t.app.login.submitPassword(WEB, "dave", "dave-pw");
				assert.equal(step.kind, "denied");
				assert.equal(step.kind === "denied" && step.reason, "disabled");
				assert.equal((await t.app.stores.users.findByUsername("dave"))?.directory_disabled, 1);
			});

			test("an unknown user gets the generic refusal; injection characters are refused before any directory call", async () => {
				const unknown = await t.app.login.submitPassword(WEB, "nobody", "x");
				assert.equal(unknown.kind === "denied" && unknown.reason, "invalid-credentials");
				assert.equal(await t.app.stores.users.findByUsername("nobody"), undefined);
				for (const username of ["*", "al*", "alice)(uid=*", "alice\\", "alice\u0000", "(uid=*)"]) {
					const step = await t.app.login.submitPassword(WEB, username, "alice-pw");
					assert.equal(step.kind === "denied" && step.reason, "invalid-credentials", username);
				}
				const malformed = (await t.app.stores.audit.query({ event: "login.password" })).filter((row) => String(row.detail).includes("malformed"));
				assert.ok(malformed.length >= 6);
			});

			test("a password step-up of a directory user binds against the directory (right and wrong password)", async () => {
				const bob = (await t.app.stores.users.findByUsername("bob"))!;
				const step = await t.app.login.beginStepUp(WEB, bob.id);
				assert.equal(step.kind, "password-confirm", JSON.stringify(step));
				if (step.kind !== "password-confirm") return;
				assert.equal((await t.app.login.confirmPassword(step.attemptId, "not-bobs")).kind, "wrong-password");
				assert.equal((await t.app.login.confirmPassword(step.attemptId, "bob-pw")).kind, "authenticated");
			});

			test("a directory user cannot set a password in Portcullis (own change, admin set)", async () => {
				const alice = await t.app.stores.users.findByUsername("alice");
				const changed = await t.app.login.changeOwnPassword(WEB, alice!.id, "alice-pw", "a brand new passphrase 42");
				assert.equal(changed.kind, "invalid");
				await assert.rejects(t.app.admin.setPassword(ADMIN_ACTOR, "alice", "another passphrase 42", false), /directory/);
				// A local account still can (the positive twin).
				await t.app.admin.setPassword(ADMIN_ACTOR, "root", "tanker winter passphrase 4242", false);
				assert.equal((await t.app.login.submitPassword(WEB, "root", "tanker winter passphrase 4242")).kind, "authenticated");
			});

			test("the sync follows the directory: group removal bumps the policy version, a disable and a deletion revoke the user's sessions", async () => {
				assert.equal((await t.app.login.submitPassword(WEB, "erin", "erin-pw")).kind, "enroll");
				assert.equal((await t.app.login.submitPassword(WEB, "frank", "frank-pw")).kind, "enroll");
				assert.equal((await t.app.login.submitPassword(WEB, "gina", "gina-pw")).kind, "authenticated");
				const erin = (await t.app.stores.users.findByUsername("erin"))!;
				const frank = (await t.app.stores.users.findByUsername("frank"))!;
				const gina = (await t.app.stores.users.findByUsername("gina"))!;
				const versionBefore = await t.app.stores.policyVersion.current();
				await slapd.removeMember("ops", "erin");
				await slapd.setDisabled("erin", true);
				await slapd.removeUser("gina");
				const report = await t.app.directory!.syncAll();
				assert.equal(report.unavailable, null);
				assert.ok(report.changed >= 2, JSON.stringify(report));
				assert.deepEqual(await t.app.stores.groups.groupsOfUser(erin.id), []);
				assert.ok((await t.app.stores.policyVersion.current()) > versionBefore, "group change bumps policy_version");
				const erinAfter = (await t.app.stores.users.findByUsername("erin"))!;
				assert.equal(erinAfter.directory_disabled, 1);
				assert.ok(erinAfter.session_epoch > erin.session_epoch, "a directory disable bumps session_epoch");
				const ginaAfter = (await t.app.stores.users.findByUsername("gina"))!;
				assert.equal(ginaAfter.directory_disabled, 1, "removed from the directory");
				assert.ok(ginaAfter.session_epoch > gina.session_epoch);
				assert.equal((await t.app.stores.policyVersion.snapshot(gina.id))?.disabled, true);
				// frank: unchanged (the negative twin).
				const frankAfter = (await t.app.stores.users.findByUsername("frank"))!;
				assert.equal(frankAfter.session_epoch, frank.session_epoch);
				assert.deepEqual(
					(await t.app.stores.groups.groupsOfUser(frank.id)).map((g) => g.name),
					["ops"],
				);
				assert.equal((await t.app.login.submitPassword(WEB, "erin", "erin-pw")).kind, "denied");
				assert.ok((await events(t, "erin", "user.directory-groups")).length >= 1);
				// Re-enabled in the directory: the next sync lets erin in again (admin-disabled stays separate).
				await slapd.setDisabled("erin", false);
				await t.app.directory!.syncAll();
				assert.equal((await t.app.stores.users.findByUsername("erin"))?.directory_disabled, 0);
				assert.equal((await t.app.login.submitPassword(WEB, "erin", "erin-pw")).kind, "authenticated");
			});

			test("directory down: directory users fail closed with a clear message and an audit event; the local admin still logs in", async () => {
				await t.app.login.submitPassword(WEB, "alice", "alice-pw");
				await slapd.stop();
				try {
					const alice = await t.app.login.submitPassword(SSH, "alice", "alice-pw");
					assert.equal(alice.kind, "denied");
					assert.equal(alice.kind === "denied" && alice.reason, "unavailable");
					assert.equal(alice.kind === "denied" && alice.message, DIRECTORY_UNAVAILABLE);
					assert.ok((await events(t, "alice", "login.password")).some((d) => d.reason === "directory-unavailable"));
					// Not the user's guess: nothing was charged.
					assert.equal((await t.app.stores.users.findByUsername("alice"))?.pw_failures, 0);
					const newcomer = await t.app.login.submitPassword(WEB, "zoe", "whatever");
					assert.equal(newcomer.kind === "denied" && newcomer.reason, "unavailable");
					assert.equal((await t.app.login.submitPassword(WEB, "root", "tanker winter passphrase 4242")).kind, "authenticated");
					const sync = await t.app.directory!.syncAll();
					assert.notEqual(sync.unavailable, null);
					assert.equal((await t.app.stores.users.findByUsername("alice"))?.directory_disabled, 0, "an outage disables no one");
				} finally {
					await slapd.start();
				}
				assert.equal((await t.app.login.submitPassword(WEB, "alice", "alice-pw")).kind, "enroll");
			});
		});
});
