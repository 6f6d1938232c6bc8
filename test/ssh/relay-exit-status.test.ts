/**
 * The target's exit status reaches the user even when the target ends before the relay starts
 * (docs/benchmarks.md, soak run S1: a PTY exec printed its output but ended with 255 about one
 * session in fifteen on a loaded box).
 *
 * Between opening the target's channel and starting the relay, the gateway awaits database writes
 * (the recording's server marker, the `ssh.session-start` audit event). ssh2 emits the target's
 * "exit" once, as the request arrives, and does not replay it. This test makes the ordering
 * deterministic instead of hoping for a loaded box: a target (an ssh2 server) that answers an exec
 * with output, exit-status, eof and close at once, and a gateway whose `ssh.session-start` audit
 * write is held until the target has seen its channel closed, that is, until the gateway's client
 * has parsed the exit-status and answered the close. Without the fix (the exit listener installed
 * when the relay starts, src/ssh/relay.ts watchExit) the client gets 255.
 */
import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import ssh2 from "ssh2";
import { generateEd25519Key } from "../../src/crypto/generate-key.ts";
import { serverService } from "../../src/servers/server-service.ts";
import { startSshGateway, type SshGateway } from "../../src/ssh/gateway.ts";
import type { SshServices } from "../../src/ssh/ssh-services.ts";
import { ADMIN_ACTOR, createTestApp, type TestApp } from "../helpers/test-app.ts";

const PASSWORD = "correct horse battery";

interface Target {
	readonly port: number;
	/** Resolves when the latest exec channel has been closed by both sides. */
	lastClosed(): Promise<void>;
	close(): Promise<void>;
}

/**
 * A target that answers `exec` with output (none when the command is `silent`), the exit status
 * given as the command's last word, eof and close, all at once.
 */
async function startInstantTarget(): Promise<Target> {
	let closedPromise: Promise<void> = Promise.resolve();
	const server = new ssh2.Server({ hostKeys: [generateEd25519Key("instant target").privateKey] }, (client) => {
		client.on("authentication", (ctx) => ctx.accept());
		client.on("error", () => undefined);
		client.on("session", (accept) => {
			const session = accept();
			session.on("pty", (acceptPty) => acceptPty?.());
			session.on("env", (acceptEnv) => acceptEnv?.());
			session.on("exec", (acceptExec, _reject, info) => {
				const stream = acceptExec();
				closedPromise = new Promise<void>((resolve) => stream.on("close", () => resolve()));
				stream.resume();
				if (!info.command.startsWith("silent")) stream.write(`ran ${info.command}\r\n`);
				stream.exit(Number(info.command.split(" ").at(-1)));
				stream.end();
			});
		});
	});
	await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
	return {
		port: (server.address() as AddressInfo).port,
		lastClosed: () => closedPromise,
		close: () =>
			new Promise<void>((resolve) => {
				server.close(() => resolve());
			}),
	};
}

function ptyExec(port: number, command: string): Promise<{ code: number | null; output: string }> {
	return new Promise((resolve, reject) => {
		const client = new ssh2.Client();
		client.on("error", reject);
		client.on("ready", () => {
			client.exec(command, { pty: { term: "xterm", cols: 80, rows: 24 } }, (error, stream) => {
				if (error) return reject(error);
				let output = "";
				stream.on("data", (data: Buffer) => (output += data.toString("utf8")));
				stream.stderr.on("data", (data: Buffer) => (output += data.toString("utf8")));
				stream.on("close", (code: number | null) => {
					client.end();
					resolve({ code, output });
				});
			});
		});
		client.connect({ host: "127.0.0.1", port, username: "alice", password: PASSWORD, hostVerifier: () => true });
	});
}

describe("relay: the target's exit status survives a target that ends before the relay starts", () => {
	let t: TestApp;
	let target: Target;
	let gateway: SshGateway;
	let held = 0;

	before(async () => {
		t = await createTestApp({ clock: undefined });
		target = await startInstantTarget();
		await t.app.admin.createGroup(ADMIN_ACTOR, { name: "ops", forceTwoFactor: false, allowedMethods: null });
		await t.app.admin.createUser(ADMIN_ACTOR, { username: "alice", password: PASSWORD, isAdmin: false, groups: ["ops"] });
		await serverService(t.app).add(ADMIN_ACTOR, {
			name: "instant",
			host: "127.0.0.1",
			port: target.port,
			loginUser: "svc",
			description: "ends at once",
			groups: ["ops"],
		});
		const audit = t.app.ssh.audit;
		const services: SshServices = {
			...t.app.ssh,
			audit: {
				// Hold the session-start event (written after the target's channel opened, before the
				// relay starts) until the target's channel is closed on both sides.
				write: async (event) => {
					if (event.event === "ssh.session-start") {
						held += 1;
						await target.lastClosed();
					}
					return audit.write(event);
				},
				record: (event) => audit.record(event),
			},
		};
		gateway = await startSshGateway(services, { listen: "127.0.0.1:0" });
	});

	after(async () => {
		await gateway?.close();
		await target?.close();
		await t?.cleanup();
	});

	test("PTY exec: output and exit status 0 arrive although exit-status, eof and close came before the relay", async () => {
		const result = await ptyExec(gateway.address.port, "instant -- echo hi 0");
		assert.equal(held, 1, "the session-start audit write was held until the target closed");
		assert.match(result.output, /ran echo hi 0/);
		assert.equal(result.code, 0);
	});

	test("PTY exec without any output, exit status 3: the status arrives and the session ends", async () => {
		const result = await ptyExec(gateway.address.port, "instant -- silent 3");
		assert.equal(held, 2);
		assert.equal(result.output, "");
		assert.equal(result.code, 3);
	});
});
