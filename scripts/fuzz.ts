/**
 * `npm run fuzz -- --minutes N` (default 1; `--seconds N` for short CI runs, `--seed S` to replay):
 * a bounded fuzz campaign against a REAL `portcullis serve` child process (temporary data
 * directory, SQLite), so a crash shows up as the process exiting.
 *
 * What it drives, with generated and mutated input from a seeded PRNG:
 * - SSH before key exchange (raw TCP): mutated identification lines and KEXINIT packets (bit
 *   flips, length fields of 0 / 2³¹ / 2³²−1, padding longer than the packet, truncation), RFC 4253
 *   §4.2 and §6;
 * - SSH user authentication (RFC 4252, 4256) through ssh2's client internals (RawSsh, the same
 *   helper as test/ssh/auth-protocol.test.ts), so the messages are encrypted like a real client's:
 *   random method names, huge / NUL / odd usernames, truncated method fields, keyboard-interactive
 *   responses with wrong counts and huge values, random message numbers, bit-flipped valid requests;
 * - SSH connection messages after a full login (RFC 4254): channel opens of every type, channel
 *   requests with random bodies, global requests, window adjusts, data on unknown channels;
 * - the HTTP auth routes (/login, /login/2fa, /login/enroll*, /enroll-link, /logout, …) without a
 *   session, with a pre-login cookie, half logged in and fully logged in: random and mutated form
 *   bodies, wrong content types, huge fields, bad percent-encoding, missing / duplicate / foreign
 *   CSRF tokens, random cookies.
 *
 * Findings (each one fails the run, exit 1): the server process exits; its stderr shows
 * "unhandled", "uncaught" or a stack trace; its log has an error-level line; an HTTP answer is 5xx
 * or carries a stack trace; its RSS (VmRSS) exceeds --rss-mb (default 400); the liveness check
 * at the end (GET /login 200, an SSH banner, a real SSH login and a real web login) fails.
 *
 * test/security/fuzz-smoke.test.ts runs it for 20 s in CI through runFuzz().
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync, mkdtempSync, rmSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import * as OTPAuth from "otpauth";
import ssh2 from "ssh2";
import { GATEWAY_NODE_FLAGS } from "../src/app/node-flags.ts";
import { ensureBuilt } from "../test/helpers/built-cli.ts";
import { RawSsh, sshString } from "../test/helpers/ssh-client.ts";

const ROOT = resolve(import.meta.dirname, "..");
const BIN = join(ROOT, "bin", "portcullis.js");
const PASSWORD = "fuzz-password-1234";
/** alice: forced 2FA, enrolled with TOTP (SSH gives partial success, then keyboard-interactive). */
const ALICE = "alice";
/** bob: no policy, no factor: the password alone logs in, so the connection layer can be fuzzed. */
const BOB = "bob";

export interface FuzzOptions {
	readonly durationMs: number;
	readonly seed: number;
	readonly rssLimitMb?: number;
	/** Concurrent workers (each its own PRNG derived from the seed). */
	readonly workers?: number;
	readonly log?: (line: string) => void;
}

export interface FuzzFinding {
	readonly kind: string;
	readonly detail: string;
	/** The case the worker was running (or last ran), to reproduce with the same seed. */
	readonly lastCase: string | null;
}

export interface FuzzSummary {
	readonly seed: number;
	readonly iterations: Readonly<Record<string, number>>;
	/** SSH replies seen by the auth cases and HTTP statuses: which states the campaign reached. */
	readonly answers: Readonly<Record<string, number>>;
	readonly findings: readonly FuzzFinding[];
	readonly maxRssMb: number;
	readonly durationMs: number;
}

// ---------------------------------------------------------------- PRNG

/** mulberry32: small, fast, deterministic; good enough to pick fuzz cases (not for secrets). */
export class Rng {
	#state: number;
	constructor(seed: number) {
		this.#state = seed >>> 0;
	}
	next(): number {
		this.#state = (this.#state + 0x6d2b79f5) >>> 0;
		let t = this.#state;
		t = Math.imul(t ^ (t >>> 15), t | 1);
		t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
		return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
	}
	int(n: number): number {
		return Math.floor(this.next() * n);
	}
	chance(p: number): boolean {
		return this.next() < p;
	}
	pick<T>(items: readonly T[]): T {
		return items[this.int(items.length)] as T;
	}
	bytes(n: number): Buffer {
		const out = Buffer.alloc(n);
		for (let i = 0; i < n; i++) out[i] = this.int(256);
		return out;
	}
}

// ---------------------------------------------------------------- generators

const ODD_STRINGS = [
	"",
	"\0",
	"a\0b",
	"alice\0",
	"ALICE",
	"Alice ",
	"ａｌｉｃｅ",
	"alice@corp",
	"ali\u0307ce",
	"\u202ealice",
	"al\u200bice",
	"\ufeffalice",
	"\ud800",
	"\r\nlogin.success alice",
	"\x1b]0;owned\x07\x1b[2J",
	"' OR 1=1 --",
	'{"$ne":""}',
	"__proto__",
	"constructor.prototype",
	"%00%ff%c0%ae",
	"../../etc/passwd",
	"user:target@host",
	"123456",
	"١٢٣٤٥٦",
	" 0x1E240 ",
	"1.23456e5",
	"😀".repeat(100),
];
const LENGTHS = [0, 1, 7, 64, 255, 256, 1024, 4096, 65536];

function fuzzString(rng: Rng, allowHuge = true): string {
	const roll = rng.int(10);
	if (roll < 4) return rng.pick(ODD_STRINGS);
	if (roll < 6) return rng.pick([ALICE, BOB, "admin", PASSWORD, "000000"]);
	const length = allowHuge && rng.chance(0.05) ? 1_000_000 : rng.pick(LENGTHS);
	if (rng.chance(0.5)) return rng.pick(["a", "\0", "é", "%", "😀", "<"]).repeat(length);
	return rng.bytes(Math.min(length, 65536)).toString("latin1");
}

