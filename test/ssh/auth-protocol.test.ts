/**
 * Raw ssh2 client against the gateway: the SSH rows of the bypass matrix (docs/security-matrix.md S1-S9)
 * and the keyboard-interactive bad-input classes (§6). Every test asserts the refusal AND that
 * nothing reached the channel layer or a loopback "target", and the file ends by proving the
 * gateway still serves a legitimate login.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { makeKey, type TestKey } from "../helpers/keys.ts";
import { RawSsh, sshString, type AuthEvent } from "../helpers/ssh-client.ts";
import { ADMIN_ACTOR } from "../helpers/test-app.ts";
import { addKey, addUser, enrolTotp, PASSWORD, startFixture, totpNow, type Fixture } from "./auth-fixtures.ts";

const FIRST = ["publickey", "password"];
const SECOND = ["keyboard-interactive"];

function failure(event: AuthEvent, methods: string[], partial: boolean): void {
	assert.deepEqual(event, { type: "failure", methods, partial });
}

/** Resolves with the error (or null) of a callback-style ssh2 client call, or "closed". */
function outcome(run: (done: (error: Error | null | undefined) => void) => void, timeoutMs = 60_000): Promise<string> {
	return new Promise((resolve) => {
		const timer = setTimeout(() => resolve("timeout"), timeoutMs);
		try {
			run((error) => {
				clearTimeout(timer);
				resolve(error ? `refused: ${error.message}` : "accepted");
			});
		} catch (error) {
			clearTimeout(timer);
			resolve(`threw: ${(error as Error).message}`);
		}
	});
}

