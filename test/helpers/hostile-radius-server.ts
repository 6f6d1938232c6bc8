/**
 * A UDP RADIUS stub on 127.0.0.1:0 that answers every Access-Request in a chosen hostile way
 * (docs/security-matrix.md row E3). Each mode breaks exactly ONE property and keeps the rest valid,
 * so a test proves the specific check that refuses it. `valid-accept` is the positive control:
 * the same stub, answering correctly, is accepted by the client.
 *
 * Replies are built with the codec under test (encodeResponse) and then corrupted by hand; the
 * codec's own correctness is established separately by RFC vectors and by the real FreeRADIUS.
 */
import { randomBytes } from "node:crypto";
import dgram from "node:dgram";
import {
	RADIUS_ATTR,
	RADIUS_CODE,
	computeMessageAuthenticator,
	computeResponseAuthenticator,
	decodePacket,
	encodeResponse,
	findAttribute,
	revealPassword,
	verifyRequestMessageAuthenticator,
	type DecodedPacket,
	type MessageAuthenticatorStatus,
	type RadiusAttribute,
} from "../../src/methods/radius/packet.ts";

export type HostileMode =
	/** Positive control: correct Access-Accept with Message-Authenticator (first). */
	| "valid-accept"
	/** Positive control: correct Access-Reject with Message-Authenticator. */
	| "valid-reject"
	/** Access-Accept with a random Response Authenticator (valid MA): what an off-path forger sends. */
	| "forged-accept"
	/** Correct Response Authenticator, no Message-Authenticator: the BlastRADIUS precondition. */
	| "accept-without-message-authenticator"
	/** Correct Response Authenticator over a random Message-Authenticator value. */
	| "accept-wrong-message-authenticator"
	/** Two Message-Authenticators (RFC 3579 §3.2 allows one). */
	| "accept-duplicate-message-authenticator"
	/** Correctly signed Accept, but for Identifier + 1. */
	| "wrong-identifier"
	/** Correctly signed Accept whose Length field exceeds the datagram. */
	| "bad-length"
	/** Correctly signed Accept with an attribute whose length runs past the packet end. */
	| "attribute-overrun"
	/** Correctly signed Accept padded to a 5000-octet datagram. */
	| "oversized"
	/** Correctly signed Accept sent from a different UDP port. */
	| "wrong-source-port"
	/** A forged Accept immediately followed by the genuine Reject (a race an attacker would run). */
	| "forged-then-reject"
	/** Signed Access-Challenge without State. */
	| "challenge-without-state"
	/** Signed Accept with Service-Type = Framed-User (2). */
	| "accept-framed-service-type"
	/** A correctly signed Accounting-Response (code 5): not an answer to an Access-Request. */
	| "not-an-access-reply"
	/** Never answers. */
	| "never-answer";

export const HOSTILE_MODES_THAT_MUST_BE_REFUSED: readonly HostileMode[] = [
	"forged-accept",
	"accept-without-message-authenticator",
	"accept-wrong-message-authenticator",
	"accept-duplicate-message-authenticator",
	"wrong-identifier",
	"bad-length",
	"attribute-overrun",
	"oversized",
	"wrong-source-port",
	"not-an-access-reply",
	"never-answer",
];

export interface ReceivedRequest {
	readonly packet: DecodedPacket;
	readonly from: string;
	/** User-Password revealed with the stub's secret, or null. */
	readonly password: string | null;
	readonly messageAuthenticator: MessageAuthenticatorStatus;
	readonly messageAuthenticatorFirst: boolean;
}

export interface HostileRadiusServer {
	readonly host: "127.0.0.1" | "::1";
	readonly port: number;
	readonly secret: string;
	/** May be changed between requests. */
	mode: HostileMode;
	/** Delay before answering (ms), to simulate a slow server whose answer arrives late. */
	delayMs: number;
	readonly requests: ReceivedRequest[];
	close(): Promise<void>;
}

function signedReply(
	request: DecodedPacket,
	secret: Buffer,
	code: number,
	attributes: readonly RadiusAttribute[] = [],
	messageAuthenticator: "first" | "last" | "none" = "first",
): Buffer {
	return encodeResponse({
		code,
		identifier: request.identifier,
		requestAuthenticator: request.authenticator,
		secret,
		attributes,
		messageAuthenticator,
	});
}

/** Re-computes the Response Authenticator after a hand edit, so only the edit is "wrong". */
function resign(packet: Buffer, requestAuthenticator: Buffer, secret: Buffer): Buffer {
	computeResponseAuthenticator(packet, requestAuthenticator, secret).copy(packet, 4);
	return packet;
}

