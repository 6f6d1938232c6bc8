/**
 * Reads the PROXY protocol header (src/net/proxy-protocol.ts) from a connection that came from a
 * configured trusted proxy (`ssh.trusted_proxies`), before ssh2 sees the socket: the client's
 * real address is what network rules, per-source limits and the audit log then use.
 *
 * A trusted proxy MUST send a header: without one (or with a malformed one) the connection is
 * closed, never taken as the proxy's own address (which may well be "inside" a trusted network).
 * A connection from anyone else is never read here: a header it sends is just bytes that fail
 * the SSH version exchange, and changes nothing.
 */
import type { Socket } from "node:net";
import { addressInCidr, parseCidr, type Cidr } from "../core/cidr.ts";
import { parseProxyHeader } from "../net/proxy-protocol.ts";

export type ProxyRead = { readonly ok: true; readonly version: 1 | 2; readonly source: string | null } | { readonly ok: false; readonly reason: string };

export function trustedProxyMatcher(list: readonly string[]): (address: string | undefined) => boolean {
	const blocks = list.map((text) => parseCidr(text)).filter((cidr): cidr is Cidr => cidr !== null);
	return (address) => address !== undefined && blocks.some((cidr) => addressInCidr(address, cidr));
}

/**
 * Reads until the header is complete, then puts back whatever followed it (the client's SSH
 * identification may arrive in the same segment) and leaves the socket paused for ssh2.
 * `deadlineMs` bounds a proxy that never sends one (the login grace time).
 */
export function readProxyHeader(socket: Socket, deadlineMs: number): Promise<ProxyRead> {
	return new Promise((resolve) => {
		let buffered = Buffer.alloc(0);
		let done = false;
		const finish = (result: ProxyRead, rest: Buffer | null) => {
			if (done) return;
			done = true;
			clearTimeout(timer);
			socket.off("data", onData);
			socket.off("close", onClose);
			socket.pause();
			if (rest !== null && rest.length > 0) socket.unshift(rest);
			resolve(result);
		};
		const onData = (chunk: Buffer) => {
			buffered = Buffer.concat([buffered, chunk]);
			const header = parseProxyHeader(buffered);
			if (header.kind === "incomplete") return;
			if (header.kind === "invalid") return finish({ ok: false, reason: header.reason }, null);
			finish({ ok: true, version: header.version, source: header.source?.address ?? null }, buffered.subarray(header.length));
		};
		const onClose = () => finish({ ok: false, reason: "closed before the PROXY header" }, null);
		const timer = setTimeout(() => finish({ ok: false, reason: "no PROXY header in time" }, null), deadlineMs);
		timer.unref();
		socket.on("data", onData);
		socket.once("close", onClose);
	});
}