function mutate(rng: Rng, input: Buffer): Buffer {
	const out = Buffer.from(input);
	switch (rng.int(6)) {
		case 0: // bit flips
			for (let i = 0, n = 1 + rng.int(8); i < n && out.length > 0; i++) {
				const at = rng.int(out.length);
				out[at] = (out[at] as number) ^ (1 << rng.int(8));
			}
			return out;
		case 1: // a 32-bit field somewhere set to an interesting value
			if (out.length >= 4) out.writeUInt32BE(rng.pick([0, 1, 4, 5, 255, 35000, 35001, 65536, 0x7fffffff, 0x80000000, 0xffffffff]), rng.int(out.length - 3));
			return out;
		case 2: // truncated
			return out.subarray(0, rng.int(out.length + 1));
		case 3: // garbage appended
			return Buffer.concat([out, rng.bytes(rng.int(256))]);
		case 4: // a slice repeated
			return Buffer.concat([out, out.subarray(rng.int(out.length + 1))]);
		default: // random bytes spliced in
			return Buffer.concat([out.subarray(0, rng.int(out.length + 1)), rng.bytes(1 + rng.int(64)), out.subarray(rng.int(out.length + 1))]);
	}
}

function u32(value: number): Buffer {
	const out = Buffer.alloc(4);
	out.writeUInt32BE(value >>> 0);
	return out;
}

/** An RFC 4253 §6 binary packet (unencrypted, before NEWKEYS). */
function binaryPacket(payload: Buffer): Buffer {
	let padding = 8 - ((payload.length + 5) % 8);
	if (padding < 4) padding += 8;
	return Buffer.concat([u32(payload.length + padding + 1), Buffer.from([padding]), payload, Buffer.alloc(padding)]);
}

/** A plausible client KEXINIT (RFC 4253 §7.1). */
function kexinit(rng: Rng): Buffer {
	const lists = [
		"curve25519-sha256,diffie-hellman-group14-sha256,kex-strict-c-v00@openssh.com",
		"ssh-ed25519,rsa-sha2-256",
		"aes128-ctr,chacha20-poly1305@openssh.com",
		"aes128-ctr,chacha20-poly1305@openssh.com",
		"hmac-sha2-256",
		"hmac-sha2-256",
		"none",
		"none",
		"",
		"",
	];
	return Buffer.concat([Buffer.from([20]), rng.bytes(16), ...lists.map((list) => sshString(list)), Buffer.from([0]), u32(0)]);
}

const METHODS = [
	"password",
	"publickey",
	"keyboard-interactive",
	"none",
	"hostbased",
	"gssapi-with-mic",
	"PASSWORD",
	"Password",
	"",
	"\0",
	"keyboard-interactive\0",
	"x".repeat(4096),
];

// ---------------------------------------------------------------- the server under test

interface Server {
	readonly child: ChildProcess;
	readonly httpPort: number;
	readonly sshPort: number;
	stdout(): string;
	stderr(): string;
	exited(): { code: number | null; signal: NodeJS.Signals | null } | null;
}

function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
	const env: NodeJS.ProcessEnv = {};
	for (const [name, value] of Object.entries(process.env)) if (!name.startsWith("PORTCULLIS_")) env[name] = value;
	return { ...env, ...extra };
}

/** Runs the CLI to its end (no kill timer: a cold start on a loaded machine is slow, not wrong). */
async function cli(args: readonly string[], env: NodeJS.ProcessEnv, input = ""): Promise<void> {
	await ensureBuilt(); // bin runs dist/: the build of these sources (test/helpers/built-cli.ts)
	const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env, stdio: ["pipe", "pipe", "pipe"] });
	let output = "";
	child.stdout?.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
	child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
	child.stdin?.end(input);
	const code = await new Promise<number | null>((done) => child.on("close", (exit) => done(exit)));
	if (code !== 0) throw new Error(`portcullis ${args.join(" ")}: exit ${code}: ${output}`);
}

async function startServer(env: NodeJS.ProcessEnv, dataDir: string): Promise<Server> {
	await ensureBuilt();
	const child = spawn(process.execPath, [...GATEWAY_NODE_FLAGS, BIN, "serve", "--http", "127.0.0.1:0", "--ssh", "127.0.0.1:0", "--data", dataDir], {
		cwd: ROOT,
		env,
		stdio: ["pipe", "pipe", "pipe"],
	});
	let stdout = "";
	let stderr = "";
	let exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
	child.stdout?.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
	child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
	child.on("exit", (code, signal) => (exit = { code, signal }));
	child.stdin?.end();
	for (;;) {
		const http = /^Portcullis console: http:\/\/127\.0\.0\.1:(\d+)\/$/m.exec(stdout)?.[1];
		const ssh = /^Portcullis SSH gateway: ssh -p (\d+) /m.exec(stdout)?.[1];
		if (http !== undefined && ssh !== undefined) {
			return { child, httpPort: Number(http), sshPort: Number(ssh), stdout: () => stdout, stderr: () => stderr, exited: () => exit };
		}
		if (exit !== null) throw new Error(`serve did not start (exit ${JSON.stringify(exit)}):\n${stdout}\n${stderr}`);
		await sleep(50);
	}
}

function sleep(ms: number): Promise<void> {
	return new Promise((done) => setTimeout(done, ms));
}

function rssMb(pid: number): number {
	try {
		const kb = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
		return kb === undefined ? 0 : Number(kb) / 1024;
	} catch {
		return 0;
	}
}

// ---------------------------------------------------------------- HTTP

interface HttpAnswer {
	readonly status: number;
	readonly headers: Record<string, string | string[] | undefined>;
	readonly body: string;
}

