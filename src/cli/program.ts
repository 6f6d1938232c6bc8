/**
 * The `portcullis` admin CLI (commander 15). Every command
 * takes --data and --config, and every change goes through AdminService, the same code the web
 * console's admin pages use.
 */
import { readFileSync } from "node:fs";
import { Command, Option } from "commander";
import { registerAuditCommand } from "./commands/audit.ts";
import { registerBackupCommands } from "./commands/backup.ts";
import { registerGroupCommands } from "./commands/group.ts";
import { registerMethodCommands } from "./commands/method.ts";
import { registerNetworkCommands } from "./commands/network.ts";
import { registerServeCommand } from "./commands/serve-command.ts";
import { registerRecordingCommands } from "./commands/recording.ts";
import { registerServerCommands } from "./commands/server.ts";
import { registerSessionCommands } from "./commands/session.ts";
import { registerSettingsCommands } from "./commands/settings.ts";
import { registerTokenCommands } from "./commands/token.ts";
import { registerUserCommands } from "./commands/user.ts";
import { registerUserKeyCommands } from "./commands/user-key.ts";
import { runWithEnvironment } from "./context.ts";
import { describeFailure, EXIT_OK } from "./errors.ts";
import { processIo, type CliIo } from "./io.ts";

function packageVersion(): string {
	try {
		const text = readFileSync(new URL("../../package.json", import.meta.url), "utf8");
		return String((JSON.parse(text) as { version?: unknown }).version ?? "unknown");
	} catch {
		return "unknown";
	}
}

/** --data and --config on every leaf command, so they may follow the command's own arguments. */
function addCommonOptions(command: Command): Command {
	return command
		.addOption(new Option("--data <dir>", "data directory: SQLite database, secret.key (default ./data)"))
		.addOption(new Option("--config <file>", "TOML configuration file (default <data>/portcullis.toml when present)"));
}

export function buildProgram(io: CliIo, onHelpUsage: (usage: string) => void): Command {
	const program = new Command("portcullis")
		.description("Portcullis admin CLI: users, groups, 2FA policy, audit log, and the server itself")
		.version(`${packageVersion()} (node ${process.version})`, "--version", "print the version and the Node.js runtime it runs on")
		.exitOverride()
		.showSuggestionAfterError(true)
		.configureOutput({
			writeOut: (text) => io.stdout.write(text),
			// Help written because a command group was called without a subcommand: keep only its
			// usage line, so the error stays one line (describeFailure prints it).
			writeErr: (text) => {
				const usage = /^Usage: (.*?) \[options\]/m.exec(text);
				if (usage?.[1] !== undefined) onHelpUsage(usage[1]);
			},
			outputError: () => undefined,
		});
	// --data and --config may also come before the subcommand (`portcullis --data /srv/p user list`):
	// the root and the command groups accept them, and the leaf inherits what it was not given itself.
	addCommonOptions(program);
	program.hook("preAction", (_root, action) => {
		for (const name of ["data", "config"]) {
			if (action.getOptionValue(name) !== undefined) continue;
			for (let parent = action.parent; parent !== null; parent = parent.parent) {
				const value: unknown = parent.getOptionValue(name);
				if (value !== undefined) {
					action.setOptionValue(name, value);
					break;
				}
			}
		}
	});
	registerServeCommand(program, io, addCommonOptions);
	registerUserCommands(program, io, addCommonOptions);
	registerUserKeyCommands(program, io, addCommonOptions);
	registerGroupCommands(program, io, addCommonOptions);
	registerSettingsCommands(program, io, addCommonOptions);
	registerMethodCommands(program, io, addCommonOptions);
	registerAuditCommand(program, io, addCommonOptions);
	registerServerCommands(program, io, addCommonOptions);
	registerRecordingCommands(program, io, addCommonOptions);
	registerNetworkCommands(program, io, addCommonOptions);
	registerBackupCommands(program, io, addCommonOptions);
	registerSessionCommands(program, io, addCommonOptions);
	registerTokenCommands(program, io, addCommonOptions);
	return program;
}

/** Runs one command line; returns the exit code. Never throws. */
export async function runCli(argv: readonly string[], io: CliIo = processIo): Promise<number> {
	let usage: string | null = null;
	const program = buildProgram(io, (seen) => {
		usage = seen;
	});
	try {
		await runWithEnvironment(io.env, () => program.parseAsync([...argv], { from: "user" }));
		return EXIT_OK;
	} catch (error) {
		const failure = describeFailure(error, usage);
		if (failure.message !== null) io.stderr.write(`portcullis: ${failure.message}\n`);
		return failure.exitCode;
	}
}
