/**
 * `portcullis network …`: trusted networks of the 2FA policy, global or per group
 * (docs/decisions.md "Network rules"). Two modes, both stricter outside the trusted networks:
 * deny-outside (no login from elsewhere) and require-2fa-outside (a second factor from elsewhere).
 */
import type { Command } from "commander";
import { cliActor, withApp, type CommonOptions } from "../context.ts";
import { UsageError } from "../errors.ts";
import { iso, json, list, table } from "../format.ts";
import { println, type CliIo } from "../io.ts";

type AddCommon = (command: Command) => Command;

const repeatable = (value: string, previous: string[]) => [...previous, value];

/** Exactly one of --global and --group NAME. */
function scope(options: { global?: boolean; group?: string }): string | null {
	if ((options.global === true) === (options.group !== undefined)) throw new UsageError("give exactly one of --global and --group NAME");
	return options.group ?? null;
}

export function registerNetworkCommands(program: Command, io: CliIo, common: AddCommon): void {
	const network = common(program.command("network").description("trusted networks: deny logins or require 2FA from outside them (global or per group)"));

	common(
		network
			.command("set")
			.description("set the trusted networks of a rule (replaces its list)")
			.requiredOption("--mode <mode>", "deny-outside (no login from elsewhere) or require-2fa-outside (a second factor from elsewhere)")
			.option("--network <cidr>", "a trusted network, IPv4 or IPv6 CIDR (repeatable)", repeatable, [] as string[])
			.option("--global", "the rule applies to everyone")
			.option("--group <name>", "the rule applies to the members of this group"),
	).action(async (options: CommonOptions & { mode: string; network: string[]; global?: boolean; group?: string }) => {
		const group = scope(options);
		await withApp(options, async (cli) => {
			const rule = await cli.networkRules.set(cliActor(), group, options.mode, options.network);
			println(io.stdout, `${rule.group === null ? "global" : `group ${rule.group}`}: ${rule.mode}, trusted ${rule.trusted.join(", ")}`);
		});
	});

	common(
		network
			.command("clear")
			.description("remove a rule")
			.requiredOption("--mode <mode>", "deny-outside or require-2fa-outside")
			.option("--global", "the global rule")
			.option("--group <name>", "the rule of this group"),
	).action(async (options: CommonOptions & { mode: string; global?: boolean; group?: string }) => {
		const group = scope(options);
		await withApp(options, async (cli) => {
			const removed = await cli.networkRules.clear(cliActor(), group, options.mode);
			println(io.stdout, removed ? "rule removed" : "no such rule (no change)");
		});
	});

	common(network.command("list").description("list the network rules").option("--json", "JSON array")).action(
		async (options: CommonOptions & { json?: boolean }) => {
			await withApp(options, async (cli) => {
				const rules = await cli.networkRules.list();
				if (options.json === true) {
					io.stdout.write(json(rules.map((rule) => ({ group: rule.group, mode: rule.mode, trusted: rule.trusted, updatedAt: iso(rule.updatedAt) }))));
					return;
				}
				io.stdout.write(
					table(
						["SCOPE", "MODE", "TRUSTED NETWORKS"],
						rules.map((rule) => [rule.group === null ? "global" : `group ${rule.group}`, rule.mode, list(rule.trusted)]),
					),
				);
			});
		},
	);
}
