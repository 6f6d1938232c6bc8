/**
 * sshd's MaxStartups "start:rate:full" and PerSourceMaxStartups (sshd_config(5)), as pure functions:
 *
 *   - fewer than `start` unauthenticated connections: every new connection is admitted;
 *   - from `start` on, a new connection is dropped with probability `rate`% rising linearly to 100%
 *     at `full` ("random early drop", so a flood cannot deterministically hold every slot);
 *   - at `full`, every new connection is dropped;
 *   - independently, one source may hold at most `perSource` unauthenticated connections.
 *
 * The arithmetic is OpenSSH's should_drop_connection() (sshd.c), integer division included, so an
 * operator's sshd intuition carries over. The random draw is the caller's (injected Random).
 */
/**
 * One source = sourceKey() (src/core/source-key.ts, shared with the password throttle): an IPv4
 * address, or the /64 of an IPv6 address, because one IPv6 host commonly owns a whole /64
 * (RFC 7421), so counting per /128 would give an attacker 2^64 "sources". (OpenSSH's
 * PerSourceNetBlockSize defaults to 32:128; we choose 32:64, docs/decisions.md.)
 */
export { sourceKey } from "./source-key.ts";

export interface MaxStartups {
	readonly start: number;
	readonly rate: number;
	readonly full: number;
}

/** Highest `full` accepted: far above what one process serves, low enough to bound the bookkeeping. */
export const MAX_STARTUPS_LIMIT = 10_000;

/**
 * "10:30:100" or a single number "100" (OpenSSH: start = full, a hard limit). Null when malformed
 * or inconsistent (rate outside 1–100, start above full, full outside 1–MAX_STARTUPS_LIMIT), as
 * sshd refuses to start on them.
 */
export function parseMaxStartups(text: string): MaxStartups | null {
	const match = /^(\d{1,5})(?::(\d{1,3}):(\d{1,5}))?$/.exec(text.trim());
	if (match === null) return null;
	const start = Number(match[1]);
	const rate = match[2] === undefined ? 100 : Number(match[2]);
	const full = match[3] === undefined ? start : Number(match[3]);
	if (full < 1 || full > MAX_STARTUPS_LIMIT || start < 1 || start > full || rate < 1 || rate > 100) return null;
	return { start, rate, full };
}

/**
 * The chance (in percent, 0–100) that a new connection is dropped when `unauthenticated`
 * connections are already open. OpenSSH sshd.c should_drop_connection().
 */
export function dropPercent(unauthenticated: number, settings: MaxStartups): number {
	if (unauthenticated < settings.start) return 0;
	if (unauthenticated >= settings.full || settings.rate === 100) return 100;
	const span = settings.full - settings.start;
	return settings.rate + Math.floor(((100 - settings.rate) * (unauthenticated - settings.start)) / span);
}
