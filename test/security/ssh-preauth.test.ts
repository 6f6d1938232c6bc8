/**
 * SSH pre-authentication surface (docs/threat-model.md, "SSH pre-authentication surface" and "Switching user or service mid-login"): what an
 * unauthenticated client can make the gateway do before (or instead of) logging in. Each test opens
 * with the attack it replays; every one fails if the corresponding fix is reverted.
 */
import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { after, before, describe, test } from "node:test";
import ssh2 from "ssh2";
import type { Random } from "../../src/core/random.ts";
import { startSshGateway, type SshGateway } from "../../src/ssh/gateway.ts";
import { RawSsh } from "../helpers/ssh-client.ts";
import { ADMIN_ACTOR, createTestApp, type TestApp } from "../helpers/test-app.ts";
import { addUser, enrolTotp, eventually, issueRecoveryCodes, PASSWORD, standInChannels, startFixture, type Fixture } from "../ssh/auth-fixtures.ts";

/** Reads the server's identification line and its first binary packet (KEXINIT, sent in the clear). */
function serverKexinit(port: number): Promise<Buffer> {
	return new Promise((resolve, reject) => {
		const socket = connect(port, "127.0.0.1");
		let buffer = Buffer.alloc(0);
		let identSeen = false;
		socket.on("error", reject);
		socket.once("connect", () => socket.write("SSH-2.0-preauth_test\r\n"));
		socket.on("data", (chunk: Buffer) => {
			buffer = Buffer.concat([buffer, chunk]);
			if (!identSeen) {
				const end = buffer.indexOf("\r\n");
				if (end === -1) return;
				identSeen = true;
				buffer = buffer.subarray(end + 2);
			}
			if (buffer.length < 4) return;
			const length = buffer.readUInt32BE(0);
			if (buffer.length < 4 + length) return;
			const padding = buffer[4] as number;
			socket.destroy();
			resolve(buffer.subarray(5, 4 + length - padding));
		});
	});
}

/** RFC 4253 §7.1: byte 20, 16-byte cookie, then ten name-lists (kex, host key, cipher c→s, s→c, MAC c→s, s→c, compression c→s, s→c, languages). */
function nameLists(payload: Buffer): string[][] {
	assert.equal(payload[0], 20, "SSH_MSG_KEXINIT");
	const lists: string[][] = [];
	let offset = 17;
	for (let index = 0; index < 10; index += 1) {
		const length = payload.readUInt32BE(offset);
		lists.push(
			length === 0
				? []
				: payload
						.subarray(offset + 4, offset + 4 + length)
						.toString("ascii")
						.split(","),
		);
		offset += 4 + length;
	}
	return lists;
}

/** Opens a TCP connection; resolves with what happened first: the SSH identification arrived, or the socket closed. */
function firstEvent(port: number, localAddress = "127.0.0.1"): Promise<{ kind: "ident" | "closed"; socket: Socket }> {
	return new Promise((resolve) => {
		const socket = connect({ host: "127.0.0.1", port, localAddress });
		let settled = false;
		const settle = (kind: "ident" | "closed") => {
			if (settled) return;
			settled = true;
			resolve({ kind, socket });
		};
		socket.on("error", () => undefined);
		socket.on("data", (chunk: Buffer) => {
			if (chunk.toString("latin1").startsWith("SSH-2.0-")) settle("ident");
		});
		socket.once("close", () => settle("closed"));
	});
}

/** A Random whose int() answers from a script, recording every draw (the gateway's early-drop coin). */
function scriptedRandom(values: number[]): Random & { draws: { min: number; max: number; value: number }[] } {
	const draws: { min: number; max: number; value: number }[] = [];
	return {
		draws,
		bytes: (length: number) => Buffer.alloc(length, 7),
		int(min: number, max: number) {
			const value = values.shift();
			if (value === undefined) throw new Error(`unexpected random draw [${min}, ${max})`);
			draws.push({ min, max, value });
			return value;
		},
	};
}

async function limitRows(t: TestApp) {
	return (await t.app.stores.audit.query({ event: "ssh.limit", limit: 100 })).filter((row) => row.detail?.includes('"max-startups"'));
}

