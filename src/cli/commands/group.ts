/** `portcullis group …`: groups force 2FA for their members and may narrow the allowed methods (Decision 4). */
import type { Command } from "commander";
import { formatDeadline, parseEnrolmentDeadline } from "../../core/enrolment-deadline.ts";
import type { MethodId } from "../../core/method-id.ts";
import { parseAllowed } from "../../storage/group-store.ts";
import { cliActor, withApp, type CommonOptions } from "../context.ts";
import { UsageError } from "../errors.ts";
import { json, list, table } from "../format.ts";
import { println, type CliIo } from "../io.ts";
import { methodsOption } from "./methods-option.ts";
import { minutesOption, printImpact } from "./settings.ts";

type AddCommon = (command: Command) => Command;

const DEADLINE_HELP = 'staged rollout: members without a factor are nudged until then (YYYY-MM-DD, "14d", or "none" to enforce now)';

/** Exit 2 on a deadline that is not a date, a day count or "none" (AdminService checks the range). */
function deadlineOption(text: string | undefined, now: number): number | null | undefined {
	if (text === undefined) return undefined;
	const parsed = parseEnrolmentDeadline(text, now);
	if (!parsed.ok) throw new UsageError(parsed.message);
	return parsed.value;
}

export function registerGroupCommands(program: Command, io: CliIo, common: AddCommon): void {
	const group = common(program.command("group").description("manage user groups and their 2FA rules"));

	common(
		group
			.command("add")
			.description("create a group")
			.argument("<name>", "group name")
			.option("--force-2fa", "members must use a second factor")
			.option("--methods <list>", "comma-separated methods the members may use (default: every globally enabled method)")
			.option("--enrolment-deadline <when>", DEADLINE_HELP),
	).action(async (name: string, options: CommonOptions & { force2fa?: boolean; methods?: string; enrolmentDeadline?: string }) => {
		const methods = options.methods === undefined ? null : methodsOption(options.methods);
		await withApp(options, async (cli) => {
			const enrolmentDeadline = deadlineOption(options.enrolmentDeadline, cli.clock.now().getTime()) ?? null;
			const created = await cli.admin.createGroup(cliActor(), { name, forceTwoFactor: options.force2fa === true, allowedMethods: methods, enrolmentDeadline });
			println(io.stdout, `created group ${created.name}`);
		});
	});

	common(
		group
			.command("update")
			.description("change a group's 2FA rule")
			.argument("<name>", "group name")
			.option("--force-2fa", "members must use a second factor")
			.option("--no-force-2fa", "the group no longer forces a second factor")
			.option("--methods <list>", "comma-separated methods the members may use")
			.option("--no-methods", "lift the group's method restriction")
			.option("--enrolment-deadline <when>", DEADLINE_HELP)
			.option("--remember-minutes <n>", 'the group\'s SSH remember window in minutes (0: off, max 720; "inherit": the global setting)')
			.option("--dry-run", "only show who the change would affect (impact preview); change nothing"),
	).action(
		async (
			name: string,
			options: CommonOptions & { force2fa?: boolean; methods?: string | false; enrolmentDeadline?: string; dryRun?: boolean; rememberMinutes?: string },
		) => {
			const changes: { forceTwoFactor?: boolean; allowedMethods?: MethodId[] | null; enrolmentDeadline?: number | null; rememberMinutes?: number | null } = {};
			if (options.rememberMinutes !== undefined)
				changes.rememberMinutes = options.rememberMinutes.trim() === "inherit" ? null : minutesOption(options.rememberMinutes);
			if (options.force2fa !== undefined) changes.forceTwoFactor = options.force2fa;
			if (options.methods === false) changes.allowedMethods = null;
			else if (options.methods !== undefined) changes.allowedMethods = methodsOption(options.methods);
			if (Object.keys(changes).length === 0 && options.enrolmentDeadline === undefined)
				throw new UsageError(
					"nothing to change: give --force-2fa, --no-force-2fa, --methods LIST, --no-methods, --enrolment-deadline WHEN or --remember-minutes N",
				);
			await withApp(options, async (cli) => {
				const deadline = deadlineOption(options.enrolmentDeadline, cli.clock.now().getTime());
				if (deadline !== undefined) changes.enrolmentDeadline = deadline;
				const target = await cli.admin.requireGroup(name);
				if (options.dryRun === true) {
					printImpact(io, await cli.admin.previewGroup(cliActor(), target.name, changes));
					return;
				}
				await cli.admin.updateGroup(cliActor(), target.name, changes);
				println(io.stdout, `updated group ${target.name}`);
			});
		},
	);

	for (const [verb, adding] of [
		["add-member", true],
		["remove-member", false],
	] as const) {
		common(
			group
				.command(verb)
				.description(adding ? "add a user to a group" : "remove a user from a group")
				.argument("<group>", "group name")
				.argument("<user>", "username"),
		).action(async (groupName: string, userName: string, options: CommonOptions) => {
			await withApp(options, async (cli) => {
				const target = await cli.admin.requireGroup(groupName);
				const member = await cli.admin.requireUser(userName);
				if (adding) await cli.admin.addMember(cliActor(), target.name, member.username);
				else await cli.admin.removeMember(cliActor(), target.name, member.username);
				println(io.stdout, adding ? `added ${member.username} to ${target.name}` : `removed ${member.username} from ${target.name}`);
			});
		});
	}

	common(group.command("list").description("list groups").option("--json", "JSON array")).action(async (options: CommonOptions & { json?: boolean }) => {
		await withApp(options, async (cli) => {
			const rows = [];
			for (const row of await cli.directory.groups.list()) {
				const members = await cli.directory.groups.membersOf(row.id);
				rows.push({
					name: row.name,
					forceTwoFactor: row.force_2fa === 1,
					/** null: no restriction (every globally enabled method). */
					allowedMethods: parseAllowed(row.allowed_methods),
					enrolmentDeadline: row.enrol_deadline === null ? null : new Date(Number(row.enrol_deadline)).toISOString(),
					/** null: the global remember window applies. */
					rememberMinutes: row.remember_minutes === null ? null : Number(row.remember_minutes),
					members: members.map((member) => member.username),
				});
			}
			if (options.json === true) {
				io.stdout.write(json(rows));
				return;
			}
			io.stdout.write(
				table(
					["GROUP", "FORCE-2FA", "DEADLINE", "METHODS", "MEMBERS"],
					rows.map((row) => [
						row.name,
						row.forceTwoFactor ? "yes" : "no",
						formatDeadline(row.enrolmentDeadline === null ? null : Date.parse(row.enrolmentDeadline)),
						row.allowedMethods === null ? "(all enabled)" : list(row.allowedMethods),
						list(row.members),
					]),
				),
			);
		});
	});
}