/** One HTTP/1.1 exchange on a fresh connection; null when the server closed the connection. */
function http(port: number, method: string, path: string, headers: Record<string, string>, body?: Buffer | string): Promise<HttpAnswer | null> {
	return new Promise((done) => {
		const request = httpRequest({ host: "127.0.0.1", port, method, path, headers, agent: false }, (response) => {
			const chunks: Buffer[] = [];
			let size = 0;
			response.on("data", (chunk: Buffer) => {
				if (size < 1_000_000) chunks.push(chunk);
				size += chunk.length;
			});
			response.on("end", () => done({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks).toString("utf8") }));
			response.on("error", () => done(null));
		});
		request.on("error", () => done(null));
		request.end(body);
	});
}

function cookiesOf(answer: HttpAnswer | null): Record<string, string> {
	const jar: Record<string, string> = {};
	const set = answer?.headers["set-cookie"];
	for (const line of Array.isArray(set) ? set : set === undefined ? [] : [set]) {
		const [pair] = line.split(";");
		const at = pair?.indexOf("=") ?? -1;
		if (pair !== undefined && at > 0) jar[pair.slice(0, at)] = pair.slice(at + 1);
	}
	return jar;
}

function cookieHeader(jar: Record<string, string>): string {
	return Object.entries(jar)
		.map(([name, value]) => `${name}=${value}`)
		.join("; ");
}

function csrfOf(body: string): string | null {
	return /name="_csrf" value="([^"]*)"/.exec(body)?.[1] ?? null;
}

const FORM = "application/x-www-form-urlencoded";

/** Percent-encoding that never throws: a lone surrogate becomes U+FFFD (raw bad bytes are sent elsewhere). */
function pct(value: string): string {
	return encodeURIComponent(value.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, "\ufffd"));
}

function form(fields: Record<string, string>): string {
	return new URLSearchParams(fields).toString();
}

interface WebState {
	readonly kind: "none" | "pre" | "half" | "full";
	readonly cookies: Record<string, string>;
	readonly csrf: string | null;
}

/** A browser state to fuzz from: nothing, a pre-login cookie, alice half logged in, or bob logged in. */
async function webState(port: number, kind: WebState["kind"]): Promise<WebState> {
	if (kind === "none") return { kind, cookies: {}, csrf: null };
	const page = await http(port, "GET", "/login", {});
	const cookies = cookiesOf(page);
	const csrf = page === null ? null : csrfOf(page.body);
	if (kind === "pre" || csrf === null) return { kind, cookies, csrf };
	const user = kind === "half" ? ALICE : BOB;
	const login = await http(
		port,
		"POST",
		"/login",
		{ "content-type": FORM, cookie: cookieHeader(cookies) },
		form({ username: user, password: PASSWORD, _csrf: csrf }),
	);
	Object.assign(cookies, cookiesOf(login));
	let next = await http(port, "GET", kind === "half" ? "/login/2fa" : "/account", { cookie: cookieHeader(cookies) });
	const location = next?.headers.location;
	if (next?.status === 303 && typeof location === "string" && location.startsWith("/"))
		next = await http(port, "GET", location, { cookie: cookieHeader(cookies) });
	return { kind, cookies, csrf: next === null ? null : csrfOf(next.body) };
}

const ROUTES: readonly { method: string; path: string; fields: readonly string[] }[] = [
	{ method: "GET", path: "/", fields: [] },
	{ method: "GET", path: "/login", fields: ["m"] },
	{ method: "POST", path: "/login", fields: ["username", "password"] },
	{ method: "GET", path: "/login/2fa", fields: ["method"] },
	{ method: "POST", path: "/login/2fa", fields: ["method", "code", "c1", "c2", "c3"] },
	{ method: "GET", path: "/login/enroll", fields: [] },
	{ method: "POST", path: "/login/enroll/totp", fields: ["label"] },
	{ method: "POST", path: "/login/enroll/totp/confirm", fields: ["factorId", "code"] },
	{ method: "POST", path: "/login/enroll/keyword", fields: ["keyword", "confirm", "label"] },
	{ method: "GET", path: "/enroll-link/", fields: [] },
	{ method: "POST", path: "/logout", fields: [] },
	{ method: "GET", path: "/login/duo", fields: ["state", "duo_code"] },
	{ method: "GET", path: "/login/2fa/duo", fields: [] },
	{ method: "POST", path: "/account/step-up", fields: ["password", "method", "code", "next"] },
	{ method: "GET", path: "/account", fields: [] },
];

/** A value of the right shape for a known field (so the request passes validation and reaches the flow). */
function plausible(rng: Rng, field: string): string {
	switch (field) {
		case "username":
			return rng.pick([ALICE, BOB, "Alice", "ALICE", "alice ", "ａｌｉｃｅ", "nobody"]);
		case "password":
		case "current":
			return rng.pick([PASSWORD, PASSWORD, "wrong-password", ""]);
		case "method":
			return rng.pick(["totp", "totp", "recovery-code", "access-keyword", "yubikey-otp", "duo", "radius", "webauthn", "TOTP", ""]);
		case "code":
			// docs/threat-model.md, Bad input: OTP parsing pitfalls, and recovery-code shapes.
			return rng.pick(["123456", "000000", "12345", "1234567", "١٢٣٤٥٦", " 123456", "123456abc", "0x1E240", "1.23456e5", "abcde-fghjk", ""]);
		case "c1":
		case "c2":
		case "c3":
			return rng.pick(["a", "b", "Z", "1"]);
		case "factorId":
			return rng.pick(["", "x", "0".repeat(32), fuzzString(rng, false).slice(0, 64)]);
		default:
			return rng.pick(["", "x", "1", PASSWORD]);
	}
}

type StateCache = Map<WebState["kind"], WebState>;

