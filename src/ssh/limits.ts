/**
 * sshd-style limits for unauthenticated connections (sshd_config(5)):
 *   LoginGraceTime  → ssh.login_grace_seconds: authentication must finish in time, else disconnect;
 *   MaxAuthTries    → ssh.max_auth_tries: USERAUTH_REQUESTs per connection (RFC 4252 §5);
 *   MaxStartups     → ssh.max_unauthenticated: concurrent unauthenticated connections; further
 *                     TCP connections are closed at once, before any key exchange work.
 * Plus a per-connection cap on wrong second-factor answers (security.md S3: re-prompt up to N,
 * then disconnect). Every limit ends the connection cleanly; none can crash the process.
 */
import type { Config } from "../config/config.ts";

/** Wrong second-factor answers per connection before the gateway disconnects (like sshd's 3 prompts). */
export const MAX_SECOND_FACTOR_ANSWERS = 3;
/** Method switches per connection (":totp", ":keyword", ...), so a client cannot loop forever. */
export const MAX_METHOD_SWITCHES = 10;

export interface LimitSettings {
	readonly graceMs: number;
	readonly maxAuthTries: number;
	readonly maxUnauthenticated: number;
}

export function limitSettings(config: Config): LimitSettings {
	return {
		graceMs: config.ssh.login_grace_seconds * 1000,
		maxAuthTries: config.ssh.max_auth_tries,
		maxUnauthenticated: config.ssh.max_unauthenticated,
	};
}

export type LimitKind = "login-grace" | "max-auth-tries" | "max-unauthenticated" | "second-factor-answers" | "method-switches";

/** One connection's share of the limits. */
export interface ConnectionGuard {
	/**
	 * Counts one USERAUTH_REQUEST. False when this request exceeds MaxAuthTries: the caller refuses
	 * it and disconnects. The very first request is not counted when it is "none" (OpenSSH always
	 * opens with it to learn the method list; sshd does not count it either).
	 */
	countAuthRequest(method: string): boolean;
	/** Authentication succeeded: stop the grace timer and free the unauthenticated slot. */
	authenticated(): void;
	/** The connection closed (idempotent). */
	release(): void;
	readonly authRequests: number;
}

export class ConnectionLimits {
	#unauthenticated = 0;

	constructor(private readonly settings: LimitSettings) {}

	get unauthenticated(): number {
		return this.#unauthenticated;
	}

	/**
	 * At TCP accept. Returns null when MaxStartups is reached (close the socket at once); otherwise a
	 * guard whose grace timer calls `onGraceExpired` if authentication has not finished in time.
	 */
	admit(onGraceExpired: () => void): ConnectionGuard | null {
		if (this.#unauthenticated >= this.settings.maxUnauthenticated) return null;
		this.#unauthenticated += 1;
		let counted = false;
		let released = false;
		let requests = 0;
		let sawFirst = false;
		const grace = setTimeout(() => {
			if (!released) onGraceExpired();
		}, this.settings.graceMs);
		grace.unref();
		const free = () => {
			if (!counted) {
				counted = true;
				this.#unauthenticated -= 1;
			}
			clearTimeout(grace);
		};
		const maxTries = this.settings.maxAuthTries;
		return {
			countAuthRequest(method: string): boolean {
				const first = !sawFirst;
				sawFirst = true;
				if (first && method === "none") return true;
				requests += 1;
				return requests <= maxTries;
			},
			authenticated: free,
			release() {
				released = true;
				free();
			},
			get authRequests() {
				return requests;
			},
		};
	}
}

/**
 * Audit throttle for floods (MaxStartups refusals): at most one event per interval, carrying how
 * many were suppressed, so a connection flood cannot turn into a database write flood.
 */
export class AuditThrottle {
	#last = 0;
	#suppressed = 0;

	constructor(private readonly intervalMs = 1000) {}

	/** Returns the number of events this one stands for (>= 1), or 0 when it should be skipped. */
	take(nowMs: number): number {
		if (nowMs - this.#last >= this.intervalMs) {
			this.#last = nowMs;
			const count = this.#suppressed + 1;
			this.#suppressed = 0;
			return count;
		}
		this.#suppressed += 1;
		return 0;
	}
}
