/**
 * Step-up by password (split out of LoginFlow): for users without a second
 * factor, a sensitive account action asks for the password again. LoginFlow.beginStepUp starts
 * it; LoginFlow.confirmPassword delegates here.
 */
import type { LoginFlowDeps, PasswordConfirmResult } from "./login-flow.ts";
import { BUSY_MESSAGE, denied, DIRECTORY_UNAVAILABLE, GENERIC_LOGIN_FAILED, LOCKED_MESSAGE, THROTTLED } from "./login-messages.ts";
import { checkPasswordCharged } from "./password-stage.ts";
import { accountDisabled } from "../storage/user-store.ts";

/**
 * Step-up by password for users without a second factor. Charged like a login (same pair and
 * ceiling). The session holder already proved the password once, so a throttle or lock may be
 * named here, but no remaining-attempt count is shown: the ceiling is the account's, and others'
 * failures move it (docs/decisions.md "Password throttling").
 */
export async function confirmPassword(deps: LoginFlowDeps, attemptId: string, password: unknown): Promise<PasswordConfirmResult> {
	const attempt = await deps.attempts.getLive(attemptId);
	if (attempt === undefined || attempt.purpose !== "step-up") return denied("expired", "This step has expired. Start again.");
	const user = await deps.users.findById(attempt.user_id);
	if (user === undefined || (user.password_hash === null && user.source !== "ldap") || accountDisabled(user)) return denied("disabled", GENERIC_LOGIN_FAILED);
	if (attempt.required_2fa === 1) return denied("expired", "A second factor is required for this step.");
	const checked = await checkPasswordCharged(deps, user, password, { event: "step-up.password", channel: attempt.channel, source: attempt.source });
	if (checked === "locked") return denied("locked", LOCKED_MESSAGE);
	if (checked === "busy") return denied("busy", BUSY_MESSAGE);
	if (checked === "unavailable") return denied("unavailable", DIRECTORY_UNAVAILABLE);
	if (checked === "throttled") return { kind: "wrong-password", message: THROTTLED };
	if (checked !== "ok") return { kind: "wrong-password", message: "Wrong password." };
	if (!(await deps.attempts.complete(attempt.id, null))) return denied("expired", "This step has expired. Start again.");
	await deps.audit.write({
		event: "step-up.password",
		outcome: "success",
		userId: user.id,
		username: user.username,
		channel: attempt.channel,
		source: attempt.source,
	});
	return { kind: "authenticated", attemptId: attempt.id, userId: user.id, username: user.username, method: null };
}
