/**
 * A user changes their own password (split out of LoginFlow; LoginFlow.changeOwnPassword
 * delegates here).
 */
import { hashPassword } from "../crypto/password-hash.ts";
import { passwordProblem } from "../core/password-policy.ts";
import type { ClientInfo, LoginFlowDeps } from "./login-flow.ts";
import { BUSY_MESSAGE, DIRECTORY_PASSWORD, GENERIC_LOGIN_FAILED, LOCKED_MESSAGE, THROTTLED } from "./login-messages.ts";
import { checkPasswordCharged } from "./password-stage.ts";

/**
 * A user changes their own password (web account page, forced change after an admin set it).
 * The current password is checked on the password counter; on success every session and SSH
 * connection of the user is revoked (epoch bump) and the caller issues a fresh session.
 */
export async function changeOwnPassword(
	deps: LoginFlowDeps,
	client: ClientInfo,
	userId: string,
	current: unknown,
	next: unknown,
): Promise<{ kind: "changed" } | { kind: "invalid"; message: string }> {
	const user = await deps.users.findById(userId);
	// A directory user's password is the directory's (docs/identity.md): never set here.
	if (user !== undefined && user.source === "ldap") return { kind: "invalid", message: DIRECTORY_PASSWORD };
	if (user === undefined || user.disabled === 1 || user.password_hash === null) return { kind: "invalid", message: GENERIC_LOGIN_FAILED };
	const base = { userId: user.id, username: user.username, channel: client.channel, source: client.sourceAddress };
	const checked = await checkPasswordCharged(deps, user, current, { event: "user.password-change", channel: client.channel, source: client.sourceAddress });
	if (checked === "locked") return { kind: "invalid", message: LOCKED_MESSAGE };
	if (checked === "busy") return { kind: "invalid", message: BUSY_MESSAGE };
	if (checked === "throttled") return { kind: "invalid", message: THROTTLED };
	if (checked !== "ok") return { kind: "invalid", message: "The current password is wrong." };
	const problem = passwordProblem(next, { username: user.username });
	if (problem !== null) return { kind: "invalid", message: problem };
	if (next === current) return { kind: "invalid", message: "The new password must differ from the current one." };
	const hash = await hashPassword(next as string);
	// The new password, the revocation of every session and the event commit together (or none of them).
	await deps.work.run(async (work) => {
		await work.users.setPassword(user.id, hash, false);
		await work.users.bumpSessionEpoch(user.id);
		await work.sessions.removeAllOfUser(user.id);
		work.audit({ event: "user.password-changed", outcome: "success", ...base });
	});
	return { kind: "changed" };
}
