/**
 * Staged 2FA rollout through the real `portcullis` CLI, on SQLite and PostgreSQL: the enrolment
 * deadline is set globally and per group, validated (exit 2 with one line), audited with before
 * and after, and the login flow then nudges a user without a factor instead of stopping them;
 * "none" enforces at once.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { assertBadInput, assertOk, cliEngine, openApp, runCli, type CliResult } from "./run-cli.ts";

const PASSWORD = "correct horse battery";
const DAY = 86_400_000;

for (const engine of ["sqlite", "postgres"] as const)
	describe(`portcullis rollout CLI (${engine})`, () => {
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

		before(async () => {
			dir = mkdtempSync(join(tmpdir(), "portcullis-rollout-cli-"));
			({ env, databaseUrl, drop } = await cliEngine(engine));
		});
		after(async () => {
			await drop?.();
			rmSync(dir, { recursive: true, force: true });
		});

		test("bad deadlines exit 2 with one line and change nothing", async () => {
			assertBadInput(await cli(["settings", "update", "--enrolment-deadline", "soon"]), "not a date", /YYYY-MM-DD/);
			assertBadInput(await cli(["settings", "update", "--enrolment-deadline", "2027-02-30"]), "no such day", /not a date/);
			assertBadInput(await cli(["settings", "update", "--enrolment-deadline", "14d"]), "deadline without force-2FA", /only applies when/);
			assertBadInput(await cli(["settings", "update", "--force-2fa", "--enrolment-deadline", "2001-01-01"]), "in the past", /in the future/);
			assertBadInput(await cli(["settings", "update", "--force-2fa", "--enrolment-deadline", "400d"]), "too far", /at most 366 days/);
			const shown = await json<{ forceTwoFactor: boolean; enrolmentDeadline: string | null }>(["settings", "show"]);
			assert.equal(shown.forceTwoFactor, false, "nothing was written");
			assert.equal(shown.enrolmentDeadline, null);
		});

		test("global and group deadlines: set, shown, audited with before/after; the earliest one nudges; 'none' enforces", async () => {
			const started = Date.now();
			assertOk(await cli(["user", "add", "bob"], `${PASSWORD}\n`), "user add");
			const dry = await cli(["settings", "update", "--force-2fa", "--dry-run"]);
			assertOk(dry, "dry run");
			assert.match(
				dry.stdout,
				/users gaining a 2FA requirement: 1 \(bob\)\n {2}of them without a usable factor: 1 \(bob\)\n {2}of those, never logged in on the web: 1 \(bob\)\n/,
			);
			assert.match(dry.stdout, /dry run: nothing was changed/);
			assert.equal((await json<{ forceTwoFactor: boolean }>(["settings", "show"])).forceTwoFactor, false, "the dry run wrote nothing");
			assertOk(await cli(["settings", "update", "--force-2fa", "--enrolment-deadline", "14d"]), "global deadline");
			const shown = await json<{ enrolmentDeadline: string | null }>(["settings", "show"]);
			const globalDeadline = Date.parse(shown.enrolmentDeadline ?? "");
			assert.ok(globalDeadline >= started + 14 * DAY && globalDeadline <= Date.now() + 14 * DAY, `about 14 days ahead: ${shown.enrolmentDeadline}`);

			assertBadInput(await cli(["group", "add", "ops", "--enrolment-deadline", "3d"]), "group deadline without force", /only applies when group ops/);
			assertOk(await cli(["group", "add", "ops", "--force-2fa", "--enrolment-deadline", "3d"]), "group add");
			assertOk(await cli(["group", "add-member", "ops", "bob"]), "add member");
			const groups = await json<{ name: string; enrolmentDeadline: string | null }[]>(["group", "list"]);
			assert.ok(groups.find((group) => group.name === "ops")?.enrolmentDeadline, "the group lists its deadline");

			const audit = await cli(["audit", "--json", "--event", "policy.settings-changed"]);
			assertOk(audit, "audit");
			const changed = JSON.parse(audit.stdout.trimEnd().split("\n").at(-1) ?? "{}") as {
				detail: { before: { enrolmentDeadline?: number | null }; after: { enrolmentDeadline: number | null } };
			};
			assert.equal(changed.detail.before.enrolmentDeadline ?? null, null, "before: no deadline");
			assert.equal(changed.detail.after.enrolmentDeadline, globalDeadline, "after: the new deadline");

			const listed = await json<{ username: string; twoFactor: { required: boolean; why: string; notEnrolled: boolean; deadline: string | null } }[]>([
				"user",
				"list",
				"--not-enrolled",
			]);
			assert.deepEqual(
				listed.map((entry) => entry.username),
				["bob"],
			);
			assert.equal(listed[0]?.twoFactor.required, true);
			assert.equal(listed[0]?.twoFactor.notEnrolled, true);
			assert.match(listed[0]?.twoFactor.why ?? "", /required for everyone, required by group ops/);
			assert.ok(listed[0]?.twoFactor.deadline, "the deadline that applies to bob");

			const app = await openApp(dir, databaseUrl);
			try {
				const web = await app.login.submitPassword({ channel: "web", sourceAddress: "192.0.2.10" }, "bob", PASSWORD);
				assert.equal(web.kind, "authenticated", "before the deadline bob gets in without a factor");
				assert.match(web.kind === "authenticated" ? (web.nudge ?? "") : "", /required for everyone, required by group ops\. .* within 3 days/);
				const ssh = await app.login.submitPassword({ channel: "ssh", sourceAddress: "192.0.2.10" }, "bob", PASSWORD);
				assert.equal(ssh.kind, "authenticated", "on SSH too");
			} finally {
				await app.close();
			}

			assertOk(await cli(["group", "update", "ops", "--enrolment-deadline", "none"]), "group: enforce now");
			const enforced = await openApp(dir, databaseUrl);
			try {
				const ssh = await enforced.login.submitPassword({ channel: "ssh", sourceAddress: "192.0.2.10" }, "bob", PASSWORD);
				assert.equal(ssh.kind, "denied", "one forcing rule without a deadline enforces now");
				assert.equal(ssh.kind === "denied" ? ssh.reason : "", "enroll-on-web");
			} finally {
				await enforced.close();
			}
			const groupAudit = await cli(["audit", "--json", "--event", "group.updated"]);
			const updated = JSON.parse(groupAudit.stdout.trimEnd().split("\n").at(-1) ?? "{}") as {
				detail: { before: { enrolmentDeadline: number | null }; after: { enrolmentDeadline: number | null } };
			};
			assert.ok(typeof updated.detail.before.enrolmentDeadline === "number", "group before: the old deadline");
			assert.equal(updated.detail.after.enrolmentDeadline, null, "group after: none");

			assertOk(await cli(["settings", "update", "--no-force-2fa"]), "force off");
			const off = await json<{ enrolmentDeadline: string | null }>(["settings", "show"]);
			assert.equal(off.enrolmentDeadline, null, "turning force-2FA off clears its deadline");
		});
	});
