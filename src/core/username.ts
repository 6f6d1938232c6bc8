/**
 * Usernames are canonicalised once (NFKC + lower case) at creation and at login, so that
 * "Alice", "ａｌｉｃｅ" and "alice" are one account with one lockout counter (docs/threat-model.md, Bad input).
 * Only a conservative alphabet is accepted: no separators that the SSH gateway or logs could
 * misread (":", "@", "%", "/", whitespace, control characters).
 */
export const USERNAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;

export function canonicalUsername(raw: string): string | null {
	if (typeof raw !== "string" || raw.length === 0 || raw.length > 256) return null;
	const canonical = raw.normalize("NFKC").toLowerCase();
	return USERNAME_PATTERN.test(canonical) ? canonical : null;
}

export const GROUP_NAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;

export function canonicalGroupName(raw: string): string | null {
	if (typeof raw !== "string" || raw.length === 0 || raw.length > 256) return null;
	const canonical = raw.normalize("NFKC").toLowerCase();
	return GROUP_NAME_PATTERN.test(canonical) ? canonical : null;
}
