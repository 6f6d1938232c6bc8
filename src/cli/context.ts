/**
 * What every command shares: the config (always through config/load-config.ts, the only module
 * that reads the environment), the application, and the acting admin for the audit log.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { userInfo } from "node:os";
import type { CliIo } from "./io.ts";
import type { CliServices } from "./services.ts";
import type { Config } from "../config/config.ts";
import type { Actor } from "../core/actor.ts";

/** Options every command accepts. */
export interface CommonOptions {
	data?: string;
	config?: string;
}

export interface ListenOverrides {
	http?: string;
	ssh?: string;
}

/**
 * The environment of the command line being run (CliIo.env), set by runCli (program.ts) for the
 * whole command. A scope rather than a parameter of withApp/cliConfig: every command reaches the
 * config through these two, so an injected environment cannot be forgotten by one of them, and
 * two command lines run at once in one process (in-process tests) each see their own.
 */
const invocation = new AsyncLocalStorage<{ readonly env: CliIo["env"] }>();

export function runWithEnvironment<T>(env: CliIo["env"], run: () => Promise<T>): Promise<T> {
	return invocation.run({ env }, run);
}

/**
 * The config and the application are imported when a command runs, not at start-up: `--help`,
 * `--version` and a mistyped flag answer at once instead of loading the database drivers.
 */
export async function cliConfig(options: CommonOptions, listen: ListenOverrides = {}): Promise<Config> {
	const { loadConfig } = await import("../config/load-config.ts");
	const env = invocation.getStore()?.env;
	return loadConfig({
		...(env !== undefined ? { env } : {}),
		...(options.config !== undefined ? { configFile: options.config } : {}),
		overrides: {
			...(options.data !== undefined ? { data_dir: options.data } : {}),
			...(listen.http !== undefined ? { http_listen: listen.http } : {}),
			...(listen.ssh !== undefined ? { ssh_listen: listen.ssh } : {}),
		},
	});
}

/** Audit identity of whoever runs the CLI: "cli:<os user>" (Decision 12: every change names its actor). */
export function cliActor(): Actor {
	let name: string;
	try {
		name = userInfo().username;
	} catch {
		// No passwd entry (some containers): the numeric uid still identifies the operator.
		name = `uid${process.getuid?.() ?? "?"}`;
	}
	return { name: `cli:${name}`, channel: "cli", source: "local" };
}

/**
 * Opens the application for one command, hands the command its narrow services (never the app
 * object) and always closes it (the process must be able to exit).
 */
export async function withApp<T>(options: CommonOptions, run: (cli: CliServices) => Promise<T>): Promise<T> {
	const config = await cliConfig(options);
	const { createPortcullis } = await import("../app/portcullis.ts");
	const { cliServices } = await import("../app/cli-services.ts");
	const app = await createPortcullis(config);
	try {
		return await run(cliServices(app));
	} finally {
		await app.close();
	}
}
