/** `portcullis settings …`: the global 2FA switch and the enabled methods (Decision 3 is enforced by AdminService). */
import type { Command } from "commander";
import { formatDeadline, parseEnrolmentDeadline } from "../../core/enrolment-deadline.ts";
import type { MethodId } from "../../core/method-id.ts";
import { cliActor, withApp, type CommonOptions } from "../context.ts";
import { UsageError } from "../errors.ts";
import { json } from "../format.ts";
import { println, type CliIo } from "../io.ts";
import type { PolicyImpact } from "../../flows/admin-service.ts";
import { methodsOption } from "./methods-option.ts";

type AddCommon = (command: Command) => Command;

/** A remember window in whole minutes (AdminService checks the range); exit 2 on anything else. */
export function minutesOption(text: string): number {
	if (!/^\d{1,5}$/.test(text.trim())) throw new UsageError(`--remember-minutes must be a whole number of minutes, got ${JSON.stringify(text.slice(0, 20))}`);
	return Number(text.trim());
}

/** The impact preview of a change that forces 2FA (`--dry-run`). */
export function printImpact(io: CliIo, impact: PolicyImpact): void {
	println(io.stdout, `users gaining a 2FA requirement: ${impact.gaining.length}${impact.gaining.length > 0 ? ` (${impact.gaining.join(",")})` : ""}`);
	println(io.stdout, `  of them without a usable factor: ${impact.noFactor.length}${impact.noFactor.length > 0 ? ` (${impact.noFactor.join(",")})` : ""}`);
	println(
		io.stdout,
		`  of those, never logged in on the web: ${impact.neverOnWeb.length}${impact.neverOnWeb.length > 0 ? ` (${impact.neverOnWeb.join(",")})` : ""}`,
	);
	if (impact.enforcesNow) println(io.stdout, "without an enrolment deadline, users without a factor are stopped at their next login");
	println(io.stdout, "dry run: nothing was changed");
}

export function registerSettingsCommands(program: Command, io: CliIo, common: AddCommon): void {
	const settings = common(program.command("settings").description("global two-factor settings"));

	common(settings.command("show").description("show the global 2FA settings").option("--json", "JSON object")).action(
		async (options: CommonOptions & { json?: boolean }) => {
			await withApp(options, async (cli) => {
				const current = await cli.directory.settings.getTwoFactor();
				const view = {
					forceTwoFactor: current.forceTwoFactor,
					enabledMethods: [...current.enabledMethods],
					enrolmentDeadline:
						current.enrolmentDeadline === null || current.enrolmentDeadline === undefined ? null : new Date(current.enrolmentDeadline).toISOString(),
					rememberMinutes: current.rememberMinutes ?? 0,
					availableMethods: cli.admin.implementedMethods(),
				};
				if (options.json === true) {
					io.stdout.write(json(view));
					return;
				}
				println(io.stdout, `force-2fa: ${view.forceTwoFactor ? "on" : "off"}`);
				println(io.stdout, `enabled methods: ${view.enabledMethods.join(",") || "-"}`);
				println(io.stdout, `available methods: ${view.availableMethods.join(",")}`);
				println(io.stdout, `enrolment deadline: ${formatDeadline(current.enrolmentDeadline)}`);
				println(io.stdout, `ssh remember window: ${view.rememberMinutes > 0 ? `${view.rememberMinutes} min` : "off"}`);
			});
		},
	);

	common(
		settings
			.command("update")
			.description("change the global 2FA settings; invalid states (force-2FA with no usable method) are refused")
			.option("--force-2fa", "every user must use a second factor")
			.option("--no-force-2fa", "only groups that force it (and users who enrolled) use a second factor")
			.option("--methods <list>", "comma-separated methods users may use (replaces the enabled list)")
			.option("--enrolment-deadline <when>", 'staged rollout: users without a factor are nudged until then (YYYY-MM-DD, "14d", or "none" to enforce now)')
			.option("--remember-minutes <n>", "SSH remember window: after a second factor on SSH, skip it from the same address for N minutes (0: off, max 720)")
			.option("--dry-run", "only show who the change would affect (impact preview); change nothing"),
	).action(
		async (options: CommonOptions & { force2fa?: boolean; methods?: string; enrolmentDeadline?: string; dryRun?: boolean; rememberMinutes?: string }) => {
			const changes: { forceTwoFactor?: boolean; enabledMethods?: MethodId[]; enrolmentDeadline?: number | null; rememberMinutes?: number } = {};
			if (options.rememberMinutes !== undefined) changes.rememberMinutes = minutesOption(options.rememberMinutes);
			if (options.force2fa !== undefined) changes.forceTwoFactor = options.force2fa;
			if (options.methods !== undefined) changes.enabledMethods = methodsOption(options.methods);
			if (Object.keys(changes).length === 0 && options.enrolmentDeadline === undefined)
				throw new UsageError("nothing to change: give --force-2fa, --no-force-2fa, --methods LIST, --enrolment-deadline WHEN or --remember-minutes N");
			await withApp(options, async (cli) => {
				if (options.enrolmentDeadline !== undefined) {
					const parsed = parseEnrolmentDeadline(options.enrolmentDeadline, cli.clock.now().getTime());
					if (!parsed.ok) throw new UsageError(parsed.message);
					changes.enrolmentDeadline = parsed.value;
				}
				if (options.dryRun === true) {
					printImpact(io, await cli.admin.previewSettings(cliActor(), changes));
					return;
				}
				await cli.admin.updateSettings(cliActor(), changes);
				const after = await cli.directory.settings.getTwoFactor();
				println(
					io.stdout,
					`settings updated: force-2fa ${after.forceTwoFactor ? "on" : "off"}, methods ${after.enabledMethods.join(",") || "-"}${
						after.enrolmentDeadline !== null && after.enrolmentDeadline !== undefined ? `, enrolment deadline ${formatDeadline(after.enrolmentDeadline)}` : ""
					}${(after.rememberMinutes ?? 0) > 0 ? `, ssh remember window ${after.rememberMinutes} min` : ""}`,
				);
			});
		},
	);
}
