/**
 * RADIUS packet codec (RFC 2865) with Message-Authenticator (RFC 3579 §3.2).
 *
 * Only what a PAP-style authenticating client needs: Access-Request out; Access-Accept, -Reject
 * and -Challenge in. The encoder is symmetric (it can also build replies) so test stubs can reuse
 * it; the *decoder* is the attack surface and is strict: every malformed datagram yields a
 * `DecodeResult` error value and never throws (docs/threat-model.md, Bad input).
 *
 * MD5 appears here because the protocol mandates it (Response Authenticator, User-Password hiding,
 * HMAC-MD5 Message-Authenticator). It is unavailable when OpenSSL runs in FIPS mode; the client
 * probes for it at construction (docs/dependencies.md, RADIUS).
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { isIPv4 } from "node:net";
import { PortcullisError } from "../../core/errors.ts";

/** RFC 2865 §3 (Code field) and §4. */
export const RADIUS_CODE = {
	AccessRequest: 1,
	AccessAccept: 2,
	AccessReject: 3,
	AccessChallenge: 11,
} as const;
export type RadiusCode = (typeof RADIUS_CODE)[keyof typeof RADIUS_CODE];

/** RFC 2865 §5 attribute types used here, plus Message-Authenticator (RFC 3579 §3.2). */
export const RADIUS_ATTR = {
	UserName: 1,
	UserPassword: 2,
	NasIpAddress: 4,
	ServiceType: 6,
	ReplyMessage: 18,
	State: 24,
	CallingStationId: 31,
	NasIdentifier: 32,
	MessageAuthenticator: 80,
} as const;

/** RFC 2865 §3: "The minimum length is 20 and maximum length is 4096." */
export const RADIUS_HEADER_LENGTH = 20;
export const RADIUS_MAX_PACKET_LENGTH = 4096;
/** One attribute: 1 type + 1 length + up to 253 value octets (RFC 2865 §5). */
export const RADIUS_MAX_ATTRIBUTE_VALUE = 253;
/** RFC 2865 §5.2: the hidden password is at most 128 octets. */
export const RADIUS_MAX_PASSWORD_LENGTH = 128;
const AUTHENTICATOR_LENGTH = 16;
const MESSAGE_AUTHENTICATOR_ATTR_LENGTH = 18;

export interface RadiusAttribute {
	readonly type: number;
	readonly value: Buffer;
}

/** An attribute as decoded, with the offset of its value inside `DecodedPacket.raw`. */
export interface DecodedAttribute extends RadiusAttribute {
	readonly valueOffset: number;
}

export interface DecodedPacket {
	readonly code: number;
	readonly identifier: number;
	readonly authenticator: Buffer;
	readonly attributes: readonly DecodedAttribute[];
	/**
	 * The packet as covered by the Length field. RFC 2865 §3: octets beyond Length are padding and
	 * ignored, so every hash is computed over exactly these bytes.
	 */
	readonly raw: Buffer;
}

export type DecodeError =
	| "datagram-too-short"
	| "datagram-too-long"
	| "length-field-invalid"
	| "length-exceeds-datagram"
	| "attribute-header-truncated"
	| "attribute-length-invalid"
	| "attribute-overruns-packet"
	| "message-authenticator-length"
	| "message-authenticator-duplicate"
	| "attribute-value-invalid";

export type DecodeResult = { readonly ok: true; readonly packet: DecodedPacket } | { readonly ok: false; readonly error: DecodeError; readonly detail: string };

function fail(error: DecodeError, detail: string): DecodeResult {
	return { ok: false, error, detail };
}

/**
 * Strict decoder. RFC 2865 §3: a packet shorter than its Length field MUST be silently
 * discarded; octets beyond Length are padding. RFC 2865 §5: an attribute with an invalid length
 * makes the whole packet invalid (we discard, which also covers the "treat as Reject" option).
 * RFC 3579 §3.2: at most one Message-Authenticator, and it is exactly 18 octets.
 */
export function decodePacket(datagram: Buffer): DecodeResult {
	// A catch-all keeps the "never throws" promise even if a future edit introduces a bug.
	try {
		return decodeUnchecked(datagram);
	} catch (error) {
		return fail("attribute-value-invalid", `decoder fault: ${String(error)}`);
	}
}

