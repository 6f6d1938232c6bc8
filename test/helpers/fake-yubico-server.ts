/**
 * A local Yubico Validation Protocol 2.0 server (yubikey-val doc/ValidationProtocolV20.adoc) for
 * tests. It listens on 127.0.0.1 port 0, over http or (with a test-ca.ts certificate) https.
 *
 * In mode "ok" it behaves like a real server: checks the request signature (BAD_SIGNATURE),
 * the client id (NO_SUCH_CLIENT), the OTP against the registered keys with the offline validator
 * (BAD_OTP), the strictly-rising counter (REPLAYED_OTP) and the otp+nonce pair (REPLAYED_REQUEST),
 * and signs its answer with the client's API key. The other modes script one misbehaviour each.
 */
import http from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { validateOtpOffline, type YubikeyOtpKey } from "../../src/methods/yubikey-otp/offline-validator.ts";
import { parseOtp } from "../../src/methods/yubikey-otp/otp-parse.ts";
import { decodeStrictBase64, wsapiSign, wsapiVerify } from "../../src/methods/yubikey-otp/wsapi-signature.ts";

export type FakeYubicoMode =
	/** Honest server (see above). */
	| "ok"
	/** Signed REPLAYED_OTP, whatever the OTP. */
	| "replayed"
	/** Answer without `h`, status=OK. */
	| "unsigned"
	/** status=OK with an `h` that does not match. */
	| "wrong-h"
	/** status=OK with an `h` that is not base64 at all. */
	| "non-base64-h"
	/** Correctly signed status=OK, but for a different OTP (cut'n'paste attack). */
	| "otp-mismatch"
	/** Correctly signed status=OK, but echoing a different nonce (replayed answer). */
	| "nonce-mismatch"
	/** 200 with an HTML body. */
	| "garbage"
	/** Never answers (until close), to trigger the client's deadline. */
	| "slow"
	/** HTTP 500 with a plain-text body. */
	| "http-500"
	/** Signed answer in which `status` appears twice (OK and BAD_OTP). */
	| "duplicate-key"
	/** Correctly signed, status not defined by the protocol. */
	| "unknown-status"
	/** Correctly signed BAD_SIGNATURE. */
	| "bad-signature-status"
	/** Lines separated by bare LF instead of CRLF. */
	| "lf-only"
	/** 1 MiB body (Content-Length set). */
	| "huge"
	/** 1 MiB body, chunked (no Content-Length). */
	| "huge-chunked";

export interface FakeYubicoServerOptions {
	/** Client id -> base64 API key. */
	readonly clients: Readonly<Record<string, string>>;
	/** Keys the server can decrypt in mode "ok". */
	readonly keys?: readonly YubikeyOtpKey[];
	readonly mode?: FakeYubicoMode;
	/** Serve https with this certificate (test-ca.ts); http otherwise. */
	readonly tls?: { readonly cert: string; readonly key: string };
}

export interface RecordedYubicoRequest {
	readonly path: string;
	readonly params: ReadonlyMap<string, string>;
	/** Whether the request carried an `h` that verified with the client's key. */
	readonly signatureValid: boolean;
}

export interface FakeYubicoServer {
	/** Full verify URL, e.g. http://127.0.0.1:12345/wsapi/2.0/verify */
	readonly url: string;
	mode: FakeYubicoMode;
	readonly requests: RecordedYubicoRequest[];
	close(): Promise<void>;
}

export const VERIFY_PATH = "/wsapi/2.0/verify";

function crlf(pairs: readonly (readonly [string, string])[]): string {
	return `${pairs.map(([key, value]) => `${key}=${value}`).join("\r\n")}\r\n\r\n`;
}

