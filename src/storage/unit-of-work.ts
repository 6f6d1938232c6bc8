/**
 * A unit of work: one state change and the audit events that record it, in ONE transaction
 * (docs/architecture.md "Unit of work"; docs/operations.md "Audit log: atomic with every change").
 *
 * `run(change)` opens a transaction, hands `change` stores bound to it and an `audit` that only
 * collects events, then appends the collected events to the audit chain (audit-chain.ts) as the
 * transaction's last statements and commits. If `change` throws, or the audit write fails, nothing
 * is committed: there is never a change without its event, nor an event without its change.
 *
 * Events are written last on purpose: the chain head is the one row every audited transaction
 * takes, so on PostgreSQL it is held only from the end of the change to the commit. On SQLite the
 * unit first takes the database's write lock (a no-op UPDATE, as storage/lock-user.ts does), so a
 * second process waits for it (busy_timeout) instead of failing when it upgrades a read to a write.
 */
import type { Kysely, Transaction } from "kysely";
import type { Clock } from "../core/clock.ts";
import type { Random } from "../core/random.ts";
import { ApiTokenStore } from "./api-token-store.ts";
import type { AuditEvent, AuditLog } from "./audit-log.ts";
import { FactorStore } from "./factor-store.ts";
import { GroupStore } from "./group-store.ts";
import { LiveSessionStore } from "./live-session-store.ts";
import { lockUser } from "./lock-user.ts";
import { NetworkRuleStore } from "./network-rule-store.ts";
import { PasswordThrottleStore } from "./password-throttle-store.ts";
import { resetSecondFactors } from "./reset-second-factors.ts";
import { RecordingStore } from "./recording-store.ts";
import { RecoveryCodeStore } from "./recovery-code-store.ts";
import { RememberedGrantStore } from "./remembered-grant-store.ts";
import type { Database } from "./schema.ts";
import { ServerStore } from "./server-store.ts";
import { SessionStore } from "./session-store.ts";
import { SettingsStore } from "./settings-store.ts";
import { SshKeyStore } from "./ssh-key-store.ts";
import { UserStore, type UserRow } from "./user-store.ts";

/** What a change sees inside its transaction: stores bound to it, and the audit of this change. */
export interface Work {
	readonly users: UserStore;
	readonly groups: GroupStore;
	readonly settings: SettingsStore;
	readonly factors: FactorStore;
	readonly recoveryCodes: RecoveryCodeStore;
	readonly sessions: SessionStore;
	readonly servers: ServerStore;
	readonly sshKeys: SshKeyStore;
	readonly passwordThrottle: PasswordThrottleStore;
	readonly networkRules: NetworkRuleStore;
	/** The live-session registry (terminate requests and their consumption are audited changes). */
	readonly liveSessions: LiveSessionStore;
	readonly apiTokens: ApiTokenStore;
	/** The SSH remember window's grants (the account page's "Forget"). */
	readonly rememberedGrants: RememberedGrantStore;
	/** Session recordings (retention's deletion; its old files are unlinked after the commit). */
	readonly recordings: RecordingStore;
	/** Records an event of this change: written to the chain in this transaction, just before commit. */
	audit(event: AuditEvent): void;
	/** Locks the user's row for the rest of the transaction (lock-user.ts); undefined when absent. */
	lockUser(userId: string): Promise<UserRow | undefined>;
	/** Admin 2FA reset of one user in this transaction (reset-second-factors.ts). */
	resetSecondFactors(userId: string, link: { readonly tokenHash: string; readonly expiresAt: number } | null): Promise<void>;
}

export class UnitOfWork {
	constructor(
		private readonly db: Kysely<Database>,
		private readonly dialect: "sqlite" | "postgres",
		private readonly clock: Clock,
		private readonly random: Random,
		private readonly auditLog: AuditLog,
		/** ssh.recordings_dir resolved, for the bound RecordingStore (pre-0013 file recordings). */
		private readonly recordingsDir: string,
	) {}

	/** Runs `change` and commits it with its audit events, or neither. A throw rolls everything back. */
	async run<T>(change: (work: Work) => Promise<T>): Promise<T> {
		return this.db.transaction().execute(async (trx) => {
			if (this.dialect === "sqlite")
				await trx
					.updateTable("audit_chain")
					.set((eb) => ({ seq: eb.ref("seq") }))
					.where("id", "=", 1)
					.execute();
			const events: AuditEvent[] = [];
			const result = await change(this.bind(trx, events));
			await this.auditLog.writeIn(trx, events);
			return result;
		});
	}

	private bind(trx: Transaction<Database>, events: AuditEvent[]): Work {
		const { clock, random } = this;
		return {
			users: new UserStore(trx, clock, random),
			groups: new GroupStore(trx, clock, random),
			settings: new SettingsStore(trx),
			factors: new FactorStore(trx, clock, random),
			recoveryCodes: new RecoveryCodeStore(trx, clock, random, this.auditLog),
			sessions: new SessionStore(trx, clock, random),
			servers: new ServerStore(trx, clock, random),
			sshKeys: new SshKeyStore(trx, clock, random),
			passwordThrottle: new PasswordThrottleStore(trx, clock),
			networkRules: new NetworkRuleStore(trx, clock),
			liveSessions: new LiveSessionStore(trx, clock, random),
			apiTokens: new ApiTokenStore(trx, clock, random),
			rememberedGrants: new RememberedGrantStore(trx, clock, random),
			recordings: new RecordingStore(trx, clock, random, this.recordingsDir),
			audit: (event) => void events.push(event),
			lockUser: (userId) => lockUser(trx, userId),
			resetSecondFactors: (userId, link) => resetSecondFactors(trx, userId, link),
		};
	}
}