function decodeUnchecked(datagram: Buffer): DecodeResult {
	if (!Buffer.isBuffer(datagram) || datagram.length < RADIUS_HEADER_LENGTH) {
		return fail("datagram-too-short", `datagram of ${Buffer.isBuffer(datagram) ? datagram.length : 0} octets`);
	}
	if (datagram.length > RADIUS_MAX_PACKET_LENGTH) {
		return fail("datagram-too-long", `datagram of ${datagram.length} octets exceeds ${RADIUS_MAX_PACKET_LENGTH}`);
	}
	const length = datagram.readUInt16BE(2);
	if (length < RADIUS_HEADER_LENGTH || length > RADIUS_MAX_PACKET_LENGTH) {
		return fail("length-field-invalid", `Length field ${length}`);
	}
	if (length > datagram.length) {
		return fail("length-exceeds-datagram", `Length field ${length} but datagram has ${datagram.length} octets`);
	}
	// Copy so the caller's buffer (and its padding) can never alias what we hash later.
	const raw = Buffer.from(datagram.subarray(0, length));
	const attributes: DecodedAttribute[] = [];
	let offset = RADIUS_HEADER_LENGTH;
	let sawMessageAuthenticator = false;
	while (offset < length) {
		if (length - offset < 2) {
			return fail("attribute-header-truncated", `1 octet left at offset ${offset}`);
		}
		const type = raw[offset] as number;
		const attrLength = raw[offset + 1] as number;
		if (attrLength < 2) {
			return fail("attribute-length-invalid", `attribute ${type} at offset ${offset} has length ${attrLength}`);
		}
		if (offset + attrLength > length) {
			return fail("attribute-overruns-packet", `attribute ${type} at offset ${offset} has length ${attrLength}, only ${length - offset} octets remain`);
		}
		if (type === RADIUS_ATTR.MessageAuthenticator) {
			if (attrLength !== MESSAGE_AUTHENTICATOR_ATTR_LENGTH) {
				return fail("message-authenticator-length", `Message-Authenticator length ${attrLength}`);
			}
			if (sawMessageAuthenticator) {
				return fail("message-authenticator-duplicate", "more than one Message-Authenticator");
			}
			sawMessageAuthenticator = true;
		}
		// RFC 2865 §5: text and string attributes carry 1-253 octets, so an empty State or
		// Reply-Message is invalid; likewise Service-Type is a 4-octet integer (§5.6).
		if ((type === RADIUS_ATTR.State || type === RADIUS_ATTR.ReplyMessage) && attrLength === 2) {
			return fail("attribute-value-invalid", `attribute ${type} has an empty value`);
		}
		if (type === RADIUS_ATTR.ServiceType && attrLength !== 6) {
			return fail("attribute-value-invalid", `Service-Type length ${attrLength}`);
		}
		attributes.push({ type, value: raw.subarray(offset + 2, offset + attrLength), valueOffset: offset + 2 });
		offset += attrLength;
	}
	return {
		ok: true,
		packet: {
			code: raw[0] as number,
			identifier: raw[1] as number,
			authenticator: raw.subarray(4, RADIUS_HEADER_LENGTH),
			attributes,
			raw,
		},
	};
}

/** First attribute of the given type, or undefined. */
export function findAttribute(packet: { readonly attributes: readonly RadiusAttribute[] }, type: number): RadiusAttribute | undefined {
	return packet.attributes.find((attribute) => attribute.type === type);
}

export function findAttributes(packet: { readonly attributes: readonly RadiusAttribute[] }, type: number): RadiusAttribute[] {
	return packet.attributes.filter((attribute) => attribute.type === type);
}

function inputError(message: string): PortcullisError {
	return new PortcullisError("ERR_INPUT", message);
}

function md5(...parts: Buffer[]): Buffer {
	const hash = createHash("md5");
	for (const part of parts) hash.update(part);
	return hash.digest();
}

/** Constant-time equality that is also safe for unequal lengths (timingSafeEqual throws then). */
export function safeEqual(a: Buffer, b: Buffer): boolean {
	if (a.length !== b.length) return false;
	return timingSafeEqual(a, b);
}

