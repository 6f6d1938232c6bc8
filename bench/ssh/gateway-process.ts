/**
 * The Portcullis SSH gateway as its own process for the benchmark (so its RSS and CPU are its
 * own): opens the app on the bench data directory, starts the real gateway, and answers IPC
 * requests from bench/ssh/run.ts: {cmd: "mem"} → after global.gc(): rss, heapUsed; {cmd: "cpu"} →
 * CPU seconds used so far (user + system); {cmd: "stop"}.
 * Run with: node --expose-gc --import tsx bench/ssh/gateway-process.ts CONFIG_JSON
 */
import { createPortcullis } from "../../src/app/portcullis.ts";
import { configSchema } from "../../src/config/config.ts";
import { startSshGateway } from "../../src/ssh/gateway.ts";

const config = configSchema.parse(JSON.parse(process.argv[2] ?? "{}"));
const app = await createPortcullis(config);
const gateway = await startSshGateway(app.ssh, { listen: config.ssh.listen });
const gc = (globalThis as { gc?: () => void }).gc;

function memory() {
	for (let round = 0; round < 3; round++) gc?.();
	const usage = process.memoryUsage();
	return { rss: usage.rss, heapUsed: usage.heapUsed, external: usage.external, arrayBuffers: usage.arrayBuffers };
}

process.on("message", (message: { cmd: string; id: number }) => {
	if (message.cmd === "mem") process.send?.({ id: message.id, ...memory() });
	if (message.cmd === "cpu") {
		const usage = process.cpuUsage();
		process.send?.({ id: message.id, cpuSeconds: (usage.user + usage.system) / 1e6 });
	}
	if (message.cmd === "stop") {
		void gateway
			.close()
			.then(() => app.close())
			.then(() => process.exit(0));
	}
});
process.send?.({ ready: true, port: gateway.address.port, pid: process.pid, hostKey: gateway.hostPublicKey });
