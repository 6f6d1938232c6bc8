/**
 * `portcullis backup FILE` and `portcullis restore FILE [--key-file KEY]` (src/app/backup.ts;
 * docs/operations.md "Backup and restore"). Both always name where the secret key lives and that
 * it is not in the backup: it must be backed up apart.
 */
import type { Command } from "commander";
import { cliConfig, type CommonOptions } from "../context.ts";
import { println, type CliIo } from "../io.ts";

type AddCommon = (command: Command) => Command;

function keyWarning(location: string): string[] {
	return [
		`The secret key is NOT in the backup. It lives in ${location}.`,
		"Back it up apart from the database backups (another medium, another access list): without it the",
		"second factors and backend secrets in a backup cannot be read; with both in one place, whoever",
		"takes them has every TOTP seed.",
	];
}

export function registerBackupCommands(program: Command, io: CliIo, common: AddCommon): void {
	common(
		program
			.command("backup")
			.argument("<file>", "where to write the backup (must not exist)")
			.description("online backup of the SQLite database (PostgreSQL: prints the pg_dump advice and fails); the secret key is not included"),
	).action(async (file: string, options: CommonOptions) => {
		const config = await cliConfig(options);
		const { backupDatabase } = await import("../../app/backup.ts");
		const report = await backupDatabase(config, file);
		println(io.stdout, `Backup written: ${report.file} (${report.bytes} bytes, ${report.migrations} migrations, integrity checked)`);
		for (const line of keyWarning(report.keyLocation)) println(io.stdout, line);
	});
	common(
		program
			.command("restore")
			.argument("<file>", "a backup written by `portcullis backup`")
			.option("--key-file <key>", "the secret key backed up apart; copied into the data directory (0600)")
			.description("restore a backup into an empty data directory; checks that the secret key belongs to it"),
	).action(async (file: string, options: CommonOptions & { keyFile?: string }) => {
		const config = await cliConfig(options);
		const { restoreDatabase } = await import("../../app/backup.ts");
		const report = await restoreDatabase(config, file, options.keyFile);
		println(
			io.stdout,
			`Restored ${report.file} (${report.users} users; the audit chain of ${report.auditEvents} events verifies with the secret key in ${report.keyLocation}).`,
		);
		println(io.stdout, "Copy the SSH host key (ssh_host_ed25519_key) and the gateway key (gateway_ed25519_key) too, or clients and targets will see new keys.");
	});
}