/**
 * RFC 2865 §5.2 User-Password hiding: pad to a multiple of 16 octets (max 128), then
 * c1 = p1 XOR MD5(S + RA), ci = pi XOR MD5(S + c(i-1)).
 * An empty password becomes one block of 16 zero octets hidden the same way.
 */
export function hidePassword(password: Buffer, secret: Buffer, requestAuthenticator: Buffer): Buffer {
	if (password.length > RADIUS_MAX_PASSWORD_LENGTH) {
		throw inputError(`User-Password longer than ${RADIUS_MAX_PASSWORD_LENGTH} octets`);
	}
	if (requestAuthenticator.length !== AUTHENTICATOR_LENGTH) throw inputError("Request Authenticator must be 16 octets");
	const blocks = Math.max(1, Math.ceil(password.length / 16));
	const padded = Buffer.alloc(blocks * 16);
	password.copy(padded);
	const out = Buffer.alloc(padded.length);
	let previous = requestAuthenticator;
	for (let block = 0; block < blocks; block++) {
		const mask = md5(secret, previous);
		for (let i = 0; i < 16; i++) {
			out[block * 16 + i] = (padded[block * 16 + i] as number) ^ (mask[i] as number);
		}
		previous = out.subarray(block * 16, block * 16 + 16);
	}
	return out;
}

/**
 * Inverse of hidePassword (server side; used by test stubs). Trailing NUL padding is stripped,
 * so a password that itself ends in NUL octets cannot round-trip (an RFC 2865 §5.2 limitation).
 */
export function revealPassword(hidden: Buffer, secret: Buffer, requestAuthenticator: Buffer): Buffer | null {
	if (hidden.length === 0 || hidden.length % 16 !== 0 || hidden.length > RADIUS_MAX_PASSWORD_LENGTH) return null;
	const out = Buffer.alloc(hidden.length);
	let previous = requestAuthenticator;
	for (let block = 0; block < hidden.length / 16; block++) {
		const mask = md5(secret, previous);
		for (let i = 0; i < 16; i++) {
			out[block * 16 + i] = (hidden[block * 16 + i] as number) ^ (mask[i] as number);
		}
		previous = hidden.subarray(block * 16, block * 16 + 16);
	}
	let end = out.length;
	while (end > 0 && out[end - 1] === 0) end--;
	return out.subarray(0, end);
}

export interface PacketToEncode {
	readonly code: number;
	readonly identifier: number;
	/** 16 octets: the Request Authenticator, or a placeholder to be replaced by signing. */
	readonly authenticator: Buffer;
	readonly attributes: readonly RadiusAttribute[];
}

/** Serialises header + attributes as given; no hashing. Throws ERR_INPUT on values RFC 2865 forbids. */
export function encodePacket(packet: PacketToEncode): Buffer {
	if (!Number.isInteger(packet.code) || packet.code < 0 || packet.code > 255) throw inputError("Code out of range");
	if (!Number.isInteger(packet.identifier) || packet.identifier < 0 || packet.identifier > 255) {
		throw inputError("Identifier out of range");
	}
	if (packet.authenticator.length !== AUTHENTICATOR_LENGTH) throw inputError("Authenticator must be 16 octets");
	const parts: Buffer[] = [];
	let length = RADIUS_HEADER_LENGTH;
	for (const attribute of packet.attributes) {
		if (!Number.isInteger(attribute.type) || attribute.type < 1 || attribute.type > 255) {
			throw inputError(`attribute type ${attribute.type} out of range`);
		}
		if (attribute.value.length > RADIUS_MAX_ATTRIBUTE_VALUE) {
			throw inputError(`attribute ${attribute.type} value longer than ${RADIUS_MAX_ATTRIBUTE_VALUE} octets`);
		}
		parts.push(Buffer.from([attribute.type, attribute.value.length + 2]), attribute.value);
		length += attribute.value.length + 2;
	}
	if (length > RADIUS_MAX_PACKET_LENGTH) throw inputError(`packet of ${length} octets exceeds ${RADIUS_MAX_PACKET_LENGTH}`);
	const header = Buffer.alloc(RADIUS_HEADER_LENGTH);
	header[0] = packet.code;
	header[1] = packet.identifier;
	header.writeUInt16BE(length, 2);
	packet.authenticator.copy(header, 4);
	return Buffer.concat([header, ...parts], length);
}

