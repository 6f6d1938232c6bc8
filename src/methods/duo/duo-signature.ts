/**
 * Duo API request signing, canonicalization version 2 (duo.com/docs/authapi "Authentication";
 * docs/dependencies.md, Duo): the HMAC-SHA512, keyed with the secret key, of
 *
 *   date "\n" METHOD "\n" host(lower case) "\n" path "\n" canon-params
 *
 * where canon-params are the request parameters sorted by name, each "name=value" with both parts
 * percent-encoded per RFC 3986 (only A-Z a-z 0-9 - . _ ~ left bare; UTF-8 for the rest), joined
 * with "&". The request carries `Authorization: Basic base64(ikey ":" hex-signature)` and a `Date`
 * header (RFC 2822) identical to the signed one, which Duo also checks for clock skew.
 *
 * The same canon-params string is the x-www-form-urlencoded POST body or the GET query string, so
 * what is signed is byte-for-byte what is sent.
 */
import { createHmac } from "node:crypto";
import { PortcullisError } from "../../core/errors.ts";

export type DuoParams = Readonly<Record<string, string>>;

/** RFC 3986 §2.3: everything but unreserved characters is percent-encoded (UTF-8). */
export function rfc3986Encode(value: string): string {
	let encoded: string;
	try {
		encoded = encodeURIComponent(value);
	} catch {
		// encodeURIComponent throws URIError on lone surrogates: not valid text, cannot be signed.
		throw new PortcullisError("ERR_INPUT", "A Duo request parameter is not well-formed Unicode.");
	}
	// encodeURIComponent leaves ! ' ( ) * unescaped; RFC 3986 reserves them.
	return encoded.replace(/[!'()*]/g, (char) => `%${char.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** Parameters sorted by name (UTF-16 code-unit order, as Duo's reference clients do), RFC 3986-encoded. */
export function duoCanonParams(params: DuoParams): string {
	return Object.keys(params)
		.sort()
		.map((name) => `${rfc3986Encode(name)}=${rfc3986Encode(params[name]!)}`)
		.join("&");
}

export interface DuoRequestToSign {
	/** The exact `Date` header value. */
	readonly date: string;
	readonly method: string;
	/** API hostname, without scheme or port. */
	readonly host: string;
	readonly path: string;
	readonly params: DuoParams;
}

export function duoCanonicalRequest(request: DuoRequestToSign): string {
	return [request.date, request.method.toUpperCase(), request.host.toLowerCase(), request.path, duoCanonParams(request.params)].join("\n");
}

/** Hex HMAC-SHA512 of the canonical request. */
export function duoSignatureHex(secretKey: string, request: DuoRequestToSign): string {
	return createHmac("sha512", secretKey).update(duoCanonicalRequest(request), "utf8").digest("hex");
}

/** The `Authorization` header value: Basic base64(ikey:hexsig). */
export function duoAuthorizationHeader(integrationKey: string, secretKey: string, request: DuoRequestToSign): string {
	const signature = duoSignatureHex(secretKey, request);
	return `Basic ${Buffer.from(`${integrationKey}:${signature}`, "utf8").toString("base64")}`;
}

const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/**
 * RFC 2822 §3.3 date-time in UTC, in the form Duo's documentation and its Python client use:
 * "Tue, 21 Aug 2012 17:29:18 -0000".
 */
export function formatDuoDate(date: Date): string {
	const two = (n: number): string => String(n).padStart(2, "0");
	return (
		`${DAYS[date.getUTCDay()]}, ${two(date.getUTCDate())} ${MONTHS[date.getUTCMonth()]} ${date.getUTCFullYear()} ` +
		`${two(date.getUTCHours())}:${two(date.getUTCMinutes())}:${two(date.getUTCSeconds())} -0000`
	);
}
