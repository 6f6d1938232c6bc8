/**
 * One bounded HTTPS exchange with the Duo API: TLS with certificate verification (optionally
 * against a private CA), a hard deadline for the whole exchange, a 64 KiB cap on the answer, and
 * no proxy. node:https never reads HTTP(S)_PROXY, which is the point: DUO-PSA-2017-002 was a
 * user-controlled proxy variable making Duo unreachable and pam_duo failing open (security.md
 * §1.7, §5.5 E2).
 *
 * Any failure to get a complete answer throws PortcullisError("ERR_METHOD_UNAVAILABLE"): the
 * caller fails closed.
 */
import https from "node:https";
import { PortcullisError } from "../../core/errors.ts";

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

export function duoHttps(request: DuoHttpsRequest): Promise<DuoHttpsResponse> {
	return new Promise((resolve, reject) => {
		let settled = false;
		const fail = (reason: DuoTransportError["reason"], message: string): void => {
			if (settled) return;
			settled = true;
			clearTimeout(timer);
			outgoing.destroy();
			reject(new PortcullisError("ERR_METHOD_UNAVAILABLE", `Duo API ${reason}: ${message}`, { cause: new DuoTransportError(reason, message) }));
		};
		const options: https.RequestOptions = {
			host: request.host,
			port: request.port,
			method: request.method,
			path: request.path,
			headers: request.headers,
			agent: false,
			rejectUnauthorized: true,
			minVersion: "TLSv1.2",
		};
		if (request.ca !== undefined) options.ca = request.ca as string | Buffer | (string | Buffer)[];
		const outgoing = https.request(options, (response) => {
			const declared = Number(response.headers["content-length"]);
			if (Number.isFinite(declared) && declared > MAX_DUO_RESPONSE_BYTES) {
				fail("too-large", `declared ${declared} bytes`);
				return;
			}
			const chunks: Buffer[] = [];
			let size = 0;
			response.on("data", (chunk: Buffer) => {
				size += chunk.length;
				if (size > MAX_DUO_RESPONSE_BYTES) {
					fail("too-large", `more than ${MAX_DUO_RESPONSE_BYTES} bytes`);
					return;
				}
				chunks.push(chunk);
			});
			response.on("end", () => {
				if (settled) return;
				settled = true;
				clearTimeout(timer);
				resolve({
					status: response.statusCode ?? 0,
					contentType: String(response.headers["content-type"] ?? ""),
					body: Buffer.concat(chunks),
				});
			});
			response.on("error", (error) => fail("network", error.message));
		});
		const timer = setTimeout(() => fail("timeout", `no complete answer within ${request.timeoutMs} ms`), request.timeoutMs);
		outgoing.on("error", (error) => fail("network", error.message));
		outgoing.end(request.body);
	});
}
