/**
 * `portcullis user add-key NAME` (the public key line on stdin, e.g. `portcullis user add-key alice
 * < ~/.ssh/id_ed25519.pub`), `user list-keys NAME`, `user remove-key NAME FINGERPRINT`: the SSH
 * keys a user may present to the gateway as the first factor. The second factor is still asked
 * for wherever the policy requires it.
 */
import type { Command } from "commander";
import { cliActor, withApp, type CommonOptions } from "../context.ts";
import { UsageError } from "../errors.ts";
import { iso, json, table } from "../format.ts";
import { println, readStdinText, type CliIo } from "../io.ts";

type AddCommon = (command: Command) => Command;

/** Registers the key commands under the existing `user` command group. */
export function registerUserKeyCommands(program: Command, io: CliIo, common: AddCommon): void {
	const user = program.commands.find((command) => command.name() === "user") ?? common(program.command("user").description("manage users"));

	common(
		user
			.command("add-key")
			.description("add an SSH public key for the gateway; reads one .pub line on stdin (sk-* keys and certificates are refused)")
			.argument("<name>", "username"),
	).action(async (name: string, options: CommonOptions) => {
		await withApp(options, async (cli) => {
			const target = await cli.admin.requireUser(name);
			const result = await cli.sshKeys.add(
				cliActor(),
				target,
				await readStdinText(io, 16_384, "Paste the public key line (contents of the .pub file), then press Enter:", "a public key"),
			);
			if (!result.ok) throw new UsageError(result.message);
			println(io.stdout, `added ${result.key.algo} key ${result.key.fingerprint} for ${target.username}`);
		});
	});

	common(
		user.command("list-keys").description("list a user's SSH public keys").argument("<name>", "username").option("--json", "machine-readable output"),
	).action(async (name: string, options: CommonOptions & { json?: boolean }) => {
		await withApp(options, async (cli) => {
			const target = await cli.admin.requireUser(name);
			const keys = await cli.sshKeys.list(target.id);
			if (options.json) {
				io.stdout.write(
					json(keys.map((key) => ({ fingerprint: key.fingerprint, algo: key.algo, comment: key.comment, createdAt: iso(Number(key.created_at)) }))),
				);
				return;
			}
			if (keys.length === 0) {
				println(io.stdout, `${target.username} has no SSH keys`);
				return;
			}
			io.stdout.write(
				table(
					["FINGERPRINT", "TYPE", "ADDED", "COMMENT"],
					keys.map((key) => [key.fingerprint, key.algo, iso(Number(key.created_at)) ?? "-", key.comment || "-"]),
				),
			);
		});
	});

	common(
		user
			.command("remove-key")
			.description("remove one of a user's SSH public keys")
			.argument("<name>", "username")
			.argument("<fingerprint>", "SHA256:... as shown by list-keys (or ssh-keygen -lf)"),
	).action(async (name: string, fingerprint: string, options: CommonOptions) => {
		await withApp(options, async (cli) => {
			const target = await cli.admin.requireUser(name);
			if (!(await cli.sshKeys.remove(cliActor(), target, fingerprint))) throw new UsageError(`${target.username} has no key ${fingerprint}`);
			println(io.stdout, `removed key ${fingerprint} from ${target.username}`);
		});
	});
}
