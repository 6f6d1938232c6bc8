/**
 * A hostile "LDAP server" (a raw TCP stub): it accepts and never answers, trickles bytes forever,
 * answers with referrals to another server, or
 * announces and streams a response far past the byte cap. Every exchange ends within its deadline as
 * "unavailable" (never a hang, never unbounded memory). Pass/fail never depends on timing: each
 * case is told apart by the reason the client gives.
 */
import assert from "node:assert/strict";
import net from "node:net";
import { test } from "node:test";
import { LdapDirectory, type LdapDirectoryOptions } from "../../src/net/ldap-directory.ts";

type Behaviour = (socket: net.Socket) => void;

/** BER length (RFC 4511 §5.1: definite form). */
function berLength(length: number): Buffer {
	if (length < 0x80) return Buffer.from([length]);
	const bytes: number[] = [];
	for (let rest = length; rest > 0; rest >>= 8) bytes.unshift(rest & 0xff);
	return Buffer.from([0x80 | bytes.length, ...bytes]);
}
function tlv(tag: number, value: Buffer): Buffer {
	return Buffer.concat([Buffer.from([tag]), berLength(value.length), value]);
}
const octets = (text: string) => tlv(0x04, Buffer.from(text, "utf8"));
/** LDAPResult fields: resultCode, matchedDN, diagnosticMessage (RFC 4511 §4.1.9), optional referral [3]. */
function ldapResult(code: number, referral: string[] = []): Buffer {
	const parts = [tlv(0x0a, Buffer.from([code])), octets(""), octets("")];
	if (referral.length > 0) parts.push(tlv(0xa3, Buffer.concat(referral.map(octets))));
	return Buffer.concat(parts);
}
function message(id: number, op: Buffer): Buffer {
	return tlv(0x30, Buffer.concat([tlv(0x02, Buffer.from([id])), op]));
}

/**
 * A tiny LDAP server for referral cases: reads each request's message id and operation (short
 * message ids, as ldapts sends) and answers with `answer`.
 */
function ldapStub(answer: (id: number, op: number) => Buffer[] | "close"): Behaviour {
	return (socket) => {
		let pending = Buffer.alloc(0);
		socket.on("data", (chunk: Buffer) => {
			pending = Buffer.concat([pending, chunk]);
			for (;;) {
				if (pending.length < 2) return;
				const first = pending[1] as number;
				const lengthBytes = first < 0x80 ? 0 : first & 0x7f;
				if (pending.length < 2 + lengthBytes) return;
				let length = first < 0x80 ? first : 0;
				for (let i = 0; i < lengthBytes; i++) length = (length << 8) | (pending[2 + i] as number);
				const total = 2 + lengthBytes + length;
				if (pending.length < total) return;
				const body = pending.subarray(2 + lengthBytes, total);
				pending = pending.subarray(total);
				const id = body[2] as number;
				const op = body[3] as number;
				const reply = answer(id, op);
				if (reply === "close") {
					socket.destroy();
					return;
				}
				for (const part of reply) socket.write(part);
			}
		});
	};
}

const BIND_REQUEST = 0x60;
const SEARCH_REQUEST = 0x63;

async function stub(behaviour: Behaviour): Promise<{ url: string; close(): Promise<void> }> {
	const sockets = new Set<net.Socket>();
	const server = net.createServer((socket) => {
		sockets.add(socket);
		socket.on("error", () => undefined);
		socket.on("close", () => sockets.delete(socket));
		behaviour(socket);
	});
	await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
	const port = (server.address() as net.AddressInfo).port;
	return {
		url: `ldap://127.0.0.1:${port}`,
		close: async () => {
			for (const socket of sockets) socket.destroy();
			await new Promise<void>((resolve) => server.close(() => resolve()));
		},
	};
}

function directory(url: string, overrides: Partial<LdapDirectoryOptions> = {}): LdapDirectory {
	return new LdapDirectory({
		url,
		startTls: false,
		insecure: true,
		ca: null,
		bindDn: "cn=svc,dc=example,dc=test",
		bindPassword: "x",
		userBase: "dc=example,dc=test",
		userFilter: "(uid={username})",
		memberOfAttribute: "memberOf",
		groupBase: "",
		groupFilter: "",
		timeoutMs: 300,
		maxResponseBytes: 64 * 1024,
		...overrides,
	});
}

