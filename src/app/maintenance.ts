/**
 * Periodic clean-up of expired rows (sessions, attempts, abandoned pending factors). Safe to run
 * on every node at once: each statement is an idempotent DELETE of rows already past expiry.
 */
import type { Portcullis } from "./portcullis.ts";

export async function runMaintenance(app: Portcullis): Promise<void> {
	await app.stores.sessions.purgeExpired();
	await app.stores.attempts.purgeOld(24 * 3600_000);
	await app.stores.factors.purgeExpiredPending();
}

export function startMaintenance(app: Portcullis, everyMs = 10 * 60_000): { stop(): void } {
	const timer = setInterval(() => {
		runMaintenance(app).catch(() => undefined);
	}, everyMs);
	timer.unref();
	return { stop: () => clearInterval(timer) };
}
