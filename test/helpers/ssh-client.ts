/**
 * SSH clients for gateway tests:
 *
 *  - runOpenSsh(): the real OpenSSH client (/usr/bin/ssh), driven non-interactively through
 *    SSH_ASKPASS (docs/dependencies.md, OpenSSH client in tests): every prompt (password, keyboard-interactive) is sent to an answer
 *    function in the test over a loopback HTTP call, so answers can depend on the prompt text
 *    (Access Keyword positions).
 *  - RawSsh: an ssh2 Client whose user-authentication exchange is driven by hand (docs/threat-model.md
 *    §5.2 S1-S9): the test sends each USERAUTH_REQUEST / INFO_RESPONSE itself and sees every
 *    server reply (FAILURE with the partial flag, PK_OK, INFO_REQUEST, SUCCESS, disconnect).
 *    It reaches into ssh2's Protocol object (private API, pinned ssh2 version) because the public
 *    client cannot send malformed or out-of-order authentication.
 */
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import { accessSync, chmodSync, constants, mkdtempSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";
import ssh2 from "ssh2";

export const OPENSSH = "/usr/bin/ssh";

/** True when OpenSSH is usable; otherwise fails (PORTCULLIS_STRICT_PEERS=1) or skips the test. */
export function requireOpenSsh(t: TestContext): boolean {
	try {
		accessSync(OPENSSH, constants.X_OK);
		accessSync("/usr/bin/setsid", constants.X_OK);
		return true;
	} catch {
		const message = `${OPENSSH} (OpenSSH client) or setsid is missing: install openssh-client`;
		if (process.env.PORTCULLIS_STRICT_PEERS === "1") throw new Error(message);
		t.skip(message);
		return false;
	}
}

let askpassScript: string | null = null;

function askpassPath(): string {
	if (askpassScript !== null) return askpassScript;
	const dir = mkdtempSync(join(tmpdir(), "portcullis-askpass-"));
	const file = join(dir, "askpass.cjs");
	writeFileSync(
		file,
		[
			`#!${process.execPath}`,
			"// OpenSSH calls this with the prompt as argv[2]; the test's HTTP server answers it.",
			'const http = require("node:http");',
			'const request = http.request(process.env.PORTCULLIS_ASKPASS_URL, { method: "POST" }, (response) => {',
			'  let body = "";',
			'  response.setEncoding("utf8");',
			'  response.on("data", (chunk) => (body += chunk));',
			'  response.on("end", () => {',
			"    if (response.statusCode !== 200) process.exit(1);",
			'    process.stdout.write(body + "\\n");',
			"  });",
			"});",
			'request.on("error", () => process.exit(1));',
			'request.end(process.argv[2] ?? "");',
			"",
		].join("\n"),
	);
	chmodSync(file, 0o755);
	askpassScript = file;
	return file;
}

export interface OpenSshOptions {
	readonly port: number;
	readonly user: string;
	/** Remote command (the stand-in channels echo who logged in). */
	readonly command?: string;
	/** e.g. "password,keyboard-interactive" or "publickey,keyboard-interactive". */
	readonly preferred: string;
	readonly identityFile?: string;
	/** Returns the answer for a prompt ("(alice@127.0.0.1) Password: "), or null to cancel. */
	readonly answer: (prompt: string) => string | null | Promise<string | null>;
	readonly extraArgs?: readonly string[];
	readonly timeoutMs?: number;
}

export interface OpenSshResult {
	readonly code: number | null;
	readonly stdout: string;
	readonly stderr: string;
	readonly prompts: readonly string[];
	readonly timedOut: boolean;
}

export async function runOpenSsh(options: OpenSshOptions): Promise<OpenSshResult> {
	const prompts: string[] = [];
	const server = createServer((request: IncomingMessage, response: ServerResponse) => {
		let body = "";
		request.setEncoding("utf8");
		request.on("data", (chunk: string) => (body += chunk));
		request.on("end", () => {
			prompts.push(body);
			Promise.resolve()
				.then(() => options.answer(body))
				.then(
					(answer) => {
						if (answer === null) {
							response.writeHead(500).end();
						} else {
							response.writeHead(200, { "content-type": "text/plain" }).end(answer);
						}
					},
					() => response.writeHead(500).end(),
				);
		});
	});
	await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
	const askpassUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
	const args = [
		"-w",
		OPENSSH,
		"-v",
		"-F",
		"/dev/null",
		"-p",
		String(options.port),
		"-o",
		"BatchMode=no",
		"-o",
		"StrictHostKeyChecking=no",
		"-o",
		"UserKnownHostsFile=/dev/null",
		"-o",
		"GlobalKnownHostsFile=/dev/null",
		"-o",
		`PreferredAuthentications=${options.preferred}`,
		"-o",
		"IdentitiesOnly=yes",
		"-o",
		"IdentityAgent=none",
		"-o",
		"ConnectTimeout=10",
		...(options.identityFile ? ["-i", options.identityFile] : ["-o", "PubkeyAuthentication=no"]),
		...(options.extraArgs ?? []),
		`${options.user}@127.0.0.1`,
		...(options.command !== undefined ? [options.command] : []),
	];
	const child = spawn("/usr/bin/setsid", args, {
		env: { ...process.env, SSH_ASKPASS: askpassPath(), SSH_ASKPASS_REQUIRE: "force", DISPLAY: ":0", PORTCULLIS_ASKPASS_URL: askpassUrl },
		stdio: ["ignore", "pipe", "pipe"],
	});
	let stdout = "";
	let stderr = "";
	child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
	child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
	let timedOut = false;
	// A kill timer only where the caller asks for one: load must not turn into a failure.
	const timer =
		options.timeoutMs === undefined
			? undefined
			: setTimeout(() => {
					timedOut = true;
					try {
						if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
					} catch {
						child.kill("SIGKILL");
					}
				}, options.timeoutMs);
	const code = await new Promise<number | null>((resolve) => child.on("close", (exitCode) => resolve(exitCode)));
	clearTimeout(timer);
	await new Promise<void>((resolve) => server.close(() => resolve()));
	return { code, stdout, stderr, prompts, timedOut };
}

// ---------------------------------------------------------------------------------------------
// Raw client

export type AuthEvent =
	| { readonly type: "failure"; readonly methods: readonly string[]; readonly partial: boolean }
	| { readonly type: "pk-ok" }
	| { readonly type: "info-request"; readonly name: string; readonly instructions: string; readonly prompts: readonly { prompt: string; echo: boolean }[] }
	| { readonly type: "success" }
	| { readonly type: "banner"; readonly message: string }
	| { readonly type: "closed" };

/** The parts of ssh2's client-side Protocol this helper drives (private API of ssh2 1.17). */
interface RawProtocol {
	_handlers: Record<string, (...args: unknown[]) => void>;
	authPassword(username: string, password: string): void;
	authNone(username: string): void;
	authKeyboard(username: string): void;
	authInfoRes(responses?: string[]): void;
	authPK(username: string, key: ssh2.ParsedKey | Buffer | string, keyAlgo?: string, cbSign?: (buf: Buffer, cb: (signature: Buffer) => void) => void): void;
	authHostbased(
		username: string,
		key: ssh2.ParsedKey,
		hostname: string,
		userlocal: string,
		keyAlgo: string | undefined,
		cbSign: (buf: Buffer, cb: (signature: Buffer) => void) => void,
	): void;
	service(name: string): void;
}

/** ssh2's internal packet writer, for crafted packets (private API, see the file comment). */
const ssh2Utils = createRequire(import.meta.url)("ssh2/lib/protocol/utils.js") as { sendPacket(proto: unknown, packet: Buffer, bypass?: boolean): void };

/** SSH "string" encoding (RFC 4251 §5). */
export function sshString(value: string | Buffer): Buffer {
	const bytes = typeof value === "string" ? Buffer.from(value, "utf8") : value;
	const length = Buffer.alloc(4);
	length.writeUInt32BE(bytes.length);
	return Buffer.concat([length, bytes]);
}

export class RawSsh {
	readonly client = new ssh2.Client();
	readonly events: AuthEvent[] = [];
	readonly errors: Error[] = [];
	#waiters: { predicate: (event: AuthEvent) => boolean; resolve: (event: AuthEvent) => void }[] = [];
	#closed = false;
	#cursor = 0;

	private constructor() {}

	/**
	 * Connects and completes key exchange and the ssh-userauth service request; no auth sent yet.
	 * `serviceRequest: false` stops after key exchange without sending SERVICE_REQUEST (RFC 4253 §10).
	 */
	static async connect(port: number, options: { timeoutMs?: number; serviceRequest?: boolean } = {}): Promise<RawSsh> {
		const raw = new RawSsh();
		const client = raw.client;
		client.on("error", (error: Error) => raw.errors.push(error));
		client.on("close", () => {
			raw.#closed = true;
			raw.#push({ type: "closed" });
		});
		let serviceAccepted: () => void = () => undefined;
		const accepted = new Promise<void>((resolve) => (serviceAccepted = resolve));
		client.connect({
			host: "127.0.0.1",
			port,
			username: "unused",
			readyTimeout: options.timeoutMs ?? 120_000,
			// ssh2 asks this after SERVICE_ACCEPT; never answering leaves authentication to the test.
			authHandler: () => {
				serviceAccepted();
				return undefined as unknown as false;
			},
		});
		const proto = raw.proto;
		if (options.serviceRequest === false) {
			// ssh2 sends SERVICE_REQUEST from its handshake-complete callback; answer "done" there instead.
			proto.service = () => serviceAccepted();
		}
		const originalSuccess = proto._handlers.USERAUTH_SUCCESS;
		proto._handlers.USERAUTH_FAILURE = (_p: unknown, methods: unknown, partial: unknown) =>
			raw.#push({ type: "failure", methods: Array.isArray(methods) ? (methods as string[]) : [], partial: partial === true });
		proto._handlers.USERAUTH_PK_OK = () => raw.#push({ type: "pk-ok" });
		proto._handlers.USERAUTH_INFO_REQUEST = (_p: unknown, name: unknown, instructions: unknown, prompts: unknown) =>
			raw.#push({
				type: "info-request",
				name: String(name ?? ""),
				instructions: String(instructions ?? ""),
				prompts: (prompts as { prompt: string; echo: boolean }[]) ?? [],
			});
		proto._handlers.USERAUTH_BANNER = (_p: unknown, message: unknown) => raw.#push({ type: "banner", message: String(message) });
		proto._handlers.USERAUTH_SUCCESS = (...args: unknown[]) => {
			raw.#push({ type: "success" });
			originalSuccess?.(...args);
		};
		await Promise.race([
			accepted,
			new Promise<void>((_resolve, reject) =>
				client.once("close", () => reject(new Error(`closed before SERVICE_ACCEPT: ${raw.errors.map((e) => e.message).join("; ")}`))),
			),
		]);
		return raw;
	}

	get proto(): RawProtocol {
		// Private ssh2 API, see the file comment.
		return (this.client as unknown as { _protocol: RawProtocol })._protocol;
	}

	get closed(): boolean {
		return this.#closed;
	}

	#push(event: AuthEvent): void {
		this.events.push(event);
		const waiter = this.#waiters.find((candidate) => candidate.predicate(event));
		if (waiter) {
			this.#waiters = this.#waiters.filter((candidate) => candidate !== waiter);
			this.#cursor = this.events.length;
			waiter.resolve(event);
		}
	}

	/** The next event not yet returned by next() (waits up to timeoutMs). */
	next(timeoutMs = 60_000): Promise<AuthEvent> {
		if (this.#cursor < this.events.length) {
			const event = this.events[this.#cursor] as AuthEvent;
			this.#cursor += 1;
			return Promise.resolve(event);
		}
		return new Promise<AuthEvent>((resolve, reject) => {
			const timer = setTimeout(() => reject(new Error(`no SSH auth reply within ${timeoutMs} ms; saw ${JSON.stringify(this.events)}`)), timeoutMs);
			this.#waiters.push({
				predicate: () => true,
				resolve: (event) => {
					clearTimeout(timer);
					resolve(event);
				},
			});
		});
	}

	/** Waits until the connection is closed (true) or timeoutMs passes (false). */
	async waitClosed(timeoutMs = 60_000): Promise<boolean> {
		if (this.#closed) return true;
		return new Promise<boolean>((resolve) => {
			const timer = setTimeout(() => resolve(false), timeoutMs);
			this.client.once("close", () => {
				clearTimeout(timer);
				resolve(true);
			});
		});
	}

	password(username: string, password: string): void {
		this.proto.authPassword(username, password);
	}
	none(username: string): void {
		this.proto.authNone(username);
	}
	keyboard(username: string): void {
		this.proto.authKeyboard(username);
	}
	respond(responses: string[]): void {
		this.proto.authInfoRes(responses);
	}
	/** Public-key request: unsigned query, properly signed, or signed with a chosen algorithm name / signature. */
	publicKey(username: string, key: ssh2.ParsedKey, options: { sign: boolean; algo?: string; hash?: string; signature?: Buffer } = { sign: true }): void {
		if (!options.sign) {
			this.proto.authPK(username, key, options.algo);
			return;
		}
		this.proto.authPK(username, key, options.algo, (buf, cb) => cb(options.signature ?? key.sign(buf, options.hash)));
	}
	hostbased(username: string, key: ssh2.ParsedKey): void {
		this.proto.authHostbased(username, key, "client.example", "root", undefined, (buf, cb) => cb(key.sign(buf)));
	}

	/** Sends an arbitrary SSH message (payload starts with the message number), encrypted as usual. */
	sendRaw(payload: Buffer): void {
		const writer = (this.proto as unknown as { _packetRW: { write: { allocStart: number; alloc(length: number): Buffer; finalize(packet: Buffer): Buffer } } })
			._packetRW.write;
		const start = writer.allocStart;
		const packet = writer.alloc(payload.length);
		payload.copy(packet, start);
		ssh2Utils.sendPacket(this.proto, writer.finalize(packet));
	}

	/** USERAUTH_REQUEST (50) with any method name and method-specific bytes; the reply is not tracked by ssh2. */
	userauthRaw(username: string, method: string, rest: Buffer = Buffer.alloc(0), service = "ssh-connection"): void {
		this.sendRaw(Buffer.concat([Buffer.from([50]), sshString(username), sshString(service), sshString(method), rest]));
	}

	end(): void {
		try {
			this.client.end();
		} catch {
			// already closed
		}
	}
}
