/**
 * Shared by the admin route modules: who is acting (for the audit log), and how a refused admin
 * change (ERR_POLICY_INVALID, ERR_INPUT, ERR_CONFLICT, ERR_NOT_FOUND) becomes a visible form error
 * instead of a 500.
 */
import type { FastifyReply, FastifyRequest } from "fastify";
import { isPortcullisError } from "../core/errors.ts";
import type { Actor } from "../flows/admin-service.ts";
import type { Notice } from "./views/login.tsx";

const ERROR_STATUS: Readonly<Record<string, number>> = { ERR_POLICY_INVALID: 400, ERR_INPUT: 400, ERR_CONFLICT: 409, ERR_NOT_FOUND: 404 };

export function webActor(request: FastifyRequest): Actor {
	return { name: request.web.user?.username ?? "unknown", channel: "web", source: request.ip };
}

/** Runs an admin change; a refusal is rendered by `onError`, anything else propagates (500 page). */
export async function attemptAdminChange(
	action: () => Promise<void>,
	onError: (notice: Notice, status: number) => Promise<FastifyReply>,
): Promise<FastifyReply | null> {
	try {
		await action();
		return null;
	} catch (error) {
		const status = isPortcullisError(error) ? ERROR_STATUS[error.code] : undefined;
		if (status !== undefined && isPortcullisError(error)) return onError({ kind: "error", text: error.message }, status);
		throw error;
	}
}
