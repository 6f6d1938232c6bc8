/**
 * RADIUS as a second factor (RFC 2865 PAP with Message-Authenticator, RFC 3579; docs/threat-model.md, RADIUS,
 * docs/security-matrix.md E3), on the SSH prompt and the web alike.
 *
 * Enrolment: the user's RADIUS username (default: their Portcullis username) and ONE successful
 * authentication, answering an Access-Challenge if the server sends one. A RADIUS username bound
 * to another Portcullis account is refused.
 *
 * Login: startChallenge asks for the RADIUS password or token code (no state: the first round is
 * like a TOTP code, retried on the same attempt, each try charged; one-time codes are the RADIUS
 * server's to refuse when replayed). verifyResponse sends it:
 *   Access-Accept    → valid;
 *   Access-Reject    → invalid "wrong" (charged);
 *   Access-Challenge → "continue" with the server's Reply-Message (or "RADIUS challenge") and the
 *                      State (base64) plus the answering server's index in the attempt's state;
 *                      the next answer is sent with exactly that State to that server first
 *                      (RFC 2865 §4.4, §5.24). At most MAX_ROUNDS challenges per attempt.
 *   no verified answer (timeout, unsigned reply from a non-legacy server, forged reply, …)
 *                    → the client throws ERR_METHOD_UNAVAILABLE: fail closed, refunded, audited.
 * Settings are read on every use; a new client is made per exchange. Dropped (forged, unsigned,
 * mis-signed) replies and replies accepted from a server marked legacy are audited.
 */
import type { Clock } from "../../core/clock.ts";
import { PortcullisError, isPortcullisError } from "../../core/errors.ts";
import type { Random } from "../../core/random.ts";
import type { SecretBox } from "../../crypto/secret-box.ts";
import type { FactorStore } from "../../storage/factor-store.ts";
import type {
	ChallengeRequest,
	ChallengeStart,
	EnrollmentBegin,
	EnrollmentComplete,
	EnrollmentRequest,
	FactorRecord,
	SecondFactorMethod,
	VerifyRequest,
	VerifyResult,
} from "../method.ts";
import { ENROLMENT_WITHDRAWN } from "../method.ts";
import type { MethodSettingsStore, RadiusSettings } from "../method-settings.ts";
import { RadiusClient, type RadiusAuthResult, type RadiusEvent } from "./radius-client.ts";
import { hasUnsafe } from "../../core/untrusted-text.ts";

export const RADIUS_PROMPT = "RADIUS: password or token code";
export const RADIUS_CHALLENGE_PROMPT = "RADIUS challenge";
/** A server that challenges for ever must not keep a login (and its refunded counter) going. */
export const MAX_ROUNDS = 5;
const MAX_PROMPT = 500;
const MAX_PASSWORD_OCTETS = 128;

export interface RadiusMethodEvent {
	readonly event: string;
	readonly outcome: "failure" | "info";
	readonly detail: Record<string, unknown>;
}

export interface RadiusMethodDeps {
	readonly settings: MethodSettingsStore;
	readonly factors: FactorStore;
	readonly box: SecretBox;
	readonly random: Random;
	readonly clock: Clock;
	/** Audit sink for security-relevant client events (must not throw). */
	readonly onEvent?: (event: RadiusMethodEvent) => void;
}

interface RoundState {
	readonly factorId: string;
	/** Challenges answered so far in this attempt. */
	readonly round: number;
	/** base64 State of the pending Access-Challenge, absent in the first round. */
	readonly state?: string;
	readonly serverIndex?: number;
}

interface PendingEnrollment {
	readonly state: string;
	readonly serverIndex: number;
}

const pendingContext = (factorId: string): string => `radius:${factorId}`;

