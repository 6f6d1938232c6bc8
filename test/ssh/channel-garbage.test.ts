/**
 * Hostile values inside an authenticated connection's session channels (RFC 4254 §6): a pty-req
 * and window-change of 4,294,967,295 columns and rows with a 3,000-character TERM, a 30 KB exec
 * command, oversized env values. The menu still renders (the geometry is clamped before anything
 * uses it), the refusals are clear, and the gateway keeps serving.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import ssh2 from "ssh2";
import { startSshGateway, type SshGateway } from "../../src/ssh/gateway.ts";
import { MAX_TERMINAL_CELLS, terminalCells, terminalType } from "../../src/ssh/terminal-geometry.ts";
import { ADMIN_ACTOR, createTestApp, type TestApp } from "../helpers/test-app.ts";

const PASSWORD = "correct horse battery";
const HUGE = 0xffffffff;

function login(port: number): Promise<ssh2.Client> {
	return new Promise((resolve, reject) => {
		const client = new ssh2.Client();
		client.once("ready", () => resolve(client)).once("error", reject);
		client.connect({ host: "127.0.0.1", port, username: "mallory", password: PASSWORD, readyTimeout: 10_000 });
	});
}

interface Collected {
	readonly stream: ssh2.ClientChannel;
	text(): string;
	readonly exit: Promise<number | null>;
	readonly closed: Promise<void>;
}

/** Listeners go on in ssh2's callback: exit and close can arrive in the same read as the open. */
function collect(stream: ssh2.ClientChannel): Collected {
	let text = "";
	stream.on("data", (chunk: Buffer) => (text += chunk.toString("utf8")));
	stream.stderr.on("data", (chunk: Buffer) => (text += chunk.toString("utf8")));
	const exit = new Promise<number | null>((resolve) => stream.once("exit", (status: number | null) => resolve(status)));
	const closed = new Promise<void>((resolve) => stream.once("close", () => resolve()));
	return { stream, text: () => text, exit, closed };
}

async function until(probe: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
	const deadline = Date.now() + timeoutMs;
	while (!probe()) {
		if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
		await new Promise((resolve) => setTimeout(resolve, 25));
	}
}

describe("terminal geometry", () => {
	test("cells are clamped to 1..10,000, 0 and non-integers fall back; odd TERM values become xterm", () => {
		assert.equal(terminalCells(HUGE, 80), MAX_TERMINAL_CELLS);
		assert.equal(terminalCells(0, 24), 24);
		assert.equal(terminalCells(132, 80), 132);
		assert.equal(terminalCells(Number.NaN, 80), 80);
		assert.equal(terminalType("xterm-256color"), "xterm-256color");
		assert.equal(terminalType("x".repeat(3000)), "xterm");
		assert.equal(terminalType("vt100\u001b]0;pwned\u0007"), "xterm");
	});
});

describe("hostile values in session channels", () => {
	let t: TestApp;
	let gateway: SshGateway;

	before(async () => {
		t = await createTestApp();
		await t.app.admin.createUser(ADMIN_ACTOR, { username: "mallory", password: PASSWORD, isAdmin: false, groups: [] });
		gateway = await startSshGateway(t.app.ssh, { listen: "127.0.0.1:0" });
	});
	after(async () => {
		await gateway?.close();
		await t?.cleanup();
	});

	test("a pty of 4,294,967,295 × 4,294,967,295 and a huge window-change: the menu renders and quits normally", async () => {
		const client = await login(gateway.address.port);
		try {
			const out = await new Promise<Collected>((resolve, reject) =>
				client.shell({ term: "x".repeat(3000), cols: HUGE, rows: HUGE, width: HUGE, height: HUGE }, (error, channel) =>
					error ? reject(error) : resolve(collect(channel)),
				),
			);
			const stream = out.stream;
			await until(() => out.text().includes("No servers are granted to you"), "the menu");
			stream.setWindow(HUGE, HUGE, HUGE, HUGE);
			stream.setWindow(0, 0, 0, 0);
			stream.write("q");
			await out.closed;
			assert.doesNotMatch(out.text(), /internal error/);
			const errors = await t.app.stores.audit.query({ event: "ssh.channel-error" });
			assert.equal(errors.length, 0, JSON.stringify(errors));
		} finally {
			client.end();
		}
	});

	test("a 30 KB exec command and oversized env values get clear refusals", async () => {
		const client = await login(gateway.address.port);
		try {
			const out = await new Promise<Collected>((resolve, reject) =>
				client.exec(`${"a".repeat(30_000)} -- id`, { env: { LANG: "x".repeat(10_000), LC_ALL: "C" } }, (error, channel) =>
					error ? reject(error) : resolve(collect(channel)),
				),
			);
			const code = await out.exit;
			await out.closed;
			assert.equal(code, 1);
			assert.match(out.text(), /no server named "a{64}" is available to you/);
		} finally {
			client.end();
		}
	});

	test("the gateway still serves a fresh login afterwards", async () => {
		const client = await login(gateway.address.port);
		client.end();
	});
});
