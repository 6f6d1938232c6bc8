/**
 * Logins and lockouts are counted from the audit events that record them, in this one place, so
 * that the metrics say what the audit log says (and no flow carries a second set of calls that
 * could drift from it). AuditLog calls this after each committed event (audit-log.ts).
 *
 * | audit event | metric |
 * |---|---|
 * | `login.success` | login, outcome `success`, method = the second factor (`none` when none was asked) |
 * | `login.password` with outcome failure | login, method `password`, outcome `failure` |
 * | `second-factor.failure` | login, method = the factor, outcome `failure` |
 * | `login.denied` | login, outcome `denied` (policy, disabled, locked, must enrol elsewhere) |
 * | `login.error` | login, outcome `error` (a method could not decide: fail closed) |
 * | `account.locked` | lockout, counter `password` or `second-factor` |
 *
 * Label values are bounded: a channel or method this build does not know is reported as `other`.
 */
import type { LoginOutcome, Metrics } from "../core/metrics.ts";
import { isMethodId } from "../core/method-id.ts";
import type { AuditEvent, AuditObserver } from "./audit-log.ts";

const CHANNELS = new Set(["web", "ssh", "api", "cli"]);
const COUNTERS = new Set(["password", "second-factor"]);

function channelOf(event: AuditEvent): string {
	return event.channel !== null && event.channel !== undefined && CHANNELS.has(event.channel) ? event.channel : "other";
}

function methodOf(event: AuditEvent, none: string): string {
	if (event.method === null || event.method === undefined) return none;
	return isMethodId(event.method) ? event.method : "other";
}

function login(metrics: Pick<Metrics, "login">, event: AuditEvent, method: string, outcome: LoginOutcome): void {
	metrics.login(channelOf(event), method, outcome);
}

export function auditMetrics(metrics: Pick<Metrics, "login" | "lockout">): AuditObserver {
	return (event) => {
		switch (event.event) {
			case "login.success":
				return login(metrics, event, methodOf(event, "none"), "success");
			case "login.password":
				if (event.outcome === "failure") login(metrics, event, "password", "failure");
				return;
			case "second-factor.failure":
				return login(metrics, event, methodOf(event, "other"), "failure");
			case "login.denied":
				return login(metrics, event, methodOf(event, "none"), "denied");
			case "login.error":
				return login(metrics, event, methodOf(event, "none"), "error");
			case "account.locked": {
				const counter = event.detail?.counter;
				metrics.lockout(typeof counter === "string" && COUNTERS.has(counter) ? counter : "other");
				return;
			}
			default:
				return;
		}
	};
}
