/**
 * `portcullis session …`: the live SSH connections of every node (the shared live-session
 * registry, flows/live-sessions.ts) and ending one, or one channel of it. The request and its
 * audit event (the operator's name and the reason) commit together; the node holding the
 * connection ends it within its poll interval (ssh.policy_poll_ms). docs/operations.md "Live sessions".
 */
import type { Command } from "commander";
import { secondFactorLabel } from "../../flows/live-sessions.ts";
import { cliActor, withApp, type CommonOptions } from "../context.ts";
import { UsageError } from "../errors.ts";
import { iso, json, table } from "../format.ts";
import { println, type CliIo } from "../io.ts";

type AddCommon = (command: Command) => Command;

export function registerSessionCommands(program: Command, io: CliIo, common: AddCommon): void {
	const session = common(program.command("session").description("live SSH connections of every node: list them, end one"));

	common(session.command("list").description("every live SSH connection of every node, oldest first, with its channels").option("--json", "JSON array")).action(
		async (options: CommonOptions & { json?: boolean }) => {
			await withApp(options, async (cli) => {
				const connections = await cli.liveSessions.list();
				if (options.json === true) {
					io.stdout.write(
						json(
							connections.map((view) => ({
								...view,
								startedAt: iso(view.startedAt),
								updatedAt: iso(view.updatedAt),
								secondFactorText: secondFactorLabel(view),
								channels: view.channels.map((channel) => ({ ...channel, startedAt: iso(channel.startedAt) })),
							})),
						),
					);
					return;
				}
				const rows: string[][] = [];
				for (const view of connections) {
					rows.push([
						view.id,
						"-",
						view.username,
						view.source,
						`${view.nodeName}/${view.nodeId.slice(0, 8)}`,
						iso(view.startedAt) ?? "-",
						secondFactorLabel(view),
						`${view.bytesIn}/${view.bytesOut}`,
					]);
					for (const channel of view.channels)
						rows.push([
							`  ${channel.id}`,
							channel.server === null ? channel.kind : `${channel.kind} → ${channel.server}`,
							"",
							"",
							"",
							iso(channel.startedAt) ?? "-",
							"",
							`${channel.bytesIn}/${channel.bytesOut}`,
						]);
				}
				io.stdout.write(table(["ID", "CHANNEL", "USER", "FROM", "NODE", "SINCE", "SECOND FACTOR", "BYTES IN/OUT"], rows));
			});
		},
	);

	common(
		session
			.command("kill")
			.description("end a live connection (or one channel of it, --channel) on whichever node holds it; audited with your name and the reason")
			.argument("<connection>", "connection id (16 hexadecimal characters, from `session list`)")
			.option("--channel <id>", "end only this channel (32 hexadecimal characters); the connection stays")
			.requiredOption("--reason <text>", "why (written to the audit log)"),
	).action(async (connection: string, options: CommonOptions & { channel?: string; reason: string }) => {
		if (options.reason.trim() === "") throw new UsageError("--reason must not be empty: it goes into the audit log with your name");
		await withApp(options, async (cli) => {
			const result = await cli.liveSessions.terminate(cliActor(), { connectionId: connection, channelId: options.channel ?? null, reason: options.reason });
			println(
				io.stdout,
				`requested: node ${result.node} ends ${options.channel === undefined ? `connection ${connection}` : `channel ${options.channel}`} within about a second (request ${result.requestId})`,
			);
		});
	});
}