/** Offset of the Message-Authenticator value in an encoded packet, or -1. */
function messageAuthenticatorValueOffset(packet: Buffer): number {
	let offset = RADIUS_HEADER_LENGTH;
	const length = packet.readUInt16BE(2);
	while (offset + 2 <= length) {
		const type = packet[offset] as number;
		const attrLength = packet[offset + 1] as number;
		if (attrLength < 2) return -1;
		if (type === RADIUS_ATTR.MessageAuthenticator) return offset + 2;
		offset += attrLength;
	}
	return -1;
}

/**
 * RFC 3579 §3.2: HMAC-MD5 keyed with the shared secret over the whole packet with the
 * Message-Authenticator value set to 16 zero octets. For requests the Authenticator field is the
 * Request Authenticator; for replies it is the Request Authenticator *of the request being
 * answered* (so pass `authenticatorField` then).
 */
export function computeMessageAuthenticator(packet: Buffer, valueOffset: number, secret: Buffer, authenticatorField?: Buffer): Buffer {
	const copy = Buffer.from(packet);
	copy.fill(0, valueOffset, valueOffset + 16);
	if (authenticatorField !== undefined) authenticatorField.copy(copy, 4);
	return createHmac("md5", secret).update(copy).digest();
}

/** RFC 2865 §3: MD5(Code + ID + Length + RequestAuth + Attributes + Secret). */
export function computeResponseAuthenticator(packet: Buffer, requestAuthenticator: Buffer, secret: Buffer): Buffer {
	return md5(packet.subarray(0, 4), requestAuthenticator, packet.subarray(RADIUS_HEADER_LENGTH), secret);
}

export interface AccessRequestFields {
	readonly identifier: number;
	/** 16 random octets (RFC 2865 §3), fresh for every new Identifier. */
	readonly requestAuthenticator: Buffer;
	readonly secret: Buffer;
	readonly userName: string;
	readonly password: string;
	readonly nasIdentifier?: string;
	readonly nasIpAddress?: string;
	readonly state?: Buffer;
	readonly callingStationId?: string;
}

function textAttribute(type: number, text: string, name: string): RadiusAttribute {
	const value = Buffer.from(text, "utf8");
	if (value.length === 0) throw inputError(`${name} must not be empty`);
	if (value.length > RADIUS_MAX_ATTRIBUTE_VALUE) throw inputError(`${name} longer than ${RADIUS_MAX_ATTRIBUTE_VALUE} octets`);
	return { type, value };
}

/**
 * Builds a signed Access-Request. Message-Authenticator is always present and placed FIRST
 * (BlastRADIUS mitigation, docs/threat-model.md, RADIUS; draft-ietf-radext-deprecating-radius).
 * RFC 2865 §4.1: the request carries NAS-IP-Address or NAS-Identifier, and User-Password.
 */
export function encodeAccessRequest(fields: AccessRequestFields): Buffer {
	if (fields.secret.length === 0) throw inputError("shared secret must not be empty (RFC 2865 §3)");
	if (fields.nasIdentifier === undefined && fields.nasIpAddress === undefined) {
		throw inputError("NAS-Identifier or NAS-IP-Address is required (RFC 2865 §4.1)");
	}
	const password = Buffer.from(fields.password, "utf8");
	const attributes: RadiusAttribute[] = [
		{ type: RADIUS_ATTR.MessageAuthenticator, value: Buffer.alloc(16) },
		textAttribute(RADIUS_ATTR.UserName, fields.userName, "User-Name"),
		{ type: RADIUS_ATTR.UserPassword, value: hidePassword(password, fields.secret, fields.requestAuthenticator) },
	];
	if (fields.nasIdentifier !== undefined) {
		attributes.push(textAttribute(RADIUS_ATTR.NasIdentifier, fields.nasIdentifier, "NAS-Identifier"));
	}
	if (fields.nasIpAddress !== undefined) {
		if (!isIPv4(fields.nasIpAddress)) throw inputError("NAS-IP-Address must be an IPv4 address");
		attributes.push({
			type: RADIUS_ATTR.NasIpAddress,
			value: Buffer.from(fields.nasIpAddress.split(".").map((part) => Number(part))),
		});
	}
	if (fields.callingStationId !== undefined) {
		attributes.push(textAttribute(RADIUS_ATTR.CallingStationId, fields.callingStationId, "Calling-Station-Id"));
	}
	if (fields.state !== undefined) {
		if (fields.state.length === 0 || fields.state.length > RADIUS_MAX_ATTRIBUTE_VALUE) {
			throw inputError("State must be 1-253 octets");
		}
		attributes.push({ type: RADIUS_ATTR.State, value: fields.state });
	}
	const packet = encodePacket({
		code: RADIUS_CODE.AccessRequest,
		identifier: fields.identifier,
		authenticator: fields.requestAuthenticator,
		attributes,
	});
	// The MA is the first attribute, so its value starts right after its 2-octet header.
	const valueOffset = RADIUS_HEADER_LENGTH + 2;
	computeMessageAuthenticator(packet, valueOffset, fields.secret).copy(packet, valueOffset);
	return packet;
}