function hostileReplies(mode: HostileMode, request: DecodedPacket, secret: Buffer): Buffer[] {
	const ra = request.authenticator;
	switch (mode) {
		case "valid-accept":
		case "wrong-source-port":
			return [signedReply(request, secret, RADIUS_CODE.AccessAccept)];
		case "valid-reject":
			return [signedReply(request, secret, RADIUS_CODE.AccessReject)];
		case "forged-accept": {
			const packet = signedReply(request, secret, RADIUS_CODE.AccessAccept);
			randomBytes(16).copy(packet, 4);
			return [packet];
		}
		case "accept-without-message-authenticator":
			return [signedReply(request, secret, RADIUS_CODE.AccessAccept, [], "none")];
		case "accept-wrong-message-authenticator": {
			const packet = signedReply(request, secret, RADIUS_CODE.AccessAccept, [], "first");
			randomBytes(16).copy(packet, 22);
			return [resign(packet, ra, secret)];
		}
		case "accept-duplicate-message-authenticator": {
			const packet = signedReply(request, secret, RADIUS_CODE.AccessAccept, [{ type: RADIUS_ATTR.MessageAuthenticator, value: Buffer.alloc(16) }]);
			// Both copies carry an HMAC value; the decoder must refuse the duplicate before any check.
			const mac = computeMessageAuthenticator(packet, 22, secret, ra);
			mac.copy(packet, 22);
			mac.copy(packet, 40);
			return [resign(packet, ra, secret)];
		}
		case "wrong-identifier": {
			const packet = signedReply(request, secret, RADIUS_CODE.AccessAccept);
			packet[1] = (request.identifier + 1) % 256;
			// The MA and Response Authenticator are recomputed so only the Identifier is wrong.
			computeMessageAuthenticator(packet, 22, secret, ra).copy(packet, 22);
			return [resign(packet, ra, secret)];
		}
		case "bad-length": {
			const packet = signedReply(request, secret, RADIUS_CODE.AccessAccept);
			packet.writeUInt16BE(packet.length + 10, 2);
			computeMessageAuthenticator(packet, 22, secret, ra).copy(packet, 22);
			return [resign(packet, ra, secret)];
		}
		case "attribute-overrun": {
			const packet = signedReply(request, secret, RADIUS_CODE.AccessAccept, [{ type: RADIUS_ATTR.ReplyMessage, value: Buffer.from("hello") }]);
			packet[39] = 40; // Reply-Message length byte claims 40 octets, 7 remain
			computeMessageAuthenticator(packet, 22, secret, ra).copy(packet, 22);
			return [resign(packet, ra, secret)];
		}
		case "oversized": {
			const packet = signedReply(request, secret, RADIUS_CODE.AccessAccept);
			return [Buffer.concat([packet, Buffer.alloc(5000 - packet.length)])];
		}
		case "forged-then-reject": {
			const forged = signedReply(request, secret, RADIUS_CODE.AccessAccept);
			randomBytes(16).copy(forged, 4);
			return [forged, signedReply(request, secret, RADIUS_CODE.AccessReject)];
		}
		case "challenge-without-state":
			return [signedReply(request, secret, RADIUS_CODE.AccessChallenge, [{ type: RADIUS_ATTR.ReplyMessage, value: Buffer.from("Enter code") }])];
		case "accept-framed-service-type":
			return [signedReply(request, secret, RADIUS_CODE.AccessAccept, [{ type: RADIUS_ATTR.ServiceType, value: Buffer.from([0, 0, 0, 2]) }])];
		case "not-an-access-reply":
			return [signedReply(request, secret, 5)];
		case "never-answer":
			return [];
	}
}

async function bindUdp(host: "127.0.0.1" | "::1"): Promise<dgram.Socket> {
	const socket = dgram.createSocket(host === "::1" ? "udp6" : "udp4");
	await new Promise<void>((resolve, reject) => {
		socket.once("error", reject);
		socket.bind(0, host, () => resolve());
	});
	return socket;
}

export async function startHostileRadiusServer(options: {
	readonly mode: HostileMode;
	readonly secret?: string;
	readonly delayMs?: number;
	/** Loopback address to bind (default 127.0.0.1). */
	readonly host?: "127.0.0.1" | "::1";
}): Promise<HostileRadiusServer> {
	const host = options.host ?? "127.0.0.1";
	const secretText = options.secret ?? randomBytes(12).toString("hex");
	const secret = Buffer.from(secretText, "utf8");
	const socket = await bindUdp(host);
	// A second socket on another port, for "wrong-source-port".
	const other = await bindUdp(host);
	const requests: ReceivedRequest[] = [];
	let closed = false;
	const server: HostileRadiusServer = {
		host,
		port: socket.address().port,
		secret: secretText,
		mode: options.mode,
		delayMs: options.delayMs ?? 0,
		requests,
		close: async () => {
			closed = true;
			await Promise.all([new Promise<void>((resolve) => socket.close(() => resolve())), new Promise<void>((resolve) => other.close(() => resolve()))]);
		},
	};
	socket.on("message", (message, rinfo) => {
		const decoded = decodePacket(message);
		if (!decoded.ok || decoded.packet.code !== RADIUS_CODE.AccessRequest) return;
		const packet = decoded.packet;
		const hidden = findAttribute(packet, RADIUS_ATTR.UserPassword);
		const revealed = hidden === undefined ? null : revealPassword(hidden.value, secret, packet.authenticator);
		requests.push({
			packet,
			from: `${rinfo.address}:${rinfo.port}`,
			password: revealed === null ? null : revealed.toString("utf8"),
			messageAuthenticator: verifyRequestMessageAuthenticator(packet, secret),
			messageAuthenticatorFirst: packet.attributes[0]?.type === RADIUS_ATTR.MessageAuthenticator,
		});
		const sender = server.mode === "wrong-source-port" ? other : socket;
		const replies = hostileReplies(server.mode, packet, secret);
		const send = (): void => {
			if (closed) return;
			for (const reply of replies) sender.send(reply, rinfo.port, rinfo.address, () => undefined);
		};
		if (server.delayMs > 0) setTimeout(send, server.delayMs).unref();
		else send();
	});
	return server;
}
