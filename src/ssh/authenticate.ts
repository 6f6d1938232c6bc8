/**
 * Maps ssh2's user-authentication events (RFC 4252, RFC 4256) onto LoginFlow. The gateway decides
 * nothing about 2FA (docs/product-decisions.md Decision 1, docs/threat-model.md, SSH protocol facts and I3):
 *
 *   password / signed publickey  → LoginFlow first factor
 *     "authenticated"            → ctx.accept()                       (no 2FA required, or a remembered grant)
 *     "authenticated" + nudge    → FAILURE(["keyboard-interactive"], partial=true), then one
 *                                  INFO_REQUEST without prompts carrying the nudge, then accept
 *                                  (staged rollout: before the enrolment deadline)
 *     "second-factor"            → FAILURE(["keyboard-interactive"], partial=true)
 *   keyboard-interactive         → the method's prompt; answers go to LoginFlow.submitSecondFactor
 *     "authenticated"            → ctx.accept()
 *   any refusal with a message   → one INFO_REQUEST without prompts carrying the message, then FAILURE
 *
 * Authentication succeeds in exactly one place (#grant), and only with a LoginStep or
 * SecondFactorResult of kind "authenticated" in hand. The only other ctx.accept() is ssh2's way of
 * answering an unsigned public-key query with PK_OK (RFC 4252 §7), which records nothing
 * (x/crypto CVE-2024-45337). Requests are handled one at a time per connection,
 * and a keyboard-interactive exchange that ssh2 aborted (a newer request arrived) can never accept.
 */
import ssh2 from "ssh2";
import { errorFields } from "../core/logger.ts";
import type { MethodId } from "../core/method-id.ts";
import { canonicalUsername } from "../core/username.ts";
import type { ClientInfo, LoginStep } from "../flows/login-flow.ts";
import type { SshServices } from "./ssh-services.ts";
import type { ConnectionGuard, LimitKind } from "./limits.ts";
import { MAX_METHOD_SWITCHES, MAX_SECOND_FACTOR_ANSWERS } from "./limits.ts";
import { replyToChallenge, replyToSecondFactor } from "./second-factor-reply.ts";
import { splitTargetUsername } from "./target-username.ts";
import { instructionText, MAX_ANSWER_LENGTH, parseAnswer, PROMPT_TITLE, promptText, terminalSafe } from "./prompts.ts";

type AuthContext = ssh2.AuthContext;
type KeyboardAuthContext = ssh2.KeyboardAuthContext;
type PasswordAuthContext = ssh2.PasswordAuthContext;
type PublicKeyAuthContext = ssh2.PublicKeyAuthContext;

/** What a successful authentication hands to the gateway (and on to AuthenticatedSsh). */
export interface AuthOutcome {
	readonly userId: string;
	readonly username: string;
	readonly secondFactorMethod: MethodId | null;
	/** The second factor came from a remember-window grant, not from this connection (per-server step-up refuses it). */
	readonly secondFactorRemembered?: boolean;
	/** No second factor was asked: why (the live-session list shows it). */
	readonly secondFactorWaiver?: "policy" | "enrolment-deadline";
	readonly sessionEpoch: number;
	readonly firstFactor: "password" | "publickey";
	/** The key that proved the first factor ("SHA256:…"); removing it ends the connection (live policy). */
	readonly publicKeyFingerprint: string | null;
	/** `alice:db1`: the server every session channel of this connection goes to (target-username.ts); else null. */
	readonly boundServer?: string | null;
}

export interface AuthenticatorDeps {
	readonly services: SshServices;
	readonly connectionId: string;
	readonly sourceAddress: string;
	readonly guard: ConnectionGuard;
	/**
	 * Ends the connection; `limit` is set when a limit caused it (audited as ssh.limit by the caller);
	 * `userMessage` is a line the client prints (the DISCONNECT description).
	 */
	disconnect(reason: string, limit?: LimitKind, userMessage?: string): void;
}

/** What an SSH client is told when the database is unreachable (printed by OpenSSH from the DISCONNECT). */
export const SERVICE_UNAVAILABLE_MESSAGE = "Portcullis: service temporarily unavailable";