async function httpCase(rng: Rng, port: number, describe: (text: string) => void, cache: StateCache): Promise<HttpAnswer | null> {
	// Half the cases are well-formed (right token, clean body, plausible fields, the session the
	// route expects) so they pass the guards and reach the login flow; the other half attack the
	// envelope (CSRF, encoding, cookies, the wrong kind of session).
	const hostile = rng.chance(0.5);
	// The password and second-factor forms get most of the cases: they are the ones that decide.
	const route = rng.chance(0.5) ? rng.pick(ROUTES.filter((r) => r.method === "POST" && (r.path === "/login" || r.path === "/login/2fa"))) : rng.pick(ROUTES);
	const expected: WebState["kind"] =
		route.path.startsWith("/login/2fa") || route.path.startsWith("/login/enroll") ? "half" : route.path.startsWith("/account") ? "full" : "pre";
	const kind = hostile && rng.chance(0.5) ? rng.pick(["none", "pre", "half", "full"] as const) : expected;
	// A login costs an argon2 hash: states are reused for a few cases (a case may spoil one: fine).
	let state = cache.get(kind);
	if (state === undefined || rng.chance(0.2)) {
		state = await webState(port, kind);
		cache.set(kind, state);
	}
	const method = !hostile || rng.chance(0.9) ? route.method : rng.pick(["GET", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "HEAD", "FOO"]);
	const fields: [string, string][] = route.fields
		// The keyword's three characters only now and then on clean cases (they are refused with other methods).
		.filter((name) => hostile || !/^c[123]$/.test(name) || rng.chance(0.2))
		.map((name) => [name, rng.chance(hostile ? 0.3 : 0.1) ? fuzzString(rng) : plausible(rng, name)]);
	if ((!hostile || rng.chance(0.6)) && state.csrf !== null) fields.push(["_csrf", state.csrf]);
	if (hostile && rng.chance(0.3)) fields.push(["_csrf", rng.pick([fuzzString(rng, false), state.csrf ?? "x"])]); // duplicate or foreign
	if (hostile && rng.chance(0.3))
		fields.push([rng.pick(["__proto__", "constructor", "__proto__[isAdmin]", "code[]", "a[b][c]", fuzzString(rng, false)]), fuzzString(rng, false)]);
	if (hostile && rng.chance(0.3)) for (let i = rng.int(fields.length); i > 0; i--) fields.splice(rng.int(fields.length), 1);
	let path = route.path === "/enroll-link/" ? `/enroll-link/${pct(fuzzString(rng, false).slice(0, 200))}` : route.path;
	const query = fields.map(([name, value]) => `${pct(name)}=${pct(value.slice(0, 2000))}`).join("&");
	if (method === "GET" && query !== "") path += `?${query}`;
	if (hostile && rng.chance(0.2)) path += rng.pick(["?%zz", "?m=%C0%AE", "?m=%ED%A0%80", "/..%2f", "//", `?${"a=1&".repeat(2000)}`, "#x"]);

	let body: Buffer | string | undefined;
	let contentType: string | undefined = FORM;
	if (method !== "GET" && method !== "HEAD") {
		switch (hostile ? rng.int(5) : 4) {
			case 0:
				contentType = "application/json";
				body = JSON.stringify(Object.fromEntries(fields.map(([name, value]) => [name, rng.pick([value, 123456, true, null, [], {}, { $ne: "" }])])));
				break;
			case 1:
				contentType = rng.pick([
					"text/plain",
					"multipart/form-data; boundary=x",
					"application/xml",
					"",
					"application/x-www-form-urlencoded; charset=utf-16",
					"*/*",
				]);
				body = rng.bytes(rng.int(2048));
				break;
			case 2:
				body = mutate(rng, Buffer.from(fields.map(([name, value]) => `${pct(name)}=${pct(value)}`).join("&")));
				break;
			case 3:
				body = `${fields.map(([name, value]) => `${name}=${value}`).join("&")}&${rng.pick(["%", "%zz", "%C0%AE", "%ED%A0%80", "+", "==", "&&&"])}`;
				break;
			default:
				body = fields.map(([name, value]) => `${pct(name)}=${pct(value)}`).join("&");
		}
	}
	const cookies = { ...state.cookies };
	if (hostile && rng.chance(0.3)) {
		const name = rng.pick(["pc_session", "pc_pre", "pc_enroll", "other"]);
		cookies[name] = rng.chance(0.5) ? (cookies[name] ?? "x").slice(0, rng.int(40)) : pct(fuzzString(rng, false).slice(0, 3000));
	}
	const headers: Record<string, string> = { cookie: cookieHeader(cookies) };
	if (contentType !== undefined && body !== undefined) headers["content-type"] = contentType;
	if (hostile && rng.chance(0.3))
		headers[rng.pick(["x-forwarded-for", "origin", "sec-fetch-site", "referer", "host", "accept-language"])] = rng.pick([
			"evil.example",
			"cross-site",
			"null",
			"127.0.0.1, 10.0.0.1",
			"ÿ",
			"x".repeat(4000),
		]);
	describe(
		`http ${hostile ? "hostile" : "clean"} ${state.kind} ${method} ${path.slice(0, 120)} body=${body === undefined ? "-" : JSON.stringify(body.toString().slice(0, 160))}`,
	);
	return http(port, method, path, headers, body);
}

// ---------------------------------------------------------------- SSH

function rawTcp(port: number, bytes: Buffer, waitMs: number): Promise<void> {
	return new Promise((done) => {
		const socket = connect(port, "127.0.0.1");
		const timer = setTimeout(() => socket.destroy(), waitMs);
		socket.on("error", () => undefined);
		socket.on("data", () => undefined);
		socket.once("connect", () => socket.write(bytes, () => undefined));
		socket.once("close", () => {
			clearTimeout(timer);
			done();
		});
	});
}

