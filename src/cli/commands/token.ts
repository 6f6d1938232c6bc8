/**
 * `portcullis token …`: REST API tokens of service accounts, on the host (docs/api.md "Service
 * accounts"). A person's token is made only in the console with a fresh second factor; this
 * command refuses anyone who is not a service account. `token service-account NAME` creates one.
 * The token is printed once; only its hash is stored.
 */
import type { Command } from "commander";
import { API_SCOPES, API_TOKEN_MAX_DAYS } from "../../core/api-scopes.ts";
import { cliActor, withApp, type CommonOptions } from "../context.ts";
import { UsageError } from "../errors.ts";
import { iso, json, list, table } from "../format.ts";
import { println, type CliIo } from "../io.ts";

type AddCommon = (command: Command) => Command;

const DAY_MS = 86_400_000;
const repeatable = (value: string, previous: string[]) => [...previous, value];

export function registerTokenCommands(program: Command, io: CliIo, common: AddCommon): void {
	const token = common(program.command("token").description("REST API tokens of service accounts (personal tokens are made in the console)"));

	common(
		token
			.command("service-account")
			.description("create a service account: no password, no interactive login, API tokens only")
			.argument("<username>")
			.option("--admin", "the account may call admin routes (its tokens still need the scopes)"),
	).action(async (username: string, options: CommonOptions & { admin?: boolean }) => {
		await withApp(options, async (cli) => {
			const user = await cli.apiTokens.createServiceAccount(cliActor(), username, options.admin === true);
			println(io.stdout, `service account ${user.username} created${options.admin === true ? " (admin)" : ""}`);
		});
	});

	common(
		token
			.command("create")
			.description("make a token for a service account and print it once")
			.argument("<username>", "the service account")
			.requiredOption("--name <name>", "what the token is for (shown in lists)")
			.option("--scope <scope>", `a scope (repeatable): ${API_SCOPES.join(", ")}`, repeatable, [] as string[])
			.requiredOption("--days <days>", `lifetime in days (1-${API_TOKEN_MAX_DAYS}; required)`),
	).action(async (username: string, options: CommonOptions & { name: string; scope: string[]; days: string }) => {
		if (!/^[0-9]{1,4}$/.test(options.days)) throw new UsageError(`--days must be a whole number of days, 1-${API_TOKEN_MAX_DAYS}`);
		await withApp(options, async (cli) => {
			const made = await cli.apiTokens.createForService(cliActor(), username, {
				name: options.name,
				scopes: options.scope,
				expiresAt: cli.clock.now().getTime() + Number(options.days) * DAY_MS,
			});
			// stdout gets the token alone (scripts capture it); the rest goes to stderr.
			println(io.stdout, made.token);
			println(
				io.stderr,
				`token ${made.view.id} for ${made.view.username}, scopes ${list(made.view.scopes)}, expires ${iso(made.view.expiresAt)}: shown only now`,
			);
		});
	});

	common(
		token
			.command("list")
			.description("list the tokens of service accounts (never the tokens themselves)")
			.argument("[username]", "one service account (default: all)")
			.option("--json", "JSON array"),
	).action(async (username: string | undefined, options: CommonOptions & { json?: boolean }) => {
		await withApp(options, async (cli) => {
			const tokens = await cli.apiTokens.listService(username);
			if (options.json === true) {
				io.stdout.write(
					json(
						tokens.map((view) => ({
							...view,
							createdAt: iso(view.createdAt),
							expiresAt: iso(view.expiresAt),
							lastUsedAt: iso(view.lastUsedAt),
							revokedAt: iso(view.revokedAt),
						})),
					),
				);
				return;
			}
			io.stdout.write(
				table(
					["ID", "ACCOUNT", "NAME", "SCOPES", "EXPIRES", "LAST USED", "STATE"],
					tokens.map((view) => [view.id, view.username, view.name, list(view.scopes), iso(view.expiresAt) ?? "-", iso(view.lastUsedAt) ?? "never", view.state]),
				),
			);
		});
	});

	common(
		token.command("revoke").description("revoke a service account's token at once, on every node").argument("<id>", "the token id (from token list)"),
	).action(async (id: string, options: CommonOptions) => {
		await withApp(options, async (cli) => {
			const revoked = await cli.apiTokens.revokeService(cliActor(), id);
			if (!revoked) throw new UsageError(`no live service-account token ${JSON.stringify(id.slice(0, 64))}`);
			println(io.stdout, `token ${id} revoked`);
		});
	});
}
