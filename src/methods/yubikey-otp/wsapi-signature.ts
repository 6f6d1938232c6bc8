/**
 * Yubico Validation Protocol 2.0 signatures (yubikey-val doc/ValidationProtocolV20.adoc,
 * "Generating signatures" / "Verifying signatures"): HMAC-SHA-1 with the (base64-decoded) client
 * API key over the key=value pairs sorted by key, joined with "&", excluding `h` itself; the
 * result is base64 (RFC 4648) in `h`. Values are signed raw, i.e. before URL encoding.
 */
import { createHmac, timingSafeEqual } from "node:crypto";

const STRICT_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Canonical RFC 4648 base64 (with padding) only; returns null for anything else, including "". */
export function decodeStrictBase64(text: string): Buffer | null {
	if (typeof text !== "string" || text.length === 0 || !STRICT_BASE64.test(text)) return null;
	const bytes = Buffer.from(text, "base64");
	// Reject non-canonical encodings (non-zero padding bits) by re-encoding.
	return bytes.toString("base64") === text ? bytes : null;
}

/** The exact line that gets signed: sorted by key (byte order), `h` excluded. */
export function signedLine(params: ReadonlyMap<string, string> | Readonly<Record<string, string>>): string {
	const entries = params instanceof Map ? [...params.entries()] : Object.entries(params);
	return entries
		.filter(([key]) => key !== "h")
		.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
		.map(([key, value]) => `${key}=${value}`)
		.join("&");
}

export function wsapiSign(params: ReadonlyMap<string, string> | Readonly<Record<string, string>>, apiKey: Uint8Array): string {
	return createHmac("sha1", apiKey).update(signedLine(params), "utf8").digest("base64");
}

/** Constant-time check of `h` against the other parameters. A missing or non-base64 `h` is false. */
export function wsapiVerify(params: ReadonlyMap<string, string>, apiKey: Uint8Array): boolean {
	const h = params.get("h");
	if (h === undefined) return false;
	const given = decodeStrictBase64(h);
	if (given === null) return false;
	const expected = createHmac("sha1", apiKey).update(signedLine(params), "utf8").digest();
	return given.length === expected.length && timingSafeEqual(given, expected);
}
