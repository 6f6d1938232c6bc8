/**
 * Registration of `portcullis serve`. The implementation (serve.ts) is imported only when serve
 * runs, so the admin commands start without loading the web and SSH stacks.
 */
import type { Command } from "commander";
import type { CommonOptions } from "../context.ts";
import type { CliIo } from "../io.ts";

type AddCommon = (command: Command) => Command;

export interface ServeOptions extends CommonOptions {
	http?: string;
	ssh?: string;
	quiet?: boolean;
}

export function registerServeCommand(program: Command, io: CliIo, common: AddCommon): void {
	common(
		program
			.command("serve")
			.description("run the web console and SSH gateway (creates the data directory and the initial admin on first start)")
			.option("--http <host:port>", "web console address (default 127.0.0.1:8080, or http.listen)")
			.option("--ssh <host:port>", "SSH gateway address (default 127.0.0.1:2222, or ssh.listen)")
			.option("--quiet", "no request log"),
	).action(async (options: ServeOptions) => {
		const { serve } = await import("./serve.ts");
		await serve(options, io);
	});
}
