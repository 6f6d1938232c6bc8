/**
 * Staged rollout reminders. Today a reminder is an audit event the user sees among the security
 * events on their account page ("Reminder: set up a second factor"); an e-mail or chat transport
 * is one more implementation of RolloutNotifier, handed to LoginFlow by the composition root.
 */
import type { AuditLog } from "../storage/audit-log.ts";

export interface RolloutReminder {
	readonly userId: string;
	readonly username: string;
	readonly channel: string;
	readonly source: string;
	/** Epoch ms when enforcement starts, and the whole days left (rounded up). */
	readonly deadline: number;
	readonly daysLeft: number;
	/** The text the user was shown (console banner, SSH notice line). */
	readonly message: string;
}

export interface RolloutNotifier {
	/** Called at each login let in before the deadline. Must not throw for a transport problem: log it. */
	remind(reminder: RolloutReminder): Promise<void>;
}

/** The built-in notifier: the reminder is an audit event (`rollout.reminder`) on the user's account page. */
export function auditRolloutNotifier(audit: Pick<AuditLog, "write">): RolloutNotifier {
	return {
		async remind(reminder) {
			await audit.write({
				event: "rollout.reminder",
				outcome: "info",
				userId: reminder.userId,
				username: reminder.username,
				channel: reminder.channel,
				source: reminder.source,
				detail: { deadline: new Date(reminder.deadline).toISOString(), daysLeft: reminder.daysLeft },
			});
		},
	};
}
