/**
 * One bounded HTTP(S) exchange with a second-factor backend (YubiCloud validation, Duo Auth API):
 * a hard deadline for the whole exchange, a cap on the answer, TLS ≥ 1.2 with certificate
 * verification (optionally against a private CA), no connection reuse, and no proxy. node:http(s)
 * never reads HTTP(S)_PROXY, which is the point: DUO-PSA-2017-002 was a user-controlled proxy
 * variable making Duo unreachable and pam_duo failing open (docs/threat-model.md, How 2FA gates fail in practice; docs/security-matrix.md E2).
 *
 * Transport failures (DNS, refused, TLS, reset, deadline) are "failure"; anything that produced an
 * HTTP status line is "response" or "oversized", so callers can tell "the server said something
 * (maybe garbage)" from "the server is unreachable". Callers fail closed on both.
 */
import type http from "node:http";
import type https from "node:https";

/**
 * node:http and node:https as their CommonJS objects, taken when a request is made. An ES import of
 * node:http builds its ES facade by reading every export, and Node 24 exports the fetch stack
 * (undici) from node:http behind lazy getters: importing it cost every process that builds the
 * method registry, each CLI command included, undici's load (docs/benchmarks.md, "CLI cold start").
 */
const transports = (): { "http:": typeof http; "https:": typeof https } => ({
	"http:": process.getBuiltinModule("node:http"),
	"https:": process.getBuiltinModule("node:https"),
});

export interface BoundedHttpRequest {
	readonly protocol: "http:" | "https:";
	/** A host name or an IP address (IPv6 without brackets). */
	readonly hostname: string;
	readonly port: number;
	/** Path plus query string, sent exactly as given (signed requests must not be re-encoded). */
	readonly path: string;
	readonly method: "GET" | "POST";
	readonly headers: Readonly<Record<string, string>>;
	readonly body?: string | undefined;
	readonly timeoutMs: number;
	readonly maxBytes: number;
	readonly ca?: string | Buffer | readonly (string | Buffer)[] | undefined;
}

export type BoundedHttpOutcome =
	| { readonly kind: "response"; readonly status: number; readonly contentType: string; readonly body: Buffer }
	| { readonly kind: "oversized"; readonly status: number; readonly message: string }
	| { readonly kind: "failure"; readonly reason: "timeout" | "network"; readonly message: string };

export function boundedHttp(request: BoundedHttpRequest): Promise<BoundedHttpOutcome> {
	return new Promise((resolve) => {
		let settled = false;
		const finish = (outcome: BoundedHttpOutcome): void => {
			if (settled) return;
			settled = true;
			clearTimeout(timer);
			if (outcome.kind !== "response") outgoing.destroy();
			resolve(outcome);
		};
		const options: https.RequestOptions = {
			protocol: request.protocol,
			hostname: request.hostname,
			port: request.port,
			method: request.method,
			path: request.path,
			headers: request.headers,
			agent: false,
		};
		if (request.protocol === "https:") {
			options.rejectUnauthorized = true;
			options.minVersion = "TLSv1.2";
			if (request.ca !== undefined) options.ca = request.ca as string | Buffer | (string | Buffer)[];
		}
		const transport = transports()[request.protocol];
		const outgoing = transport.request(options, (response) => {
			const status = response.statusCode ?? 0;
			const declared = Number(response.headers["content-length"]);
			if (Number.isFinite(declared) && declared > request.maxBytes) {
				finish({ kind: "oversized", status, message: `declared ${declared} bytes` });
				return;
			}
			const chunks: Buffer[] = [];
			let size = 0;
			response.on("data", (chunk: Buffer) => {
				size += chunk.length;
				if (size > request.maxBytes) {
					finish({ kind: "oversized", status, message: `more than ${request.maxBytes} bytes` });
					return;
				}
				chunks.push(chunk);
			});
			response.on("end", () => finish({ kind: "response", status, contentType: String(response.headers["content-type"] ?? ""), body: Buffer.concat(chunks) }));
			response.on("error", (error) => finish({ kind: "failure", reason: "network", message: error.message }));
		});
		const timer = setTimeout(
			() => finish({ kind: "failure", reason: "timeout", message: `no complete answer within ${request.timeoutMs} ms` }),
			request.timeoutMs,
		);
		outgoing.on("error", (error) => finish({ kind: "failure", reason: "network", message: error.message }));
		outgoing.end(request.body);
	});
}
