/**
 * What every command shares: the config (always through config/load-config.ts, the only module
 * that reads the environment), the application, and the acting admin for the audit log.
 */
import { userInfo } from "node:os";
import { createPortcullis, type Portcullis } from "../app/portcullis.ts";
import type { Config } from "../config/config.ts";
import { loadConfig } from "../config/load-config.ts";
import type { Actor } from "../flows/admin-service.ts";

/** Options every command accepts. */
export interface CommonOptions {
	data?: string;
	config?: string;
}

export interface ListenOverrides {
	http?: string;
	ssh?: string;
}

export function cliConfig(options: CommonOptions, listen: ListenOverrides = {}): Config {
	return loadConfig({
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

/** Opens the application for one command and always closes it (the process must be able to exit). */
export async function withApp<T>(options: CommonOptions, run: (app: Portcullis) => Promise<T>): Promise<T> {
	const app = await createPortcullis(cliConfig(options));
	try {
		return await run(app);
	} finally {
		await app.close();
	}
}
