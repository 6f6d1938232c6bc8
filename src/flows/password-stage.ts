/**
 * The password stage of every login, step-up and password change (split out of LoginFlow, issue
 * 12 item 5), so the three can never drift apart.
 */
import { sourceKey } from "../core/source-key.ts";
import { verifyAgainstDummy, verifyPassword } from "../crypto/password-hash.ts";
import { retryWhileBusy } from "./busy-wait.ts";
import type { LoginFlowDeps } from "./login-flow.ts";
import type { UserRow } from "../storage/user-store.ts";

export type PasswordStageDeps = Pick<LoginFlowDeps, "users" | "passwordThrottle" | "audit" | "config" | "sleep" | "directory">;

/**
 * "busy": answers in flight filled a counter's budget for longer than the bounded wait; nothing was checked or counted.
 * "unavailable": a directory user's password could not be checked (directory unreachable, or no directory configured):
 * not the user's guess, nothing counted, the login fails closed (docs/identity.md "Outages").
 */
export type PasswordCheck = "ok" | "throttled" | "locked" | "wrong" | "busy" | "unavailable";

/**
 * Checks a password, reserved before the check on two counters (docs/decisions.md "Password
 * throttling", "Lockout accounting"): first the (account, source) pair, whose growing delay slows
 * a guesser down without touching the owner elsewhere; then the account-wide ceiling, whose lock
 * is the only account-wide effect. A blocked pair or a locked account refuses even the right
 * password, unchecked; the dummy verification keeps that answer as slow as a real one. A check
 * in flight is not a failure: a wrong password is recorded (and may block or lock) when it is
 * known to be wrong, a right one gives both reservations back and clears this pair and the
 * ceiling. A counter whose in-flight budget is spent is retried for a bounded while, then
 * answered "busy". Shared by login, password step-up and password change so the three can
 * never drift apart. The real reason goes to the audit log only.
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
	const refused = async (reason: string, extra: Record<string, unknown> = {}) => {
		await dummy();
		await deps.audit.write({ event: audit.event, outcome: "failure", ...base, detail: { reason, ...extra } });
	};
	const throttle = await retryWhileBusy(config.busyWait, deps.sleep, () => passwordThrottle.reserve(user.id, pair, config.passwordThrottle));
	if (throttle.kind === "throttled") {
		await refused("throttled", { sourceKey: pair, blockedUntil: throttle.blockedUntil });
		return "throttled";
	}
	if (throttle.kind === "busy") {
		await refused("busy", { counter: "source", sourceKey: pair });
		return "busy";
	}
	const held = throttle.reservation;
	const reservation = await retryWhileBusy(config.busyWait, deps.sleep, () => users.reserveAttempt(user.id, "pw", config.passwordLockout));
	if (reservation.kind === "locked") {
		// A try against a locked account still counts for its source (a guesser cannot hide behind the lock).
		await passwordThrottle.settleWrong(held, config.passwordThrottle);
		await refused("locked");
		return "locked";
	}
	if (reservation.kind === "busy") {
		await passwordThrottle.release(held, config.passwordThrottle);
		await refused("busy", { counter: "account" });
		return "busy";
	}
	let valid: boolean;
	try {
		if (user.source === "ldap") {
			// A directory user: the password is checked by binding as the user (directory-accounts.ts), under
			// the same reservations as a local one, so the lockout and per-source delay charge it alike.
			const wellFormed = typeof password === "string" && password.length > 0 && password.length <= 1024;
			const checked =
				deps.directory === undefined
					? { kind: "unavailable" as const, reason: "no directory configured" }
					: wellFormed
						? await deps.directory.verify(user, password)
						: "wrong";
			if (typeof checked === "object") {
				await Promise.allSettled([
					passwordThrottle.release(held, config.passwordThrottle),
					users.releaseAttempt(reservation.reservation, config.passwordLockout),
				]);
				await deps.audit.write({ event: audit.event, outcome: "failure", ...base, detail: { reason: "directory-unavailable", error: checked.reason } });
				return "unavailable";
			}
			valid = checked === "ok";
		} else
			valid =
				typeof password === "string" &&
				password.length > 0 &&
				password.length <= 1024 &&
				user.password_hash !== null &&
				(await verifyPassword(user.password_hash, password));
	} catch (error) {
		// Not the user's guess: both reservations go back (best effort), the error goes on (fail closed).
		await Promise.allSettled([passwordThrottle.release(held, config.passwordThrottle), users.releaseAttempt(reservation.reservation, config.passwordLockout)]);
		throw error;
	}
	if (!valid) {
		const source = await passwordThrottle.settleWrong(held, config.passwordThrottle);
		const failure = await users.settleWrong(user.id, "pw", reservation.reservation, config.passwordLockout);
		await deps.audit.write({
			event: audit.event,
			outcome: "failure",
			...base,
			detail: { reason: "wrong-password", sourceKey: pair, sourceFailures: source.failures },
		});
		if (failure.lockedNow) {
			await deps.audit.write({ event: "account.locked", outcome: "info", ...base, detail: { counter: "password", failures: failure.failures } });
		}
		return "wrong";
	}
	await passwordThrottle.settleCorrect(held, config.passwordThrottle);
	await users.settleCorrect(reservation.reservation, config.passwordLockout);
	return "ok";
}