describe("transport algorithms offered before authentication", () => {
	let f: Fixture;
	before(async () => {
		f = await startFixture();
		await addUser(f, "sam");
	});
	after(async () => f?.close());

	test("zlib bomb before authentication: the server's KEXINIT offers only none and delayed zlib@openssh.com", async () => {
		// Attack: negotiate "zlib" (active from NEWKEYS, before any login) and send 1.2 MB that inflates to 1.2 GB.
		const lists = nameLists(await serverKexinit(f.port));
		assert.deepEqual(lists[6], ["none", "zlib@openssh.com"], "compression client→server");
		assert.deepEqual(lists[7], ["none", "zlib@openssh.com"], "compression server→client");
	});

	test("weak MACs: only encrypt-then-MAC SHA-2 is offered (no hmac-sha1, no encrypt-and-MAC), and no NIST-curve key exchange", async () => {
		// Attack: a downgrade to hmac-sha1 / encrypt-and-MAC hmac-sha2-* (docs/threat-model.md, "SSH pre-authentication surface"), ssh-audit "fail" for ecdh-sha2-nistp*.
		const lists = nameLists(await serverKexinit(f.port));
		assert.deepEqual(lists[4], ["hmac-sha2-256-etm@openssh.com", "hmac-sha2-512-etm@openssh.com"]);
		assert.deepEqual(lists[5], ["hmac-sha2-256-etm@openssh.com", "hmac-sha2-512-etm@openssh.com"]);
		assert.ok(!lists[0]?.some((name) => name.startsWith("ecdh-sha2-nistp")), lists[0]?.join(","));
		assert.ok(lists[0]?.includes("curve25519-sha256"));
	});

	test("delayed compression still works after authentication (zlib@openssh.com both ways)", async () => {
		// Not an attack: the hardening must not break clients that ask for compression (ssh -C).
		const client = new ssh2.Client();
		const output = await new Promise<string>((resolve, reject) => {
			client.on("error", reject);
			client.on("ready", () => {
				client.exec("whoami", (error, stream) => {
					if (error) return reject(error);
					let text = "";
					stream.on("data", (chunk: Buffer) => (text += chunk.toString()));
					stream.on("close", () => resolve(text));
				});
			});
			client.connect({
				host: "127.0.0.1",
				port: f.port,
				username: "sam",
				password: PASSWORD,
				algorithms: { compress: ["zlib@openssh.com"] },
				readyTimeout: 30_000,
			});
		});
		client.end();
		assert.match(output, /^authenticated sam 2fa=none/);
	});
});

describe("MaxStartups start:rate:full and PerSourceMaxStartups", () => {
	let t: TestApp;
	let gateway: SshGateway;
	const random = scriptedRandom([49, 50, 74, 75]);
	const open: Socket[] = [];
	before(async () => {
		t = await createTestApp({ config: { ssh: { max_startups: "2:50:4", per_source_max_startups: 3 } } });
		gateway = await startSshGateway(t.app.ssh, { listen: "127.0.0.1:0", attachChannels: standInChannels({ calls: [] }), random });
	});
	after(async () => {
		for (const socket of open) socket.destroy();
		await gateway?.close();
		await t?.cleanup();
	});

	test("connection flood: beyond start the gateway drops at random (rate% rising to 100% at full), with the OpenSSH arithmetic", async () => {
		// Attack: 100 idle TCP sockets hold every unauthenticated slot, so nobody can log in (docs/threat-model.md, "SSH pre-authentication surface").
		const port = gateway.address.port;
		const admitted = async (localAddress: string) => {
			const event = await firstEvent(port, localAddress);
			open.push(event.socket);
			return event.kind;
		};
		// Below start (2): always admitted, no coin is tossed. Distinct sources, so PerSourceMaxStartups (3) stays out of it.
		assert.equal(await admitted("127.0.0.1"), "ident");
		assert.equal(await admitted("127.0.0.2"), "ident");
		assert.equal(random.draws.length, 0);
		// 2 open: p = 50 %. Draw 49 < 50 → dropped; draw 50 → admitted.
		assert.equal(await admitted("127.0.0.3"), "closed");
		assert.equal(await admitted("127.0.0.3"), "ident");
		// 3 open: p = 50 + 50·1/2 = 75 %. Draw 74 → dropped; draw 75 → admitted.
		assert.equal(await admitted("127.0.0.4"), "closed");
		assert.equal(await admitted("127.0.0.4"), "ident");
		// 4 open = full: dropped without a draw.
		assert.equal(await admitted("127.0.0.5"), "closed");
		assert.deepEqual(random.draws, [
			{ min: 0, max: 100, value: 49 },
			{ min: 0, max: 100, value: 50 },
			{ min: 0, max: 100, value: 74 },
			{ min: 0, max: 100, value: 75 },
		]);
		assert.equal(gateway.unauthenticatedCount(), 4);
		for (const socket of open.splice(0)) socket.destroy();
		await eventually(() => gateway.unauthenticatedCount() === 0, 30_000, "slots released");
	});
});