/** RadiusEvent → audit event; only what an admin must see (forgeries, legacy downgrades, dead servers). */
export function auditableRadiusEvent(event: RadiusEvent): RadiusMethodEvent | null {
	switch (event.type) {
		case "reply-dropped":
			return {
				event: "radius.reply-dropped",
				outcome: "failure",
				detail: { reason: event.reason, server: event.server, from: event.from, detail: event.detail.slice(0, 200) },
			};
		case "unsigned-reply-accepted":
			return {
				event: "radius.unsigned-reply-accepted",
				outcome: "info",
				detail: { server: event.server, code: event.code, warning: "legacy server without Message-Authenticator (BlastRADIUS, CVE-2024-3596)" },
			};
		case "server-failed":
			return { event: "radius.server-failed", outcome: "failure", detail: { server: event.server, reason: event.reason } };
		case "reply-rejected-locally":
			return { event: "radius.reply-refused", outcome: "failure", detail: { server: event.server, reason: event.reason } };
		default:
			return null;
	}
}

export function radiusClient(settings: RadiusSettings, deps: Pick<RadiusMethodDeps, "random" | "clock" | "onEvent">): RadiusClient {
	try {
		return new RadiusClient({
			servers: settings.servers.map((server) => ({
				host: server.host,
				port: server.port,
				secret: server.secret,
				legacyNoMessageAuthenticator: server.legacyNoMessageAuthenticator,
			})),
			nasIdentifier: settings.nasIdentifier,
			timeoutMs: settings.timeoutMs,
			retries: settings.retries,
			random: deps.random,
			clock: deps.clock,
			onEvent: (event) => {
				const audited = auditableRadiusEvent(event);
				if (audited !== null) deps.onEvent?.(audited);
			},
		});
	} catch (error) {
		throw new PortcullisError("ERR_METHOD_UNAVAILABLE", "RADIUS: the settings are unusable", { cause: error });
	}
}

function readRound(state: unknown): RoundState | null {
	if (typeof state !== "object" || state === null) return null;
	const candidate = state as Partial<RoundState>;
	if (
		typeof candidate.factorId !== "string" ||
		!Number.isInteger(candidate.round) ||
		(candidate.round as number) < 0 ||
		(candidate.round as number) > MAX_ROUNDS
	)
		return null;
	if (candidate.state !== undefined && (typeof candidate.state !== "string" || !/^[A-Za-z0-9+/]{1,400}={0,2}$/.test(candidate.state))) return null;
	if (candidate.serverIndex !== undefined && !(Number.isInteger(candidate.serverIndex) && (candidate.serverIndex as number) >= 0)) return null;
	return candidate as RoundState;
}

function promptOf(result: Extract<RadiusAuthResult, { kind: "challenge" }>): string {
	const text = result.replyMessage.trim();
	return text.length === 0 ? RADIUS_CHALLENGE_PROMPT : text.slice(0, MAX_PROMPT);
}

function validUsername(name: string): boolean {
	const octets = Buffer.byteLength(name, "utf8");
	return octets >= 1 && octets <= 253 && !hasUnsafe(name);
}