async function sshPreKexCase(rng: Rng, port: number, describe: (text: string) => void): Promise<void> {
	const ident = rng.chance(0.8)
		? Buffer.from("SSH-2.0-OpenSSH_9.6\r\n")
		: mutate(rng, Buffer.from(rng.pick(["SSH-2.0-fuzz\r\n", "SSH-1.99-x\r\n", `SSH-2.0-${"a".repeat(300)}\r\n`, "junk\r\nSSH-2.0-x\r\n"])));
	let packets = binaryPacket(kexinit(rng));
	if (rng.chance(0.3))
		packets = Buffer.concat([
			packets,
			binaryPacket(
				rng.pick([
					Buffer.from([21]),
					Buffer.concat([Buffer.from([5]), sshString("ssh-userauth")]),
					Buffer.concat([Buffer.from([50]), sshString("alice"), sshString("ssh-connection"), sshString("none")]),
					rng.bytes(1 + rng.int(64)),
				]),
			),
		]);
	if (rng.chance(0.8)) packets = mutate(rng, packets);
	const bytes = Buffer.concat([ident, packets]);
	describe(`ssh-prekex ${bytes.subarray(0, 200).toString("hex")}`);
	await rawTcp(port, bytes, 300 + rng.int(1200));
}

function userauthPayload(rng: Rng): Buffer {
	const user = rng.chance(0.5) ? rng.pick([ALICE, BOB]) : fuzzString(rng, false).slice(0, 40_000);
	const service = rng.chance(0.9) ? "ssh-connection" : fuzzString(rng, false).slice(0, 100);
	const method = rng.chance(0.7) ? rng.pick(METHODS) : fuzzString(rng, false).slice(0, 1000);
	let rest: Buffer;
	switch (method) {
		case "password":
			rest = Buffer.concat([Buffer.from([rng.int(3)]), sshString(rng.chance(0.5) ? PASSWORD : fuzzString(rng, false).slice(0, 20_000))]);
			break;
		case "keyboard-interactive":
			rest = Buffer.concat([sshString(""), sshString(rng.chance(0.8) ? "" : fuzzString(rng, false).slice(0, 1000))]);
			break;
		case "publickey":
			rest = Buffer.concat([
				Buffer.from([rng.int(2)]),
				sshString(rng.pick(["ssh-ed25519", "rsa-sha2-256", "sk-ssh-ed25519@openssh.com", ""])),
				sshString(rng.bytes(rng.int(600))),
				...(rng.chance(0.5) ? [sshString(rng.bytes(rng.int(200)))] : []),
			]);
			break;
		default:
			rest = rng.bytes(rng.int(128));
	}
	let payload = Buffer.concat([Buffer.from([50]), sshString(user), sshString(service), sshString(method), rest]);
	if (rng.chance(0.3)) payload = Buffer.concat([Buffer.from([50]), mutate(rng, payload.subarray(1))]);
	return payload;
}

/** One authentication conversation of 1–8 generated steps over an encrypted connection. */
async function sshAuthCase(rng: Rng, port: number, describe: (text: string) => void, seen: Record<string, number>): Promise<void> {
	let raw: RawSsh;
	try {
		raw = await RawSsh.connect(port);
	} catch {
		return; // refused (MaxStartups, LoginGraceTime): expected under load
	}
	const steps: string[] = [];
	try {
		if (rng.chance(0.5)) {
			// Reach the second-factor prompt first (alice: password → partial success → keyboard-interactive),
			// so the generated steps hit the INFO_RESPONSE handling and not only the first factor.
			steps.push("alice password + keyboard");
			raw.password(ALICE, PASSWORD);
			if ((await raw.next(15_000).catch(() => null))?.type === "failure") {
				raw.keyboard(ALICE);
				await raw.next(15_000).catch(() => null);
			}
		}
		for (let i = 0, n = 1 + rng.int(8); i < n && !raw.closed; i++) {
			switch (rng.int(8)) {
				case 0:
					steps.push("password");
					raw.password(rng.pick([ALICE, BOB, fuzzString(rng, false).slice(0, 1000)]), rng.chance(0.6) ? PASSWORD : fuzzString(rng, false).slice(0, 30_000));
					break;
				case 1:
					steps.push("keyboard");
					raw.keyboard(rng.pick([ALICE, ALICE, BOB, fuzzString(rng, false).slice(0, 100)]));
					break;
				case 2: {
					const count = rng.pick([0, 1, 2, 3, 3, 4, 50, 2000]);
					const responses = Array.from({ length: count }, () =>
						rng.chance(0.3)
							? rng.pick(["123456", "000000", "", " 123456 ", ":recovery", ":totp", ":keyword", "abcde-fghjk"])
							: fuzzString(rng, false).slice(0, rng.chance(0.1) ? 30_000 : 200),
					);
					steps.push(`respond(${count})`);
					raw.respond(responses);
					break;
				}
				case 3:
					steps.push("none");
					raw.none(rng.pick([ALICE, BOB, ""]));
					break;
				case 4:
				case 5: {
					const payload = userauthPayload(rng);
					steps.push(`userauth ${payload.subarray(0, 80).toString("hex")}`);
					raw.sendRaw(payload);
					break;
				}
				case 6: {
					// INFO_RESPONSE (61) with a lying count, or any message number with random bytes.
					const payload = rng.chance(0.5)
						? Buffer.concat([
								Buffer.from([61]),
								u32(rng.pick([0, 1, 3, 1000, 0xffffffff])),
								...Array.from({ length: rng.int(4) }, () => sshString(fuzzString(rng, false).slice(0, 500))),
							])
						: Buffer.concat([Buffer.from([rng.int(256)]), rng.bytes(rng.int(200))]);
					steps.push(`raw ${payload.subarray(0, 80).toString("hex")}`);
					raw.sendRaw(payload);
					break;
				}
				default:
					steps.push("wait");
					await Promise.race([raw.next(1500).catch(() => undefined), sleep(1500)]);
			}
			describe(`ssh-auth ${steps.join(", ")}`);
			await sleep(rng.int(40));
		}
		await raw.waitClosed(300 + rng.int(700));
	} catch {
		// ssh2's client throws when asked to send on a connection the server already closed: over.
	} finally {
		// What the server answered, to show the campaign reached the states it means to reach.
		for (const event of raw.events) {
			const name = event.type === "failure" ? (event.partial ? "partial-success" : "failure") : event.type;
			seen[name] = (seen[name] ?? 0) + 1;
		}
		raw.end();
	}
}

