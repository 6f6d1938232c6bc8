/**
 * A hostile "LDAP server" (a raw TCP stub): it accepts and never answers, trickles bytes forever, or
 * announces and streams a response far past the byte cap. Every exchange ends within its deadline as
 * "unavailable" (never a hang, never unbounded memory). Pass/fail never depends on timing: each
 * case is told apart by the reason the client gives.
 */
import assert from "node:assert/strict";
import net from "node:net";
import { test } from "node:test";
import { LdapDirectory, type LdapDirectoryOptions } from "../../src/net/ldap-directory.ts";

type Behaviour = (socket: net.Socket) => void;

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