export function createRadiusMethod(deps: RadiusMethodDeps): SecondFactorMethod {
	const emit = (event: RadiusMethodEvent): void => {
		try {
			deps.onEvent?.(event);
		} catch {
			// An audit sink failure must not change the outcome.
		}
	};
	const depsWithEmit = { random: deps.random, clock: deps.clock, onEvent: emit };

	async function send(input: {
		username: string;
		password: string;
		state?: Buffer;
		serverIndex?: number;
		source?: string;
	}): Promise<RadiusAuthResult | "malformed"> {
		const settings = await deps.settings.require("radius");
		const client = radiusClient(settings, depsWithEmit);
		if (input.serverIndex !== undefined && input.serverIndex >= settings.servers.length) input = { ...input, serverIndex: undefined };
		try {
			return await client.authenticate({
				username: input.username,
				password: input.password,
				...(input.state !== undefined ? { state: input.state } : {}),
				...(input.serverIndex !== undefined ? { serverIndex: input.serverIndex } : {}),
				...(input.source !== undefined && input.source.length > 0 && input.source.length <= 253 ? { callingStationId: input.source } : {}),
			});
		} catch (error) {
			if (isPortcullisError(error, "ERR_INPUT")) return "malformed";
			if (isPortcullisError(error, "ERR_METHOD_UNAVAILABLE")) throw error;
			throw new PortcullisError("ERR_METHOD_UNAVAILABLE", "RADIUS: the exchange failed", { cause: error });
		}
	}

	function ownFactor(factors: readonly FactorRecord[], factorId?: string): FactorRecord | undefined {
		return factors.find((factor) => (factorId === undefined || factor.id === factorId) && factor.publicId !== null);
	}

	return {
		id: "radius",
		interaction: "code",

		async startChallenge(request: ChallengeRequest): Promise<ChallengeStart> {
			await deps.settings.require("radius");
			if (ownFactor(request.factors) === undefined) throw new PortcullisError("ERR_METHOD_UNAVAILABLE", "RADIUS: no RADIUS username is enrolled for this user");
			// The first round carries no state: the password goes to the server as typed, like a
			// TOTP code; one-time codes are the RADIUS server's to refuse when replayed.
			return { prompt: RADIUS_PROMPT, echo: false, state: null };
		},

		async verifyResponse(request: VerifyRequest): Promise<VerifyResult> {
			let round: RoundState | null = null;
			if (request.state !== null) {
				round = readRound(request.state);
				if (round === null) throw new PortcullisError("ERR_METHOD_UNAVAILABLE", "RADIUS: the stored challenge state is unreadable");
			}
			const factor = ownFactor(request.factors, round?.factorId);
			if (factor === undefined || factor.publicId === null) {
				throw new PortcullisError("ERR_METHOD_UNAVAILABLE", "RADIUS: the RADIUS username of this challenge is no longer enrolled");
			}
			const response = request.response;
			// The first answer is the password; a challenge may legitimately be answered with "" (e.g. "press Enter for an SMS").
			if (
				(round?.state === undefined && response.length === 0) ||
				response.length > MAX_PASSWORD_OCTETS ||
				Buffer.byteLength(response, "utf8") > MAX_PASSWORD_OCTETS
			) {
				return { kind: "invalid", reason: "malformed" };
			}
			const result = await send({
				username: factor.publicId,
				password: response,
				...(round?.state !== undefined ? { state: Buffer.from(round.state, "base64") } : {}),
				...(round?.serverIndex !== undefined ? { serverIndex: round.serverIndex } : {}),
				source: request.sourceAddress,
			});
			if (result === "malformed") return { kind: "invalid", reason: "malformed" };
			switch (result.kind) {
				case "accept":
					await deps.factors.touch(factor.id);
					return { kind: "valid", factorId: factor.id };
				case "reject":
					return { kind: "invalid", reason: "wrong" };
				case "challenge": {
					const done = round?.round ?? 0;
					if (done + 1 > MAX_ROUNDS) return { kind: "invalid", reason: "wrong" };
					const next: RoundState = { factorId: factor.id, round: done + 1, state: result.state.toString("base64"), serverIndex: result.serverIndex };
					return { kind: "continue", prompt: promptOf(result), echo: false, state: { ...next } };
				}
			}
		},

		async beginEnrollment(request: EnrollmentRequest): Promise<EnrollmentBegin> {
			const radiusUser = (request.input.username ?? "").trim() || request.user.username;
			if (!validUsername(radiusUser)) return { kind: "rejected", message: "That is not a valid RADIUS username." };
			const password = request.input.password ?? "";
			if (password.length === 0 || Buffer.byteLength(password, "utf8") > MAX_PASSWORD_OCTETS)
				return { kind: "rejected", message: "Enter your RADIUS password or token code (at most 128 bytes)." };
			if (!(await deps.settings.isConfigured("radius")))
				return { kind: "rejected", message: "RADIUS cannot be set up right now: the administrator has not finished configuring it." };
			if ((await deps.factors.listActive(request.user.id, "radius")).length > 0)
				return { kind: "rejected", message: "RADIUS is already set up for your account. Remove it first to use another RADIUS username." };
			const bound = await deps.factors.findByPublicId("radius", radiusUser);
			if (bound.some((factor) => factor.status === "active" && factor.userId !== request.user.id))
				return { kind: "rejected", message: "That RADIUS username is already used by another account." };
			// An abandoned earlier attempt of this user must not linger next to the new one.
			for (const stale of bound.filter((factor) => factor.userId === request.user.id && factor.status === "pending"))
				await deps.factors.remove(stale.id, request.user.id);

			let result: RadiusAuthResult | "malformed";
			try {
				result = await send({ username: radiusUser, password });
			} catch {
				return { kind: "rejected", message: "The RADIUS server cannot be reached right now. Try again later." };
			}
			if (result === "malformed") return { kind: "rejected", message: "That username or password cannot be sent to RADIUS." };
			const factorId = deps.factors.newFactorId();
			switch (result.kind) {
				case "reject":
					return { kind: "rejected", message: "The RADIUS server rejected that username and password." };
				case "accept":
					if (
						(await deps.factors.insert(
							{ id: factorId, userId: request.user.id, method: "radius", label: request.label, status: "active", secretEnc: null, publicId: radiusUser },
							request.guard,
						)) === null
					) {
						return { kind: "rejected", message: ENROLMENT_WITHDRAWN };
					}
					return { kind: "active", factorId, display: { radiusUsername: radiusUser } };
				case "challenge": {
					const pending: PendingEnrollment = { state: result.state.toString("base64"), serverIndex: result.serverIndex };
					await deps.factors.insert(
						{
							id: factorId,
							userId: request.user.id,
							method: "radius",
							label: request.label,
							status: "pending",
							secretEnc: deps.box.seal(JSON.stringify(pending), pendingContext(factorId)),
							publicId: radiusUser,
						},
						request.guard,
					);
					return { kind: "pending", factorId, display: { radiusUsername: radiusUser, prompt: promptOf(result) } };
				}
			}
		},

		async completeEnrollment(request: EnrollmentRequest & { readonly factorId: string }): Promise<EnrollmentComplete> {
			const factor = await deps.factors.get(request.factorId);
			if (
				factor === null ||
				factor.userId !== request.user.id ||
				factor.method !== "radius" ||
				factor.status !== "pending" ||
				factor.secretEnc === null ||
				factor.publicId === null
			) {
				return { kind: "expired" };
			}
			const expiresAt = await deps.factors.pendingExpiresAt(factor.id);
			if (expiresAt === null || expiresAt <= deps.clock.now().getTime()) return { kind: "expired" };
			const code = request.input.code ?? "";
			if (Buffer.byteLength(code, "utf8") > MAX_PASSWORD_OCTETS) return { kind: "invalid", message: "That answer is too long." };
			const pending = JSON.parse(deps.box.open(factor.secretEnc, pendingContext(factor.id)).toString("utf8")) as PendingEnrollment;
			let result: RadiusAuthResult | "malformed";
			try {
				result = await send({ username: factor.publicId, password: code, state: Buffer.from(pending.state, "base64"), serverIndex: pending.serverIndex });
			} catch {
				return { kind: "invalid", message: "The RADIUS server cannot be reached right now. Try again in a moment." };
			}
			if (result === "malformed") return { kind: "invalid", message: "That answer cannot be sent to RADIUS." };
			if (result.kind !== "accept") {
				// The server's State answers one request: start again rather than resend it.
				await deps.factors.remove(factor.id, request.user.id);
				return {
					kind: "invalid",
					message:
						result.kind === "reject"
							? "The RADIUS server rejected that answer. Start again."
							: "The RADIUS server asked for a further step, which enrolment does not support. Start again or ask an administrator.",
				};
			}
			const bound = await deps.factors.findByPublicId("radius", factor.publicId);
			if (bound.some((other) => other.status === "active" && other.userId !== request.user.id)) {
				await deps.factors.remove(factor.id, request.user.id);
				return { kind: "invalid", message: "That RADIUS username is already used by another account." };
			}
			const activated = await deps.factors.activate(factor.id, request.user.id, null, request.guard);
			return activated ? { kind: "active", factorId: factor.id } : { kind: "expired" };
		},
	};
}
