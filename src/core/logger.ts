/**
 * The process logger (pino, JSON lines; `time` in ISO 8601 UTC, e.g. "2026-12-07T23:50:01.123Z",
 * not epoch milliseconds: docs/operations.md "Logs"). Adapters receive one from the composition root; stores
 * and services that must report an operational failure they do not throw (an audit write behind a
 * connection that is closing anyway) take one too, so nothing fails without a trace.
 */
import { pino, stdTimeFunctions } from "pino";

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

/** pino options shared by the process logger and the web console's request logger. */
export function pinoOptions(level: string): { level: string; timestamp: () => string } {
	return { level, timestamp: stdTimeFunctions.isoTime };
}

export function createLogger(options: LoggerOptions = {}): Logger {
	return pino({ name: "portcullis", ...pinoOptions(options.level ?? "info") });
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
