/**
 * How the CLI fails: bad input exits 2, anything unexpected exits 1, and either way the user sees
 * exactly one line `portcullis: <reason>` on stderr, never a stack trace (scripts parse it, and a
 * trace could echo a secret that was on the command line).
 */
import { CommanderError } from "commander";
import { isPortcullisError, type ErrorCode } from "../core/errors.ts";
import { stripUnsafe } from "../core/untrusted-text.ts";

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
/** 128 + SIGINT, what a shell reports for an interrupted command. */
export const EXIT_INTERRUPTED = 130;

/** Bad input detected by the CLI itself (before anything is written). */
export class UsageError extends Error {
	readonly exitCode: number;
	constructor(message: string, exitCode: number = EXIT_USAGE) {
		super(message);
		this.name = "UsageError";
		this.exitCode = exitCode;
	}
}

/** Codes that mean "the request was wrong", not "Portcullis failed". */
const INPUT_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
	"ERR_INPUT",
	"ERR_NOT_FOUND",
	"ERR_CONFLICT",
	"ERR_POLICY_INVALID",
	"ERR_CONFIG_INVALID",
	"ERR_METHOD_NOT_IMPLEMENTED",
]);

/** Commander codes that are not errors at all. */
const COMMANDER_SUCCESS = new Set(["commander.helpDisplayed", "commander.version", "commander.help"]);

function causeText(error: unknown): string {
	if (error instanceof Error) return error.message;
	return String(error);
}

/**
 * Folds a multi-line message into one line: "invalid configuration:\n  - a\n  - b" becomes
 * "invalid configuration: a; b". Control characters are replaced so a crafted name cannot
 * move the terminal cursor.
 */
export function oneLine(message: string): string {
	const lines = message
		.split(/\r?\n/)
		.map((line) => line.trim())
		.filter((line) => line.length > 0);
	if (lines.length === 0) return "unknown error";
	const [first, ...rest] = lines as [string, ...string[]];
	let joined = first;
	for (const line of rest) {
		// "(Did you mean …?)" continues the sentence; "- problem" lines are items of a list.
		const separator = line.startsWith("(") || joined.endsWith(":") ? " " : "; ";
		joined += separator + line.replace(/^- /, "");
	}
	return stripUnsafe(joined, { replacement: "?" });
}

export interface Failure {
	exitCode: number;
	/** The reason, without the "portcullis: " prefix; null when nothing should be printed. */
	message: string | null;
}

/** Maps anything thrown by a command to an exit code and its one-line reason. */
export function describeFailure(error: unknown, lastHelpUsage: string | null = null): Failure {
	if (error instanceof UsageError) return { exitCode: error.exitCode, message: oneLine(error.message) };
	if (error instanceof CommanderError) {
		if (COMMANDER_SUCCESS.has(error.code) && error.exitCode === 0) return { exitCode: EXIT_OK, message: null };
		if (error.code === "commander.help") {
			// A command group (`portcullis user`) called without its subcommand.
			const where = lastHelpUsage ?? "portcullis";
			return { exitCode: EXIT_USAGE, message: `missing command; see '${where} --help'` };
		}
		return { exitCode: EXIT_USAGE, message: oneLine(error.message.replace(/^error: /, "")) };
	}
	if (isPortcullisError(error)) {
		if (INPUT_CODES.has(error.code)) return { exitCode: EXIT_USAGE, message: oneLine(error.message) };
		const cause = error.cause === undefined ? "" : ` (${causeText(error.cause)})`;
		return { exitCode: EXIT_FAILURE, message: oneLine(`${error.message}${cause}`) };
	}
	return { exitCode: EXIT_FAILURE, message: oneLine(`unexpected error: ${causeText(error)}`) };
}
