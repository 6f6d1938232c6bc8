/**
 * SSH_MSG_DISCONNECT with a description (RFC 4253 §11.1). ssh2 1.17's Protocol.disconnect() always
 * sends an empty description, so an OpenSSH user would only see "Connection closed". OpenSSH prints
 * the description of a server's DISCONNECT at its default log level ("Received disconnect from
 * HOST port PORT:11: <description>"), which is how a user learns that the service is temporarily
 * unavailable or that the node is restarting.
 *
 * Private ssh2 API (`_protocol`, `_packetRW`, `_cipher`), like protocol-guard.ts, pinned by
 * package-lock.json and exercised by test/ops/outage-ssh.test.ts. When the internals are not as
 * expected, it falls back to the plain disconnect: the connection still ends (fail closed).
 */
import type ssh2 from "ssh2";

/** RFC 4253 §11.1 SSH_DISCONNECT_BY_APPLICATION. */
const BY_APPLICATION = 11;
const MESSAGE_DISCONNECT = 1;

interface PacketWriter {
	allocStartKEX: number;
	alloc(length: number, force?: boolean): Buffer;
	finalize(packet: Buffer, force?: boolean): Buffer;
}

interface Ssh2ProtocolInternals {
	_packetRW?: { write?: Partial<PacketWriter> };
	_cipher?: { encrypt?: (packet: Buffer) => void };
}

/** Sends DISCONNECT(BY_APPLICATION, description) and ends the socket. Returns false when it fell back to client.end(). */
export function disconnectWithMessage(client: ssh2.Connection, description: string): boolean {
	const proto = (client as unknown as { _protocol?: Ssh2ProtocolInternals })._protocol;
	const writer = proto?._packetRW?.write;
	const cipher = proto?._cipher;
	if (
		writer === undefined ||
		typeof writer.alloc !== "function" ||
		typeof writer.finalize !== "function" ||
		typeof writer.allocStartKEX !== "number" ||
		typeof cipher?.encrypt !== "function"
	) {
		client.end();
		return false;
	}
	const text = Buffer.from(description, "utf8");
	// byte DISCONNECT, uint32 reason, string description, string language tag (empty).
	const length = 1 + 4 + 4 + text.length + 4;
	const start = writer.allocStartKEX;
	const packet = writer.alloc(length, true);
	packet[start] = MESSAGE_DISCONNECT;
	packet.writeUInt32BE(BY_APPLICATION, start + 1);
	packet.writeUInt32BE(text.length, start + 5);
	text.copy(packet, start + 9);
	packet.writeUInt32BE(0, start + 9 + text.length);
	// Sent like ssh2's own disconnect(): bypassing a key exchange in progress.
	cipher.encrypt(writer.finalize(packet, true));
	const socket = (client as unknown as { _sock?: { end?: () => void } })._sock;
	if (typeof socket?.end === "function") socket.end();
	else client.end();
	return true;
}
