/**
 * A TCP proxy the test controls, put between a node and the machine's shared PostgreSQL so that an
 * outage can be made for one node without stopping the server other tests use.
 *
 *   forward    relays both ways (the normal state)
 *   refuse     drops every open connection and resets every new one at once (a stopped server:
 *              ECONNRESET / "Connection terminated unexpectedly")
 *   blackhole  drops every open connection, then accepts new ones and never answers (a network
 *              partition: only the client's own deadlines end a request)
 */
import { createServer, connect, type Server, type Socket } from "node:net";

export type ProxyMode = "forward" | "refuse" | "blackhole";

export interface TcpProxy {
	readonly port: number;
	mode(next: ProxyMode): void;
	/** Connections accepted since start (to see that a node reconnected). */
	accepted(): number;
	close(): Promise<void>;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
	let current: ProxyMode = "forward";
	let accepted = 0;
	const open = new Set<Socket>();
	const track = (socket: Socket) => {
		open.add(socket);
		socket.on("close", () => open.delete(socket));
		socket.on("error", () => undefined);
	};
	const server: Server = createServer((client) => {
		accepted += 1;
		track(client);
		if (current === "refuse") {
			client.resetAndDestroy();
			return;
		}
		if (current === "blackhole") return; // held open, never answered
		const upstream = connect(target);
		track(upstream);
		client.pipe(upstream);
		upstream.pipe(client);
		client.on("close", () => upstream.destroy());
		upstream.on("close", () => client.destroy());
	});
	await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
	const address = server.address();
	if (typeof address !== "object" || address === null) throw new Error("proxy has no address");
	return {
		port: address.port,
		mode(next) {
			current = next;
			if (next !== "forward") for (const socket of [...open]) socket.resetAndDestroy();
		},
		accepted: () => accepted,
		async close() {
			for (const socket of [...open]) socket.destroy();
			await new Promise<void>((resolve) => server.close(() => resolve()));
		},
	};
}
