/**
 * The storm's unauthenticated handshakes (scripts/storm.ts), in a worker thread: `handshakes`
 * loops, each connecting from 127.0.0.(2 + index % sources) (the socket binds that local address),
 * completing the key exchange and never authenticating, until the gateway ends the connection
 * (LoginGraceTime) or refuses it at accept (MaxStartups, per-source cap); then again a second later,
 * until `until`. Posts the outcome counts to the parent when done.
 */
import { connect } from "node:net";
import { parentPort, workerData } from "node:worker_threads";
import ssh2 from "ssh2";

const {
	port,
	handshakes,
	sources: sourceCount,
	until,
	timeoutMs,
} = workerData as {
	port: number;
	handshakes: number;
	sources: number;
	until: number;
	timeoutMs: number;
};
const counts = new Map<string, number>();
const count = (kind: string) => counts.set(kind, (counts.get(kind) ?? 0) + 1);

let stopping = false;
const holders = new Set<ssh2.Client>();

/** Connects, completes the key exchange, never authenticates; replaced when the gateway ends it. */
function holdOne(index: number): Promise<void> {
	return new Promise((resolve) => {
		const source = `127.0.0.${2 + (index % sourceCount)}`;
		const socket = connect({ host: "127.0.0.1", port, localAddress: source });
		const client = new ssh2.Client();
		holders.add(client);
		let banner = false;
		let handshake = false;
		let settled = false;
		const stall = setTimeout(() => end("handshake: stalled (no key exchange within the timeout)"), timeoutMs);
		function end(kind: string) {
			if (settled) return;
			settled = true;
			clearTimeout(stall);
			holders.delete(client);
			if (!stopping) count(kind);
			else if (!handshake) count("handshake: still before the end of its key exchange when the storm ended");
			client.end();
			socket.destroy();
			resolve();
		}
		socket.once("data", () => (banner = true));
		client.on("handshake", () => {
			handshake = true;
			clearTimeout(stall);
			count("handshake: key exchange done, then held unauthenticated");
		});
		const closed = () =>
			end(
				handshake
					? "handshake: closed by the gateway while held (LoginGraceTime)"
					: banner
						? "handshake: closed during the key exchange"
						: "handshake: refused: dropped at accept (MaxStartups / per-source)",
			);
		client.on("error", closed);
		client.on("close", closed);
		client.connect({
			sock: socket,
			username: `nobody${index}`,
			// Never answers: the connection stays unauthenticated until the gateway ends it.
			authHandler: () => undefined,
			readyTimeout: 24 * 3600_000,
			hostVerifier: () => true,
		});
	});
}

async function holdLoop(index: number): Promise<void> {
	while (!stopping && Date.now() < until) {
		await holdOne(index);
		// A refused or dropped connection is retried a second later, as a scanner would, not in a tight loop.
		if (!stopping) await new Promise((resolve) => setTimeout(resolve, 1000));
	}
}

const loops = Array.from({ length: handshakes }, (_, index) => holdLoop(index));
await new Promise((resolve) => setTimeout(resolve, Math.max(0, until - Date.now())));
stopping = true;
for (const client of holders) client.end();
await Promise.all(loops);
parentPort?.postMessage([...counts]);
