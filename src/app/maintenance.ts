/**
 * Periodic clean-up of expired rows (sessions, attempts, abandoned pending factors). Safe to run
 * on every node at once: each statement is an idempotent DELETE of rows already past expiry.
 */
import { errorFields } from "../core/logger.ts";
import type { Portcullis } from "./portcullis.ts";

export async function runMaintenance(app: Portcullis): Promise<void> {
	await app.stores.sessions.purgeExpired();
	await app.stores.attempts.purgeOld(24 * 3600_000);
	await app.stores.factors.purgeExpiredPending();
	await app.stores.rememberedGrants.purgeExpired();
	// Per-source password delays past their reset period would start afresh anyway.
	const security = app.config.security;
	await app.stores.passwordThrottle.prune({
		freeFailures: security.password_delay_after_failures,
		maxDelayMs: security.password_delay_max_seconds * 1000,
		resetMs: security.password_delay_reset_hours * 3600_000,
	});
	// WebAuthn challenges and SSH approval links are single use and short-lived; keep a day for the record.
	const before = app.clock.now().getTime() - 24 * 3600_000;
	await app.stores.webauthn.purgeExpired(before);
}

export function startMaintenance(app: Portcullis, everyMs = 10 * 60_000): { stop(): void } {
	const timer = setInterval(() => {
		runMaintenance(app).catch((error: unknown) => app.logger.error(errorFields(error), "maintenance run failed"));
	}, everyMs);
	timer.unref();
	return { stop: () => clearInterval(timer) };
}
