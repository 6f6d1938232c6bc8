/**
 * What happens to an interactive SSH session when its recording cannot be written (the database
 * refuses the chunk, the disk is full), in the manner of Teleport's `strict` / `best_effort`
 * session recording modes:
 *
 * - `strict` (the default): a new recorded session is refused with a one-line message, and an open
 *   one ends with a notice. Nothing happens on a server that the recording cannot show.
 * - `best-effort`: the session goes on unrecorded from that point; the failure is never silent
 *   (an audit event `recording.failed` and an error log line).
 *
 * Set globally (settings row `recording_mode`) and per server (`servers.recording_mode`, null =
 * follow the global mode). Anything unreadable decodes to `strict` (fail closed).
 */
export const RECORDING_MODES = ["strict", "best-effort"] as const;
export type RecordingMode = (typeof RECORDING_MODES)[number];

export const DEFAULT_RECORDING_MODE: RecordingMode = "strict";

export function isRecordingMode(value: unknown): value is RecordingMode {
	return typeof value === "string" && (RECORDING_MODES as readonly string[]).includes(value);
}

/** A stored value: unknown, corrupt or missing text is `strict`. */
export function decodeRecordingMode(value: string | null | undefined): RecordingMode {
	return isRecordingMode(value) ? value : DEFAULT_RECORDING_MODE;
}

/**
 * The mode for a session on a server (null: the menu, before any server is chosen). The server's
 * own setting wins when it has one; otherwise the global one applies.
 */
export function effectiveRecordingMode(global: RecordingMode, server: { readonly recording_mode: string | null } | null): RecordingMode {
	if (server === null || server.recording_mode === null) return global;
	return decodeRecordingMode(server.recording_mode);
}
