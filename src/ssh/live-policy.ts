/**
 * Live policy for SSH connections (product.md "Policy changes bite at once", security.md §4 I7,
 * §5.3 P1-P4): every ssh.live_check_seconds each authenticated connection asks LoginFlow whether
 * it may continue. "revoked" (user disabled, deleted, locked, sessions revoked, or the public key
 * the connection logged in with removed) or "step-up" (the
 * policy now demands a second factor this connection did not prove) closes it. A failing check
 * (database down) also closes it: fail closed (Decision 10).
 */
import type { Portcullis } from "../app/portcullis.ts";
import type { AuthenticatedSsh } from "./authenticated-ssh.ts";

type Verdict = "ok" | "revoked" | "step-up" | "error";

export class LivePolicy {
	readonly #sessions = new Set<AuthenticatedSsh>();
	#timer: NodeJS.Timeout | null = null;
	#running = false;

	constructor(
		private readonly app: Portcullis,
		private readonly intervalMs: number = app.config.ssh.live_check_seconds * 1000,
	) {}

	get size(): number {
		return this.#sessions.size;
	}

	add(session: AuthenticatedSsh): void {
		this.#sessions.add(session);
		session.onClose(() => this.#sessions.delete(session));
		if (this.#timer === null) {
			this.#timer = setInterval(() => void this.checkAll(), this.intervalMs);
			this.#timer.unref();
		}
	}

	/**
	 * One pass over every live connection; overlapping passes are skipped. Never throws. Connections
	 * with the same (user, epoch, method) share one policy evaluation per pass: a user with many
	 * tunnels costs one check, not one per connection (per key, when they used different keys).
	 */
	async checkAll(): Promise<void> {
		if (this.#running) return;
		this.#running = true;
		try {
			const verdicts = new Map<string, Promise<Verdict>>();
			await Promise.all(
				[...this.#sessions].map((session) => {
					const key = `${session.userId}|${session.sessionEpoch}|${session.secondFactorMethod ?? ""}|${session.publicKeyFingerprint ?? ""}`;
					let verdict = verdicts.get(key);
					if (verdict === undefined) {
						verdict = this.#evaluate(session);
						verdicts.set(key, verdict);
					}
					return verdict.then((value) => this.#apply(session, value));
				}),
			);
		} finally {
			this.#running = false;
			if (this.#sessions.size === 0 && this.#timer !== null) {
				clearInterval(this.#timer);
				this.#timer = null;
			}
		}
	}

	/** Checks one connection now and closes it when it may not continue. */
	async check(session: AuthenticatedSsh): Promise<Verdict> {
		const verdict = await this.#evaluate(session);
		await this.#apply(session, verdict);
		return verdict;
	}

	async #evaluate(session: AuthenticatedSsh): Promise<Verdict> {
		try {
			return await this.app.login.checkSession({
				userId: session.userId,
				sessionEpoch: session.sessionEpoch,
				secondFactorMethod: session.secondFactorMethod,
				publicKeyFingerprint: session.publicKeyFingerprint,
				channel: "ssh",
			});
		} catch {
			return "error";
		}
	}

	async #apply(session: AuthenticatedSsh, verdict: Verdict): Promise<void> {
		if (verdict === "ok" || !this.#sessions.has(session)) return;
		await this.app.stores.audit
			.write({
				event: "ssh.revoked",
				outcome: "info",
				userId: session.userId,
				username: session.username,
				channel: "ssh",
				method: session.secondFactorMethod,
				source: session.sourceAddress,
				detail: { connectionId: session.connectionId, reason: verdict },
			})
			.catch(() => undefined);
		session.close(verdict === "step-up" ? "policy now requires a second factor" : verdict === "revoked" ? "access revoked" : "policy check failed");
	}

	stop(): void {
		if (this.#timer !== null) clearInterval(this.#timer);
		this.#timer = null;
		this.#sessions.clear();
	}
}
