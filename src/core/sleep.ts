/**
 * Waiting is injected like time (src/core/clock.ts): a wait loop counts its own retries instead
 * of reading a clock, so it ends under a fake clock too, and tests can record or shorten the waits.
 */
export type Sleep = (ms: number) => Promise<void>;

export const realSleep: Sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
