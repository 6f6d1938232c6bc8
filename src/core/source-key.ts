/**
 * The key under which password failures from one client are throttled (per account and source,
 * docs/decisions.md "Password throttling"). Pure: no I/O.
 *
 * - IPv4 addresses are kept whole; an IPv4-mapped IPv6 address (`::ffff:192.0.2.1`, RFC 4291
 *   §2.5.5.2, what a dual-stack socket reports) is the IPv4 address it carries.
 * - IPv6 addresses are reduced to their /64: one subnet is normally one site or one customer
 *   (RFC 7421 §1, RFC 6177), and a single host can otherwise rotate through 2^64 addresses and
 *   get a fresh allowance with each one.
 * - Anything else (a Unix socket, "unknown", a test's label) is used as it is, bounded.
 */
import { isIPv4, isIPv6 } from "node:net";

export function sourceKey(address: string): string {
	const bare = address.trim().replace(/%.*$/, "").toLowerCase();
	if (isIPv4(bare)) return bare;
	if (isIPv6(bare)) {
		const groups = expandIpv6(bare);
		// An IPv4-mapped address, whether written ::ffff:192.0.2.1 or ::ffff:c000:201.
		if (groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff) {
			return `${groups[6]! >> 8}.${groups[6]! & 0xff}.${groups[7]! >> 8}.${groups[7]! & 0xff}`;
		}
		return `${groups
			.slice(0, 4)
			.map((group) => group.toString(16))
			.join(":")}::/64`;
	}
	return address.slice(0, 100);
}

/** The eight 16-bit groups of a valid IPv6 address (RFC 4291 §2.2 text forms, embedded IPv4 included). */
export function expandIpv6(address: string): number[] {
	let text = address;
	const v4 = /(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
	if (v4 !== null) {
		const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
		text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
	}
	const [head = "", tail] = text.split("::") as [string, string | undefined];
	const parse = (part: string) => (part === "" ? [] : part.split(":").map((group) => Number.parseInt(group, 16)));
	const left = parse(head);
	if (tail === undefined) return left;
	const right = parse(tail);
	return [...left, ...Array<number>(8 - left.length - right.length).fill(0), ...right];
}
