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
import { startDirectorySync } from "../../app/directory.ts";
import { buildWebServer } from "../../web/server.ts";
import { webServices } from "../../app/web-services.ts";
import { cliConfig } from "../context.ts";
import type { ServeOptions } from "./serve-command.ts";
import { closedOutput, println, type CliIo } from "../io.ts";
import { startOpsServer } from "../../web/ops-server.ts";

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

/**
 * The console's address as users reach it: http.public_url when set (the address links and
 * WebAuthn use; a proxy or another host name may stand in front), with where this process listens
 * beside it; without it, the listen address (0.0.0.0 shown as 127.0.0.1).
 */
export function consoleLines(publicUrl: string | undefined, host: string, port: number): string[] {
	const listening = `http://${urlHost(host)}:${port}/`;
	if (publicUrl === undefined) return [`Portcullis console: ${listening}`];
	const shown = `${publicUrl.replace(/\/$/, "")}/`;
	return [`Portcullis console: ${shown}`, `Portcullis console listening on: ${listening} (http.listen; users open http.public_url)`];
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

/**
 * Resolves on the first SIGINT/SIGTERM; a second signal during shutdown exits at once. `graceMs()`
 * is read when the signal arrives: the drain time plus a margin, after which the process exits
 * even if a connection never closes.
 */
function untilSignal(io: CliIo, graceMs: () => number): Promise<NodeJS.Signals> {
	return new Promise((resolve) => {
		let received = false;
		const onSignal = (signal: NodeJS.Signals) => {
			if (received) {
				io.stderr.write("portcullis: second signal, exiting without a clean shutdown\n");
				process.exit(1);
			}
			received = true;
			const grace = graceMs();
			// A connection that never closes must not keep a stopping server alive forever.
			setTimeout(() => {
				io.stderr.write(`portcullis: shutdown took longer than ${Math.round(grace / 1000)} s, exiting\n`);
				process.exit(1);
			}, grace).unref();
			resolve(signal);
		};
		process.on("SIGINT", onSignal);
		process.on("SIGTERM", onSignal);
	});
}

/** What open shells and menus are told when the node begins a graceful stop. */
export const STOPPING_NOTICE = "Portcullis: this node is shutting down; your session will end soon. Reconnect to continue.";

/**
 * Stops the console from accepting connections and waits for requests in flight, at most `drainMs`;
 * then drops what is left. New requests on kept-alive connections meanwhile get 503 (Fastify's
 * return503OnClosing), which a load balancer retries on another node.
 */
async function drainWeb(web: Awaited<ReturnType<typeof buildWebServer>>, drainMs: number): Promise<void> {
	const closed = web.close();
	let timer: NodeJS.Timeout | undefined;
	const deadline = new Promise<void>((resolve) => {
		timer = setTimeout(() => {
			web.server.closeAllConnections();
			resolve();
		}, drainMs);
	});
	await Promise.race([closed, deadline]);
	clearTimeout(timer);
}

export async function serve(options: ServeOptions, io: CliIo): Promise<void> {
	// A service keeps running when its output's reader goes away (io.ts closedOutput).
	closedOutput.endsProcess = false;
	let drainMs = 10_000;
	const stopped = untilSignal(io, () => drainMs + 10_000);
	const config = await cliConfig(options, {
		...(options.http !== undefined ? { http: options.http } : {}),
		...(options.ssh !== undefined ? { ssh: options.ssh } : {}),
	});
	drainMs = config.ops.drain_seconds * 1000;
	// Prometheus metrics are exported on the operations listener, so only when it is on.
	const app = await createPortcullis(config, { prometheus: config.ops.listen !== "" });
	const closers: (() => Promise<unknown>)[] = [];
	let stopping = false;
	let failure: { error: unknown } | undefined;
	try {
		const password = await initialAdmin(app);
		// Printed before listening: if listening fails, the password must not be lost.
		if (password !== null) io.stdout.write(adminBanner(password));

		app.health.start();
		if (config.ops.listen !== "") {
			const scrape = app.scrapeMetrics;
			const ops = await startOpsServer(
				{ readiness: () => app.readiness(), stopping: () => stopping, token: config.ops.token, ...(scrape === null ? {} : { metrics: scrape }) },
				splitListen(config.ops.listen),
			);
			closers.push(() => ops.close());
			println(io.stdout, `Portcullis operations: http://${urlHost(ops.address.host)}:${ops.address.port}/readyz`);
		}

		const web = await buildWebServer(webServices(app), { logger: options.quiet !== true });
		const http = splitListen(config.http.listen);
		await web.listen({ host: http.host, port: http.port });
		closers.push(() => web.close());
		const address = web.server.address() as AddressInfo;
		for (const line of consoleLines(config.http.public_url, http.host, address.port)) println(io.stdout, line);

		const gateway = await startSshGateway(app.ssh, { listen: config.ssh.listen });
		closers.push(() => gateway.close());
		println(io.stdout, `Portcullis SSH gateway: ssh -p ${gateway.address.port} USER@${urlHost(gateway.address.host)}`);
		println(io.stdout, `SSH host key fingerprint: ${gateway.hostKeyFingerprint} (ED25519)`);

		const maintenance = startMaintenance(app);
		closers.push(async () => maintenance.stop());
		const directorySync = startDirectorySync(app.directory, config.ldap?.sync_minutes ?? 0, app.logger);
		closers.push(async () => directorySync.stop());

		const signal = await stopped;
		stopping = true;
		println(io.stdout, `Portcullis stopping (${signal})`);
		// Graceful stop (docs/operations.md): no new connections on either listener; requests and
		// logins in flight finish; open shells are told; after the drain time everything is closed.
		const started = Date.now();
		const [, left] = await Promise.all([drainWeb(web, drainMs), gateway.drain(drainMs, STOPPING_NOTICE)]);
		app.logger.info({ drainMs: Date.now() - started, sshConnectionsLeft: left }, "drain finished");
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