describe("PerSourceMaxStartups", () => {
	let t: TestApp;
	let gateway: SshGateway;
	const open: Socket[] = [];
	before(async () => {
		// A hard MaxStartups of 100 (no random drop), 3 per source.
		t = await createTestApp({ config: { ssh: { max_startups: "100", per_source_max_startups: 3 } } });
		gateway = await startSshGateway(t.app.ssh, { listen: "127.0.0.1:0", attachChannels: standInChannels({ calls: [] }), random: scriptedRandom([]) });
	});
	after(async () => {
		for (const socket of open) socket.destroy();
		await gateway?.close();
		await t?.cleanup();
	});

	test("one source holding many sockets: its extra connections are dropped, other sources still get in; drops are audited once per source per minute", async () => {
		// Attack: one address opens idle sockets until the global cap blocks everyone (docs/threat-model.md, "SSH pre-authentication surface").
		const port = gateway.address.port;
		for (let index = 0; index < 3; index += 1) {
			const event = await firstEvent(port, "127.0.0.9");
			open.push(event.socket);
			assert.equal(event.kind, "ident", `connection ${index + 1} from 127.0.0.9`);
		}
		// The fourth from 127.0.0.9 is over its cap.
		assert.equal((await firstEvent(port, "127.0.0.9")).kind, "closed");
		// Another source is not affected.
		const other = await firstEvent(port, "127.0.0.10");
		open.push(other.socket);
		assert.equal(other.kind, "ident");
		assert.equal(gateway.unauthenticatedCount(), 4);

		// Audit: the first drop from a source is written at once; later ones in the same minute are only counted.
		const rowsFrom9 = async () => (await limitRows(t)).filter((row) => row.source === "127.0.0.9");
		await eventually(async () => (await rowsFrom9()).length === 1, 30_000, "first drop from 127.0.0.9 audited");
		assert.equal((await firstEvent(port, "127.0.0.9")).kind, "closed");
		assert.equal((await firstEvent(port, "127.0.0.9")).kind, "closed");
		assert.equal((await rowsFrom9()).length, 1, "one row for three drops within the minute");
		// A minute later (the app's clock), the next drop writes the summary: 2 counted + this one.
		t.clock.advance(60_000);
		assert.equal((await firstEvent(port, "127.0.0.9")).kind, "closed");
		await eventually(async () => (await rowsFrom9()).length === 2, 30_000, "second summary written");
		const details = (await rowsFrom9()).map((row) => JSON.parse(row.detail ?? "{}") as { refused: number; "per-source": number });
		assert.deepEqual(details.map((detail) => detail.refused).sort(), [1, 3]);
		assert.ok(details.every((detail) => detail["per-source"] === detail.refused));
	});
});

