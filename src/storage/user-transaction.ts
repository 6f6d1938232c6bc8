/**
 * One transaction per guarded 2FA transition (docs/threat-model.md, "Read-then-delete races"): lock the user's row first (lock-user.ts),
 * then read the guard's inputs and make the change with stores bound to the same transaction.
 * Two nodes (or two requests) racing on one user's factors therefore serialise, and a guard such as
 * "a forced user keeps one usable factor" is decided on what the transaction itself sees.
 * It is a unit of work (unit-of-work.ts): the audit events of the change commit with it.
 */
import type { AuditEvent } from "./audit-log.ts";
import type { FactorStore } from "./factor-store.ts";
import type { GroupStore } from "./group-store.ts";
import type { RecoveryCodeStore } from "./recovery-code-store.ts";
import type { SettingsStore } from "./settings-store.ts";
import type { UnitOfWork } from "./unit-of-work.ts";
import type { UserRow, UserStore } from "./user-store.ts";

export interface LockedUser {
	/** The user's row as locked by this transaction. */
	readonly user: UserRow;
	readonly settings: SettingsStore;
	readonly groups: GroupStore;
	/** Bound to the transaction: use its reads and remove(); insert/activate join it too. */
	readonly factors: FactorStore;
	readonly recoveryCodes: RecoveryCodeStore;
	readonly users: UserStore;
	/**
	 * Admin reset of the user's 2FA, inside this transaction: the link requirement (or none) and a new
	 * reset generation are stored, the session epoch bumped, and every factor, recovery code, web
	 * session and pending login attempt of the user is removed or failed, in one commit.
	 */
	resetSecondFactors(link: { readonly tokenHash: string; readonly expiresAt: number } | null): Promise<void>;
	/** Records an audit event of this change; it commits (or rolls back) with it. */
	audit(event: AuditEvent): void;
}

export class UserTransactions {
	constructor(private readonly work: UnitOfWork) {}

	/** Runs `change` with the user's row locked; undefined when the user does not exist. A throw rolls back. */
	async withUserLocked<T>(userId: string, change: (locked: LockedUser) => Promise<T>): Promise<T | undefined> {
		return this.work.run(async (work) => {
			const user = await work.lockUser(userId);
			if (user === undefined) return undefined;
			return change({
				user,
				settings: work.settings,
				groups: work.groups,
				factors: work.factors,
				recoveryCodes: work.recoveryCodes,
				users: work.users,
				resetSecondFactors: (link) => work.resetSecondFactors(userId, link),
				audit: work.audit,
			});
		});
	}
}
