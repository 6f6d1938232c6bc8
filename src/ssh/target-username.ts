/**
 * The SSH user name may name a target server: `alice+db-prod` (docs/decisions.md "Per-server
 * step-up"). With ProxyJump and the menu the gateway cannot know the target at authentication
 * time (RFC 4252: userauth comes before any channel), so a user who wants to reach a server that
 * requires a second factor names it here, and the login asks for the factor on its behalf.
 *
 * "+" is in neither the username alphabet nor the server-name alphabet, so the split is
 * unambiguous. A suffix that is not a server name leaves the whole string as the username, which
 * then fails like any unknown user (no hint that the split exists).
 */
import { canonicalServerName } from "../servers/server-service.ts";

export function splitTargetUsername(raw: string): { readonly username: string; readonly targetServer: string | null } {
	const plus = raw.indexOf("+");
	if (plus < 0) return { username: raw, targetServer: null };
	const target = canonicalServerName(raw.slice(plus + 1));
	if (target === null) return { username: raw, targetServer: null };
	return { username: raw.slice(0, plus), targetServer: target };
}
