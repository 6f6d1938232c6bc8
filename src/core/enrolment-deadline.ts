/**
 * Staged 2FA rollout: the enrolment deadline an admin types ("2027-01-15", "14d", "none") turned
 * into epoch milliseconds, and the limits every deadline must keep. Pure: `now` is passed in.
 */

const DAY_MS = 86_400_000;
/** A rollout longer than a year is not a rollout; the admin meant something else. */
export const MAX_DEADLINE_DAYS = 366;

export type DeadlineParse = { readonly ok: true; readonly value: number | null } | { readonly ok: false; readonly message: string };

/**
 * "none" (or empty): no deadline, enforce now. "N" days ("14d", "14 days"): now + N days.
 * A date "YYYY-MM-DD": that day at 00:00 UTC, when enforcement begins. An ISO 8601 date-time with
 * an offset ("2027-01-15T09:00:00Z") is taken as given.
 */
export function parseEnrolmentDeadline(text: string, now: number): DeadlineParse {
	const trimmed = text.trim().toLowerCase();
	if (trimmed === "" || trimmed === "none") return { ok: true, value: null };
	const days = /^(\d{1,3})\s*(d|days?)$/.exec(trimmed);
	if (days) return checkDeadline(now + Number(days[1]) * DAY_MS, now);
	const date = /^(\d{4})-(\d{2})-(\d{2})$/.exec(trimmed);
	if (date) {
		const value = Date.UTC(Number(date[1]), Number(date[2]) - 1, Number(date[3]));
		if (new Date(value).toISOString().slice(0, 10) !== trimmed) return { ok: false, message: `${text.trim()} is not a date.` };
		return checkDeadline(value, now);
	}
	if (/^\d{4}-\d{2}-\d{2}t\d{2}:\d{2}(:\d{2})?(\.\d+)?(z|[+-]\d{2}:\d{2})$/.test(trimmed)) {
		const value = Date.parse(trimmed);
		if (Number.isFinite(value)) return checkDeadline(value, now);
	}
	return {
		ok: false,
		message: `The enrolment deadline must be a date (YYYY-MM-DD), a number of days (e.g. 14d) or "none"; got ${JSON.stringify(text.slice(0, 40))}.`,
	};
}

/** A deadline must lie in the future and at most MAX_DEADLINE_DAYS ahead. */
export function checkDeadline(value: number, now: number): DeadlineParse {
	if (!Number.isFinite(value) || value <= now) return { ok: false, message: 'The enrolment deadline must be in the future (use "none" to enforce now).' };
	if (value > now + MAX_DEADLINE_DAYS * DAY_MS) return { ok: false, message: `The enrolment deadline must be at most ${MAX_DEADLINE_DAYS} days ahead.` };
	return { ok: true, value };
}

/** How a deadline is shown to admins: the UTC date and time, or "none". */
export function formatDeadline(value: number | null | undefined): string {
	if (value === null || value === undefined) return "none";
	return new Date(value).toISOString().replace(/:\d{2}\.\d{3}Z$/, "Z");
}
