/**
 * Reads a new password for `user add` / `user passwd`.
 *
 * - stdin is not a terminal (a pipe, a file, /dev/null): the first line is the password, so
 *   `printf '%s\n' "$PW" | portcullis user add alice` works and the password never appears in
 *   the process list or the shell history.
 * - stdin is a terminal: prompt twice on stderr with echo off (the way passwd(1) does).
 */
import { EXIT_INTERRUPTED, UsageError } from "./errors.ts";
import type { CliInput, CliIo } from "./io.ts";

/** Far above PASSWORD_MAX_LENGTH (1024 characters, at most 4 bytes each): stop reading garbage early. */
const MAX_LINE_BYTES = 8192;

export async function readFirstLine(stdin: CliInput): Promise<string | null> {
	const chunks: Buffer[] = [];
	let size = 0;
	for await (const chunk of stdin) {
		const buffer = typeof chunk === "string" ? Buffer.from(chunk, "utf8") : (chunk as Buffer);
		const newline = buffer.indexOf(0x0a);
		if (newline >= 0) {
			chunks.push(buffer.subarray(0, newline));
			stdin.destroy?.();
			return Buffer.concat(chunks).toString("utf8").replace(/\r$/, "");
		}
		chunks.push(buffer);
		size += buffer.length;
		if (size > MAX_LINE_BYTES) {
			stdin.destroy?.();
			throw new UsageError("the password line on stdin is too long");
		}
	}
	if (size === 0) return null;
	return Buffer.concat(chunks).toString("utf8").replace(/\r$/, "");
}

/**
 * One line from a terminal in raw mode, without echo. Ctrl-C, or Ctrl-D on an empty line, cancels.
 * Characters typed ahead (both passwords pasted at once) are kept in `carry` for the next prompt.
 */
function readHidden(io: CliIo, prompt: string, carry: { rest: string }): Promise<string> {
	const { stdin, stderr } = io;
	// Echo off before the prompt shows: anything typed once the prompt is visible (a Ctrl-C, the
	// password itself) must reach us raw, never be echoed or turned into SIGINT by the line discipline.
	stdin.setRawMode?.(true);
	stderr.write(prompt);
	stdin.setEncoding("utf8");
	return new Promise((resolve, reject) => {
		let value = "";
		const finish = () => {
			stdin.off("data", onData);
			stdin.setRawMode?.(false);
			stdin.pause();
			stderr.write("\n");
		};
		/** Returns true once the line is complete (or cancelled). */
		const consume = (text: string): boolean => {
			const chars = Array.from(text);
			for (let index = 0; index < chars.length; index++) {
				const char = chars[index] as string;
				if (char === "\r" || char === "\n") {
					// "\r\n" is one Enter.
					const next = char === "\r" && chars[index + 1] === "\n" ? index + 2 : index + 1;
					carry.rest = chars.slice(next).join("");
					finish();
					resolve(value);
					return true;
				}
				if (char === "\u0003" || (char === "\u0004" && value === "")) {
					finish();
					reject(new UsageError("cancelled", EXIT_INTERRUPTED));
					return true;
				}
				if (char === "\u007f" || char === "\b") value = Array.from(value).slice(0, -1).join("");
				else if (char === "\u0015")
					value = ""; // Ctrl-U: erase the line
				else if (char >= " ") value += char;
			}
			return false;
		};
		const onData = (chunk: string | Buffer) => {
			consume(String(chunk));
		};
		const typedAhead = carry.rest;
		carry.rest = "";
		if (consume(typedAhead)) return;
		stdin.on("data", onData);
		stdin.resume();
	});
}

export async function readNewPassword(io: CliIo, username: string): Promise<string> {
	if (io.stdin.isTTY === true && typeof io.stdin.setRawMode === "function") {
		const carry = { rest: "" };
		const first = await readHidden(io, `New password for ${username}: `, carry);
		const second = await readHidden(io, "Repeat the password: ", carry);
		if (first !== second) throw new UsageError("the two passwords differ");
		if (first === "") throw new UsageError("no password given");
		return first;
	}
	const line = await readFirstLine(io.stdin);
	if (line === null || line === "") throw new UsageError("no password on stdin (the first line of stdin is the password)");
	return line;
}
