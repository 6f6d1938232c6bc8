/**
 * sshd-style limits for unauthenticated connections (sshd_config(5)):
 *   LoginGraceTime  → ssh.login_grace_seconds: authentication must finish in time, else disconnect;
 *   MaxAuthTries    → ssh.max_auth_tries: USERAUTH_REQUESTs per connection (RFC 4252 §5);
 *   MaxStartups     → ssh.max_startups "start:rate:full": concurrent unauthenticated connections;
 *                     beyond `start`, new TCP connections are dropped at random (rate% rising to
 *                     100% at `full`), closed at once before any key exchange work (max-startups.ts);
 *   PerSourceMaxStartups → ssh.per_source_max_startups: unauthenticated connections per source
 *                     (IPv4 address or IPv6 /64), so one source cannot hold every slot.
 * Plus a per-connection cap on wrong second-factor answers (docs/security-matrix.md S3: re-prompt up to N,
 * then disconnect). Every limit ends the connection cleanly; none can crash the process.
 */
import type { Config } from "../config/config.ts";
import type { Random } from "../core/random.ts";
import { dropPercent, parseMaxStartups, sourceKey, type MaxStartups } from "../core/max-startups.ts";
import type { DropReason } from "./startup-drop-audit.ts";

/** Wrong second-factor answers per connection before the gateway disconnects (like sshd's 3 prompts). */
export const MAX_SECOND_FACTOR_ANSWERS = 3;
/** Method switches per connection (":totp", ":keyword", ...), so a client cannot loop forever. */
export const MAX_METHOD_SWITCHES = 10;

export interface LimitSettings {
	readonly graceMs: number;
	readonly maxAuthTries: number;
	readonly maxStartups: MaxStartups;
	readonly perSourceMaxStartups: number;
}

export function limitSettings(config: Config): LimitSettings {
	const maxStartups = parseMaxStartups(config.ssh.max_startups);
	// The config schema already refused a malformed value; this only satisfies the type.
	if (maxStartups === null) throw new Error(`ssh.max_startups: invalid value "${config.ssh.max_startups}"`);
	return {
		graceMs: config.ssh.login_grace_seconds * 1000,
		maxAuthTries: config.ssh.max_auth_tries,
		maxStartups,
		perSourceMaxStartups: config.ssh.per_source_max_startups,
	};
}

export type LimitKind = "login-grace" | "max-auth-tries" | "max-startups" | "second-factor-answers" | "method-switches";

/** What admit() answers: a guard for an admitted connection, or why it was dropped. */
export type Admission =
	| { readonly admitted: true; readonly guard: ConnectionGuard }
	| { readonly admitted: false; readonly reason: DropReason; readonly source: string };

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
	/** Unauthenticated connections per sourceKey; entries at zero are deleted (bounded by `full`). */
	readonly #perSource = new Map<string, number>();

	constructor(
		private readonly settings: LimitSettings,
		private readonly random: Random,
	) {}

	get unauthenticated(): number {
		return this.#unauthenticated;
	}

	/**
	 * At TCP accept, before any SSH work. Drops (close the socket at once) when MaxStartups is full,
	 * when the source already holds PerSourceMaxStartups unauthenticated connections, or at random
	 * between `start` and `full` (OpenSSH order: the hard limits first, then the random draw).
	 * Otherwise a guard whose grace timer calls `onGraceExpired` if authentication has not finished.
	 */
	admit(sourceAddress: string, onGraceExpired: () => void): Admission {
		const source = sourceKey(sourceAddress);
		const fromSource = this.#perSource.get(source) ?? 0;
		const percent = dropPercent(this.#unauthenticated, this.settings.maxStartups);
		if (percent >= 100) return { admitted: false, reason: "full", source };
		if (fromSource >= this.settings.perSourceMaxStartups) return { admitted: false, reason: "per-source", source };
		// OpenSSH draws r = arc4random_uniform(100) and drops when r < p.
		if (percent > 0 && this.random.int(0, 100) < percent) return { admitted: false, reason: "random-early-drop", source };
		this.#unauthenticated += 1;
		this.#perSource.set(source, fromSource + 1);
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
				const left = (this.#perSource.get(source) ?? 1) - 1;
				if (left > 0) this.#perSource.set(source, left);
				else this.#perSource.delete(source);
			}
			clearTimeout(grace);
		};
		const maxTries = this.settings.maxAuthTries;
		const guard: ConnectionGuard = {
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
		return { admitted: true, guard };
	}
}
