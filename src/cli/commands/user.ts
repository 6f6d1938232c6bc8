/** `portcullis user …`: every change goes through AdminService, which validates before it writes. */
import type { Command } from "commander";
import type { CliServices } from "../services.ts";
import { cliActor, withApp, type CommonOptions } from "../context.ts";
import { iso, json, list, table } from "../format.ts";
import { println, type CliIo } from "../io.ts";
import { readNewPassword } from "../password-input.ts";
import { passwordProblem } from "../../core/password-policy.ts";
import { UsageError } from "../errors.ts";
import type { UserRow } from "../../storage/user-store.ts";
import type { UserPolicyStatus } from "../../flows/admin-service.ts";
import { canonicalUsername } from "../../core/username.ts";

type AddCommon = (command: Command) => Command;

/** Why a printed link may be wrong: no http.public_url, so it was built from http.listen. */
export function consoleUrlWarning(url: string): string {
	return `portcullis: warning: http.public_url is not set; this link uses ${url} (from http.listen). If users open the console at another address, set http.public_url (PORTCULLIS_HTTP__PUBLIC_URL) and use that address with the same path.`;
}

export interface UserSummary {
	username: string;
	admin: boolean;
	disabled: boolean;
	locked: boolean;
	lockedUntil: string | null;
	mustChangePassword: boolean;
	groups: string[];
	factors: string[];
	sshMethod: string | null;
	enrollLinkPending: boolean;
	createdAt: string | null;
	/** Enrolment status (staged rollout): required or not and why, the deadline, whether a factor is still missing. */
	twoFactor: {
		required: boolean;
		why: string;
		notEnrolled: boolean;
		deadline: string | null;
		webLogin: boolean;
	};
}

async function summarise(cli: CliServices, user: UserRow, policy: UserPolicyStatus | undefined): Promise<UserSummary> {
	const now = cli.clock.now().getTime();
	const lockedUntil = Math.max(Number(user.tfa_locked_until), Number(user.pw_locked_until));
	const groups = await cli.directory.groups.groupsOfUser(user.id);
	const factors = await cli.directory.factors.listActive(user.id);
	return {
		username: user.username,
		admin: user.is_admin === 1,
		disabled: user.disabled === 1,
		locked: lockedUntil > now,
		lockedUntil: lockedUntil > now ? iso(lockedUntil) : null,
		mustChangePassword: user.must_change_password === 1,
		groups: groups.map((group) => group.name),
		factors: [...new Set(factors.map((factor) => factor.method))],
		sshMethod: user.ssh_method,
		enrollLinkPending: user.enroll_token_hash !== null && Number(user.enroll_token_expires_at ?? 0) > now,
		createdAt: iso(Number(user.created_at)),
		twoFactor: {
			required: policy?.required ?? false,
			why: policy?.why ?? "",
			notEnrolled: policy?.notEnrolled ?? false,
			deadline: policy?.deadline === null || policy?.deadline === undefined ? null : iso(policy.deadline),
			webLogin: policy?.webLogin ?? false,
		},
	};
}

function status(user: UserSummary): string {
	const flags: string[] = [];
	if (user.disabled) flags.push("disabled");
	if (user.locked) flags.push("locked");
	if (user.mustChangePassword) flags.push("must-change-password");
	return flags.length === 0 ? "active" : flags.join(",");
}

/** Reads the new password (stdin or terminal) and rejects a weak one before anything is written. */
async function newPassword(io: CliIo, rawName: string): Promise<string> {
	const shown = canonicalUsername(rawName) ?? rawName;
	const password = await readNewPassword(io, shown);
	const problem = passwordProblem(password, { username: shown });
	if (problem) throw new UsageError(problem);
	return password;
}

/**
 * What can be checked before the password is asked for (AdminService checks all of it again,
 * and validates every group before it creates the user, so nothing is ever half-written).
 */
async function checkNewUser(cli: CliServices, rawName: string, groups: readonly string[]): Promise<void> {
	const username = canonicalUsername(rawName);
	if (username === null) {
		throw new UsageError(`invalid username ${JSON.stringify(rawName.slice(0, 64))}: 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit`);
	}
	if ((await cli.directory.users.findByUsername(username)) !== undefined) throw new UsageError(`a user named ${username} already exists`);
	for (const group of groups) await cli.admin.requireGroup(group);
}

