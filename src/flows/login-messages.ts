/**
 * The words the login flow answers with, shared by its stages (login-flow.ts, password-stage.ts,
 * step-up-flow.ts, password-change.ts) so every refusal of one kind reads the same everywhere.
 */
import type { DenyReason } from "./login-flow.ts";

export const GENERIC_LOGIN_FAILED = "Invalid username or password.";
export const DIRECTORY_PASSWORD = "Your password is managed by the company directory: change it there.";
/** A directory user's password cannot be checked: the directory is unreachable (fail closed, docs/identity.md "Outages"). */
export const DIRECTORY_UNAVAILABLE =
	"The company directory cannot be reached, so directory accounts cannot log in right now. Try again later or contact your administrator.";
/** Only inside a session (step-up, password change): the holder already proved who they are. */
export const THROTTLED = "Too many wrong passwords. Wait a little, then try again.";
export const WRONG_CODE = "That answer is not valid.";
/** Answers in flight fill the account's budget (never a lock): nothing was checked, nothing counted. */
export const BUSY_MESSAGE = "Too many sign-ins to this account are being checked right now. Try again in a moment.";
export const LOCKED_MESSAGE = "This account is temporarily locked after too many failed attempts. Try again later or ask an administrator.";

export function denied(reason: DenyReason, message: string): { kind: "denied"; reason: DenyReason; message: string } {
	return { kind: "denied", reason, message };
}
