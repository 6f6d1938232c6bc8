/**
 * One exchange with the Duo API over src/net/bounded-http.ts (HTTPS only, certificate verified,
 * deadline, no proxy), with a 64 KiB cap on the answer. Any failure to get a complete answer
 * throws PortcullisError("ERR_METHOD_UNAVAILABLE"): the caller fails closed.
 */
import { PortcullisError } from "../../core/errors.ts";
import { boundedHttp } from "../../net/bounded-http.ts";

export const MAX_DUO_RESPONSE_BYTES = 64 * 1024;

export interface DuoHttpsRequest {
	readonly host: string;
	readonly port: number;
	readonly method: "GET" | "POST";
	/** Path plus query string for GET. */
	readonly path: string;
	readonly headers: Readonly<Record<string, string>>;
	readonly body?: string;
	readonly timeoutMs: number;
	readonly ca?: string | Buffer | readonly (string | Buffer)[] | undefined;
}

export interface DuoHttpsResponse {
	readonly status: number;
	readonly contentType: string;
	readonly body: Buffer;
}

/** Why the exchange failed, for logs and tests (never shown to users). */
export class DuoTransportError extends Error {
	constructor(
		readonly reason: "timeout" | "network" | "too-large",
		message: string,
	) {
		super(message);
		this.name = "DuoTransportError";
	}
}

export async function duoHttps(request: DuoHttpsRequest): Promise<DuoHttpsResponse> {
	const outcome = await boundedHttp({
		protocol: "https:",
		hostname: request.host,
		port: request.port,
		path: request.path,
		method: request.method,
		headers: request.headers,
		body: request.body,
		timeoutMs: request.timeoutMs,
		maxBytes: MAX_DUO_RESPONSE_BYTES,
		ca: request.ca,
	});
	if (outcome.kind === "response") return { status: outcome.status, contentType: outcome.contentType, body: outcome.body };
	const reason = outcome.kind === "oversized" ? "too-large" : outcome.reason;
	throw new PortcullisError("ERR_METHOD_UNAVAILABLE", `Duo API ${reason}: ${outcome.message}`, { cause: new DuoTransportError(reason, outcome.message) });
}
