/** Ports with nothing behind them (bound, read and closed again), for "backend unreachable" tests. */
import dgram from "node:dgram";
import { createServer } from "node:net";

export async function deadTcpPort(): Promise<number> {
	const probe = createServer();
	await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
	const port = (probe.address() as { port: number }).port;
	await new Promise<void>((resolve) => probe.close(() => resolve()));
	return port;
}

export async function deadUdpPort(): Promise<number> {
	const socket = dgram.createSocket("udp4");
	await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
	const port = socket.address().port;
	await new Promise<void>((resolve) => socket.close(() => resolve()));
	return port;
}
