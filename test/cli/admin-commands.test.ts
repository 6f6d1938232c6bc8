/**
 * The admin CLI end to end: the real `portcullis` binary in a subprocess against a fresh data
 * directory, on SQLite and on a fresh PostgreSQL database (PORTCULLIS_DATABASE_URL).
 * Bad input exits 2 with a one-line reason and writes nothing.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { METHOD_IDS } from "../../src/core/method-id.ts";
import { sha256Hex } from "../../src/crypto/tokens.ts";
import { assertBadInput, assertOk, cliEngine, openApp, runCli, type CliResult } from "./run-cli.ts";

const PASSWORD = "correct horse battery";
const WEB = { channel: "web" as const, sourceAddress: "192.0.2.10" };
const ACTOR = `cli:${userInfo().username}`;

interface UserJson {
	username: string;
	admin: boolean;
	disabled: boolean;
	locked: boolean;
	groups: string[];
	factors: string[];
	mustChangePassword: boolean;
	enrollLinkPending: boolean;
}
interface GroupJson {
	name: string;
	forceTwoFactor: boolean;
	allowedMethods: string[] | null;
	members: string[];
}
interface SettingsJson {
	forceTwoFactor: boolean;
	enabledMethods: string[];
	availableMethods: string[];
}

for (const engine of ["sqlite", "postgres"] as const)
	describe(`portcullis admin CLI (${engine})`, () => {
		let dir: string;
		let databaseUrl: string | undefined;
		let drop: (() => Promise<void>) | undefined;
		let env: NodeJS.ProcessEnv;

		const cli = (args: readonly string[], input?: string): Promise<CliResult> =>
			runCli([...args, "--data", dir], { env, ...(input !== undefined ? { input } : {}) });
		const json = async <T>(args: readonly string[]): Promise<T> => {
			const result = await cli([...args, "--json"]);
			assertOk(result, args.join(" "));
			return JSON.parse(result.stdout) as T;
		};
		const users = () => json<UserJson[]>(["user", "list"]);
		const groups = () => json<GroupJson[]>(["group", "list"]);
		const settings = () => json<SettingsJson>(["settings", "show"]);
		const user = async (name: string) => (await users()).find((entry) => entry.username === name);

		before(async () => {
			dir = mkdtempSync(join(tmpdir(), "portcullis-cli-"));
			({ env, databaseUrl, drop } = await cliEngine(engine));
		});
		after(async () => {
			await drop?.();
			rmSync(dir, { recursive: true, force: true });
		});

		test("user add takes the password from the first line of stdin; user list --json shows the user", async () => {
			const added = await cli(["user", "add", "Alice"], `${PASSWORD}\nthis second line is ignored\n`);
			assertOk(added, "user add");
			assert.equal(added.stdout, "created user alice\n");

			const alice = await user("alice");
			assert.ok(alice, "alice is listed");
			assert.equal(alice.admin, false);
			assert.equal(alice.disabled, false);
			assert.deepEqual(alice.groups, []);
			assert.deepEqual(alice.factors, []);
			assert.ok(!JSON.stringify(await users()).includes("argon2"), "no password hash in the listing");

			// The stored password is the first line, exactly.
			const app = await openApp(dir, databaseUrl);
			try {
				assert.equal((await app.login.submitPassword(WEB, "alice", PASSWORD)).kind, "authenticated");
			} finally {
				await app.close();
			}

			const text = await cli(["user", "list"]);
			assertOk(text, "user list");
			assert.match(text.stdout, /^USER\s+ADMIN\s+STATUS\s+GROUPS\s+2FA\nalice\s+no\s+active\s+-\s+-\n$/);

			// --data may also come first, before the command.
			const first = await runCli(["--data", dir, "user", "list"], { env });
			assertOk(first, "--data before the command");
			assert.equal(first.stdout, text.stdout);
		});

		test("group add, update, add-member, remove-member and list", async () => {
			assertOk(await cli(["group", "add", "ops", "--force-2fa"]), "group add ops");
			assertOk(await cli(["group", "add", "admins", "--methods", "totp,recovery-code"]), "group add admins");
			let listed = await groups();
			assert.deepEqual(
				listed.map((group) => [group.name, group.forceTwoFactor, group.allowedMethods]),
				[
					["admins", false, ["totp", "recovery-code"]],
					["ops", true, null],
				],
			);

			const updated = await cli(["group", "update", "admins", "--force-2fa", "--methods", "totp"]);
			assertOk(updated, "group update");
			assert.equal(updated.stdout, "updated group admins\n");
			assertOk(await cli(["group", "update", "ops", "--methods", "totp,access-keyword"]), "narrow ops");
			assertOk(await cli(["group", "update", "ops", "--no-methods"]), "lift ops' restriction");

			const member = await cli(["group", "add-member", "ops", "alice"]);
			assertOk(member, "add-member");
			assert.equal(member.stdout, "added alice to ops\n");
			assertOk(await cli(["group", "add-member", "admins", "ALICE"]), "add-member (canonical name)");
			assertOk(await cli(["group", "remove-member", "admins", "alice"]), "remove-member");

			listed = await groups();
			assert.deepEqual(
				listed.find((group) => group.name === "admins"),
				{ name: "admins", forceTwoFactor: true, allowedMethods: ["totp"], enrolmentDeadline: null, rememberMinutes: null, members: [] },
			);
			assert.deepEqual(
				listed.find((group) => group.name === "ops"),
				{ name: "ops", forceTwoFactor: true, allowedMethods: null, enrolmentDeadline: null, rememberMinutes: null, members: ["alice"] },
			);
			assert.deepEqual((await user("alice"))?.groups, ["ops"]);

			assertOk(await cli(["group", "update", "admins", "--no-force-2fa"]), "group update --no-force-2fa");
			assert.equal((await groups()).find((group) => group.name === "admins")?.forceTwoFactor, false);
		});

		test("user add --admin --group G… creates an admin in those groups", async () => {
			const added = await cli(["user", "add", "root-admin", "--admin", "--group", "ops", "--group", "admins"], `${PASSWORD}\n`);
			assertOk(added, "user add --admin");
			const created = await user("root-admin");
			assert.equal(created?.admin, true);
			assert.deepEqual(created?.groups, ["admins", "ops"]);
		});

		test("settings update refuses Decision 3 invalid states with one line, exit 2, and changes nothing", async () => {
			const before = await settings();
			assert.equal(before.forceTwoFactor, false);
			// A new installation: the access keyword (a knowledge factor) is not enabled (docs/decisions.md).
			assert.deepEqual(before.enabledMethods, ["totp", "recovery-code"]);
			for (const method of before.enabledMethods) assert.ok(before.availableMethods.includes(method));

			// Force 2FA with only recovery codes (not a factor of their own): refused.
			assertBadInput(await cli(["settings", "update", "--force-2fa", "--methods", "recovery-code"]), "force with recovery codes only", /cannot be forced/);
			// Group ops forces 2FA over every enabled method: leaving it only recovery codes is refused too.
			assertBadInput(await cli(["settings", "update", "--methods", "recovery-code"]), "last method off while ops forces", /Group ops/);
			// Group admins narrows to totp: disabling totp globally would leave a forcing group nothing...
			assertOk(await cli(["group", "update", "admins", "--force-2fa"]), "admins forces again");
			assertBadInput(await cli(["settings", "update", "--methods", "access-keyword,recovery-code"]), "admins left with nothing", /Group admins/);
			// ...and so would narrowing the group to a method that is not a second factor.
			assertBadInput(await cli(["group", "update", "admins", "--methods", "recovery-code"]), "group narrowed to recovery codes", /admins/);
			assert.deepEqual((await groups()).find((group) => group.name === "admins")?.allowedMethods, ["totp"], "the group is unchanged");
			// A method this build does not have cannot be enabled.
			const missing = METHOD_IDS.find((method) => !before.availableMethods.includes(method));
			if (missing !== undefined) assertBadInput(await cli(["settings", "update", "--methods", `totp,${missing}`]), "not implemented", new RegExp(missing));

			assert.deepEqual(await settings(), before, "nothing changed");

			// A valid change goes through and says what it did.
			const forced = await cli(["settings", "update", "--force-2fa", "--methods", "totp,recovery-code"]);
			assertOk(forced, "valid settings update");
			assert.equal(forced.stdout, "settings updated: force-2fa on, methods totp,recovery-code\n");
			assert.deepEqual(await settings(), { ...before, forceTwoFactor: true, enabledMethods: ["totp", "recovery-code"] });
			assertBadInput(await cli(["settings", "update", "--methods", "recovery-code"]), "disable the last method while forced", /cannot be forced/);
			assertOk(await cli(["settings", "update", "--no-force-2fa", "--methods", "totp,access-keyword,recovery-code"]), "enable the keyword too");
			assertOk(await cli(["group", "update", "admins", "--no-force-2fa"]), "admins relaxed");

			const shown = await cli(["settings", "show"]);
			assertOk(shown, "settings show");
			assert.equal(
				shown.stdout,
				`force-2fa: off\nenabled methods: totp,access-keyword,recovery-code\navailable methods: ${before.availableMethods.join(",")}\nenrolment deadline: none\nssh remember window: off\n`,
			);
		});

		test("bad input exits 2 with one line on stderr, no stack trace, and writes nothing", async () => {
			const beforeUsers = await users();
			const beforeGroups = await groups();
			const cases: [string, readonly string[], string | undefined, RegExp][] = [
				["unknown user", ["user", "disable", "nobody"], undefined, /^portcullis: no user named "nobody"\n$/],
				["unknown user (passwd)", ["user", "passwd", "nobody"], `${PASSWORD}\n`, /no user named "nobody"/],
				["unknown group", ["group", "add-member", "nogroup", "alice"], undefined, /no group named "nogroup"/],
				["unknown group on user add", ["user", "add", "bob", "--group", "ops", "--group", "nogroup"], `${PASSWORD}\n`, /no group named "nogroup"/],
				["unknown member", ["group", "add-member", "ops", "nobody"], undefined, /no user named "nobody"/],
				["invalid method list", ["group", "add", "dev", "--methods", "totp,sms"], undefined, /unknown method "sms"/],
				["empty method list", ["settings", "update", "--methods", ","], undefined, /at least one method/],
				["unknown flag", ["user", "list", "--verbose"], undefined, /unknown option '--verbose'/],
				["unknown command", ["usr", "list"], undefined, /unknown command 'usr'/],
				["missing argument", ["user", "add"], undefined, /missing required argument 'name'/],
				["excess argument", ["user", "unlock", "alice", "bob"], undefined, /too many arguments/],
				["missing subcommand", ["group"], undefined, /missing command; see 'portcullis group --help'/],
				["short password", ["user", "add", "bob"], "short\n", /at least 10 characters/],
				["breached password", ["user", "add", "bob"], "password123\n", /list of common or breached passwords/],
				["username inside the password", ["user", "add", "bobby"], "I am Bobby, let me in\n", /must not contain the username/],
				["breached password (passwd)", ["user", "passwd", "alice"], "Qwertyuiop\n", /list of common or breached passwords/],
				["username inside the password (passwd)", ["user", "passwd", "alice"], "ALICE in wonderland\n", /must not contain the username/],
				["no password", ["user", "add", "bob"], "", /no password on stdin/],
				["bad username", ["user", "add", "bob smith"], `${PASSWORD}\n`, /invalid username/],
				["duplicate user", ["user", "add", "ALICE"], `${PASSWORD}\n`, /already exists/],
				["duplicate group", ["group", "add", "ops"], undefined, /already exists/],
				["nothing to change", ["group", "update", "ops"], undefined, /nothing to change/],
				["bad --since", ["audit", "--since", "last tuesday"], undefined, /--since must be an ISO 8601/],
				["bad config", ["user", "list", "--config", join(dir, "absent.toml")], undefined, /invalid configuration: .*absent\.toml/],
			];
			// Four at a time: each command line opens the database (in-process, one app per command).
			const results: CliResult[] = [];
			for (let start = 0; start < cases.length; start += 4) {
				results.push(...(await Promise.all(cases.slice(start, start + 4).map(([, args, input]) => cli(args, input)))));
			}
			for (const [index, [what, , , reason]] of cases.entries()) assertBadInput(results[index]!, what, reason);

			assert.deepEqual(await users(), beforeUsers, "no user was created or changed");
			assert.deepEqual(await groups(), beforeGroups, "no group was created or changed");
		});

		test("an invalid configuration lists every problem on one line", async () => {
			const result = await runCli(["user", "list", "--data", dir], {
				env: { ...env, PORTCULLIS_HTTP__LISTEN: "localhost", PORTCULLIS_SECURITY__LOCKOUT_SECONDS: "5", PORTCULLIS_TOTP__COLOUR: "blue" },
			});
			assertBadInput(result, "invalid config", /^portcullis: invalid configuration: /);
			for (const key of ["http.listen", "security.lockout_seconds", "colour"]) assert.ok(result.stderr.includes(key), `${key} is named: ${result.stderr}`);
		});

		test("user passwd sets a new password from stdin; disable and enable", async () => {
			const changed = await cli(["user", "passwd", "alice", "--must-change-password"], "a brand new password\n");
			assertOk(changed, "passwd");
			assert.equal(changed.stdout, "password set for alice\n");
			assert.equal((await user("alice"))?.mustChangePassword, true);

			assertOk(await cli(["user", "disable", "alice"]), "disable");
			assert.equal((await user("alice"))?.disabled, true);
			assert.match((await cli(["user", "list"])).stdout, /^alice\s+no\s+disabled,must-change-password\s+ops\s+-$/m);
			assertOk(await cli(["user", "enable", "alice"]), "enable");
			assert.equal((await user("alice"))?.disabled, false);

			const app = await openApp(dir, databaseUrl);
			try {
				assert.equal((await app.login.submitPassword(WEB, "alice", PASSWORD)).kind, "denied", "the old password no longer works");
				assert.notEqual((await app.login.submitPassword(WEB, "alice", "a brand new password")).kind, "denied", "the new one does");
			} finally {
				await app.close();
			}
		});

		test("reset-2fa without http.public_url: the link is built from http.listen and the CLI says so", async () => {
			const reset = await cli(["user", "reset-2fa", "alice"]);
			assert.equal(reset.code, 0, reset.stderr);
			assert.match(reset.stdout, /^http:\/\/127\.0\.0\.1:8080\/enroll-link\/[A-Za-z0-9_-]{43}\n/);
			assert.equal(
				reset.stderr,
				"portcullis: warning: http.public_url is not set; this link uses http://127.0.0.1:8080 (from http.listen). If users open the console at another address, set http.public_url (PORTCULLIS_HTTP__PUBLIC_URL) and use that address with the same path.\n",
			);
		});

		test("reset-2fa prints a one-time enrolment link on the configured public URL; --next-login prints none", async () => {
			const reset = await runCli(["user", "reset-2fa", "alice", "--data", dir], {
				env: { ...env, PORTCULLIS_HTTP__LISTEN: "0.0.0.0:9443", PORTCULLIS_HTTP__PUBLIC_URL: "https://bastion.example.org/" },
			});
			assertOk(reset, "reset-2fa");
			const [link, note] = reset.stdout.split("\n");
			assert.match(link ?? "", /^https:\/\/bastion\.example\.org\/enroll-link\/[A-Za-z0-9_-]{43}$/);
			assert.match(note ?? "", /^one-time enrolment link for alice, valid until \d{4}-\d{2}-\d{2}T/);
			assert.equal((await user("alice"))?.enrollLinkPending, true);

			const app = await openApp(dir, databaseUrl);
			try {
				const row = await app.stores.users.findByUsername("alice");
				const token = link!.slice(link!.lastIndexOf("/") + 1);
				assert.equal(row?.enroll_token_hash, sha256Hex(token), "the link carries the stored one-time token");
			} finally {
				await app.close();
			}

			const nextLogin = await cli(["user", "reset-2fa", "alice", "--next-login"]);
			assertOk(nextLogin, "reset-2fa --next-login");
			assert.doesNotMatch(nextLogin.stdout, /http/);
			assert.equal(nextLogin.stdout, "second factors of alice removed; enrolment at next login\n");
			assert.equal((await user("alice"))?.enrollLinkPending, false, "the earlier link is void");
		});

		test("password-link prints a one-time link (the console's Reset the password); the link sets the password once", async () => {
			const issued = await cli(["user", "password-link", "alice"]);
			assertOk(issued, "password-link");
			const [link, note] = issued.stdout.split("\n");
			assert.match(link ?? "", /^http:\/\/127\.0\.0\.1:8080\/password-link\/[A-Za-z0-9_-]{43}$/);
			assert.match(note ?? "", /^one-time password link for alice, valid until \d{4}-\d{2}-\d{2}T/);
			const app = await openApp(dir, databaseUrl);
			try {
				const token = link!.slice(link!.lastIndexOf("/") + 1);
				assert.equal((await app.stores.users.findByUsername("alice"))?.pw_link_hash, sha256Hex(token), "only the hash is stored");
				assert.equal((await app.admin.setPasswordByLink(token, "password from the link", "192.0.2.1")).kind, "changed");
				assert.equal((await app.admin.setPasswordByLink(token, "password from the link 2", "192.0.2.1")).kind, "refused");
				assert.notEqual((await app.login.submitPassword(WEB, "alice", "password from the link")).kind, "denied");
			} finally {
				await app.close();
			}
			assertBadInput(await cli(["user", "password-link", "nosuchuser"]), "unknown user");
		});

		test("unlock ends a lockout (account-wide ceiling and per-source delays): the correct password works again", async () => {
			const app = await openApp(dir, databaseUrl);
			try {
				// 100 wrong passwords (the default ceiling), 5 from each of 20 sources: each source ends blocked.
				for (let source = 0; source < 20; source++) {
					for (let attempt = 0; attempt < 5; attempt++)
						await app.login.submitPassword({ ...WEB, sourceAddress: `192.0.2.${source}` }, "root-admin", "wrong password guess");
				}
				const locked = await app.login.submitPassword(WEB, "root-admin", PASSWORD);
				assert.equal(
					locked.kind === "denied" && locked.reason,
					"invalid-credentials",
					"100 wrong passwords lock the account (not revealed before the first factor)",
				);
				assert.equal((await user("root-admin"))?.locked, true);
				assert.match((await cli(["user", "list"])).stdout, /^root-admin\s+yes\s+locked\s+admins,ops\s+-$/m);

				const unlocked = await cli(["user", "unlock", "root-admin"]);
				assertOk(unlocked, "unlock");
				assert.equal(unlocked.stdout, "unlocked user root-admin\n");
				assert.equal((await user("root-admin"))?.locked, false);
				assert.notEqual(
					(await app.login.submitPassword({ ...WEB, sourceAddress: "192.0.2.0" }, "root-admin", PASSWORD)).kind,
					"denied",
					"the source's delay is gone too",
				);
			} finally {
				await app.close();
			}
		});

		test("audit --json exports JSON lines with every change, oldest first; filters narrow it", async () => {
			const exported = await cli(["audit", "--json"]);
			assertOk(exported, "audit --json");
			const lines = exported.stdout.trimEnd().split("\n");
			const events = lines.map(
				(line) =>
					JSON.parse(line) as {
						id: number;
						at: string;
						event: string;
						outcome: string;
						user: string | null;
						actor: string | null;
						channel: string | null;
						detail: unknown;
					},
			);
			const names = events.map((entry) => entry.event);
			for (const expected of [
				"user.created",
				"group.created",
				"group.updated",
				"group.member-added",
				"group.member-removed",
				"policy.settings-changed",
				"user.password-set",
				"user.disabled",
				"user.enabled",
				"user.2fa-reset",
				"user.unlocked",
				"account.locked",
			]) {
				assert.ok(names.includes(expected), `${expected} is exported`);
			}
			assert.deepEqual(
				events.map((entry) => entry.id),
				[...events.map((entry) => entry.id)].sort((a, b) => a - b),
				"oldest first",
			);
			const created = events.find((entry) => entry.event === "user.created" && entry.user === "alice");
			assert.equal(created?.actor, ACTOR, "the actor is cli:<os user>");
			assert.equal(created?.channel, "cli");
			assert.deepEqual(created?.detail, { admin: false, groups: [] });
			assert.ok(!exported.stdout.includes(PASSWORD), "no password in the audit log");
			// Refused changes left no trace of a change.
			assert.ok(!events.some((entry) => entry.event === "group.created" && JSON.stringify(entry.detail).includes('"dev"')));

			const aliceOnly = await cli(["audit", "--json", "--user", "Alice"]);
			assertOk(aliceOnly, "audit --user");
			const aliceEvents = aliceOnly.stdout
				.trimEnd()
				.split("\n")
				.map((line) => JSON.parse(line) as { user: string });
			assert.ok(aliceEvents.length > 0 && aliceEvents.every((entry) => entry.user === "alice"));

			const resets = await cli(["audit", "--json", "--event", "user.2fa-reset"]);
			const resetEvents = resets.stdout
				.trimEnd()
				.split("\n")
				.map((line) => JSON.parse(line) as { event: string; detail: { mode: string } });
			assert.deepEqual(
				resetEvents.map((entry) => entry.detail.mode),
				["link", "link", "next-login"],
				"the reset without http.public_url, the one with it, then --next-login",
			);

			const future = await cli(["audit", "--json", "--since", "2999-01-01T00:00:00Z"]);
			assertOk(future, "audit --since future");
			assert.equal(future.stdout, "");
			const past = await cli(["audit", "--since", "2000-01-01", "--event", "user.unlocked"]);
			assertOk(past, "audit text");
			assert.match(past.stdout, /^\d{4}-\d{2}-\d{2}T\S+ user\.unlocked success root-admin by cli:\S+ \(cli local\)/);
		});
	});