function channelMessage(rng: Rng): Buffer {
	const channel = rng.pick([0, 1, 2, 0xffffffff]);
	switch (rng.int(7)) {
		case 0:
			return Buffer.concat([
				Buffer.from([90]),
				sshString(
					rng.pick([
						"session",
						"direct-tcpip",
						"x11",
						"forwarded-tcpip",
						"auth-agent@openssh.com",
						"direct-streamlocal@openssh.com",
						fuzzString(rng, false).slice(0, 200),
					]),
				),
				u32(rng.int(8)),
				u32(rng.pick([0, 1, 2 ** 21, 0xffffffff])),
				u32(rng.pick([0, 1, 32768, 0xffffffff])),
				rng.bytes(rng.int(100)),
			]);
		case 1:
		case 2: {
			const type = rng.pick([
				"pty-req",
				"env",
				"exec",
				"shell",
				"subsystem",
				"window-change",
				"x11-req",
				"signal",
				"auth-agent-req@openssh.com",
				"exit-status",
				"keepalive@openssh.com",
				fuzzString(rng, false).slice(0, 100),
			]);
			let body: Buffer;
			if (type === "pty-req")
				body = Buffer.concat([
					sshString(fuzzString(rng, false).slice(0, 300)),
					u32(rng.int(2 ** 32)),
					u32(rng.int(2 ** 32)),
					u32(rng.int(2 ** 32)),
					u32(rng.int(2 ** 32)),
					sshString(rng.bytes(rng.int(50))),
				]);
			else if (type === "window-change") body = Buffer.concat([u32(rng.int(2 ** 32)), u32(rng.int(2 ** 32)), u32(0), u32(0)]);
			else if (type === "env") body = Buffer.concat([sshString(fuzzString(rng, false).slice(0, 200)), sshString(fuzzString(rng, false).slice(0, 20_000))]);
			else if (type === "exec" || type === "subsystem") body = sshString(fuzzString(rng, false).slice(0, 30_000));
			else body = rng.bytes(rng.int(64));
			return Buffer.concat([Buffer.from([98]), u32(channel), sshString(type), Buffer.from([rng.int(2)]), rng.chance(0.8) ? body : mutate(rng, body)]);
		}
		case 3:
			return Buffer.concat([
				Buffer.from([80]),
				sshString(
					rng.pick([
						"tcpip-forward",
						"cancel-tcpip-forward",
						"streamlocal-forward@openssh.com",
						"no-more-sessions@openssh.com",
						"keepalive@openssh.com",
						"hostkeys-prove-00@openssh.com",
						fuzzString(rng, false).slice(0, 100),
					]),
				),
				Buffer.from([rng.int(2)]),
				rng.bytes(rng.int(64)),
			]);
		case 4:
			return Buffer.concat([Buffer.from([93]), u32(channel), u32(rng.pick([0, 1, 0x7fffffff, 0xffffffff]))]);
		case 5:
			return Buffer.concat([Buffer.from([rng.pick([94, 95, 96, 97])]), u32(channel), ...(rng.chance(0.7) ? [sshString(rng.bytes(rng.int(2048)))] : [])]);
		default:
			return Buffer.concat([Buffer.from([80 + rng.int(48)]), rng.bytes(rng.int(100))]);
	}
}

/** bob logs in with his password (full authentication), then the connection layer gets fuzzed. */
async function sshChannelCase(rng: Rng, port: number, describe: (text: string) => void, seen: Record<string, number>): Promise<void> {
	let raw: RawSsh;
	try {
		raw = await RawSsh.connect(port);
	} catch {
		return;
	}
	const steps: string[] = [];
	try {
		raw.password(BOB, PASSWORD);
		const first = await raw.next(15_000).catch(() => null);
		if (first?.type !== "success") return;
		seen["channel-login"] = (seen["channel-login"] ?? 0) + 1;
		// ssh2's client would abort on replies for channels it never opened: let it ignore them.
		raw.client.on("error", () => undefined);
		for (let i = 0, n = 1 + rng.int(10); i < n && !raw.closed; i++) {
			if (rng.chance(0.2)) {
				const command = fuzzString(rng, false).slice(0, 200);
				steps.push(`exec ${JSON.stringify(command.slice(0, 40))}`);
				const extra = rng.chance(0.5) ? rng.bytes(rng.int(4096)) : null;
				try {
					raw.client.exec(command, (error, stream) => {
						if (error) return;
						stream
							.on("error", () => undefined)
							.on("data", () => undefined)
							.stderr.on("data", () => undefined);
						if (extra !== null) stream.write(extra);
						stream.end();
					});
				} catch {
					break; // ssh2 throws "Not connected" once the server has closed: the case is over
				}
			} else {
				const payload = channelMessage(rng);
				steps.push(`msg ${payload.subarray(0, 60).toString("hex")}`);
				raw.sendRaw(payload);
			}
			describe(`ssh-channel ${steps.join(", ")}`);
			await sleep(rng.int(60));
		}
		await raw.waitClosed(200 + rng.int(500));
	} catch {
		// ssh2's client throws when asked to send on a connection the server already closed: over.
	} finally {
		raw.end();
	}
}

// ---------------------------------------------------------------- liveness

function sshBanner(port: number): Promise<string> {
	return new Promise((done) => {
		const socket = connect(port, "127.0.0.1");
		let data = "";
		socket.setEncoding("latin1");
		socket.on("error", () => done(data));
		socket.on("data", (chunk: string) => {
			data += chunk;
			if (data.includes("\n")) socket.destroy();
		});
		socket.on("close", () => done(data));
	});
}

function sshLogin(port: number, username: string): Promise<string | null> {
	return new Promise((done) => {
		const client = new ssh2.Client();
		client.on("ready", () => {
			client.end();
			done(null);
		});
		client.on("error", (error) => done(error.message));
		client.connect({ host: "127.0.0.1", port, username, password: PASSWORD, readyTimeout: 60_000 });
	});
}

