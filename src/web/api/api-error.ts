import type { FastifyReply } from "fastify";
import { SENT } from "./api-route.ts";

/**
 * Sends the JSON error body of every API refusal: a stable code and a human message, never a
 * stack. Returns SENT, so a route handler can `return apiError(...)`.
 */
export function apiError(reply: FastifyReply, status: number, error: string, message: string): typeof SENT {
	reply.code(status).header("cache-control", "no-store").send({ error, message });
	return SENT;
}
