/**
 * Web sessions on top of the DB-backed SessionStore (revocable, shared by every node). The cookie
 * holds a 256-bit random token; every privilege change issues a NEW token (docs/threat-model.md I2, W1, W5):
 * password OK → new half session; second factor or enrolment done → full; step-up → rotated.
 */
import type { FastifyReply, FastifyRequest } from "fastify";
import type { SessionRow } from "../storage/session-store.ts";
import { SESSION_COOKIE, type WebContext } from "./context.ts";

export function cookieOptions(web: WebContext, extra: { maxAge?: number; path?: string } = {}) {
	return {
		path: extra.path ?? "/",
		httpOnly: true,
		sameSite: "strict" as const,
		secure: web.secureCookies,
		...(extra.maxAge !== undefined ? { maxAge: extra.maxAge } : {}),
	};
}

function idleMs(web: WebContext): number {
	return web.services.config.security.session_idle_minutes * 60_000;
}

export function absoluteMs(web: WebContext): number {
	return web.services.config.security.session_max_hours * 3_600_000;
}

function setSessionCookie(web: WebContext, request: FastifyRequest, reply: FastifyReply, token: string, row: SessionRow): void {
	reply.setCookie(SESSION_COOKIE, token, cookieOptions(web));
	request.web.session = row;
	request.web.token = token;
	request.web.csrf = web.csrf.tokenFor("session", token);
}

/** Ends the current session (if any): deletes the row and clears the cookie. */
export async function endSession(web: WebContext, request: FastifyRequest, reply: FastifyReply): Promise<void> {
	if (request.web.token !== null) await web.services.sessions.remove(request.web.token);
	reply.clearCookie(SESSION_COOKIE, cookieOptions(web));
	request.web.session = null;
	request.web.token = null;
	request.web.user = null;
	request.web.csrf = request.web.preToken ? web.csrf.tokenFor("pre", request.web.preToken) : "";
}

/**
 * A new session after the password step (or after a completed password-only login). Any session
 * this browser had is deleted first, so nothing of a previous user or attempt carries over (W5).
 */
export async function startSession(
	web: WebContext,
	request: FastifyRequest,
	reply: FastifyReply,
	input: { userId: string; state: "half" | "full"; attemptId: string | null; secondFactorMethod: string | null },
): Promise<void> {
	const stale = request.cookies[SESSION_COOKIE];
	if (typeof stale === "string" && stale.length > 0) await web.services.sessions.remove(stale);
	const user = await web.services.directory.users.findById(input.userId);
	const now = web.services.clock.now().getTime();
	const { token, row } = await web.services.sessions.create({
		userId: input.userId,
		attemptId: input.attemptId,
		state: input.state,
		secondFactorMethod: input.secondFactorMethod,
		stepUpAt: input.state === "full" ? now : null,
		sessionEpoch: user?.session_epoch ?? 0,
		source: request.ip,
		ttlMs: input.state === "full" ? idleMs(web) : web.services.config.security.attempt_ttl_seconds * 1000,
	});
	request.web.user = user ?? null;
	setSessionCookie(web, request, reply, token, row);
}

/**
 * Rotates the current session to a new token with changes applied. Returns false when the
 * session vanished meanwhile (revoked on another node), in which case the caller starts over.
 */
export async function rotateSession(
	web: WebContext,
	request: FastifyRequest,
	reply: FastifyReply,
	changes: { state?: "half" | "full"; attemptId?: string | null; secondFactorMethod?: string | null; stepUpAt?: number | null },
): Promise<boolean> {
	if (request.web.token === null) return false;
	const ttlMs = changes.state === "full" ? idleMs(web) : changes.state === "half" ? web.services.config.security.attempt_ttl_seconds * 1000 : undefined;
	const rotated = await web.services.sessions.rotate(request.web.token, { ...changes, ...(ttlMs !== undefined ? { ttlMs } : {}) });
	if (rotated === null) {
		await endSession(web, request, reply);
		return false;
	}
	setSessionCookie(web, request, reply, rotated.token, rotated.row);
	return true;
}

/** The session no longer points at its (step-up) attempt; the next step-up page begins a new one. */
export async function forgetAttempt(web: WebContext, request: FastifyRequest): Promise<void> {
	const session = request.web.session;
	if (session === null) return;
	await web.services.sessions.update(session.id_hash, { attempt_id: null });
	session.attempt_id = null;
}

/** A full session whose second factor (or password confirmation) is recent enough for management. */
export function isFresh(web: WebContext, session: SessionRow | null): boolean {
	if (session === null || session.state !== "full" || session.step_up_at === null) return false;
	return Number(session.step_up_at) >= web.services.clock.now().getTime() - web.services.config.security.step_up_minutes * 60_000;
}

/**
 * How stale `last_seen_at` may get before a request writes it again: a minute, or a tenth of the
 * idle timeout when that is shorter. Skipping the write on most requests takes an UPDATE off the
 * console's hot path (docs/benchmarks.md "Console hot path"); the cost is that the sliding idle
 * timeout counts from up to this long before the last request, i.e. a session may end that much
 * EARLIER than `session_idle_minutes` after the last click, never later (docs/decisions.md
 * "Session touch: at most once a minute").
 */
export function touchIntervalMs(web: WebContext): number {
	return Math.min(60_000, idleMs(web) / 10);
}

/**
 * Sliding idle timeout capped by the absolute lifetime (counted from the last full authentication).
 * Writes only when the session passed the full policy check at a new version (the stamp must land)
 * or its last write is older than touchIntervalMs.
 */
export async function touchSession(web: WebContext, session: SessionRow, policyVersion?: number): Promise<void> {
	const now = web.services.clock.now().getTime();
	const restamp = policyVersion !== undefined && policyVersion !== Number(session.policy_version);
	if (!restamp && now - Number(session.last_seen_at) < touchIntervalMs(web)) return;
	await web.services.sessions.touch(session.id_hash, idleMs(web), Number(session.created_at) + absoluteMs(web), policyVersion);
}
