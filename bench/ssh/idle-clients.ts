/**
 * Opens N idle tunnels through a jump host, in their own process (bench/ssh/run.ts measures the
 * jump host's memory, not ours): each is an ssh2 Client connection, authenticated with a public
 * key, holding one direct-tcpip channel (what `ssh -J` / `-W` opens) to a TCP sink.
 * IPC: sends {progress, ok, failed} while ramping, {done, ok, failed, ms} at the end; on
 * {cmd: "close"} ends every connection and exits.
 * Args: JSON {host, port, username, keyFile, count, destHost, destPort, concurrency}
 */
import { readFileSync } from "node:fs";
import ssh2 from "ssh2";

const options = JSON.parse(process.argv[2] ?? "{}") as {
	host: string;
	port: number;
	username: string;
	keyFile: string;
	count: number;
	destHost: string;
	destPort: number;
	concurrency: number;
};
const privateKey = readFileSync(options.keyFile);
const clients: ssh2.Client[] = [];
let ok = 0;
let failed = 0;
let lastError = "";

function open(): Promise<void> {
	return new Promise((resolveOpen) => {
		const client = new ssh2.Client();
		let settled = false;
		const done = (success: boolean, error?: string) => {
			if (settled) return;
			settled = true;
			if (success) ok++;
			else {
				failed++;
				lastError = error ?? "unknown";
				client.end();
			}
			resolveOpen();
		};
		client.on("error", (error) => done(false, error.message));
		client.on("ready", () => {
			client.forwardOut("127.0.0.1", 0, options.destHost, options.destPort, (error, channel) => {
				if (error) return done(false, error.message);
				channel.on("error", () => undefined);
				done(true);
			});
		});
		client.connect({ host: options.host, port: options.port, username: options.username, privateKey, readyTimeout: 120_000, keepaliveInterval: 0 });
		client.setNoDelay(true);
		clients.push(client);
	});
}

const started = Date.now();
let next = 0;
async function worker(): Promise<void> {
	while (next < options.count) {
		next++;
		await open();
		if ((ok + failed) % 100 === 0) process.send?.({ progress: true, ok, failed });
	}
}
await Promise.all(Array.from({ length: options.concurrency }, () => worker()));
process.send?.({ done: true, ok, failed, ms: Date.now() - started, lastError });

process.on("message", (message: { cmd: string }) => {
	if (message.cmd === "close") {
		for (const client of clients) client.end();
		setTimeout(() => process.exit(0), 500);
	}
});
