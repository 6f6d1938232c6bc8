/**
 * The one mapping from a second-factor answer's result to HTTP, for every page that submits one:
 * the login's second-factor page, the step-up page, the WebAuthn key answers and Duo's callback.
 * Each caller says how to show its own page; what each result means is decided here only
 * (docs/decisions.md "Second-factor results on the web").
 */
import type { FastifyReply, FastifyRequest } from "fastify";
import type { MethodId } from "../../core/method-id.ts";
import type { PasswordConfirmResult, SecondFactorResult } from "../../flows/login-flow.ts";
import type { WebContext } from "../context.ts";
import { forgetAttempt } from "../session.ts";
import type { Notice } from "../views/login.tsx";
import { completeLogin, loginRefused, renderSecondFactorPage } from "./login-steps.tsx";

/** The warning after a wrong second factor: how many tries are left before the lock. */
export function lockWarning(attemptsLeft: number): string {
	return `${attemptsLeft === 1 ? "1 attempt left" : `${attemptsLeft} attempts left`} before the account is locked.`;
}

/** Another round of the same method (e.g. a RADIUS Access-Challenge): its prompt, nothing new started. */
export interface Continued {
	readonly method: MethodId;
	readonly prompt: string;
}

export interface SecondFactorPage {
	/** "login": the attempt of a half session; "step-up": the step-up attempt of a full session. */
	readonly purpose: "login" | "step-up";
	/** The text shown for a wrong answer instead of the flow's (the attempts left are appended). */
	readonly invalidText?: string;
	/** Accepted: the session rotates (to full, or fresh) and goes on. */
	done(method: MethodId | null): Promise<FastifyReply>;
	/** The same attempt's page again: a wrong answer, or another round of the method. */
	again(notice: Notice, status: number, continued: Continued | null): Promise<FastifyReply>;
	/**
	 * After a denial that is not a lock. Login: the attempt's page with its default method (the
	 * method was not allowed or could not run). Step-up: the step-up page for a NEW attempt (the
	 * denied one was forgotten just before).
	 */
	restart(notice: Notice, status: number): Promise<FastifyReply>;
}

export async function replySecondFactor(
	web: WebContext,
	request: FastifyRequest,
	reply: FastifyReply,
	result: SecondFactorResult | PasswordConfirmResult,
	page: SecondFactorPage,
): Promise<FastifyReply> {
	switch (result.kind) {
		case "authenticated":
			return page.done(result.method);
		case "continue":
			return page.again(null, 200, { method: result.method, prompt: result.prompt });
		case "invalid":
			return page.again({ kind: "error", text: `${page.invalidText ?? result.message} ${lockWarning(result.attemptsLeft)}` }, 401, null);
		case "wrong-password":
			// The password stage never shows a remaining-attempt count (docs/decisions.md "Password throttling").
			return page.again({ kind: "error", text: result.message }, 401, null);
		case "denied":
			break;
	}
	if (result.reason === "locked") return loginRefused(web, request, reply, 403, result.message);
	const notice = { kind: "error" as const, text: result.message };
	if (result.reason === "busy") {
		// Nothing was checked or counted (the flow audited it): the same attempt's page again, "try again shortly" (RFC 6585 §4).
		reply.header("retry-after", "2");
		return page.again(notice, 429, null);
	}
	if (page.purpose === "step-up") {
		// A denied step-up attempt is never answered again: the session forgets it, the next page begins a new one.
		await forgetAttempt(web, request);
		return page.restart(notice, 400);
	}
	if (result.reason === "misconfigured" || result.reason === "unavailable") return page.restart(notice, 400);
	return loginRefused(web, request, reply, 401, result.message);
}

/** The login's second-factor page (POST /login/2fa, Duo's callback): `method` is the one just answered. */
export function loginSecondFactorPage(web: WebContext, request: FastifyRequest, reply: FastifyReply, method: MethodId): SecondFactorPage {
	return {
		purpose: "login",
		done: (proven) => completeLogin(web, request, reply, proven),
		again: (notice, status, continued) => renderSecondFactorPage(web, request, reply, method, notice, status, continued),
		restart: (notice, status) => renderSecondFactorPage(web, request, reply, undefined, notice, status),
	};
}