export async function startFakeYubicoServer(options: FakeYubicoServerOptions): Promise<FakeYubicoServer> {
	const lastCounter = new Map<string, number>();
	const seenRequests = new Set<string>();
	const requests: RecordedYubicoRequest[] = [];

	const state = {
		mode: options.mode ?? ("ok" as FakeYubicoMode),
	};

	const handler = (request: http.IncomingMessage, response: http.ServerResponse): void => {
		const url = new URL(request.url ?? "/", "http://fake");
		const params = new Map<string, string>();
		for (const [key, value] of url.searchParams) params.set(key, value);
		const id = params.get("id") ?? "";
		const keyText = options.clients[id];
		const apiKey = keyText === undefined ? null : decodeStrictBase64(keyText);
		const signatureValid = apiKey !== null && wsapiVerify(params, apiKey);
		requests.push({ path: url.pathname, params, signatureValid });

		const otp = params.get("otp") ?? "";
		const nonce = params.get("nonce") ?? "";
		// yubikey-val signs answers to unknown clients with an empty key; do the same.
		const signingKey = apiKey ?? Buffer.alloc(0);
		const t = `${new Date().toISOString().replace(/\.\d+Z$/, "Z")}0000`;

		const send = (status: number, body: string, type = "text/plain"): void => {
			response.writeHead(status, { "content-type": type, "content-length": Buffer.byteLength(body) });
			response.end(body);
		};
		const signed = (pairs: [string, string][]): string => {
			const h = wsapiSign(new Map(pairs), signingKey);
			return crlf([["h", h], ...pairs]);
		};
		const answer = (status: string, extra: [string, string][] = [], echoOtp = otp, echoNonce = nonce): void => {
			send(200, signed([["t", t], ["otp", echoOtp], ["nonce", echoNonce], ["sl", "100"], ["status", status], ...extra]));
		};

		if (url.pathname !== VERIFY_PATH) return send(404, "not found");

		switch (state.mode) {
			case "slow":
				return; // the socket stays open until the client gives up or the server closes
			case "garbage":
				return send(200, "<html><body>502 Bad Gateway</body></html>", "text/html");
			case "http-500":
				return send(500, "status=BACKEND_ERROR\r\n");
			case "huge":
				return send(200, "x".repeat(1024 * 1024));
			case "huge-chunked":
				response.writeHead(200, { "content-type": "text/plain" });
				for (let i = 0; i < 64; i++) response.write("x".repeat(16 * 1024));
				response.end();
				return;
			case "replayed":
				return answer("REPLAYED_OTP");
			case "unknown-status":
				return answer("MAYBE");
			case "bad-signature-status":
				return answer("BAD_SIGNATURE");
			case "unsigned":
				return send(
					200,
					crlf([
						["t", t],
						["otp", otp],
						["nonce", nonce],
						["sl", "100"],
						["status", "OK"],
					]),
				);
			case "wrong-h": {
				const pairs: [string, string][] = [
					["t", t],
					["otp", otp],
					["nonce", nonce],
					["sl", "100"],
					["status", "OK"],
				];
				const h = wsapiSign(new Map(pairs), Buffer.from("not the api key"));
				return send(200, crlf([["h", h], ...pairs]));
			}
			case "non-base64-h":
				return send(
					200,
					crlf([
						["h", "%%%not-base64%%%"],
						["t", t],
						["otp", otp],
						["nonce", nonce],
						["status", "OK"],
					]),
				);
			case "otp-mismatch":
				return answer("OK", [], "cccccccccccbdefghijklnrtuvcbdefghijklnrtuv");
			case "nonce-mismatch":
				return answer("OK", [], otp, "0123456789abcdef0123456789abcdef");
			case "duplicate-key": {
				// Signature computed over the first value; a lax parser that keeps the last would see BAD_OTP.
				const pairs: [string, string][] = [
					["t", t],
					["otp", otp],
					["nonce", nonce],
					["status", "OK"],
				];
				const h = wsapiSign(new Map(pairs), signingKey);
				return send(200, crlf([["h", h], ...pairs, ["status", "BAD_OTP"]]));
			}
			case "lf-only": {
				const pairs: [string, string][] = [
					["t", t],
					["otp", otp],
					["nonce", nonce],
					["status", "OK"],
				];
				const h = wsapiSign(new Map(pairs), signingKey);
				return send(200, `${[["h", h], ...pairs].map(([k, v]) => `${k}=${v}`).join("\n")}\n`);
			}
			case "ok":
				break;
		}

		// Honest server, in the order yubikey-val checks things.
		if (!params.has("id") || !params.has("otp") || !params.has("nonce")) return answer("MISSING_PARAMETER");
		if (apiKey === null) return answer("NO_SUCH_CLIENT");
		if (params.has("h") && !signatureValid) return answer("BAD_SIGNATURE");
		if (nonce.length < 16 || nonce.length > 40 || !/^[A-Za-z0-9]+$/.test(nonce)) return answer("MISSING_PARAMETER");
		const parsed = parseOtp(otp);
		if (!parsed.ok) return answer("BAD_OTP");
		const key = (options.keys ?? []).find((candidate) => candidate.publicId === parsed.publicId);
		if (key === undefined) return answer("BAD_OTP");
		const result = validateOtpOffline(otp, key);
		if (result.kind !== "valid") return answer("BAD_OTP");
		const requestKey = `${otp}\u0000${nonce}`;
		if (seenRequests.has(requestKey)) return answer("REPLAYED_REQUEST");
		seenRequests.add(requestKey);
		const last = lastCounter.get(parsed.publicId);
		if (last !== undefined && result.counter <= last) return answer("REPLAYED_OTP");
		lastCounter.set(parsed.publicId, result.counter);
		const extra: [string, string][] =
			params.get("timestamp") === "1"
				? [
						["timestamp", String(result.timestamp)],
						["sessioncounter", String(result.useCounter)],
						["sessionuse", String(result.sessionCounter)],
					]
				: [];
		return answer("OK", extra);
	};

	const server = options.tls ? https.createServer({ cert: options.tls.cert, key: options.tls.key }, handler) : http.createServer(handler);
	await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
	const { port } = server.address() as AddressInfo;
	const scheme = options.tls ? "https" : "http";
	const host = options.tls ? "localhost" : "127.0.0.1";

	return {
		url: `${scheme}://${host}:${port}${VERIFY_PATH}`,
		get mode() {
			return state.mode;
		},
		set mode(value: FakeYubicoMode) {
			state.mode = value;
		},
		requests,
		close: () =>
			new Promise<void>((resolve) => {
				server.closeAllConnections();
				server.close(() => resolve());
			}),
	};
}
