/**
 * Periodic clean-up of expired rows (sessions, attempts, abandoned pending factors) and of
 * recordings past their retention. Safe to run on every node at once: each statement is an
 * idempotent DELETE of rows already past expiry.
 */
import { errorFields } from "../core/logger.ts";
import { type Portcullis, pairPolicy } from "./portcullis.ts";

export async function runMaintenance(app: Portcullis): Promise<void> {
	await app.stores.sessions.purgeExpired();
	await app.stores.attempts.purgeOld(24 * 3600_000);
	await app.stores.factors.purgeExpiredPending();
	await app.stores.rememberedGrants.purgeExpired();
	// Per-source password delays past their reset period would start afresh anyway.
	await app.stores.passwordThrottle.prune(pairPolicy(app.config));
	// WebAuthn challenges and SSH approval links are single use and short-lived; keep a day for the record.
	const before = app.clock.now().getTime() - 24 * 3600_000;
	await app.stores.webauthn.purgeExpired(before);
	// Dead API tokens stay listed (as expired or revoked) for 90 days, then go; the audit log keeps them.
	await app.stores.apiTokens.purgeDead(app.clock.now().getTime() - 90 * 86_400_000);
	await purgeExpiredRecordings(app);
}

/**
 * Retention (`ssh.recording_retention_days`, 0 = keep forever): recordings whose last activity is
 * older are deleted, a batch at a time. Each batch is one unit of work (storage/unit-of-work.ts):
 * the rows this node deleted and their `recording.deleted` events (with the chain's final hash)
 * commit together, so an audit log that cannot be written deletes nothing and a crash leaves
 * neither an unaudited deletion nor an event for a recording still there. Files of pre-0013
 * recordings are unlinked after the commit. Returns how many recordings were deleted.
 */
export async function purgeExpiredRecordings(app: Portcullis): Promise<number> {
	const days = app.config.ssh.recording_retention_days;
	if (days === 0) return 0;
	const cutoff = app.clock.now().getTime() - days * 86_400_000;
	let deleted = 0;
	for (;;) {
		const rows = await app.stores.recordings.expired(cutoff, 100);
		if (rows.length === 0) return deleted;
		const gone = await app.stores.work.run(async (work) => {
			const removed = await work.recordings.removeRows(rows);
			for (const row of removed)
				work.audit({
					event: "recording.deleted",
					outcome: "info",
					actor: "retention",
					username: row.username,
					userId: row.user_id,
					detail: {
						recording: row.id,
						startedAt: Number(row.started_at),
						endedAt: row.ended_at === null ? null : Number(row.ended_at),
						chunks: Number(row.chunks),
						lastHash: row.last_hash,
						retentionDays: days,
					},
				});
			return removed;
		});
		await app.stores.recordings.removeFiles(gone);
		deleted += gone.length;
	}
}

export function startMaintenance(app: Portcullis, everyMs = 10 * 60_000): { stop(): void } {
	const timer = setInterval(() => {
		runMaintenance(app).catch((error: unknown) => app.logger.error(errorFields(error), "maintenance run failed"));
	}, everyMs);
	timer.unref();
	return { stop: () => clearInterval(timer) };
}
