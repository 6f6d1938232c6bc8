/**
 * The PROXY protocol header a load balancer puts in front of a TCP stream to pass on the real
 * client's address (HAProxy's "The PROXY protocol, versions 1 & 2", the text HAProxy publishes
 * as doc/proxy-protocol.txt; `send-proxy` / `send-proxy-v2` in HAProxy). Pure: bytes in, a value
 * out, no I/O.
 *
 * Only ever parsed on connections from a configured trusted proxy (src/ssh/proxy-header.ts); from
 * anyone else the bytes are SSH and a header is just garbage that fails the version exchange.
 *
 * - v1 (§2.1): one ASCII line "PROXY TCP4|TCP6|UNKNOWN src dst sport dport\r\n", at most 107
 *   bytes with the CRLF. "UNKNOWN" carries no usable address.
 * - v2 (§2.2): the 12-byte signature, version 2 and a command (LOCAL / PROXY), family and
 *   transport, a 16-bit length, the addresses and then TLVs (skipped: we need none).
 * - LOCAL, UNKNOWN, AF_UNSPEC, UDP and Unix sockets give no client address (`source: null`): the
 *   caller must then treat the client as unknown (outside every trusted network), never fall back
 *   to the proxy's own, possibly "inside", address.
 */
import { isIPv4, isIPv6 } from "node:net";

export const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V1_PREFIX = Buffer.from("PROXY ", "ascii");
/** §2.1: the longest v1 line, CRLF included. */
export const V1_MAX_LENGTH = 107;
/** Our cap on a v2 header (16 bytes + addresses + TLVs); HAProxy sends far less unless told to add TLVs. */
export const V2_MAX_LENGTH = 16 + 2048;

export interface ProxySource {
	readonly address: string;
	readonly port: number;
}

export type ProxyHeader =
	/** More bytes are needed to decide. */
	| { readonly kind: "incomplete" }
	| { readonly kind: "invalid"; readonly reason: string }
	| {
			readonly kind: "ok";
			readonly version: 1 | 2;
			/** Bytes the header took; everything after them is the proxied stream. */
			readonly length: number;
			/** The client's address, or null when the header carries none (LOCAL, UNKNOWN, non-TCP). */
			readonly source: ProxySource | null;
	  };

function startsWith(buffer: Buffer, prefix: Buffer): "yes" | "no" | "maybe" {
	const n = Math.min(buffer.length, prefix.length);
	if (!buffer.subarray(0, n).equals(prefix.subarray(0, n))) return "no";
	return buffer.length >= prefix.length ? "yes" : "maybe";
}

const PORT = /^(0|[1-9][0-9]{0,4})$/;

function parseV1(buffer: Buffer): ProxyHeader {
	const end = buffer.indexOf("\r\n", 0, "ascii");
	if (end < 0) return buffer.length >= V1_MAX_LENGTH ? { kind: "invalid", reason: "v1 line too long" } : { kind: "incomplete" };
	const length = end + 2;
	if (length > V1_MAX_LENGTH) return { kind: "invalid", reason: "v1 line too long" };
	const line = buffer.subarray(0, end).toString("latin1");
	// §2.1: the line is printable US-ASCII.
	if (/[^\x20-\x7e]/.test(line)) return { kind: "invalid", reason: "v1 line not printable ASCII" };
	const parts = line.split(" ");
	if (parts[1] === "UNKNOWN") return { kind: "ok", version: 1, length, source: null };
	if (parts.length !== 6) return { kind: "invalid", reason: "v1 line malformed" };
	const [, family, source, destination, sourcePort, destinationPort] = parts as [string, string, string, string, string, string];
	const valid = family === "TCP4" ? isIPv4 : family === "TCP6" ? isIPv6 : null;
	if (valid === null) return { kind: "invalid", reason: "v1 unknown protocol" };
	if (!valid(source) || !valid(destination)) return { kind: "invalid", reason: "v1 bad address" };
	for (const port of [sourcePort, destinationPort]) {
		if (!PORT.test(port) || Number(port) > 65535) return { kind: "invalid", reason: "v1 bad port" };
	}
	return { kind: "ok", version: 1, length, source: { address: source, port: Number(sourcePort) } };
}

function ipv6Text(bytes: Buffer): string {
	const groups: string[] = [];
	for (let index = 0; index < 16; index += 2) groups.push(bytes.readUInt16BE(index).toString(16));
	return groups.join(":");
}

function parseV2(buffer: Buffer): ProxyHeader {
	if (buffer.length < 16) return { kind: "incomplete" };
	const versionCommand = buffer[12]!;
	if (versionCommand >> 4 !== 2) return { kind: "invalid", reason: "v2 bad version" };
	const command = versionCommand & 0x0f;
	if (command > 1) return { kind: "invalid", reason: "v2 bad command" };
	const familyTransport = buffer[13]!;
	const bodyLength = buffer.readUInt16BE(14);
	const length = 16 + bodyLength;
	if (length > V2_MAX_LENGTH) return { kind: "invalid", reason: "v2 header too long" };
	if (buffer.length < length) return { kind: "incomplete" };
	// §2.2: LOCAL (health checks from the proxy itself) carries no client; its address block is ignored.
	if (command === 0) return { kind: "ok", version: 2, length, source: null };
	const family = familyTransport >> 4;
	const transport = familyTransport & 0x0f;
	if (family > 3 || transport > 2) return { kind: "invalid", reason: "v2 bad family or transport" };
	// Only TCP over IPv4/IPv6 names a client we can match; anything else is "no address".
	if (transport !== 1 || (family !== 1 && family !== 2)) return { kind: "ok", version: 2, length, source: null };
	const body = buffer.subarray(16, length);
	if (family === 1) {
		if (body.length < 12) return { kind: "invalid", reason: "v2 address block too short" };
		return { kind: "ok", version: 2, length, source: { address: Array.from(body.subarray(0, 4)).join("."), port: body.readUInt16BE(8) } };
	}
	if (body.length < 36) return { kind: "invalid", reason: "v2 address block too short" };
	return { kind: "ok", version: 2, length, source: { address: ipv6Text(body.subarray(0, 16)), port: body.readUInt16BE(32) } };
}

/** Parses the header at the start of `buffer` (what has arrived so far). */
export function parseProxyHeader(buffer: Buffer): ProxyHeader {
	if (buffer.length === 0) return { kind: "incomplete" };
	const v2 = startsWith(buffer, V2_SIGNATURE);
	if (v2 === "yes") return parseV2(buffer);
	const v1 = startsWith(buffer, V1_PREFIX);
	if (v1 === "yes") return parseV1(buffer);
	if (v2 === "maybe" || v1 === "maybe") return { kind: "incomplete" };
	return { kind: "invalid", reason: "no PROXY protocol header" };
}
