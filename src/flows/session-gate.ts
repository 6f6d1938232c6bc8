/**
 * Instant revocation (docs/threat-model.md I7, P1-P4): the check a live web session or
 * SSH connection passes before every new piece of work (web request, SSH channel open, exec,
 * shell, subsystem, direct-tcpip, global request).
 *
 * The full check (LoginFlow.checkSession: groups, settings, factors, keys) is skipped only when
 * one indexed read shows nothing changed since the session last passed it: the same global
 * policy version (bumped by triggers in the transaction of every global policy change, migration
 * 0010), the same users.session_epoch, not disabled, not locked. Otherwise the full check runs
 * before the work is accepted. The version is read BEFORE the full check, so a change that lands
 * during the check leaves the session marked with the older version and is checked again next time.
 */
import type { Clock } from "../core/clock.ts";
import type { PolicySnapshot, PolicyVersionStore } from "../storage/policy-version-store.ts";
import { accountDisabled, type UserRow } from "../storage/user-store.ts";
import type { LoginFlow, RolloutNudge, SessionCheck } from "./login-flow.ts";

export type SessionCheckInput = Parameters<LoginFlow["checkSession"]>[0];

export interface GateResult {
	readonly verdict: SessionCheck;
	/** The policy version the verdict holds for (stamp it on the session when "ok"). */
	readonly version: number;
	/** True when the full policy check ran (false: the fast path). */
	readonly full: boolean;
	/** Staged rollout: the session passes only because the enrolment deadline is still ahead. */
	readonly nudge: RolloutNudge | null;
}

export interface SessionGateDeps {
	readonly login: Pick<LoginFlow, "checkSession" | "rolloutNudge">;
	readonly policyVersion: PolicyVersionStore;
	readonly clock: Clock;
}

/** True when the per-user revocation state still admits a session opened at `sessionEpoch`. */
export function userStillAdmits(snapshot: PolicySnapshot, sessionEpoch: number, now: number): boolean {
	return !snapshot.disabled && snapshot.sessionEpoch === sessionEpoch && snapshot.tfaLockedUntil <= now;
}

/** The revocation state of a user row read together with `version` (one statement: one snapshot). */
export function snapshotOfUser(user: UserRow, version: number): PolicySnapshot {
	return { version, sessionEpoch: Number(user.session_epoch), disabled: accountDisabled(user), tfaLockedUntil: Number(user.tfa_locked_until) };
}

export class SessionGate {
	constructor(private readonly deps: SessionGateDeps) {}

	/**
	 * `checkedVersion`: the version at which this session last passed the full check (0: never).
	 * `snapshot`: already read for this session (the live-policy poll reads all users of a node at once).
	 * Throws when the database cannot be read: callers fail closed.
	 */
	async check(input: SessionCheckInput & { checkedVersion: number; snapshot?: PolicySnapshot }): Promise<GateResult> {
		const { checkedVersion, snapshot: given, ...session } = input;
		let snapshot: PolicySnapshot | undefined = given;
		if (snapshot === undefined) {
			// The web guard already holds this request's user row: only the version is left to read.
			snapshot = session.user ? snapshotOfUser(session.user, await this.deps.policyVersion.current()) : await this.deps.policyVersion.snapshot(session.userId);
		}
		if (snapshot === undefined) return { verdict: "revoked", version: 0, full: false, nudge: null };
		if (snapshot.version === checkedVersion && userStillAdmits(snapshot, session.sessionEpoch, this.deps.clock.now().getTime())) {
			return { verdict: "ok", version: snapshot.version, full: false, nudge: null };
		}
		const verdict = await this.deps.login.checkSession(session);
		const nudge = verdict === "ok" && session.secondFactorMethod === null ? await this.deps.login.rolloutNudge(session.userId, session.channel) : null;
		// A web session that rests on a future enrolment deadline is stamped with version 0 (never
		// checked): the deadline passes without any version bump, so the full check runs again at
		// every request (which also renders the banner) until the user enrols or the deadline bites.
		// An SSH connection keeps its version: the live-policy backstop re-runs the full check every
		// ssh.live_check_seconds, which closes it after the deadline without a query per poll.
		const version = nudge !== null && session.channel === "web" ? 0 : snapshot.version;
		return { verdict, version, full: true, nudge };
	}
}
