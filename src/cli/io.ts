/** The three streams a command uses, injectable so commands never reach for globals directly. */
export interface CliInput extends NodeJS.ReadableStream {
	isTTY?: boolean;
	setRawMode?(mode: boolean): unknown;
	destroy?(): unknown;
}

export interface CliIo {
	readonly stdin: CliInput;
	readonly stdout: NodeJS.WritableStream;
	readonly stderr: NodeJS.WritableStream;
}

export const processIo: CliIo = { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr };

export function println(stream: NodeJS.WritableStream, line = ""): void {
	stream.write(`${line}\n`);
}
