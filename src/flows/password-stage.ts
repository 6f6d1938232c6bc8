/**
 * The password stage of every login, step-up and password change (split out of LoginFlow, issue
 * 12 item 5), so the three can never drift apart.
 */
import { sourceKey } from "../core/source-key.ts";
import { verifyAgainstDummy, verifyPassword } from "../crypto/password-hash.ts";
import type { LoginFlowDeps } from "./login-flow.ts";
import type { UserRow } from "../storage/user-store.ts";

export type PasswordStageDeps = Pick<LoginFlowDeps, "users" | "passwordThrottle" | "audit" | "config">;

export type PasswordCheck = "ok" | "throttled" | "locked" | "wrong";

/**
 * Checks a password, charged before the check on two counters (docs/decisions.md "Password
 * throttling"): first the (account, source) pair, whose growing delay slows a guesser down
 * without touching the owner elsewhere; then the account-wide ceiling, whose lock is the only
 * account-wide effect. A blocked pair or a locked account refuses even the right password,
 * unchecked; the dummy verification keeps that answer as slow as a real one. Success clears
 * this pair and the ceiling. Shared by login, password step-up and password change so the
 * three can never drift apart. The real reason goes to the audit log only.
 */
export async function checkPasswordCharged(
	deps: PasswordStageDeps,
	user: UserRow,
	password: unknown,
	audit: { event: string; channel: string; source: string },
): Promise<PasswordCheck> {
	const { users, passwordThrottle, config } = deps;
	const base = { userId: user.id, username: user.username, channel: audit.channel, source: audit.source };
	const pair = sourceKey(audit.source);
	const dummy = async () => {
		if (typeof password === "string" && password.length <= 1024) await verifyAgainstDummy(password);
	};
	const throttle = await passwordThrottle.reserve(user.id, pair, config.passwordThrottle);
	if (throttle.kind === "throttled") {
		await dummy();
		await deps.audit.write({
			event: audit.event,
			outcome: "failure",
			...base,
			detail: { reason: "throttled", sourceKey: pair, blockedUntil: throttle.blockedUntil },
		});
		return "throttled";
	}
	const reservation = await users.reserveAttempt(user.id, "pw", config.passwordLockout);
	if (reservation.kind === "locked") {
		await dummy();
		await deps.audit.write({ event: audit.event, outcome: "failure", ...base, detail: { reason: "locked" } });
		return "locked";
	}
	const valid =
		typeof password === "string" &&
		password.length > 0 &&
		password.length <= 1024 &&
		user.password_hash !== null &&
		(await verifyPassword(user.password_hash, password));
	if (!valid) {
		await deps.audit.write({
			event: audit.event,
			outcome: "failure",
			...base,
			detail: { reason: "wrong-password", sourceKey: pair, sourceFailures: throttle.failures },
		});
		if (reservation.failuresSoFar >= config.passwordLockout.maxFailures) {
			await users.lock(user.id, "pw", config.passwordLockout);
			await deps.audit.write({ event: "account.locked", outcome: "info", ...base, detail: { counter: "password", failures: reservation.failuresSoFar } });
		}
		return "wrong";
	}
	await passwordThrottle.clear(user.id, pair);
	await users.clearFailures(user.id, "pw");
	return "ok";
}
