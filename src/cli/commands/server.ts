/**
 * `portcullis server …`: servers reachable through the SSH gateway, their grants to groups, the
 * gateway's own key (to install in the targets' authorized_keys), per-server credentials and the
 * trust-on-first-use host keys. Every change goes through ServerService, like the admin web pages.
 * (Owned by the SSH relay work; registered with one line in ../program.ts.)
 */
import { readFileSync } from "node:fs";
import type { Command } from "commander";
import type { ServerCredential } from "../../servers/server-service.ts";
import { loadOrCreateGatewayKey } from "../../servers/gateway-key.ts";
import { cliActor, cliConfig, withApp, type CommonOptions } from "../context.ts";
import { UsageError } from "../errors.ts";
import { iso, json, list, table } from "../format.ts";
import { println, type CliIo } from "../io.ts";
import { readFirstLine } from "../password-input.ts";

type AddCommon = (command: Command) => Command;

function portOption(value: string): number {
	if (!/^[0-9]{1,5}$/.test(value) || Number(value) < 1 || Number(value) > 65535)
		throw new UsageError(`--port must be a number from 1 to 65535, not ${JSON.stringify(value.slice(0, 20))}`);
	return Number(value);
}

const repeatable = (value: string, previous: string[]) => [...previous, value];

/**
 * `--fresh-minutes N` (whole minutes) or `any` (no window); ServerService checks the range.
 * "any" stays a string here: commander turns a parser's null into "".
 */
function freshOption(value: string): number | "any" {
	if (value === "any") return "any";
	if (!/^[0-9]{1,6}$/.test(value))
		throw new UsageError(`--fresh-minutes must be a whole number of minutes or "any", not ${JSON.stringify(value.slice(0, 20))}`);
	return Number(value);
}

/** How the step-up rule reads in `server list`. */
function stepUpText(row: { requireTwoFactor: boolean; freshMinutes: number | null }): string {
	if (!row.requireTwoFactor) return "-";
	return row.freshMinutes === null ? "every connection" : `every connection, within ${row.freshMinutes} min`;
}

