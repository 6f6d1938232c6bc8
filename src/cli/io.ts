import { UsageError } from "./errors.ts";

/** The three streams a command uses (and the environment), injectable so commands never reach for globals directly. */
export interface CliInput extends NodeJS.ReadableStream {
	isTTY?: boolean;
	setRawMode?(mode: boolean): unknown;
	destroy?(): unknown;
}

export interface CliIo {
	readonly stdin: CliInput;
	readonly stdout: NodeJS.WritableStream;
	readonly stderr: NodeJS.WritableStream;
	/**
	 * The environment the configuration is read from (src/config/load-config.ts); absent: the
	 * process's own. Lets a test run the CLI in-process with its own PORTCULLIS_* variables.
	 */
	readonly env?: Readonly<Record<string, string | undefined>>;
}

export const processIo: CliIo = { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr };

/**
 * What a closed output pipe does (src/cli/main.ts): a command stops quietly (`portcullis audit |
 * head -2`); `serve` sets `endsProcess` false, because a service must not stop when whoever reads
 * its output goes away (a restarted log collector): it keeps serving, and its output is dropped.
 */
export const closedOutput = { endsProcess: true };

export function println(stream: NodeJS.WritableStream, line = ""): void {
	stream.write(`${line}\n`);
}

/**
 * All of stdin (piped input), or one pasted line on a terminal, capped at `maxBytes` so a
 * mistaken pipe cannot exhaust memory.
 */
export async function readStdinText(io: CliIo, maxBytes: number, terminalHint: string, what: string): Promise<string> {
	const stdin = io.stdin;
	if (stdin.isTTY) io.stderr.write(`${terminalHint}\n`);
	const chunks: Buffer[] = [];
	let size = 0;
	for await (const chunk of stdin) {
		const buffer = typeof chunk === "string" ? Buffer.from(chunk, "utf8") : (chunk as Buffer);
		chunks.push(buffer);
		size += buffer.length;
		if (size > maxBytes) {
			stdin.destroy?.();
			throw new UsageError(`the input on stdin is too long for ${what}`);
		}
		if (stdin.isTTY && buffer.includes(0x0a)) {
			stdin.pause();
			break;
		}
	}
	return Buffer.concat(chunks).toString("utf8");
}
