/**
 * The terminal a client describes in pty-req and window-change (RFC 4254 §6.2, §6.7): columns and
 * rows are any uint32 and TERM any string. Everything behind the session channel (menu, target
 * PTY, recording) gets these sanitised values: a window-change to 4,294,967,295 columns must not
 * make the menu build a 4 GB line (V8 throws "Invalid string length" inside an event handler).
 * 0 means "unknown" in the RFC and falls back to 80×24, like an unset terminal.
 */
export const MAX_TERMINAL_CELLS = 10_000;

export function terminalCells(value: number, fallback: number): number {
	if (!Number.isInteger(value) || value <= 0) return fallback;
	return Math.min(value, MAX_TERMINAL_CELLS);
}

/** A TERM value a target and a cast file can take as is; anything else is "xterm". */
export function terminalType(term: string): string {
	return /^[A-Za-z0-9._+-]{1,64}$/.test(term) ? term : "xterm";
}