test("a server that accepts and never answers: unavailable at the deadline", async () => {
	const server = await stub(() => undefined);
	try {
		const result = await directory(server.url).authenticate("alice", "pw");
		assert.equal(result.kind, "unavailable");
		assert.match(result.kind === "unavailable" ? result.reason : "", /no answer within 300 ms/);
	} finally {
		await server.close();
	}
});

test("a server that trickles one byte at a time of an endless message: unavailable at the deadline", async () => {
	const server = await stub((socket) => {
		// A BER SEQUENCE announcing ~2 GiB, then one byte every 20 ms: never a complete message.
		socket.write(Buffer.from([0x30, 0x84, 0x7f, 0xff, 0xff, 0xff]));
		const timer = setInterval(() => socket.write(Buffer.from([0x00])), 20);
		socket.on("close", () => clearInterval(timer));
	});
	try {
		const result = await directory(server.url, { timeoutMs: 500 }).authenticate("alice", "pw");
		assert.equal(result.kind, "unavailable");
		assert.match(result.kind === "unavailable" ? result.reason : "", /no answer within 500 ms/);
	} finally {
		await server.close();
	}
});

test("a server that floods a huge response: cut at the byte cap, unavailable", async () => {
	const server = await stub((socket) => {
		socket.write(Buffer.from([0x30, 0x84, 0x7f, 0xff, 0xff, 0xff]));
		const chunk = Buffer.alloc(16 * 1024);
		const pump = () => {
			while (!socket.destroyed && socket.write(chunk));
		};
		socket.on("drain", pump);
		pump();
	});
	try {
		// A deadline far away: only the byte cap can end this one.
		const result = await directory(server.url, { timeoutMs: 60_000 }).authenticate("alice", "pw");
		assert.equal(result.kind, "unavailable");
		assert.match(result.kind === "unavailable" ? result.reason : "", /more than 65536 bytes/);
	} finally {
		await server.close();
	}
});

test("a server that closes the connection at once: unavailable", async () => {
	const server = await stub((socket) => socket.destroy());
	try {
		assert.equal((await directory(server.url).authenticate("alice", "pw")).kind, "unavailable");
	} finally {
		await server.close();
	}
});

test("a StartTLS server that answers with garbage instead of TLS: unavailable", async () => {
	const server = await stub((socket) => socket.once("data", () => socket.write(Buffer.from("HTTP/1.1 400 Bad Request\r\n\r\n"))));
	try {
		assert.equal((await directory(server.url, { startTls: true, insecure: false }).authenticate("alice", "pw")).kind, "unavailable");
	} finally {
		await server.close();
	}
});

test("wrong referrals: a search answered only with a referral to another server finds no one (never followed)", async () => {
	let searches = 0;
	const server = await stub(
		ldapStub((id, op) => {
			if (op === BIND_REQUEST) return [message(id, tlv(0x61, ldapResult(0)))];
			if (op === SEARCH_REQUEST) {
				searches++;
				return [message(id, tlv(0x73, octets("ldap://evil.example:389/dc=example,dc=test??sub"))), message(id, tlv(0x65, ldapResult(0)))];
			}
			return "close";
		}),
	);
	try {
		assert.deepEqual(await directory(server.url).authenticate("alice", "pw"), { kind: "unknown" });
		assert.equal(searches, 1);
	} finally {
		await server.close();
	}
});

test("wrong referrals: a bind answered with resultCode referral (10) is an outage, not a login", async () => {
	const server = await stub(ldapStub((id, op) => (op === BIND_REQUEST ? [message(id, tlv(0x61, ldapResult(10, ["ldap://evil.example:389/"])))] : "close")));
	try {
		assert.equal((await directory(server.url).authenticate("alice", "pw")).kind, "unavailable");
	} finally {
		await server.close();
	}
});
