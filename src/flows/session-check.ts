/**
 * The full live-session check (split out of LoginFlow; LoginFlow.checkSession
 * delegates here, session-gate.ts decides when it runs).
 */
import { sessionSatisfies } from "../core/decide-second-factor.ts";
import type { Channel } from "../core/method-id.ts";
import { accountDisabled, type UserRow } from "../storage/user-store.ts";
import type { LoginFlowDeps, SessionCheck } from "./login-flow.ts";
import { decideForUser } from "./policy-inputs.ts";

export type SessionCheckDeps = Pick<
	LoginFlowDeps,
	"users" | "clock" | "sshKeys" | "settings" | "groups" | "factors" | "recoveryCodes" | "methods" | "servers" | "networkRules"
>;

/**
 * Live policy (docs/product-decisions.md "Policy changes bite at once"): called on every web request and
 * periodically for SSH connections. "step-up" when the policy now demands a factor this session
 * did not prove; "revoked" when the user is gone, disabled, locked or their sessions were revoked,
 * or when the public key the session logged in with is no longer theirs (a removed key is a
 * revoked credential: docs/threat-model.md, I7).
 */
export async function checkSession(
	deps: SessionCheckDeps,
	input: {
		userId: string;
		sessionEpoch: number;
		secondFactorMethod: string | null;
		channel: Channel;
		user?: UserRow | null;
		publicKeyFingerprint?: string | null;
		/** The client's address now; network rules apply to it (omitted: not evaluated). */
		sourceAddress?: string | null;
	},
): Promise<SessionCheck> {
	// The web guard already loaded this request's user row; reuse it rather than read it twice.
	const user = input.user !== undefined && input.user !== null && input.user.id === input.userId ? input.user : await deps.users.findById(input.userId);
	if (user === undefined || accountDisabled(user) || user.session_epoch !== input.sessionEpoch) return "revoked";
	if (Number(user.tfa_locked_until) > deps.clock.now().getTime()) return "revoked";
	// A service account never holds a web session or an SSH connection (docs/api.md "Service accounts").
	if (user.service_account === 1 && input.channel !== "api") return "revoked";
	if (typeof input.publicKeyFingerprint === "string" && !(await deps.sshKeys.hasKey(user.id, input.publicKeyFingerprint))) return "revoked";
	const decision = await decideForUser(deps, user, input.channel, input.sourceAddress === undefined ? {} : { sourceAddress: input.sourceAddress });
	// A "deny-outside" rule now covers this client: the session ends, no step-up can cure it.
	if (decision.kind === "network-denied") return "revoked";
	return sessionSatisfies(decision, input.secondFactorMethod) ? "ok" : "step-up";
}

/**
 * Why a live session was revoked, in words for its holder (the SSH DISCONNECT description OpenSSH
 * prints: "Received disconnect … 11: <this>"). The holder proved both factors on this connection,
 * so naming the cause reveals nothing to a stranger. Read after the check, so it names the state
 * that revoked it (or the first that applies when several do).
 */
export async function revocationMessage(
	deps: Pick<SessionCheckDeps, "users" | "clock" | "sshKeys">,
	input: { userId: string; sessionEpoch: number; publicKeyFingerprint?: string | null },
): Promise<string> {
	const user = await deps.users.findById(input.userId);
	if (user === undefined) return "Portcullis: your account was deleted by an administrator.";
	if (user.disabled === 1) return "Portcullis: your account has been disabled by an administrator. Contact your administrator.";
	if (accountDisabled(user)) return "Portcullis: your account is disabled in the directory (LDAP / Active Directory). Contact your administrator.";
	if (Number(user.tfa_locked_until) > deps.clock.now().getTime()) {
		return "Portcullis: your account is locked after too many wrong second-factor answers. Try again later or ask an administrator.";
	}
	if (user.session_epoch !== input.sessionEpoch) {
		return "Portcullis: your sessions were ended (a password change, a 2FA reset or an administrator). Log in again.";
	}
	if (typeof input.publicKeyFingerprint === "string" && !(await deps.sshKeys.hasKey(user.id, input.publicKeyFingerprint))) {
		return "Portcullis: the SSH key this connection logged in with was removed from your account.";
	}
	return "Portcullis: your access was revoked by the current policy (for example, your network address is no longer allowed).";
}