describe("authentication protocol violations", () => {
	let f: Fixture;
	before(async () => {
		f = await startFixture();
		await f.app.admin.createGroup(ADMIN_ACTOR, { name: "ops", forceTwoFactor: true, allowedMethods: null });
		const alice = await addUser(f, "alice", ["ops"]);
		await enrolTotp(f, alice);
		await issueRecoveryCodes(f, alice);
		await addUser(f, "sam");
	});
	after(async () => f?.close());

	const violations = async () =>
		(await f.app.stores.audit.query({ event: "ssh.protocol-violation", limit: 100 })).map((row) => ({
			...row,
			parsed: JSON.parse(row.detail ?? "{}") as Record<string, unknown>,
		}));

	test("USERAUTH_REQUEST without SERVICE_REQUEST: refused with a protocol error and audited", async () => {
		// Attack: skip SERVICE_REQUEST "ssh-userauth" and authenticate anyway (RFC 4252 §1; ssh2 accepts it).
		const raw = await RawSsh.connect(f.port, { serviceRequest: false });
		raw.password("sam", PASSWORD);
		assert.ok(await raw.waitClosed(30_000), "the gateway disconnects");
		assert.ok(!raw.events.some((event) => event.type === "success" || event.type === "failure"), JSON.stringify(raw.events));
		assert.ok(
			raw.errors.some((error) => (error as Error & { code?: unknown }).code === 2),
			"SSH_DISCONNECT_PROTOCOL_ERROR",
		);
		await eventually(
			async () => (await violations()).some((row) => row.parsed.reason === "userauth-before-service-request" && row.parsed.requestedUsername === "sam"),
			30_000,
			"violation audited",
		);
	});

	test("username switch mid-authentication: disconnected, audited with both names (not 'closed by client')", async () => {
		// Attack: start as one user, continue as another (RFC 4252 §5), hoping state carries over (docs/threat-model.md, "Switching user or service mid-login").
		const raw = await RawSsh.connect(f.port);
		raw.password("alice", PASSWORD);
		assert.equal((await raw.next()).type, "failure");
		raw.password("Mallory", "x");
		assert.ok(await raw.waitClosed(30_000));
		await eventually(async () => (await violations()).some((row) => row.parsed.reason === "username-changed"), 30_000, "violation audited");
		const row = (await violations()).find((candidate) => candidate.parsed.reason === "username-changed");
		assert.equal(row?.username, "alice");
		assert.equal(row?.parsed.requestedUsername, "mallory");
		const connectionId = row?.parsed.connectionId;
		await eventually(
			async () =>
				(await f.app.stores.audit.query({ event: "ssh.disconnect", limit: 100 })).some(
					(disconnect) => disconnect.detail?.includes(String(connectionId)) && disconnect.detail.includes("protocol violation: username-changed"),
				),
			30_000,
			"ssh.disconnect names the violation",
		);
	});

	test("service switch and unknown method mid-authentication: disconnected and audited with the reason", async () => {
		// Attack: change the service name, or send a method ssh2 does not know (docs/threat-model.md, "Switching user or service mid-login": logged as "closed by client").
		const service = await RawSsh.connect(f.port);
		service.none("sam");
		assert.equal((await service.next()).type, "failure");
		service.userauthRaw("sam", "none", Buffer.alloc(0), "ssh-evil");
		assert.ok(await service.waitClosed(30_000));
		const method = await RawSsh.connect(f.port);
		method.userauthRaw("sam", "gssapi-with-mic");
		assert.ok(await method.waitClosed(30_000));
		await eventually(
			async () => {
				const rows = await violations();
				return (
					rows.some((row) => row.parsed.reason === "service-changed" && row.parsed.service === "ssh-evil" && row.username === "sam") &&
					rows.some((row) => row.parsed.reason === "unknown-method" && row.parsed.method === "gssapi-with-mic")
				);
			},
			30_000,
			"both violations audited",
		);
	});

	test("shoulder surfing: TOTP and recovery-code prompts are sent with echo off", async () => {
		// Attack: read a valid one-time code off the screen or scrollback while it is still valid (docs/threat-model.md, "SSH pre-authentication surface").
		const raw = await RawSsh.connect(f.port);
		raw.password("alice", PASSWORD);
		assert.deepEqual(await raw.next(), { type: "failure", methods: ["keyboard-interactive"], partial: true });
		raw.keyboard("alice");
		const totp = await raw.next();
		assert.ok(totp.type === "info-request" && totp.prompts.length === 1, JSON.stringify(totp));
		assert.match(totp.prompts[0]?.prompt ?? "", /TOTP/);
		assert.equal(totp.prompts[0]?.echo, false);
		raw.respond([":recovery"]);
		const recovery = await raw.next();
		assert.ok(recovery.type === "info-request" && recovery.prompts.length === 1, JSON.stringify(recovery));
		assert.match(recovery.prompts[0]?.prompt ?? "", /Recovery code/);
		assert.equal(recovery.prompts[0]?.echo, false);
		raw.end();
	});
});

describe("direct-tcpip refusal code", () => {
	let t: TestApp;
	let gateway: SshGateway;
	before(async () => {
		t = await createTestApp();
		await t.app.admin.createUser(ADMIN_ACTOR, { username: "sam", password: PASSWORD, isAdmin: false, groups: [] });
		gateway = await startSshGateway(t.app.ssh, { listen: "127.0.0.1:0" });
	});
	after(async () => {
		await gateway?.close();
		await t?.cleanup();
	});

	test("a tunnel to a destination that is not granted answers ADMINISTRATIVELY_PROHIBITED (1), not CONNECT_FAILED", async () => {
		// Attack/probe: tell "not allowed" from "host down" to map the network behind the gateway (docs/threat-model.md, "SSH pre-authentication surface", RFC 4254 §5.1).
		const client = new ssh2.Client();
		const reason = await new Promise<unknown>((resolve, reject) => {
			client.on("error", reject);
			client.on("ready", () => {
				client.forwardOut("127.0.0.1", 40000, "10.0.0.99", 22, (error) => resolve(error ? (error as Error & { reason?: unknown }).reason : "opened"));
			});
			client.connect({ host: "127.0.0.1", port: gateway.address.port, username: "sam", password: PASSWORD, readyTimeout: 30_000 });
		});
		client.end();
		assert.equal(reason, 1);
		await eventually(async () => (await t.app.stores.audit.query({ event: "ssh.forward-refused", limit: 10 })).length === 1, 30_000, "refusal audited");
	});
});