export interface ResponseFields {
	readonly code: number;
	readonly identifier: number;
	readonly requestAuthenticator: Buffer;
	readonly secret: Buffer;
	readonly attributes: readonly RadiusAttribute[];
	/** Add a Message-Authenticator: "first" (recommended), "last", or none. */
	readonly messageAuthenticator: "first" | "last" | "none";
}

/**
 * Builds a signed reply (server side; used by test stubs and for symmetry). Order per RFC 3579
 * §3.2: compute the Message-Authenticator first (Authenticator field = Request Authenticator),
 * then the Response Authenticator over the packet including that MA value.
 */
export function encodeResponse(fields: ResponseFields): Buffer {
	const ma: RadiusAttribute = { type: RADIUS_ATTR.MessageAuthenticator, value: Buffer.alloc(16) };
	const attributes =
		fields.messageAuthenticator === "first"
			? [ma, ...fields.attributes]
			: fields.messageAuthenticator === "last"
				? [...fields.attributes, ma]
				: [...fields.attributes];
	const packet = encodePacket({
		code: fields.code,
		identifier: fields.identifier,
		authenticator: fields.requestAuthenticator,
		attributes,
	});
	if (fields.messageAuthenticator !== "none") {
		const valueOffset = messageAuthenticatorValueOffset(packet);
		computeMessageAuthenticator(packet, valueOffset, fields.secret).copy(packet, valueOffset);
	}
	computeResponseAuthenticator(packet, fields.requestAuthenticator, fields.secret).copy(packet, 4);
	return packet;
}

export type MessageAuthenticatorStatus = "valid" | "invalid" | "absent";

export interface ResponseVerification {
	readonly responseAuthenticatorValid: boolean;
	readonly messageAuthenticator: MessageAuthenticatorStatus;
}

/**
 * Checks a decoded reply against the request it answers: the Response Authenticator (RFC 2865
 * §3) and, when present, the Message-Authenticator (RFC 3579 §3.2). All comparisons are
 * constant-time. The caller decides whether an absent MA is acceptable.
 */
export function verifyResponse(reply: DecodedPacket, requestAuthenticator: Buffer, secret: Buffer): ResponseVerification {
	const expected = computeResponseAuthenticator(reply.raw, requestAuthenticator, secret);
	const responseAuthenticatorValid = safeEqual(expected, reply.authenticator);
	const ma = reply.attributes.find((attribute) => attribute.type === RADIUS_ATTR.MessageAuthenticator);
	let messageAuthenticator: MessageAuthenticatorStatus = "absent";
	if (ma !== undefined) {
		const computed = computeMessageAuthenticator(reply.raw, ma.valueOffset, secret, requestAuthenticator);
		messageAuthenticator = safeEqual(computed, ma.value) ? "valid" : "invalid";
	}
	return { responseAuthenticatorValid, messageAuthenticator };
}

/** Server side: verifies the Message-Authenticator of a request (Authenticator field as sent). */
export function verifyRequestMessageAuthenticator(request: DecodedPacket, secret: Buffer): MessageAuthenticatorStatus {
	const ma = request.attributes.find((attribute) => attribute.type === RADIUS_ATTR.MessageAuthenticator);
	if (ma === undefined) return "absent";
	const computed = computeMessageAuthenticator(request.raw, ma.valueOffset, secret);
	return safeEqual(computed, ma.value) ? "valid" : "invalid";
}
