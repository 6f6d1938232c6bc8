/**
 * Trusted networks for the network rules of the 2FA policy: CIDR blocks (RFC 4632 for IPv4,
 * RFC 4291 §2.3 for IPv6 prefixes) and the test "is this address inside". Pure: no I/O.
 *
 * An IPv4-mapped IPv6 address (`::ffff:192.0.2.1`, RFC 4291 §2.5.5.2, what a dual-stack socket
 * reports for an IPv4 client) is matched as the IPv4 address it carries, so a rule written for
 * 192.0.2.0/24 holds whichever way the listener was bound.
 */
import { isIPv4, isIPv6 } from "node:net";
import { expandIpv6 } from "./source-key.ts";

export interface Cidr {
	readonly family: 4 | 6;
	/** The network address with the host bits cleared. */
	readonly network: bigint;
	readonly prefix: number;
}

interface Address {
	readonly family: 4 | 6;
	readonly value: bigint;
}

function ipv4Value(text: string): bigint {
	return text.split(".").reduce((value, part) => (value << 8n) | BigInt(Number(part)), 0n);
}

/** The address as a number, or null when it is not an IP address (a Unix socket, a test label). */
export function parseAddress(raw: string): Address | null {
	const text = raw.trim().replace(/%.*$/, "").toLowerCase();
	if (isIPv4(text)) return { family: 4, value: ipv4Value(text) };
	if (!isIPv6(text)) return null;
	const groups = expandIpv6(text);
	if (groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff) {
		return { family: 4, value: (BigInt(groups[6]!) << 16n) | BigInt(groups[7]!) };
	}
	return { family: 6, value: groups.reduce((value, group) => (value << 16n) | BigInt(group), 0n) };
}

function mask(family: 4 | 6, prefix: number): bigint {
	const width = family === 4 ? 32n : 128n;
	return ((1n << width) - 1n) ^ ((1n << (width - BigInt(prefix))) - 1n);
}

/** "192.0.2.0/24", "2001:db8::/32", or a bare address (a /32 or /128). Null when malformed. */
export function parseCidr(raw: string): Cidr | null {
	if (typeof raw !== "string" || raw.length === 0 || raw.length > 64) return null;
	const [addressText, prefixText, extra] = raw.trim().split("/");
	if (extra !== undefined || addressText === undefined) return null;
	const address = parseAddress(addressText);
	// A mapped IPv6 form names an IPv4 network only without a prefix (its prefix would count 128 bits).
	if (address === null || (address.family === 4 && !isIPv4(addressText.trim()) && prefixText !== undefined)) return null;
	const width = address.family === 4 ? 32 : 128;
	if (prefixText !== undefined && !/^[0-9]{1,3}$/.test(prefixText)) return null;
	const prefix = prefixText === undefined ? width : Number(prefixText);
	if (prefix > width) return null;
	return { family: address.family, network: address.value & mask(address.family, prefix), prefix };
}

/** The canonical text of a block ("10.1.0.0/16", "2001:db8::/32"). */
export function formatCidr(cidr: Cidr): string {
	if (cidr.family === 4) {
		const bytes = [24n, 16n, 8n, 0n].map((shift) => String((cidr.network >> shift) & 0xffn));
		return `${bytes.join(".")}/${cidr.prefix}`;
	}
	const groups: string[] = [];
	for (let shift = 112n; shift >= 0n; shift -= 16n) groups.push(((cidr.network >> shift) & 0xffffn).toString(16));
	// The longest run of zero groups becomes "::" (RFC 5952 §4.2).
	let best = { start: -1, length: 0 };
	for (let index = 0; index < 8; ) {
		if (groups[index] !== "0") {
			index += 1;
			continue;
		}
		let end = index;
		while (end < 8 && groups[end] === "0") end += 1;
		if (end - index > best.length && end - index > 1) best = { start: index, length: end - index };
		index = end;
	}
	const text = best.start < 0 ? groups.join(":") : `${groups.slice(0, best.start).join(":")}::${groups.slice(best.start + best.length).join(":")}`;
	return `${text}/${cidr.prefix}`;
}

/** True when `address` (as the adapter saw it) lies inside `cidr`. A non-IP source is inside nothing. */
export function addressInCidr(address: string, cidr: Cidr): boolean {
	const parsed = parseAddress(address);
	if (parsed === null || parsed.family !== cidr.family) return false;
	return (parsed.value & mask(cidr.family, cidr.prefix)) === cidr.network;
}
