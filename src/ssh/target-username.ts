/**
 * The SSH user name may name a target server (docs/ssh-relay.md "Servers by name"):
 *
 * - `alice+db-prod`: log in as alice and prove the second factor that db-prod's per-server step-up
 *   requires (docs/decisions.md "Per-server step-up"). The connection is otherwise an ordinary one
 *   (menu, `ssh gw NAME`, ProxyJump). With ProxyJump and the menu the gateway cannot know the
 *   target at authentication time (RFC 4252: userauth comes before any channel), hence the name.
 * - `alice:db1` (Warpgate's form): the same at login, and the connection is bound to db1: a shell
 *   request opens db1's shell, `exec` runs the command on db1, the `sftp` subsystem is db1's sftp.
 *   This is what clients that cannot ProxyJump need (psftp, pscp, WinSCP, FileZilla).
 *
 * Neither "+" nor ":" is in the username alphabet (core/username.ts) or the server-name alphabet,
 * so the split is unambiguous. A suffix that is not a server name leaves the whole string as the
 * username, which then fails like any unknown user (no hint that the split exists); a server name
 * that is well formed but does not exist or is not granted is only refused when a channel asks for
 * it, with the same answer for both (no oracle of server names).
 */
import { canonicalServerName } from "../servers/server-service.ts";

export interface TargetUsername {
	readonly username: string;
	/** The server named after "+" or ":", canonical; null when none. */
	readonly targetServer: string | null;
	/** ":" form: every session channel of the connection goes to targetServer. */
	readonly bound: boolean;
}

export function splitTargetUsername(raw: string): TargetUsername {
	const at = raw.search(/[+:]/);
	if (at < 0) return { username: raw, targetServer: null, bound: false };
	const target = canonicalServerName(raw.slice(at + 1));
	if (target === null) return { username: raw, targetServer: null, bound: false };
	return { username: raw.slice(0, at), targetServer: target, bound: raw[at] === ":" };
}
