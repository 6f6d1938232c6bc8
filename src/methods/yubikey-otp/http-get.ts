/**
 * One bounded HTTP(S) GET for the validation client: a hard deadline for the whole exchange, a cap
 * on the body, an optional private CA, and no proxy (node:http never reads HTTP(S)_PROXY, which
 * is what we want: proxy settings must come from admin config only, cf. DUO-PSA-2017-002).
 *
 * Transport failures (DNS, refused, TLS, reset, deadline) are "failure"; anything that produced
 * an HTTP status line is "response" or "oversized", so the caller can tell "server said something
 * (maybe garbage)" from "server unreachable".
 */
import http from "node:http";
import https from "node:https";

export type HttpGetOutcome =
	| { readonly kind: "response"; readonly status: number; readonly body: Buffer }
	| { readonly kind: "oversized"; readonly status: number }
	| { readonly kind: "failure"; readonly reason: "timeout" | "network"; readonly message: string };

export interface HttpGetOptions {
	readonly timeoutMs: number;
	readonly maxBytes: number;
	readonly ca?: string | Buffer | readonly (string | Buffer)[] | undefined;
}

export function httpGet(url: URL, options: HttpGetOptions): Promise<HttpGetOutcome> {
	return new Promise((resolve) => {
		let settled = false;
		const finish = (outcome: HttpGetOutcome): void => {
			if (settled) return;
			settled = true;
			clearTimeout(timer);
			resolve(outcome);
		};
		const requestOptions: https.RequestOptions = {
			method: "GET",
			headers: { accept: "text/plain", "user-agent": "portcullis" },
			agent: false,
		};
		if (url.protocol === "https:") {
			requestOptions.rejectUnauthorized = true;
			requestOptions.minVersion = "TLSv1.2";
			if (options.ca !== undefined) requestOptions.ca = options.ca as string | Buffer | (string | Buffer)[];
		}
		const transport = url.protocol === "https:" ? https : http;
		const request = transport.request(url, requestOptions, (response) => {
			const status = response.statusCode ?? 0;
			const declared = Number(response.headers["content-length"]);
			if (Number.isFinite(declared) && declared > options.maxBytes) {
				finish({ kind: "oversized", status });
				request.destroy();
				return;
			}
			const chunks: Buffer[] = [];
			let size = 0;
			response.on("data", (chunk: Buffer) => {
				size += chunk.length;
				if (size > options.maxBytes) {
					finish({ kind: "oversized", status });
					request.destroy();
					return;
				}
				chunks.push(chunk);
			});
			response.on("end", () => finish({ kind: "response", status, body: Buffer.concat(chunks) }));
			response.on("error", (error) => finish({ kind: "failure", reason: "network", message: error.message }));
		});
		const timer = setTimeout(() => {
			finish({ kind: "failure", reason: "timeout", message: `no complete answer within ${options.timeoutMs} ms` });
			request.destroy();
		}, options.timeoutMs);
		request.on("error", (error) => finish({ kind: "failure", reason: "network", message: error.message }));
		request.end();
	});
}
