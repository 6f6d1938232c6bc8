/**
 * `portcullis method …`: settings of the methods that talk to a backend (YubiKey validation
 * server, Duo, RADIUS), the same MethodAdmin the console's /admin/methods page uses. Settings are
 * read as JSON on stdin so secrets never appear on a command line (shell history, `ps`).
 */
import type { Command } from "commander";
import { CONFIGURABLE_METHODS, isConfigurableMethod, type ConfigurableMethod } from "../../methods/method-settings.ts";
import { cliActor, withApp, type CommonOptions } from "../context.ts";
import { UsageError } from "../errors.ts";
import { json } from "../format.ts";
import { println, readStdinText, type CliIo } from "../io.ts";

type AddCommon = (command: Command) => Command;

function methodArgument(raw: string): ConfigurableMethod {
	if (!isConfigurableMethod(raw))
		throw new UsageError(`not a configurable method: ${JSON.stringify(raw.slice(0, 40))} (one of ${CONFIGURABLE_METHODS.join(", ")})`);
	return raw;
}

export function registerMethodCommands(program: Command, io: CliIo, common: AddCommon): void {
	const method = common(program.command("method").description(`settings of methods with a backend (${CONFIGURABLE_METHODS.join(", ")})`));

	common(method.command("show").argument("[method]").description("show the settings (secrets redacted)").option("--json", "JSON")).action(
		async (raw: string | undefined, options: CommonOptions & { json?: boolean }) => {
			const only = raw === undefined ? null : methodArgument(raw);
			await withApp(options, async (cli) => {
				const admin = cli.methods;
				const views = only === null ? await admin.list() : [await admin.get(only)];
				if (options.json === true) {
					io.stdout.write(json(only === null ? views : views[0]));
					return;
				}
				for (const view of views) {
					println(io.stdout, `${view.method}: ${view.configured ? "configured" : "not configured"}, ${view.enabled ? "enabled" : "disabled"}`);
					if (view.settings !== null) println(io.stdout, `  ${JSON.stringify(view.settings)}`);
					for (const note of view.downgrades) println(io.stdout, `  downgrade: ${note}`);
					if (view.problem !== null) println(io.stdout, `  problem: ${view.problem}`);
				}
			});
		},
	);

	common(
		method
			.command("configure")
			.argument("<method>")
			.description("set the method's settings from a JSON object on stdin (see docs/methods.md); omitted secrets keep their stored value"),
	).action(async (raw: string, options: CommonOptions) => {
		const id = methodArgument(raw);
		const text = await readStdinText(io, 65_536, "Paste the settings as one JSON object, then press Enter:", "method settings");
		let input: unknown;
		try {
			input = JSON.parse(text);
		} catch {
			throw new UsageError("the settings on stdin are not valid JSON");
		}
		await withApp(options, async (cli) => {
			await cli.methods.update(cliActor(), id, input);
			println(io.stdout, `${id} configured`);
		});
	});

	common(method.command("test").argument("<method>").description("test the connection to the method's backend")).action(
		async (raw: string, options: CommonOptions) => {
			const id = methodArgument(raw);
			await withApp(options, async (cli) => {
				const result = await cli.methods.testConnection(cliActor(), id);
				for (const check of result.checks) println(io.stdout, `${check.ok ? "ok  " : "FAIL"} ${check.target}: ${check.message}`);
				if (!result.ok) throw new UsageError(`${id}: the connection test failed`, 1);
			});
		},
	);

	common(
		method.command("clear").argument("<method>").description("delete the method's settings (refused while the method is enabled or named by a group)"),
	).action(async (raw: string, options: CommonOptions) => {
		const id = methodArgument(raw);
		await withApp(options, async (cli) => {
			await cli.methods.clear(cliActor(), id);
			println(io.stdout, `${id} settings removed`);
		});
	});
}
