/**
 * Writes made in one turn of the event loop leave the socket together (one writev: one system
 * call and full TCP segments) instead of one `write` each. ssh2 writes every SSH packet to its
 * socket on its own; the gateway's SFTP view (sftp-view.ts) turns each SFTP request it decodes into
 * its own packet, so a burst of 64 READ requests from OpenSSH's sftp (decoded in one go from one
 * chunk) became 64 system calls on the target's socket, and the STATUS replies to 64 WRITEs 64 on
 * the client's. Profiled: socket writes were 40% of the gateway's CPU in a view transfer
 * (docs/benchmarks.md "SFTP through the gateway").
 *
 * The socket is corked at the first write of a turn and uncorked in process.nextTick, which runs
 * before the event loop polls for I/O again: nothing waits for a timer, so interactive latency is
 * unchanged (TCP_NODELAY stays on). Backpressure is untouched: `write` still returns false above
 * the high-water mark, corked or not. destroy() flushes first, so nothing written is dropped.
 */
import type { Socket } from "node:net";

export function coalesceWrites(socket: Socket): void {
	let corked = false;
	const uncork = () => {
		corked = false;
		socket.uncork();
	};
	// A write followed by destroy() in the same turn (a disconnect message, then the hang-up) must
	// still leave: flush first. end() flushes corked data by itself (Writable.end uncorks).
	const destroy = socket.destroy;
	socket.destroy = function flushThenDestroy(this: Socket, ...args: Parameters<Socket["destroy"]>): Socket {
		if (corked) uncork();
		return destroy.apply(this, args);
	} as Socket["destroy"];
	const write = socket.write;
	socket.write = function coalescedWrite(this: Socket, ...args: Parameters<Socket["write"]>): boolean {
		if (!corked && !socket.destroyed) {
			corked = true;
			socket.cork();
			process.nextTick(uncork);
		}
		return (write as (...args: Parameters<Socket["write"]>) => boolean).apply(this, args);
	} as Socket["write"];
}
