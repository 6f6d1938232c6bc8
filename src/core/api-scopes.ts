/**
 * What an API token may do (docs/api.md "Scopes"). A scope narrows a token; it never widens its
 * owner: every admin route also needs the owner to be an administrator at the time of the call.
 * There is deliberately no scope for second factors, passwords or tokens: no API route manages
 * them (docs/api.md "Not a side door").
 */
export const API_SCOPES = ["read", "users:write", "servers:write", "settings:write", "audit:read"] as const;

export type ApiScope = (typeof API_SCOPES)[number];

/** A token's lifetime is required and at most one year (docs/api.md "Tokens"). */
export const API_TOKEN_MAX_DAYS = 365;

export function isApiScope(value: unknown): value is ApiScope {
	return typeof value === "string" && (API_SCOPES as readonly string[]).includes(value);
}

/** Parses the stored, space-separated scope list; unknown words are dropped (fail closed). */
export function parseScopes(text: string): ApiScope[] {
	return [...new Set(text.split(/\s+/).filter(isApiScope))];
}