/** Methods offered before any first factor has been proven. Keyboard-interactive is not a first factor. */
const FIRST_FACTOR_METHODS: ssh2.AuthenticationType[] = ["publickey", "password"];
const SECOND_FACTOR_METHODS: ssh2.AuthenticationType[] = ["keyboard-interactive"];

type State =
	| { readonly phase: "initial" }
	| {
			readonly phase: "second-factor";
			readonly attemptId: string;
			readonly userId: string;
			readonly username: string;
			readonly sessionEpoch: number;
			readonly firstFactor: "password" | "publickey";
			readonly publicKeyFingerprint: string | null;
			readonly explanation: string;
			methods: MethodId[];
			current: MethodId;
	  }
	/**
	 * Staged rollout: the login succeeded without a second factor before the enrolment deadline.
	 * One keyboard-interactive round carries the nudge (RFC 4256 §3.2 instruction, no prompts),
	 * then the connection is accepted with `outcome`: inside userauth, before any channel.
	 */
	| { readonly phase: "notice"; readonly message: string; readonly outcome: AuthOutcome }
	/**
	 * The login is refused. `told` false: the next keyboard-interactive round shows the message.
	 * `told` true: the message was shown; any further request is refused and the connection ends.
	 */
	| { readonly phase: "refusing"; readonly message: string; readonly told: boolean; readonly reason: string };

type PromptReply = { readonly kind: "responses"; readonly values: unknown } | { readonly kind: "aborted" };

export class SshAuthenticator {
	#queue: Promise<void> = Promise.resolve();
	#state: State = { phase: "initial" };
	#closed = false;
	#wrongAnswers = 0;
	#switches = 0;
	#afterRefusal = 0;
	#ending = false;
	/** Set only for the synchronous duration of ctx.accept(); the gateway's 'ready' handler takes it. */
	#granting: AuthOutcome | null = null;
	readonly #pendingPrompts = new Set<(reply: PromptReply) => void>();

	constructor(private readonly deps: AuthenticatorDeps) {}