describe("raw SSH authentication against the gateway (docs/threat-model.md S1-S9)", () => {
	let f: Fixture;
	let dir: string;
	let aliceKey: TestKey;
	let otherKey: TestKey;
	let unknownKey: TestKey;
	let secret: Buffer;
	let target: Server;
	let targetConnections = 0;
	const open: RawSsh[] = [];

	const connect = async () => {
		const raw = await RawSsh.connect(f.port);
		open.push(raw);
		return raw;
	};

	/** A connection where alice has passed the password (partial success) and nothing else. */
	const halfAuthenticated = async (): Promise<RawSsh> => {
		const raw = await connect();
		raw.password("alice", PASSWORD);
		failure(await raw.next(), SECOND, true);
		return raw;
	};

	before(async () => {
		f = await startFixture();
		dir = mkdtempSync(join(tmpdir(), "portcullis-raw-"));
		aliceKey = makeKey(dir, "alice");
		otherKey = makeKey(dir, "alice2", "ecdsa");
		unknownKey = makeKey(dir, "stranger");
		await f.app.admin.createGroup(ADMIN_ACTOR, { name: "ops", forceTwoFactor: true, allowedMethods: null });
		const alice = await addUser(f, "alice", ["ops"]);
		secret = await enrolTotp(f, alice);
		await addKey(f, alice, aliceKey.publicLine);
		await addKey(f, alice, otherKey.publicLine);
		await addUser(f, "bob", ["ops"]);
		target = createServer((socket) => {
			targetConnections += 1;
			socket.destroy();
		});
		await new Promise<void>((resolve) => target.listen(0, "127.0.0.1", resolve));
	});

	after(async () => {
		for (const raw of open) raw.end();
		await new Promise<void>((resolve) => target.close(() => resolve()));
		await f?.close();
		rmSync(dir, { recursive: true, force: true });
	});

	test("S4: none and hostbased never succeed and list the first-factor methods", async () => {
		const raw = await connect();
		raw.none("alice");
		failure(await raw.next(), FIRST, false);
		raw.hostbased("alice", aliceKey.parsed);
		failure(await raw.next(), FIRST, false);
		const audit = await f.app.stores.audit.query({ event: "ssh.auth-failure" });
		assert.ok(audit.some((row) => row.detail?.includes("hostbased-not-supported")));
	});

	test("S1: wrong password → FAILURE(partial=false); right password → FAILURE(partial=true, [keyboard-interactive]), never SUCCESS", async () => {
		const raw = await connect();
		raw.password("alice", "not the password");
		failure(await raw.next(), FIRST, false);
		raw.password("alice", PASSWORD);
		failure(await raw.next(), SECOND, true);
		// After partial success the first factor cannot be replayed into anything else.
		raw.password("alice", PASSWORD);
		failure(await raw.next(), SECOND, false);
		raw.none("alice");
		failure(await raw.next(), SECOND, false);
		assert.ok(!raw.events.some((event) => event.type === "success"));
	});

	test("S5-S8: after the first factor only, session/exec/sftp/direct-tcpip/tcpip-forward/streamlocal/agent are all refused; the target sees nothing", async () => {
		const raw = await halfAuthenticated();
		const client = raw.client;
		const before = f.channels.calls.length;
		const results = {
			exec: await outcome((done) => client.exec("id", (error) => done(error))),
			shell: await outcome((done) => client.shell((error) => done(error))),
			sftp: await outcome((done) => client.sftp((error) => done(error))),
			execWithAgent: await outcome((done) => client.exec("id", { agentForward: true } as never, (error) => done(error))),
			directTcpip: await outcome((done) =>
				client.forwardOut("127.0.0.1", 5000, "127.0.0.1", (target.address() as { port: number }).port, (error) => done(error)),
			),
			tcpipForward: await outcome((done) => client.forwardIn("127.0.0.1", 0, (error) => done(error))),
			streamlocal: await outcome((done) => client.openssh_forwardInStreamLocal(join(dir, "sock"), (error) => done(error))),
			noMoreSessions: await outcome((done) => client.openssh_noMoreSessions((error) => done(error))),
		};
		for (const [name, result] of Object.entries(results)) assert.match(result, /^refused/, `${name}: ${result}`);
		assert.equal(targetConnections, 0, "the loopback target saw no connection");
		assert.equal(f.channels.calls.length, before, "nothing reached the channel layer");
		assert.ok(!raw.closed, "refusals do not crash the connection");

		// Positive twin: the same connection finishes with the TOTP code and only then can exec.
		f.clock.advance(30_000);
		raw.keyboard("alice");
		const prompt = await raw.next();
		assert.equal(prompt.type, "info-request");
		assert.match(prompt.type === "info-request" ? (prompt.prompts[0]?.prompt ?? "") : "", /Authenticator app code \(TOTP\): $/);
		raw.respond([totpNow(f, secret)]);
		assert.deepEqual(await raw.next(), { type: "success" });
		const exec = await outcome((done) =>
			client.exec("id", (error, stream) => {
				if (error) return done(error);
				stream.on("data", () => undefined).on("close", () => done(null));
			}),
		);
		assert.equal(exec, "accepted");
		assert.ok(f.channels.calls.includes("exec:alice:id"));
	});

	test("S5: a client-sent USERAUTH_SUCCESS is ignored; channels stay refused", async () => {
		const raw = await halfAuthenticated();
		raw.sendRaw(Buffer.from([52]));
		assert.match(await outcome((done) => raw.client.exec("id", (error) => done(error))), /^refused/);
		assert.equal(targetConnections, 0);
	});

	test("S2a: an unsigned public-key offer gets PK_OK and counts for nothing", async () => {
		const raw = await connect();
		raw.publicKey("alice", aliceKey.parsed, { sign: false });
		assert.deepEqual(await raw.next(), { type: "pk-ok" });
		// Keyboard-interactive is not available: no factor was recorded.
		raw.keyboard("alice");
		failure(await raw.next(), FIRST, false);
		assert.match(await outcome((done) => raw.client.exec("id", (error) => done(error))), /^refused/);
		// An unknown key gets no PK_OK.
		raw.publicKey("alice", unknownKey.parsed, { sign: false });
		failure(await raw.next(), FIRST, false);
	});

	test("S2b: offer key A unsigned, then sign with key B: the recorded factor is B", async () => {
		const raw = await connect();
		raw.publicKey("alice", aliceKey.parsed, { sign: false });
		assert.deepEqual(await raw.next(), { type: "pk-ok" });
		raw.publicKey("alice", otherKey.parsed, { sign: true });
		failure(await raw.next(), SECOND, true);
		const [row] = await f.app.stores.audit.query({ event: "ssh.first-factor", limit: 1 });
		const detail = JSON.parse(row?.detail ?? "{}") as { fingerprint?: string; firstFactor?: string };
		assert.equal(detail.firstFactor, "publickey");
		const keys = await f.keys.list((await f.app.stores.users.findByUsername("alice"))!.id);
		assert.equal(detail.fingerprint, keys.find((key) => key.algo.startsWith("ecdsa"))?.fingerprint);
	});

	test("S2c: an ed25519 key with an rsa-sha2-256 signature algorithm is refused (hyperbridge #1225)", async () => {
		const raw = await connect();
		raw.publicKey("alice", aliceKey.parsed, { sign: true, algo: "rsa-sha2-256" });
		failure(await raw.next(), FIRST, false);
		const [row] = await f.app.stores.audit.query({ event: "ssh.auth-failure", limit: 1 });
		assert.match(row?.detail ?? "", /key-algorithm-mismatch/);
	});

	test("S2d: a garbage signature, or a signature by another key, is refused", async () => {
		const raw = await connect();
		raw.publicKey("alice", aliceKey.parsed, { sign: true, signature: Buffer.alloc(64, 7) });
		failure(await raw.next(), FIRST, false);
		// Signed by the stranger's private key but claiming alice's public key.
		raw.publicKey("alice", aliceKey.parsed, { sign: true, signature: unknownKey.parsed.sign(Buffer.from("anything")) });
		failure(await raw.next(), FIRST, false);
		// A properly signed key that is not registered.
		raw.publicKey("alice", unknownKey.parsed, { sign: true });
		failure(await raw.next(), FIRST, false);
		const [row] = await f.app.stores.audit.query({ event: "ssh.auth-failure", limit: 3 });
		assert.ok(row);
	});

	test("S3: keyboard-interactive with 0 responses, or NUL/ANSI bytes, is refused without a crash", async () => {
		const raw = await halfAuthenticated();
		raw.keyboard("alice");
		assert.equal((await raw.next()).type, "info-request");
		raw.respond([]);
		const second = await raw.next();
		assert.equal(second.type, "info-request");
		assert.match(second.type === "info-request" ? second.instructions : "", /That answer was not understood\./);
		raw.respond(["\u0000\u001b[31m123456\u001b]0;x\u0007"]);
		const third = await raw.next();
		assert.equal(third.type, "info-request");
		assert.match(third.type === "info-request" ? third.instructions : "", /That answer is not valid\./);
		raw.respond(["1", "2"]);
		// Third wrong answer: the refusal message (no prompts), then FAILURE.
		const told = await raw.next();
		assert.equal(told.type, "info-request");
		assert.match(told.type === "info-request" ? told.instructions : "", /Too many wrong answers\./);
		assert.equal(told.type === "info-request" ? told.prompts.length : -1, 0);
		raw.respond([]);
		failure(await raw.next(), SECOND, false);
		// Anything further: refused, and a persistent client is disconnected.
		raw.keyboard("alice");
		failure(await raw.next(), SECOND, false);
		raw.keyboard("alice");
		assert.ok(await raw.waitClosed(), "disconnected after the refusal");
		await f.app.admin.unlock(ADMIN_ACTOR, "alice");
	});

	test("S3: 10,000 responses and a 1 MB response end the connection, never the process", async () => {
		for (const responses of [Array.from({ length: 10_000 }, () => ""), ["x".repeat(1 << 20)]]) {
			const raw = await halfAuthenticated();
			raw.keyboard("alice");
			assert.equal((await raw.next()).type, "info-request");
			try {
				raw.respond(responses);
			} catch {
				// The client library itself may refuse to build such a packet.
			}
			const next = await raw.next();
			assert.ok(next.type === "closed" || (next.type === "failure" && !next.partial) || next.type === "info-request", JSON.stringify(next));
			assert.ok(!raw.events.some((event) => event.type === "success"));
			raw.end();
		}
	});

	test("S9: a username change mid-authentication disconnects", async () => {
		const raw = await halfAuthenticated();
		raw.keyboard("bob");
		assert.deepEqual(await raw.next(), { type: "closed" });
	});

	test("S9: a keyboard-interactive response after a newer request (abort) cannot complete authentication", async () => {
		f.clock.advance(30_000);
		const raw = await halfAuthenticated();
		raw.keyboard("alice");
		assert.equal((await raw.next()).type, "info-request");
		// A newer request aborts the pending exchange (RFC 4252 §5 / ssh2 'abort').
		raw.password("alice", PASSWORD);
		failure(await raw.next(), SECOND, false);
		// The stale answer, with a valid code: never completes authentication (ssh2 treats an
		// INFO_RESPONSE to a request that is no longer keyboard-interactive as a protocol error).
		raw.respond([totpNow(f, secret)]);
		const next = await raw.next();
		assert.deepEqual(next, { type: "closed" });
		assert.ok(!raw.events.some((event) => event.type === "success"), JSON.stringify(raw.events));

		// The code was not consumed: a fresh connection completes with it.
		const fresh = await halfAuthenticated();
		fresh.keyboard("alice");
		assert.equal((await fresh.next()).type, "info-request");
		fresh.respond([totpNow(f, secret)]);
		assert.deepEqual(await fresh.next(), { type: "success" });
	});

	test("S9: a newer keyboard-interactive request aborts the pending prompt; only the new exchange can finish", async () => {
		f.clock.advance(30_000);
		const raw = await halfAuthenticated();
		raw.keyboard("alice");
		const first = await raw.next();
		assert.equal(first.type, "info-request");
		raw.keyboard("alice");
		const second = await raw.next();
		assert.equal(second.type, "info-request", "the aborted exchange ends silently; the new one prompts");
		raw.respond(["000000"]);
		const third = await raw.next();
		assert.equal(third.type, "info-request");
		raw.respond([totpNow(f, secret)]);
		assert.deepEqual(await raw.next(), { type: "success" });
		assert.equal(raw.events.filter((event) => event.type === "success").length, 1);
		await f.app.admin.unlock(ADMIN_ACTOR, "alice");
	});

	test("S9: pipelined requests are answered one by one; none succeeds without the second factor", async () => {
		const raw = await connect();
		// 1 in progress + 9 queued (ssh2 queues at most 10 pending; an 11th pending one disconnects).
		for (let index = 0; index < 4; index += 1) raw.password("alice", `wrong-${index}`);
		raw.password("alice", PASSWORD);
		for (let index = 0; index < 5; index += 1) raw.none("alice");
		const replies: AuthEvent[] = [];
		for (let index = 0; index < 10; index += 1) {
			const event = await raw.next();
			if (event.type === "closed") break;
			replies.push(event);
		}
		assert.ok(
			replies.every((event) => event.type === "failure"),
			JSON.stringify(replies),
		);
		assert.ok(!raw.events.some((event) => event.type === "success"));
		// MaxAuthTries (6 by default) ends the connection before all ten were handled.
		assert.ok(await raw.waitClosed());
	});

	test("malformed method names (unknown, empty, mixed case) end the connection cleanly", async () => {
		for (const method of ["gssapi-with-mic", "", "PublicKey", "none\u0000"]) {
			const raw = await connect();
			raw.userauthRaw("alice", method, Buffer.concat([Buffer.from([0]), sshString("x")]));
			const next = await raw.next();
			assert.ok(next.type === "closed" || (next.type === "failure" && !next.partial), `${JSON.stringify(method)}: ${JSON.stringify(next)}`);
			raw.end();
		}
	});

	test("fail closed: an error inside the login flow refuses, is audited and disconnects; the gateway keeps serving", async () => {
		const original = f.app.login.submitPassword;
		(f.app.login as { submitPassword: unknown }).submitPassword = async () => {
			throw new Error("database is on fire");
		};
		try {
			const raw = await connect();
			raw.password("alice", PASSWORD);
			const reply = await raw.next();
			assert.ok(reply.type === "closed" || (reply.type === "failure" && !reply.partial), JSON.stringify(reply));
			assert.ok(await raw.waitClosed());
			assert.ok(!raw.events.some((event) => event.type === "success"));
		} finally {
			(f.app.login as { submitPassword: unknown }).submitPassword = original;
		}
		const [row] = await f.app.stores.audit.query({ event: "ssh.auth-error", limit: 1 });
		assert.match(row?.detail ?? "", /database is on fire/);
	});

	test("the gateway is still healthy: a legitimate key + TOTP login works", async () => {
		f.clock.advance(30_000);
		const raw = await connect();
		raw.publicKey("alice", aliceKey.parsed, { sign: false });
		assert.deepEqual(await raw.next(), { type: "pk-ok" });
		raw.publicKey("alice", aliceKey.parsed, { sign: true });
		failure(await raw.next(), SECOND, true);
		raw.keyboard("alice");
		assert.equal((await raw.next()).type, "info-request");
		raw.respond([totpNow(f, secret)]);
		assert.deepEqual(await raw.next(), { type: "success" });
		assert.equal(targetConnections, 0);
	});
});