export function registerUserCommands(program: Command, io: CliIo, common: AddCommon): void {
	const user = common(program.command("user").description("manage users"));

	common(
		user
			.command("add")
			.description("create a user; the password is the first line of stdin (prompted twice on a terminal)")
			.argument("<name>", "username")
			.option("--admin", "the user may use the admin pages")
			.option("--group <group>", "add to this group (repeatable)", (value: string, previous: string[]) => [...previous, value], [] as string[])
			.option("--must-change-password", "the user must choose a new password at first login"),
	).action(async (name: string, options: CommonOptions & { admin?: boolean; group: string[]; mustChangePassword?: boolean }) => {
		await withApp(options, async (cli) => {
			await checkNewUser(cli, name, options.group);
			const password = await newPassword(io, name);
			const created = await cli.admin.createUser(cliActor(), {
				username: name,
				password,
				isAdmin: options.admin === true,
				groups: options.group,
				mustChangePassword: options.mustChangePassword === true,
			});
			println(io.stdout, `created user ${created.username}`);
		});
	});

	common(
		user
			.command("passwd")
			.description("set a user's password (first line of stdin; prompted twice on a terminal); ends their sessions")
			.argument("<name>", "username")
			.option("--must-change-password", "the user must choose a new password at next login"),
	).action(async (name: string, options: CommonOptions & { mustChangePassword?: boolean }) => {
		await withApp(options, async (cli) => {
			// Unknown user first: nobody should type a password twice for nothing.
			const target = await cli.admin.requireUser(name);
			const password = await newPassword(io, target.username);
			await cli.admin.setPassword(cliActor(), target.username, password, options.mustChangePassword === true);
			println(io.stdout, `password set for ${target.username}`);
		});
	});

	for (const [verb, disabled] of [
		["disable", true],
		["enable", false],
	] as const) {
		common(
			user
				.command(verb)
				.description(disabled ? "disable a user (ends their web sessions and SSH connections)" : "enable a disabled user")
				.argument("<name>", "username"),
		).action(async (name: string, options: CommonOptions) => {
			await withApp(options, async (cli) => {
				const target = await cli.admin.requireUser(name);
				await cli.admin.setDisabled(cliActor(), target.username, disabled);
				println(io.stdout, `${disabled ? "disabled" : "enabled"} user ${target.username}`);
			});
		});
	}

	common(
		user
			.command("reset-2fa")
			.description("delete every second factor of a user and print a one-time enrolment link: the next factor can be enrolled only through it")
			.argument("<name>", "username")
			.option("--next-login", "no link: the user enrols a new factor at the next login instead"),
	).action(async (name: string, options: CommonOptions & { nextLogin?: boolean }) => {
		await withApp(options, async (cli) => {
			const target = await cli.admin.requireUser(name);
			const result = await cli.admin.resetTwoFactor(cliActor(), target.username, options.nextLogin === true ? "next-login" : "link");
			if (result.link !== null) {
				// The link names the console: a guessed address must be said, or the admin sends a link nobody can open.
				if (!cli.console.configured) println(io.stderr, consoleUrlWarning(cli.console.url));
				println(io.stdout, result.link);
				println(io.stdout, `one-time enrolment link for ${target.username}, valid until ${iso(result.expiresAt)}`);
			} else {
				println(io.stdout, `second factors of ${target.username} removed; enrolment at next login`);
			}
		});
	});

	common(
		user
			.command("password-link")
			.description("print a one-time link with which the user chooses a new password (the console's Reset the password); their second factors stay")
			.argument("<name>", "username"),
	).action(async (name: string, options: CommonOptions) => {
		await withApp(options, async (cli) => {
			const target = await cli.admin.requireUser(name);
			const result = await cli.admin.issuePasswordLink(cliActor(), target.username);
			println(io.stdout, result.link);
			println(io.stdout, `one-time password link for ${target.username}, valid until ${iso(result.expiresAt)}`);
		});
	});

	common(user.command("unlock").description("clear a user's password and second-factor lockout").argument("<name>", "username")).action(
		async (name: string, options: CommonOptions) => {
			await withApp(options, async (cli) => {
				const target = await cli.admin.requireUser(name);
				await cli.admin.unlock(cliActor(), target.username);
				println(io.stdout, `unlocked user ${target.username}`);
			});
		},
	);

	common(
		user
			.command("list")
			.description("list users")
			.option("--json", "JSON array")
			.option("--not-enrolled", "only users the policy requires a second factor of who have none yet"),
	).action(async (options: CommonOptions & { json?: boolean; notEnrolled?: boolean }) => {
		await withApp(options, async (cli) => {
			const statuses = new Map((await cli.admin.enrolmentStatus()).map((entry) => [entry.userId, entry]));
			const users: UserSummary[] = [];
			for (const row of await cli.directory.users.list()) {
				const policy = statuses.get(row.id);
				if (options.notEnrolled === true && policy?.notEnrolled !== true) continue;
				users.push(await summarise(cli, row, policy));
			}
			if (options.json === true) {
				io.stdout.write(json(users));
				return;
			}
			io.stdout.write(
				table(
					["USER", "ADMIN", "STATUS", "GROUPS", "2FA"],
					users.map((entry) => [entry.username, entry.admin ? "yes" : "no", status(entry), list(entry.groups), list(entry.factors)]),
				),
			);
		});
	});
}
