/**
 * Audit events in words, for a user's "Recent security events" (views/account.tsx): what happened,
 * not the event's name. A name without a sentence here is still turned into words (never shown raw);
 * test/web/event-words.test.ts checks that every event a user's own log can hold has its sentence.
 */
import { isMethodId, METHOD_INFO } from "../../core/method-id.ts";

export const EVENT_TEXT: Readonly<Record<string, string>> = {
	"login.success": "Logged in",
	"login.password": "Password login attempt",
	"login.first-factor": "Password accepted, second factor asked",
	"login.denied": "Login refused",
	"login.error": "Login failed (a method was unavailable)",
	"login.enroll-required": "Asked to set up a second factor",
	logout: "Logged out",
	"second-factor.failure": "Wrong second-factor answer",
	"second-factor.refused": "Second-factor answer refused",
	"second-factor.busy": "Too many second-factor answers at once: one was turned away",
	"second-factor.continue": "Second-factor step continued",
	"second-factor.challenge-drawn": "Second-factor question chosen",
	"second-factor.remembered": "SSH second factor remembered for this address",
	"second-factor.forgotten": "Remembered SSH login forgotten",
	"account.locked": "Account locked after failed attempts",
	"factor.enrolled": "Second factor added",
	"factor.removed": "Second factor removed",
	"factor.remove": "Second factor removal refused",
	"factor.enroll.begin": "Second-factor setup started",
	"factor.enroll": "Second-factor setup failed",
	"recovery-codes.issued": "New recovery codes created",
	"step-up.success": "Identity confirmed",
	"step-up.password": "Identity confirmed with the password",
	"session.revoked": "Signed out by a policy change",
	"session.step-up-required": "Asked to confirm your identity again after a policy change",
	"user.created": "Account created",
	"user.2fa-reset": "Your second factors were reset by an administrator",
	"user.notified": "Notice from an administrator action",
	"user.password-changed": "Password changed",
	"user.password-change": "Password change refused",
	"user.password-set": "Password set by an administrator",
	"user.unlocked": "Account unlocked by an administrator",
	"user.disabled": "Account disabled by an administrator",
	"user.enabled": "Account enabled by an administrator",
	"user.admin-changed": "Administrator rights changed",
	"group.member-added": "Added to a group",
	"group.member-removed": "Removed from a group",
	"server.granted": "Given access to a server",
	"server.revoked": "Access to a server removed",
	"rollout.reminder": "Reminder: set up a second factor before the enrolment deadline",
	"ssh.connect": "SSH connection opened",
	"ssh.disconnect": "SSH connection closed",
	"ssh.first-factor": "SSH password or key accepted, second factor asked",
	"ssh.authenticated": "SSH login",
	"ssh.auth-failure": "SSH login refused",
	"ssh.auth-error": "SSH login failed (a method was unavailable)",
	"ssh.revoked": "SSH connection ended by policy",
	"ssh.relay-revoked": "SSH session to a server ended by policy",
	"ssh.session-start": "SSH session to a server started",
	"ssh.session-end": "SSH session to a server ended",
	"ssh.step-up-required": "A server asked for the second factor again",
	"ssh.target-refused": "A server was refused",
	"ssh.target-failed": "A server could not be reached",
	"ssh.target-auth-failed": "A server refused the login",
	"ssh.forward": "SSH port forwarding opened",
	"ssh.forward-refused": "SSH port forwarding refused",
	"ssh.forward-failed": "SSH port forwarding failed",
	"ssh.limit": "SSH connection limit reached",
	"ssh.terminate-requested": "An administrator asked to end an SSH connection of yours",
	"ssh.terminated": "An SSH connection of yours was ended by an administrator",
	"ssh.sftp": "File operation on a server (SFTP)",
	"api.call": "API call made with one of your tokens",
	"api.refused": "API call with one of your tokens refused",
	"user.provisioned": "Account created from the directory at first sign-in",
	"user.directory-groups": "Groups updated from the directory",
	"ssh-key.add": "SSH key added",
	"ssh-key.remove": "SSH key removed",
	"webauthn.create": "Security key setup",
	"webauthn.get": "Security key used",
	"webauthn.assertion-refused": "Security key answer refused",
	"webauthn.registration-refused": "Security key setup refused",
	"webauthn.sign-count-regression": "Security key may have been copied (its counter went back)",
	"webauthn.ssh-approval": "SSH login approved with a security key",
	"webauthn.ssh-denied": "SSH login approval with a security key refused",
	"duo.unavailable": "Duo could not be reached",
	"duo.bypass-honoured": "Duo let the login through without a prompt (bypass)",
	"duo.callback-refused": "Duo answer refused",
	"duo.universal-refused": "Duo prompt refused",
	"radius.server-failed": "The RADIUS server did not answer",
	"radius.reply-refused": "The RADIUS server's answer was refused",
	"radius.reply-dropped": "A RADIUS answer was dropped",
	"web.csrf-refused": "A web form from another site was refused",
	"web.terminal-refused": "A web terminal to a server that is not available was refused",
	"web.bad-request": "A malformed web request was refused",
};

const SUBJECT: Readonly<Record<string, string>> = { ssh: "SSH", web: "Web", "ssh-key": "SSH key", "second-factor": "Second factor", webauthn: "Security key" };

/** "ssh.target-hostkey-learned" → "SSH: target hostkey learned": words for a name with no sentence yet. */
export function eventNameInWords(event: string): string {
	const [head = "", ...rest] = event.split(".");
	const subject = SUBJECT[head] ?? `${head.charAt(0).toUpperCase()}${head.slice(1).replace(/-/g, " ")}`;
	const what = rest.join(" ").replace(/-/g, " ");
	return what === "" ? subject : `${subject}: ${what}`;
}

/** The sentence for one event, "(failed)" added when a success-named event failed. */
export function describeEvent(event: string, outcome: string): string {
	const text = EVENT_TEXT[event] ?? eventNameInWords(event);
	return outcome === "failure" && !/refused|failed|failure|denied|locked|wrong/i.test(text) ? `${text} (failed)` : text;
}

/** A method id as its label ("totp" → "Authenticator app (TOTP)"). */
export function methodWords(method: string): string {
	return isMethodId(method) ? METHOD_INFO[method].label : method;
}

/** "on the web from 192.0.2.7", "over SSH from 192.0.2.7". */
export function whereWords(channel: string | null, source: string | null): string {
	const how = channel === "web" ? "On the web" : channel === "ssh" ? "Over SSH" : channel === "cli" ? "From the command line" : (channel ?? "");
	if (source === null || source === "") return how;
	return how === "" ? `From ${source}` : `${how} from ${source}`;
}