async function liveness(server: Server): Promise<string[]> {
	const problems: string[] = [];
	const login = await http(server.httpPort, "GET", "/login", {});
	if (login?.status !== 200) problems.push(`GET /login answered ${login?.status ?? "nothing"}`);
	const banner = await sshBanner(server.sshPort);
	if (!banner.startsWith("SSH-2.0-")) problems.push(`no SSH banner (got ${JSON.stringify(banner.slice(0, 40))})`);
	const ssh = await sshLogin(server.sshPort, BOB);
	if (ssh !== null) problems.push(`bob's SSH login failed: ${ssh}`);
	const web = await webState(server.httpPort, "full");
	if (web.csrf === null) problems.push("bob's web login did not reach /account");
	return problems;
}

// ---------------------------------------------------------------- the campaign

const STACK = /\n\s+at .+:\d+:\d+|node:internal|\.tsx?:\d+:\d+/;

export async function runFuzz(options: FuzzOptions): Promise<FuzzSummary> {
	const log = options.log ?? ((line: string) => console.log(line));
	const rssLimitMb = options.rssLimitMb ?? 400;
	const workers = options.workers ?? 3;
	const started = Date.now();
	const dir = mkdtempSync(join(tmpdir(), "portcullis-fuzz-"));
	const dataDir = join(dir, "data");
	const env = cleanEnv({
		// Lockout would soon refuse every login and leave most paths unexplored; the maxima keep the
		// accounts usable for a while (the limits themselves are tested elsewhere).
		PORTCULLIS_SECURITY__LOCKOUT_MAX_FAILURES: "100",
		PORTCULLIS_SECURITY__PASSWORD_MAX_FAILURES: "100",
		PORTCULLIS_SECURITY__LOCKOUT_SECONDS: "60",
		// Every case comes from 127.0.0.1: without this the per-source password delay would soon
		// refuse bob's and alice's right passwords and starve the deeper states.
		PORTCULLIS_SECURITY__PASSWORD_DELAY_AFTER_FAILURES: "100",
		PORTCULLIS_SECURITY__PASSWORD_DELAY_MAX_SECONDS: "1",
		PORTCULLIS_SSH__LOGIN_GRACE_SECONDS: "10",
		PORTCULLIS_SSH__MAX_AUTH_TRIES: "20",
	});
	const findings: FuzzFinding[] = [];
	const iterations: Record<string, number> = { "ssh-prekex": 0, "ssh-auth": 0, "ssh-channel": 0, http: 0 };
	/** SSH replies seen in the auth cases and HTTP statuses: coverage, printed in the summary. */
	const seen: Record<string, number> = {};
	let maxRssMb = 0;
	let server: Server | null = null;
	const finding = (kind: string, detail: string, lastCase: string | null) => {
		findings.push({ kind, detail, lastCase });
		log(`FINDING ${kind}: ${detail}${lastCase === null ? "" : `\n  case: ${lastCase}`}`);
	};
	try {
		log(`fuzz: seed ${options.seed}, ${Math.round(options.durationMs / 1000)} s, ${workers} workers, RSS bound ${rssLimitMb} MB`);
		await cli(["group", "add", "ops", "--force-2fa", "--data", dataDir], env);
		await cli(["user", "add", ALICE, "--group", "ops", "--data", dataDir], env, `${PASSWORD}\n`);
		await cli(["user", "add", BOB, "--data", dataDir], env, `${PASSWORD}\n`);
		server = await startServer(env, dataDir);
		const live = server;
		log(`fuzz: server pid ${live.child.pid}, http ${live.httpPort}, ssh ${live.sshPort}`);

		// alice enrols TOTP through the forced-enrolment pages (a real authenticator would do the
		// same from the otpauth:// link), so SSH asks her for a code in keyboard-interactive.
		const half = await webState(live.httpPort, "half");
		const begin = await http(
			live.httpPort,
			"POST",
			"/login/enroll/totp",
			{ "content-type": FORM, cookie: cookieHeader(half.cookies) },
			form({ label: "fuzz", _csrf: half.csrf ?? "" }),
		);
		const uri = /id="totp-uri"[^>]*>\s*([^<]+?)\s*</.exec(begin?.body ?? "")?.[1]?.replaceAll("&amp;", "&");
		const factorId = /name="factorId" value="([^"]+)"/.exec(begin?.body ?? "")?.[1];
		const confirmCsrf = csrfOf(begin?.body ?? "");
		if (uri === undefined || factorId === undefined) throw new Error(`alice's TOTP enrolment did not start: ${begin?.status} ${begin?.body.slice(0, 300)}`);
		const code = (OTPAuth.URI.parse(uri) as OTPAuth.TOTP).generate();
		const enrolled = await http(
			live.httpPort,
			"POST",
			"/login/enroll/totp/confirm",
			{ "content-type": FORM, cookie: cookieHeader(half.cookies) },
			form({ factorId, code, _csrf: confirmCsrf ?? "" }),
		);
		if (enrolled?.status !== 303) throw new Error(`alice's TOTP enrolment failed: ${enrolled?.status} ${enrolled?.body.slice(0, 300)}`);

		const deadline = Date.now() + options.durationMs;
		const lastCases: (string | null)[] = Array.from({ length: workers }, () => null);
		let stderrSeen = 0;
		let stdoutSeen = 0;
		const watch = () => {
			const exit = live.exited();
			if (exit !== null)
				finding(
					"server-exit",
					`the server process exited: ${JSON.stringify(exit)}\n${live.stderr().slice(-4000)}`,
					lastCases.filter((c) => c !== null).join("\n  case: "),
				);
			const stderr = live.stderr().slice(stderrSeen);
			stderrSeen += stderr.length;
			if (/unhandled|uncaught/i.test(stderr) || STACK.test(stderr))
				finding("stderr", stderr.slice(0, 4000), lastCases.filter((c) => c !== null).join("\n  case: "));
			else if (stderr.trim() !== "") log(`fuzz: server stderr: ${stderr.trim().slice(0, 2000)}`);
			const stdout = live.stdout().slice(stdoutSeen);
			stdoutSeen += stdout.length;
			for (const line of stdout.split("\n")) {
				if (!/"level":(50|60)\b/.test(line)) continue;
				// The request log line (onResponse, src/web/server.ts) has the same reqId: name the request that failed.
				const reqId = /"reqId":"([^"]+)"/.exec(line)?.[1];
				const incoming =
					reqId === undefined
						? undefined
						: live
								.stdout()
								.split("\n")
								.find((other) => other.includes(`"reqId":"${reqId}"`) && other.includes('"req":'));
				finding(
					"error-log",
					`${line.slice(0, 4000)}${incoming === undefined ? "" : `\n  request: ${incoming.slice(0, 1000)}`}`,
					lastCases.filter((c) => c !== null).join("\n  case: "),
				);
			}
			const rss = rssMb(live.child.pid ?? 0);
			maxRssMb = Math.max(maxRssMb, rss);
			if (rss > rssLimitMb) finding("memory", `RSS ${rss.toFixed(0)} MB > ${rssLimitMb} MB`, null);
			return exit === null && rss <= rssLimitMb;
		};

		const worker = async (index: number) => {
			const rng = new Rng((options.seed + Math.imul(index + 1, 0x9e3779b1)) >>> 0);
			const describe = (text: string) => (lastCases[index] = text);
			const cache: StateCache = new Map();
			while (Date.now() < deadline && findings.length === 0) {
				const kind = rng.pick(["ssh-prekex", "ssh-auth", "ssh-auth", "ssh-channel", "http", "http", "http"] as const);
				iterations[kind] = (iterations[kind] ?? 0) + 1;
				if (kind === "ssh-prekex") await sshPreKexCase(rng, live.sshPort, describe);
				else if (kind === "ssh-auth") await sshAuthCase(rng, live.sshPort, describe, seen);
				else if (kind === "ssh-channel") await sshChannelCase(rng, live.sshPort, describe, seen);
				else {
					const answer = await httpCase(rng, live.httpPort, describe, cache);
					const status = `http-${answer?.status ?? "closed"}`;
					seen[status] = (seen[status] ?? 0) + 1;
					if (answer !== null && answer.status >= 500) finding("http-5xx", `status ${answer.status}: ${answer.body.slice(0, 500)}`, lastCases[index] ?? null);
					else if (answer !== null && STACK.test(answer.body)) finding("http-stack", answer.body.slice(0, 1000), lastCases[index] ?? null);
				}
			}
		};
		let unlocking: Promise<void> | null = null;
		const monitor = (async () => {
			let lastReport = Date.now();
			let lastUnlock = Date.now();
			while (Date.now() < deadline && findings.length === 0) {
				if (!watch()) break;
				if (unlocking === null && Date.now() - lastUnlock >= 30_000) {
					// Wrong codes lock alice (and bob) sooner or later; an admin unlock keeps the
					// second-factor paths reachable in long runs.
					lastUnlock = Date.now();
					unlocking = Promise.all([ALICE, BOB].map((user) => cli(["user", "unlock", user, "--data", dataDir], env)))
						.then(
							() => undefined,
							(error: Error) => log(`fuzz: unlock failed: ${error.message}`),
						)
						.finally(() => (unlocking = null));
				}
				if (Date.now() - lastReport >= 10_000) {
					lastReport = Date.now();
					log(`fuzz: ${Math.round((Date.now() - started) / 1000)} s, ${JSON.stringify(iterations)}, RSS ${rssMb(live.child.pid ?? 0).toFixed(0)} MB`);
				}
				await sleep(250);
			}
		})();
		await Promise.all([monitor, ...Array.from({ length: workers }, (_unused, index) => worker(index))]);
		await unlocking;
		// Let connections still being torn down reach the server, then look once more.
		await sleep(1000);
		watch();
		if (live.exited() === null) for (const problem of await liveness(live)) finding("liveness", problem, null);
		watch();
	} finally {
		if (server !== null && server.exited() === null) {
			server.child.kill("SIGTERM");
			await new Promise((done) => server?.child.once("exit", done));
		}
		rmSync(dir, { recursive: true, force: true });
	}
	const summary: FuzzSummary = { seed: options.seed, iterations, answers: seen, findings, maxRssMb: Math.round(maxRssMb), durationMs: Date.now() - started };
	log(
		`fuzz: done. seed ${summary.seed}; iterations ${JSON.stringify(iterations)}; answers ${JSON.stringify(seen)}; max RSS ${summary.maxRssMb} MB; findings ${findings.length}`,
	);
	return summary;
}

