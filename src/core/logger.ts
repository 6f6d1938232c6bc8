/**
 * The process logger (pino, JSON lines). Adapters receive one from the composition root; stores
 * and services that must report an operational failure they do not throw (an audit write behind a
 * connection that is closing anyway) take one too, so nothing fails without a trace.
 */
import { pino } from "pino";

/** The part of pino's API the code uses; tests pass a recording stand-in. */
export interface Logger {
	error(fields: Record<string, unknown>, message: string): void;
	warn(fields: Record<string, unknown>, message: string): void;
	info(fields: Record<string, unknown>, message: string): void;
	/** A logger whose lines all carry `bindings` (e.g. { adapter: "ssh" }). */
	child(bindings: Record<string, unknown>): Logger;
}

export interface LoggerOptions {
	/** pino level: "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent". */
	readonly level?: string;
}

export function createLogger(options: LoggerOptions = {}): Logger {
	return pino({ name: "portcullis", level: options.level ?? "info" });
}

let fallback: Logger | undefined;

/** For code built outside the composition root (a store opened inside a transaction): errors only. */
export function fallbackLogger(): Logger {
	fallback ??= createLogger({ level: "error" });
	return fallback;
}

/** A short, log-safe description of a thrown value. */
export function errorFields(error: unknown): Record<string, unknown> {
	if (error instanceof Error) return { error: error.message.slice(0, 300), code: (error as { code?: unknown }).code ?? null };
	return { error: String(error).slice(0, 300) };
}
