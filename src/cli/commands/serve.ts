/**
 * `portcullis serve`: one process with the web console and the SSH gateway.
 * On the very first start it creates the initial admin `admin` and prints its one-time password
 * once (docs/product-decisions.md "Runs as"); the password must be changed at first login.
 */
import type { AddressInfo } from "node:net";
import { createPortcullis, ensureInitialAdmin, type Portcullis } from "../../app/portcullis.ts";
import { isPortcullisError } from "../../core/errors.ts";
import { startSshGateway } from "../../ssh/gateway.ts";
import { startMaintenance } from "../../app/maintenance.ts";
import { buildWebServer } from "../../web/server.ts";
import { webServices } from "../../app/web-services.ts";
import { cliConfig } from "../context.ts";
import type { ServeOptions } from "./serve-command.ts";
import { println, type CliIo } from "../io.ts";

/** Splits "HOST:PORT" / "[v6]:PORT" (validated by the config schema) for net.listen. */
export function splitListen(listen: string): { host: string; port: number } {
	const colon = listen.lastIndexOf(":");
	const host = listen.slice(0, colon).replace(/^\[(.*)\]$/, "$1");
	return { host, port: Number(listen.slice(colon + 1)) };
}

function urlHost(host: string): string {
	if (host === "0.0.0.0" || host === "::") return "127.0.0.1";
	return host.includes(":") ? `[${host}]` : host;
}

export function adminBanner(password: string): string {
	const rule = "=".repeat(72);
	return [
		rule,
		"Portcullis first start: the initial administrator was created.",
		"",
		"  username: admin",
		`  password: ${password}`,
		"",
		"This one-time password is shown only this once; it must be changed at the",
		"first login. Log in to the console now and choose a new password.",
		rule,
		"",
	].join("\n");
}

/** The initial admin, tolerating a second node that created it a moment earlier. */
async function initialAdmin(app: Portcullis): Promise<string | null> {
	try {
		return await ensureInitialAdmin(app);
	} catch (error) {
		if (isPortcullisError(error, "ERR_CONFLICT")) return null;
		throw error;
	}
}

/** Resolves on the first SIGINT/SIGTERM; a second signal during shutdown exits at once. */
function untilSignal(io: CliIo): Promise<NodeJS.Signals> {
	return new Promise((resolve) => {
		let received = false;
		const onSignal = (signal: NodeJS.Signals) => {
			if (received) {
				io.stderr.write("portcullis: second signal, exiting without a clean shutdown\n");
				process.exit(1);
			}
			received = true;
			// A connection that never closes must not keep a stopping server alive forever.
			setTimeout(() => {
				io.stderr.write("portcullis: shutdown took longer than 10 s, exiting\n");
				process.exit(1);
			}, 10_000).unref();
			resolve(signal);
		};
		process.on("SIGINT", onSignal);
		process.on("SIGTERM", onSignal);
	});
}

export async function serve(options: ServeOptions, io: CliIo): Promise<void> {
	const stopped = untilSignal(io);
	const config = await cliConfig(options, {
		...(options.http !== undefined ? { http: options.http } : {}),
		...(options.ssh !== undefined ? { ssh: options.ssh } : {}),
	});
	const app = await createPortcullis(config);
	const closers: (() => Promise<unknown>)[] = [];
	let failure: { error: unknown } | undefined;
	try {
		const password = await initialAdmin(app);
		// Printed before listening: if listening fails, the password must not be lost.
		if (password !== null) io.stdout.write(adminBanner(password));

		const web = await buildWebServer(webServices(app), { logger: options.quiet !== true });
		const http = splitListen(config.http.listen);
		await web.listen({ host: http.host, port: http.port });
		closers.push(() => web.close());
		const address = web.server.address() as AddressInfo;
		println(io.stdout, `Portcullis console: http://${urlHost(http.host)}:${address.port}/`);

		const gateway = await startSshGateway(app.ssh, { listen: config.ssh.listen });
		closers.push(() => gateway.close());
		println(io.stdout, `Portcullis SSH gateway: ssh -p ${gateway.address.port} USER@${urlHost(gateway.address.host)}`);
		println(io.stdout, `SSH host key fingerprint: ${gateway.hostKeyFingerprint} (ED25519)`);

		const maintenance = startMaintenance(app);
		closers.push(async () => maintenance.stop());

		const signal = await stopped;
		println(io.stdout, `Portcullis stopping (${signal})`);
	} catch (error) {
		failure = { error };
	}
	// Reverse order: stop accepting connections before the database goes away. One failing closer
	// must not keep the others (or the database) open; the first error is the one reported.
	for (const close of closers.reverse()) {
		try {
			await close();
		} catch (error) {
			failure ??= { error };
		}
	}
	await app.close();
	if (failure !== undefined) throw failure.error;
}
