/**
 * Shared by the admin route modules: who is acting (for the audit log), and how a refused admin
 * change (ERR_POLICY_INVALID, ERR_INPUT, ERR_CONFLICT, ERR_NOT_FOUND) becomes a visible form error
 * instead of a 500.
 */
import type { FastifyReply, FastifyRequest } from "fastify";
import { formatDeadline, parseEnrolmentDeadline } from "../core/enrolment-deadline.ts";
import { isPortcullisError, PortcullisError } from "../core/errors.ts";
import type { Actor } from "../flows/admin-service.ts";
import type { Notice } from "./views/login.tsx";

const ERROR_STATUS: Readonly<Record<string, number>> = { ERR_POLICY_INVALID: 400, ERR_INPUT: 400, ERR_CONFLICT: 409, ERR_NOT_FOUND: 404 };

export function webActor(request: FastifyRequest): Actor {
	return { name: request.web.user?.username ?? "unknown", channel: "web", source: request.ip };
}

/**
 * Runs an admin change; a refusal is rendered by `onError`, anything else propagates (500 page).
 * With `request`, the field the refusal names (PortcullisError.field) is marked on the form shown
 * again with what was typed (views/form-echo.tsx).
 */
export async function attemptAdminChange(
	action: () => Promise<void>,
	onError: (notice: Notice, status: number) => Promise<FastifyReply>,
	request?: FastifyRequest,
): Promise<FastifyReply | null> {
	try {
		await action();
		return null;
	} catch (error) {
		const status = isPortcullisError(error) ? ERROR_STATUS[error.code] : undefined;
		if (status !== undefined && isPortcullisError(error)) {
			const echo = request?.web.echo;
			if (echo !== undefined && echo !== null) echo.invalid = error.field ?? null;
			return onError({ kind: "error", text: error.message }, status);
		}
		throw error;
	}
}

/**
 * The enrolment-deadline field of the settings and group forms: unchanged (undefined) when it still
 * shows the stored value (which may have passed), else parsed; bad text is refused as ERR_INPUT so
 * the form shows the reason.
 */
export function deadlineChange(text: string | undefined, current: number | null | undefined, now: number): number | null | undefined {
	if (text === undefined) return undefined;
	const trimmed = text.trim();
	if (trimmed === formatDeadline(current) || (trimmed === "" && (current === null || current === undefined))) return undefined;
	const parsed = parseEnrolmentDeadline(trimmed, now);
	if (!parsed.ok) throw new PortcullisError("ERR_INPUT", parsed.message, { field: "deadline" });
	return parsed.value;
}

/** The remember-window field: whole minutes; empty means "inherit" where `emptyMeans` is null (groups). Bad text is ERR_INPUT. */
export function rememberChange(text: string | undefined, emptyMeans: number | null | undefined): number | null | undefined {
	if (text === undefined) return undefined;
	const trimmed = text.trim();
	if (trimmed === "") return emptyMeans;
	if (!/^\d{1,5}$/.test(trimmed)) throw new PortcullisError("ERR_INPUT", "The remember window is a whole number of minutes (0: off).", { field: "remember" });
	return Number(trimmed);
}
