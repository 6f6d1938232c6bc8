/**
 * A reservation refused as "busy" (the in-flight budget of a lockout counter is spent by answers
 * still being checked) is retried for a short, bounded while before the login answers "busy, try
 * again" (docs/decisions.md "Lockout accounting"). Never a lock: busy is not a failure.
 */
import type { Sleep } from "../core/sleep.ts";

export interface BusyWaitPolicy {
	/** Total sleep before giving up (0: answer busy at once). */
	readonly maxWaitMs: number;
	/** The first pause; each further one doubles, up to 8 times this. */
	readonly retryMs: number;
}

/** Calls `reserve` until it is not busy or `maxWaitMs` of sleep is spent; counts its own sleeps (no clock). */
export async function retryWhileBusy<T extends { readonly kind: string }>(policy: BusyWaitPolicy, sleep: Sleep, reserve: () => Promise<T>): Promise<T> {
	let result = await reserve();
	let waited = 0;
	let pause = Math.max(1, policy.retryMs);
	while (result.kind === "busy" && waited < policy.maxWaitMs) {
		const step = Math.min(pause, policy.maxWaitMs - waited);
		await sleep(step);
		waited += step;
		// Doubling thins out the retries of many waiters (each one is a conditional UPDATE on one row).
		pause = Math.min(pause * 2, policy.retryMs * 8);
		result = await reserve();
	}
	return result;
}