export function registerServerCommands(program: Command, io: CliIo, common: AddCommon): void {
	const server = common(program.command("server").description("manage servers reachable through the SSH gateway and grant them to groups"));

	common(
		server
			.command("add")
			.description("add a server (the gateway logs in with its own key: see `server pubkey`)")
			.argument("<name>", "server name (what users choose in the menu and type in `ssh gw NAME` / `-J`)")
			.requiredOption("--host <host>", "DNS name or IP address of the server")
			.option("--port <port>", "SSH port of the server", portOption, 22)
			.option("--login <user>", "user the gateway logs in as (default: the Portcullis username of whoever connects)")
			.option("--group <group>", "grant to this group (repeatable)", repeatable, [] as string[])
			.option("--description <text>", "shown in the users' menu")
			.option("--recording-mode <mode>", "when a session cannot be recorded: strict, best-effort, or default (the global mode)")
			.option("--require-2fa", "every connection to this server needs a second factor (per-server step-up), even for users the policy does not force")
			.option("--fresh-minutes <n>", "with --require-2fa: the second factor must be at most N minutes old (1-1440)", freshOption)
			.option("--capture-sftp-content", "store the content of files read and written through relayed SFTP (default: never stored)"),
	).action(
		async (
			name: string,
			options: CommonOptions & {
				host: string;
				port: number;
				login?: string;
				group: string[];
				description?: string;
				recordingMode?: string;
				require2fa?: boolean;
				freshMinutes?: number | "any";
				captureSftpContent?: boolean;
			},
		) => {
			await withApp(options, async (cli) => {
				const created = await cli.servers.add(cliActor(), {
					name,
					host: options.host,
					port: options.port,
					...(options.login !== undefined ? { loginUser: options.login } : {}),
					...(options.description !== undefined ? { description: options.description } : {}),
					...(options.recordingMode !== undefined ? { recordingMode: options.recordingMode } : {}),
					groups: options.group,
					...(options.require2fa !== undefined ? { requireTwoFactor: options.require2fa } : {}),
					...(options.freshMinutes !== undefined ? { freshMinutes: options.freshMinutes === "any" ? null : options.freshMinutes } : {}),
					...(options.captureSftpContent !== undefined ? { captureSftpContent: options.captureSftpContent } : {}),
				});
				println(
					io.stdout,
					`added server ${created.name} (${created.host}:${created.port})${options.group.length > 0 ? `, granted to ${options.group.join(", ")}` : ""}`,
				);
			});
		},
	);

	common(
		server
			.command("update")
			.description("change a server's address, login or description (a new address forgets its host key)")
			.argument("<name>", "server name")
			.option("--host <host>", "DNS name or IP address")
			.option("--port <port>", "SSH port", portOption)
			.option("--login <user>", "login user ('' for the connecting user's name)")
			.option("--description <text>", "shown in the users' menu")
			.option("--recording-mode <mode>", "when a session cannot be recorded: strict, best-effort, or default (the global mode)")
			.option("--require-2fa", "every connection to this server needs a second factor (per-server step-up)")
			.option("--no-require-2fa", "the server needs no second factor of its own (the user's policy still applies)")
			.option("--fresh-minutes <n>", 'the second factor must be at most N minutes old (1-1440), or "any"', freshOption)
			.option("--capture-sftp-content", "store the content of files read and written through relayed SFTP")
			.option("--no-capture-sftp-content", "never store SFTP file content (the default)"),
	).action(
		async (
			name: string,
			options: CommonOptions & {
				host?: string;
				port?: number;
				login?: string;
				description?: string;
				recordingMode?: string;
				require2fa?: boolean;
				freshMinutes?: number | "any";
				captureSftpContent?: boolean;
			},
		) => {
			const changes = {
				...(options.host !== undefined ? { host: options.host } : {}),
				...(options.port !== undefined ? { port: options.port } : {}),
				...(options.login !== undefined ? { loginUser: options.login } : {}),
				...(options.description !== undefined ? { description: options.description } : {}),
				...(options.recordingMode !== undefined ? { recordingMode: options.recordingMode } : {}),
				...(options.require2fa !== undefined ? { requireTwoFactor: options.require2fa } : {}),
				...(options.freshMinutes !== undefined ? { freshMinutes: options.freshMinutes === "any" ? null : options.freshMinutes } : {}),
				...(options.captureSftpContent !== undefined ? { captureSftpContent: options.captureSftpContent } : {}),
			};
			if (Object.keys(changes).length === 0)
				throw new UsageError(
					"nothing to change: give --host, --port, --login, --description, --recording-mode, --require-2fa / --no-require-2fa, --fresh-minutes or --[no-]capture-sftp-content",
				);
			await withApp(options, async (cli) => {
				const target = await cli.servers.requireServer(name);
				await cli.servers.update(cliActor(), target.name, changes);
				println(io.stdout, `updated server ${target.name}`);
			});
		},
	);

	common(server.command("list").description("list servers with their grants").option("--json", "JSON array")).action(
		async (options: CommonOptions & { json?: boolean }) => {
			await withApp(options, async (cli) => {
				const rows = await cli.servers.list();
				if (options.json === true) {
					io.stdout.write(json(rows.map((row) => ({ ...row, createdAt: iso(row.createdAt) }))));
					return;
				}
				io.stdout.write(
					table(
						["SERVER", "ADDRESS", "LOGIN", "GROUPS", "CREDENTIAL", "HOST KEY", "2FA", "RECORDING", "SFTP CONTENT", "DESCRIPTION"],
						rows.map((row) => [
							row.name,
							`${row.host}:${row.port}`,
							row.loginUser || "(user's name)",
							list(row.groups),
							row.credential,
							row.hostKeyFingerprint ?? "(first use)",
							stepUpText(row),
							row.recordingMode ?? "default",
							row.captureSftpContent ? "captured" : "not kept",
							row.description,
						]),
					),
				);
			});
		},
	);

	for (const [verb, granting] of [
		["grant", true],
		["revoke", false],
	] as const) {
		common(
			server
				.command(verb)
				.description(granting ? "grant a server to a group (its members may reach it)" : "take a server away from a group")
				.argument("<server>", "server name")
				.argument("<group>", "group name"),
		).action(async (serverName: string, groupName: string, options: CommonOptions) => {
			await withApp(options, async (cli) => {
				const servers = cli.servers;
				const target = await servers.requireServer(serverName);
				const group = await cli.admin.requireGroup(groupName);
				const changed = granting ? await servers.grant(cliActor(), target.name, group.name) : await servers.revoke(cliActor(), target.name, group.name);
				const done = granting ? `granted ${target.name} to ${group.name}` : `revoked ${target.name} from ${group.name}`;
				println(io.stdout, changed ? done : `${done} (no change)`);
			});
		});
	}

	common(server.command("remove").description("remove a server and its grants").argument("<name>", "server name")).action(
		async (name: string, options: CommonOptions) => {
			await withApp(options, async (cli) => {
				const target = await cli.servers.requireServer(name);
				await cli.servers.remove(cliActor(), target.name);
				println(io.stdout, `removed server ${target.name}`);
			});
		},
	);

	common(server.command("pubkey").description("print the gateway's public key (install it in the targets' authorized_keys); created on first use")).action(
		async (options: CommonOptions) => {
			const key = loadOrCreateGatewayKey(await cliConfig(options));
			println(io.stdout, key.publicKey);
		},
	);

	common(
		server
			.command("set-credential")
			.description("log in to this server with its own password or private key instead of the gateway key (sealed at rest)")
			.argument("<name>", "server name")
			.option("--password-stdin", "read the password from the first line of stdin")
			.option("--key-file <file>", "private key file (OpenSSH or PEM)")
			.option("--gateway-key", "go back to the gateway's own key"),
	).action(async (name: string, options: CommonOptions & { passwordStdin?: boolean; keyFile?: string; gatewayKey?: boolean }) => {
		const chosen = [options.passwordStdin === true, options.keyFile !== undefined, options.gatewayKey === true].filter(Boolean).length;
		if (chosen !== 1) throw new UsageError("give exactly one of --password-stdin, --key-file FILE, --gateway-key");
		let credential: ServerCredential | null = null;
		if (options.passwordStdin === true) {
			const password = await readFirstLine(io.stdin);
			if (password === null || password === "") throw new UsageError("no password on stdin");
			credential = { kind: "password", password };
		} else if (options.keyFile !== undefined) {
			let privateKey: string;
			try {
				privateKey = readFileSync(options.keyFile, "utf8");
			} catch {
				throw new UsageError(`cannot read ${options.keyFile}`);
			}
			credential = { kind: "key", privateKey };
		}
		await withApp(options, async (cli) => {
			const target = await cli.servers.requireServer(name);
			await cli.servers.setCredential(cliActor(), target.name, credential);
			println(
				io.stdout,
				`${target.name} now uses ${credential === null ? "the gateway key" : credential.kind === "password" ? "its own password" : "its own private key"}`,
			);
		});
	});

	common(
		server
			.command("forget-hostkey")
			.description("admin override of trust on first use: forget the stored host key (the next connection learns it) or pin one")
			.argument("<name>", "server name")
			.option("--pin <key>", 'pin this host key instead ("ssh-ed25519 AAAA…", e.g. from ssh-keyscan)'),
	).action(async (name: string, options: CommonOptions & { pin?: string }) => {
		await withApp(options, async (cli) => {
			const target = await cli.servers.requireServer(name);
			await cli.servers.resetHostKey(cliActor(), target.name, options.pin ?? null);
			println(
				io.stdout,
				options.pin !== undefined ? `pinned the host key of ${target.name}` : `forgot the host key of ${target.name}; the next connection trusts what it sees`,
			);
		});
	});
}
