/**
 * `portcullis recording …`: session recordings of every node (they live in the shared database):
 * list them, verify their hash chains (tamper evidence, docs/operations.md "Recordings"), and set
 * the global recording mode (strict / best effort, src/core/recording-mode.ts).
 */
import type { Command } from "commander";
import { canonicalUsername } from "../../core/username.ts";
import { cliActor, withApp, type CommonOptions } from "../context.ts";
import { EXIT_FAILURE, UsageError } from "../errors.ts";
import { iso, json, table } from "../format.ts";
import { println, type CliIo } from "../io.ts";

type AddCommon = (command: Command) => Command;

function servers(text: string): string {
	try {
		const parsed: unknown = JSON.parse(text);
		return Array.isArray(parsed) && parsed.length > 0 ? parsed.join(",") : "-";
	} catch {
		return "?";
	}
}

export function registerRecordingCommands(program: Command, io: CliIo, common: AddCommon): void {
	const recording = common(program.command("recording").description("session recordings: list, verify their hash chains, recording mode"));

	common(
		recording
			.command("list")
			.description("list recordings, newest first")
			.option("--user <name>", "only this user's recordings")
			.option("--limit <n>", "at most this many (default 200, at most 5000)")
			.option("--json", "JSON array"),
	).action(async (options: CommonOptions & { user?: string; limit?: string; json?: boolean }) => {
		if (options.limit !== undefined && !/^[0-9]{1,4}$/.test(options.limit)) throw new UsageError("--limit must be a number from 1 to 5000");
		const username = options.user === undefined ? undefined : (canonicalUsername(options.user) ?? options.user);
		await withApp(options, async (cli) => {
			const rows = await cli.recordings.list({
				...(username !== undefined ? { username } : {}),
				...(options.limit !== undefined ? { limit: Math.max(1, Number(options.limit)) } : {}),
			});
			if (options.json === true) {
				io.stdout.write(
					json(
						rows.map((row) => ({
							id: row.id,
							user: row.username,
							servers: JSON.parse(row.servers) as unknown,
							startedAt: iso(Number(row.started_at)),
							endedAt: iso(row.ended_at === null ? null : Number(row.ended_at)),
							bytes: Number(row.bytes),
							storage: row.storage,
							chunks: Number(row.chunks),
						})),
					),
				);
				return;
			}
			io.stdout.write(
				table(
					["ID", "USER", "SERVERS", "STARTED", "ENDED", "BYTES", "CHUNKS"],
					rows.map((row) => [
						row.id,
						row.username,
						servers(row.servers),
						iso(Number(row.started_at)) ?? "-",
						row.ended_at === null ? "(running or cut off)" : (iso(Number(row.ended_at)) ?? "-"),
						String(row.bytes),
						row.storage === "file" ? "(file)" : String(row.chunks),
					]),
				),
			);
		});
	});

	common(
		recording
			.command("verify")
			.description("check the hash chain of one recording (or of all); exits 1 and names the first broken chunk when one was edited")
			.argument("[id]", "recording id (default: every recording)"),
	).action(async (id: string | undefined, options: CommonOptions) => {
		if (id !== undefined && !/^[0-9a-f]{32}$/.test(id)) throw new UsageError("a recording id is 32 hexadecimal characters");
		await withApp(options, async (cli) => {
			const ids = id === undefined ? await cli.recordings.allIds() : [id];
			const broken: string[] = [];
			let ok = 0;
			for (const each of ids) {
				const result = await cli.recordings.verify(each);
				if (result.status === "ok") {
					ok += 1;
					println(io.stdout, `${each} ok (${result.chunks} chunks)`);
				} else if (result.status === "unchained") println(io.stdout, `${each} not verifiable (a file written before recordings were chained)`);
				else {
					broken.push(`${each}: ${result.reason}`);
					println(io.stdout, `${each} BROKEN at chunk ${result.chunk}: ${result.reason}`);
				}
			}
			if (broken.length > 0)
				throw new UsageError(`${broken.length} recording${broken.length === 1 ? "" : "s"} failed verification; first: ${broken[0]}`, EXIT_FAILURE);
			if (ids.length > 1 || id === undefined) println(io.stdout, `${ok} of ${ids.length} recordings verified`);
		});
	});

	common(
		recording
			.command("mode")
			.description("show or set the global recording mode: strict (refuse or end sessions that cannot be recorded) or best-effort")
			.argument("[mode]", "strict | best-effort"),
	).action(async (mode: string | undefined, options: CommonOptions) => {
		await withApp(options, async (cli) => {
			if (mode !== undefined) await cli.servers.setGlobalRecordingMode(cliActor(), mode);
			println(io.stdout, `recording mode: ${await cli.servers.globalRecordingMode()}`);
		});
	});
}