	/** The login's client: the peer address, and the server the user name names (`alice+db-prod`), if any. */
	#client(targetServer: string | null): ClientInfo {
		return { channel: "ssh", sourceAddress: this.deps.sourceAddress, targetServer };
	}

	/** The gateway calls this inside its 'ready' handler (emitted synchronously by ctx.accept()). */
	takeGranted(): AuthOutcome | null {
		const outcome = this.#granting;
		this.#granting = null;
		return outcome;
	}

	/** Connection closed: no further decisions; pending prompts resolve as aborted. */
	close(): void {
		this.#closed = true;
		for (const resolve of this.#pendingPrompts) resolve({ kind: "aborted" });
		this.#pendingPrompts.clear();
	}

	/** Entry point from ssh2's 'authentication' event. Never throws. */
	handle(ctx: AuthContext): void {
		let aborted = false;
		ctx.on("abort", () => {
			aborted = true;
		});
		const isStale = () => aborted || this.#closed;
		if (this.#closed) return;
		if (this.#ending) return safeReject(ctx, []);
		if (!this.deps.guard.countAuthRequest(ctx.method)) {
			// MaxAuthTries: refuse, disconnect once (requests already queued in ssh2 are refused silently).
			this.#ending = true;
			safeReject(ctx, []);
			this.deps.disconnect("too many authentication requests", "max-auth-tries");
			return;
		}
		this.#queue = this.#queue
			.then(() => (isStale() ? undefined : this.#process(ctx, isStale)))
			.catch(async (error: unknown) => {
				if (this.deps.services.databaseHealth.isOutage(error)) {
					// Fail closed, and say why: the database cannot decide, so nobody gets in (no cached
					// policy, no timeout that lets through). No audit write: the database is what is down.
					this.#ending = true;
					safeReject(ctx, []);
					this.deps.disconnect("database unavailable", undefined, SERVICE_UNAVAILABLE_MESSAGE);
					return;
				}
				// Fail closed (Decision 10): an unexpected error refuses this request and is audited.
				safeReject(ctx, []);
				await this.#audit("ssh.auth-error", "failure", ctx.username, { message: error instanceof Error ? error.message.slice(0, 200) : "unknown" });
				this.deps.disconnect("internal error during authentication");
			});
	}

	async #process(ctx: AuthContext, isStale: () => boolean): Promise<void> {
		if (this.#state.phase === "refusing" && this.#state.told) {
			// The refusal was shown. OpenSSH retries keyboard-interactive once; a FAILURE without an
			// INFO_REQUEST makes it give up with "Permission denied (keyboard-interactive)". A client
			// that keeps trying after that is disconnected.
			safeReject(ctx, SECOND_FACTOR_METHODS);
			this.#afterRefusal += 1;
			if (this.#afterRefusal > 1) this.deps.disconnect(this.#state.reason);
			return;
		}
		switch (ctx.method) {
			case "password":
				if (this.#state.phase !== "initial") return this.#refuse(ctx);
				return this.#password(ctx, isStale);
			case "publickey":
				if (this.#state.phase !== "initial") return this.#refuse(ctx);
				return this.#publicKey(ctx, isStale);
			case "keyboard-interactive":
				return this.#keyboard(ctx, isStale);
			case "hostbased":
				await this.#audit("ssh.auth-failure", "failure", ctx.username, { reason: "hostbased-not-supported" });
				return this.#refuse(ctx);
			default:
				// "none" (and anything ssh2 may add): never success, list what is allowed (docs/security-matrix.md S4).
				return this.#refuse(ctx);
		}
	}

	/** Plain refusal listing the methods that can make progress from the current state. */
	#refuse(ctx: AuthContext): void {
		const methods = this.#state.phase === "initial" ? FIRST_FACTOR_METHODS : SECOND_FACTOR_METHODS;
		safeReject(ctx, methods);
	}

	async #password(ctx: PasswordAuthContext, isStale: () => boolean): Promise<void> {
		const { username, targetServer } = splitTargetUsername(ctx.username);
		const known = await this.#lookupUser(username);
		const step = await this.deps.services.login.submitPassword(this.#client(targetServer), username, ctx.password);
		if (isStale()) return;
		// A directory user's first login creates the account just in time (docs/identity.md): there was
		// no row to read before, so the one this login created is read now (its epoch is the one to carry).
		const account = known ?? (step.kind === "denied" ? undefined : await this.#lookupUser(username));
		if (isStale()) return;
		await this.#afterFirstFactor(ctx, step, account, "password", isStale);
	}

	async #publicKey(ctx: PublicKeyAuthContext, isStale: () => boolean): Promise<void> {
		const { username, targetServer } = splitTargetUsername(ctx.username);
		const user = await this.#lookupUser(username);
		const row = user === undefined ? undefined : await this.deps.services.userKeys.findForUser(user.id, ctx.key.data);
		if (user === undefined || row === undefined) {
			await this.#audit("ssh.auth-failure", "failure", ctx.username, { reason: "unknown-key", algo: String(ctx.key.algo).slice(0, 64) });
			return safeReject(ctx, FIRST_FACTOR_METHODS);
		}
		if (ctx.signature === undefined || ctx.blob === undefined) {
			// RFC 4252 §7 query: "would this key be acceptable?" PK_OK proves nothing and records nothing.
			if (!isStale()) ctx.accept();
			return;
		}
		const stored = ssh2.utils.parseKey(`${row.algo} ${row.public_key}`);
		const key = Array.isArray(stored) ? stored[0] : stored;
		if (key === undefined || key instanceof Error) {
			await this.#audit("ssh.auth-failure", "failure", ctx.username, { reason: "stored-key-unparsable", fingerprint: row.fingerprint });
			return safeReject(ctx, FIRST_FACTOR_METHODS);
		}
		// docs/threat-model.md, How 2FA gates fail in practice (hyperbridge PR #1225): the signature algorithm must belong to the key's
		// own type, and verify() returns an Error object (truthy) on mismatch, so only `=== true` counts.
		if (key.type !== ctx.key.algo) {
			await this.#audit("ssh.auth-failure", "failure", ctx.username, {
				reason: "key-algorithm-mismatch",
				fingerprint: row.fingerprint,
				algo: String(ctx.key.algo).slice(0, 64),
			});
			return safeReject(ctx, FIRST_FACTOR_METHODS);
		}
		if (key.type === "ssh-rsa" && ctx.hashAlgo === undefined) {
			// "ssh-rsa" signatures are SHA-1 (RFC 8332 §3); OpenSSH refuses them since 8.8, so do we.
			await this.#audit("ssh.auth-failure", "failure", ctx.username, { reason: "rsa-sha1-signature", fingerprint: row.fingerprint });
			return safeReject(ctx, FIRST_FACTOR_METHODS);
		}
		let verified: unknown;
		try {
			verified = key.verify(ctx.blob, ctx.signature, ctx.hashAlgo);
		} catch {
			verified = false;
		}
		if (verified !== true) {
			await this.#audit("ssh.auth-failure", "failure", ctx.username, { reason: "bad-signature", fingerprint: row.fingerprint });
			return safeReject(ctx, FIRST_FACTOR_METHODS);
		}
		if (isStale()) return;
		const step = await this.deps.services.login.afterVerifiedFirstFactor(this.#client(targetServer), user.id, "publickey");
		if (isStale()) return;
		await this.#afterFirstFactor(ctx, step, user, "publickey", isStale, row.fingerprint);
	}

	async #lookupUser(rawUsername: string): Promise<{ id: string; session_epoch: number } | undefined> {
		const canonical = canonicalUsername(rawUsername);
		if (canonical === null) return undefined;
		return this.deps.services.accounts.findByUsername(canonical);
	}

	async #afterFirstFactor(
		ctx: AuthContext,
		step: LoginStep,
		// The user row read BEFORE the first factor was checked: its session_epoch is what this
		// connection carries, so a revocation (epoch bump) during the login still ends it.
		known: { id: string; session_epoch: number } | undefined,
		firstFactor: "password" | "publickey",
		isStale: () => boolean,
		keyFingerprint?: string,
	): Promise<void> {
		if (step.kind === "denied") {
			if (step.reason === "invalid-credentials" || step.reason === "disabled") return safeReject(ctx, FIRST_FACTOR_METHODS);
			// The first factor was answered but the login cannot go on (must enrol, locked, policy error):
			// the next keyboard-interactive round carries the message (RFC 4256 §3.2 instruction).
			this.#state = { phase: "refusing", message: step.message, told: false, reason: `refused: ${step.reason}` };
			return safeReject(ctx, SECOND_FACTOR_METHODS);
		}
		if (step.kind === "enroll" || step.kind === "password-confirm") {
			// LoginFlow never returns these for channel "ssh"; refuse rather than guess.
			await this.#abandon(step.attemptId);
			this.#state = {
				phase: "refusing",
				message: `Log in to ${this.deps.services.consoleUrl} to finish setting up your account, then try again.`,
				told: false,
				reason: "refused: enroll",
			};
			return safeReject(ctx, SECOND_FACTOR_METHODS);
		}
		if (known === undefined || known.id !== step.userId) {
			await this.#abandon(step.attemptId);
			return safeReject(ctx, FIRST_FACTOR_METHODS);
		}
		if (step.kind === "authenticated") {
			const outcome: AuthOutcome = {
				userId: step.userId,
				username: step.username,
				// Null when no second factor was required (or before an enrolment deadline); the grant's
				// method when a remember-window grant stood in for it (the live policy checks it).
				secondFactorMethod: step.method,
				secondFactorRemembered: step.remembered === true,
				...(step.method === null ? { secondFactorWaiver: step.nudge !== undefined ? ("enrolment-deadline" as const) : ("policy" as const) } : {}),
				sessionEpoch: known.session_epoch,
				firstFactor,
				publicKeyFingerprint: keyFingerprint ?? null,
			};
			if (step.nudge === undefined) return this.#grant(ctx, isStale, outcome);
			// Partial success: the next keyboard-interactive round shows the nudge and then accepts.
			this.#state = { phase: "notice", message: step.nudge, outcome };
			return safeReject(ctx, SECOND_FACTOR_METHODS, true);
		}
		// LoginFlow already limited the methods to those answerable on channel "ssh", default first
		// (decide-second-factor.ts; "unusable-on-channel" is a denial handled above).
		this.#state = {
			phase: "second-factor",
			attemptId: step.attemptId,
			userId: step.userId,
			username: step.username,
			sessionEpoch: known.session_epoch,
			firstFactor,
			publicKeyFingerprint: keyFingerprint ?? null,
			explanation: step.explanation,
			methods: [...step.methods],
			current: step.defaultMethod,
		};
		await this.#audit("ssh.first-factor", "success", step.username, { firstFactor, ...(keyFingerprint ? { fingerprint: keyFingerprint } : {}) }, step.userId);
		if (isStale()) return;
		// RFC 4252 §5.1: partial success, only keyboard-interactive can continue (docs/security-matrix.md S1).
		safeReject(ctx, SECOND_FACTOR_METHODS, true);
	}

	async #keyboard(ctx: KeyboardAuthContext, isStale: () => boolean): Promise<void> {
		const state = this.#state;
		if (state.phase === "initial") return safeReject(ctx, FIRST_FACTOR_METHODS);
		if (state.phase === "refusing") return this.#tell(ctx, isStale, state.message, state.reason);
		if (state.phase === "notice") {
			const reply = await this.#prompt(ctx, [], terminalSafe(state.message));
			if (reply.kind === "aborted" || isStale()) return;
			return this.#grant(ctx, isStale, state.outcome);
		}

		let notice: string | null = null;
		let round: { prompt: string; echo: boolean } | null = null;
		for (;;) {
			if (isStale()) return;
			const method = state.current;
			if (round === null) {
				const challenge = replyToChallenge(await this.deps.services.login.startChallenge(state.attemptId, method), state.methods, method);
				if (isStale()) return;
				if (challenge.kind === "restart") {
					this.#state = { phase: "initial" };
					return safeReject(ctx, FIRST_FACTOR_METHODS);
				}
				if (challenge.kind === "fallback") {
					state.methods = challenge.methods;
					state.current = challenge.next;
					notice = challenge.notice;
					continue;
				}
				if (challenge.kind === "refuse") return this.#tell(ctx, isStale, challenge.message, challenge.reason);
				round = { prompt: promptText(challenge.prompt), echo: challenge.echo };
			}
			const reply = await this.#prompt(ctx, [round], instructionText({ explanation: state.explanation, current: method, methods: state.methods, notice }));
			if (reply.kind === "aborted" || isStale()) return;
			notice = null;

			const values = reply.values;
			if (!Array.isArray(values) || values.length !== 1 || typeof values[0] !== "string" || values[0].length > MAX_ANSWER_LENGTH) {
				// Wrong number of responses or an oversized one (docs/security-matrix.md S3; docs/threat-model.md, Bad input): refused, never verified.
				await this.#audit(
					"ssh.auth-failure",
					"failure",
					state.username,
					{ reason: "malformed-response", responses: Array.isArray(values) ? values.length : -1 },
					state.userId,
				);
				if (this.#countWrongAnswer()) return this.#tell(ctx, isStale, "Too many wrong answers.", "second-factor-answers");
				notice = "That answer was not understood.";
				round = null;
				continue;
			}
			const parsed = parseAnswer(values[0], state.methods);
			if (parsed.kind !== "answer") {
				this.#switches += 1;
				if (this.#switches > MAX_METHOD_SWITCHES) return this.#tell(ctx, isStale, "Too many method changes.", "method-switches");
				if (parsed.kind === "switch") state.current = parsed.method;
				else notice = `There is no method "${terminalSafe(parsed.text).slice(0, 40)}" for your account.`;
				round = null;
				continue;
			}
			const result = await this.deps.services.login.submitSecondFactor(state.attemptId, method, parsed.value);
			if (result.kind === "invalid") this.#wrongAnswers += 1;
			const next = replyToSecondFactor(result, MAX_SECOND_FACTOR_ANSWERS - this.#wrongAnswers);
			switch (next.kind) {
				case "grant":
					return this.#grant(ctx, isStale, {
						userId: state.userId,
						username: state.username,
						secondFactorMethod: next.method,
						sessionEpoch: state.sessionEpoch,
						firstFactor: state.firstFactor,
						publicKeyFingerprint: state.publicKeyFingerprint,
					});
				case "prompt":
					// Another round of the same method (RADIUS Access-Challenge, Duo device choice): no charge.
					round = { prompt: promptText(next.prompt), echo: next.echo };
					continue;
				case "retry":
					notice = next.notice;
					round = null;
					continue;
				case "refuse":
					if (next.restart) this.#state = { phase: "initial" };
					return this.#tell(ctx, isStale, next.message, next.reason);
			}
		}
	}

	/** True when this wrong answer reaches the per-connection cap. */
	#countWrongAnswer(): boolean {
		this.#wrongAnswers += 1;
		return this.#wrongAnswers >= MAX_SECOND_FACTOR_ANSWERS;
	}

	/**
	 * Shows `message` as the instruction of an INFO_REQUEST with no prompts (the client answers with
	 * an empty INFO_RESPONSE; OpenSSH prints the text), then refuses. From then on the connection
	 * can only end (see #process).
	 */
	async #tell(ctx: KeyboardAuthContext, isStale: () => boolean, message: string, reason: string): Promise<void> {
		if (reason === "second-factor-answers" || reason === "method-switches") {
			await this.#audit("ssh.limit", "failure", ctx.username, { limit: reason });
		}
		const reply = await this.#prompt(ctx, [], terminalSafe(message));
		if (reply.kind === "aborted" || isStale()) return;
		this.#state = { phase: "refusing", message, told: true, reason };
		safeReject(ctx, SECOND_FACTOR_METHODS);
	}

	#prompt(ctx: KeyboardAuthContext, prompts: ssh2.Prompt[], instruction: string): Promise<PromptReply> {
		if (this.#closed) return Promise.resolve({ kind: "aborted" });
		return new Promise<PromptReply>((resolve) => {
			let settled = false;
			const settle = (reply: PromptReply) => {
				if (settled) return;
				settled = true;
				this.#pendingPrompts.delete(settle);
				resolve(reply);
			};
			this.#pendingPrompts.add(settle);
			try {
				// ssh2 calls back with the responses array, or with an Error when the exchange is aborted.
				ctx.prompt(prompts, PROMPT_TITLE, instruction, (responses: unknown) => {
					settle(Array.isArray(responses) ? { kind: "responses", values: responses } : { kind: "aborted" });
				});
			} catch {
				settle({ kind: "aborted" });
			}
		});
	}

	/** The only place that accepts: `outcome` comes from a LoginFlow "authenticated" result. */
	#grant(ctx: AuthContext, isStale: () => boolean, outcome: AuthOutcome): void {
		if (isStale()) return;
		// The user name cannot change between requests (protocol-guard.ts), so this request's names the target.
		const named = splitTargetUsername(ctx.username);
		this.#granting = { ...outcome, boundServer: named.bound ? named.targetServer : null };
		try {
			ctx.accept();
		} finally {
			// If ssh2 did not take it (not the current request), nothing may linger.
			this.#granting = null;
		}
	}

	/** Abandoning is cleanup (the attempt expires anyway); a failure is logged, the refusal stands. */
	async #abandon(attemptId: string): Promise<void> {
		try {
			await this.deps.services.login.abandon(attemptId);
		} catch (error) {
			this.deps.services.logger.warn({ ...errorFields(error), connectionId: this.deps.connectionId }, "abandoning a login attempt failed");
		}
	}

	async #audit(
		event: string,
		outcome: "success" | "failure" | "info",
		username: string | null,
		detail: Record<string, unknown>,
		userId?: string,
	): Promise<void> {
		await this.deps.services.audit.record({
			event,
			outcome,
			userId: userId ?? null,
			username,
			channel: "ssh",
			source: this.deps.sourceAddress,
			detail: { connectionId: this.deps.connectionId, ...detail },
		});
	}
}

function safeReject(ctx: AuthContext, methods: ssh2.AuthenticationType[], partial = false): void {
	try {
		ctx.reject(methods, partial);
	} catch {
		// A context that was already answered or belongs to a closed connection: nothing to do.
	}
}