function parseArgs(argv: readonly string[]): FuzzOptions {
	let durationMs = 60_000;
	let seed = Math.floor(Math.random() * 2 ** 32);
	let rssLimitMb = 400;
	let workers = 3;
	for (let i = 0; i < argv.length; i++) {
		const name = argv[i];
		const value = Number(argv[i + 1]);
		const number = () => {
			if (!Number.isFinite(value) || value < 0) throw new Error(`${name} needs a number`);
			i++;
			return value;
		};
		if (name === "--minutes") durationMs = number() * 60_000;
		else if (name === "--seconds") durationMs = number() * 1000;
		else if (name === "--seed") seed = number() >>> 0;
		else if (name === "--rss-mb") rssLimitMb = number();
		else if (name === "--workers") workers = Math.max(1, Math.floor(number()));
		else throw new Error(`unknown option ${name} (--minutes N, --seconds N, --seed S, --rss-mb M, --workers W)`);
	}
	return { durationMs, seed, rssLimitMb, workers };
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
	let options: FuzzOptions | null = null;
	try {
		options = parseArgs(process.argv.slice(2));
	} catch (error) {
		console.error(`fuzz: ${(error as Error).message}`);
		process.exitCode = 2;
	}
	if (options !== null) {
		const summary = await runFuzz(options);
		process.exitCode = summary.findings.length > 0 ? 1 : 0;
	}
}
