/**
 * RADIUS codec vectors. Expected bytes come from outside this codebase: RFC 2865 §7.1 (the
 * "nemo"/"arctangent" example) and vectors generated with Python's hashlib/hmac (script in the
 * comment below), so a shared bug between encoder and verifier cannot hide.
 *
 *   def hide(pw, S, RA):   # RFC 2865 §5.2
 *       p = pw + b"\0" * ((-len(pw)) % 16 if pw else 16); out = b""; prev = RA
 *       for i in range(0, len(p), 16):
 *           c = bytes(x ^ y for x, y in zip(p[i:i+16], md5(S + prev).digest())); out += c; prev = c
 *       return out
 *   request: MA(zeros) | User-Name | User-Password | NAS-Identifier | NAS-IP-Address |
 *            Calling-Station-Id | State, then MA = hmac(S, packet, md5)       # RFC 3579 §3.2
 *   challenge: MA computed with the Request Authenticator in the header, then
 *              Response Authenticator = md5(hdr + RA + attrs + S)            # RFC 2865 §3
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { isPortcullisError } from "../../../src/core/errors.ts";
import {
	RADIUS_ATTR,
	RADIUS_CODE,
	decodePacket,
	encodeAccessRequest,
	encodePacket,
	encodeResponse,
	hidePassword,
	revealPassword,
	safeEqual,
	verifyRequestMessageAuthenticator,
	verifyResponse,
	type DecodeError,
} from "../../../src/methods/radius/packet.ts";

const hex = (text: string): Buffer => Buffer.from(text.replace(/\s+/g, ""), "hex");

// RFC 2865 §7.1 "User Telnet to Specified Host".
const RFC_SECRET = Buffer.from("xyzzy5461");
const RFC_RA = hex("0f403f9473978057bd83d5cb98f4227a");
const RFC_REQUEST = hex(`01 00 00 38 0f 40 3f 94 73 97 80 57 bd 83 d5 cb
	98 f4 22 7a 01 06 6e 65 6d 6f 02 12 0d be 70 8d
	93 d4 13 ce 31 96 e4 3f 78 2a 0a ee 04 06 c0 a8
	01 10 05 06 00 00 00 03`);
const RFC_ACCEPT = hex(`02 00 00 26 86 fe 22 0e 76 24 ba 2a 10 05 f6 bf
	9b 55 e0 b2 06 06 00 00 00 01 0f 06 00 00 00 00
	0e 06 c0 a8 01 03`);

// Python-generated vectors (see header).
const PY_SECRET = Buffer.from("s3cret-for-vectors");
const PY_RA = Buffer.from(Array.from({ length: 16 }, (_, i) => 0x10 + i));
const PY_REQUEST = hex(
	"012a0062101112131415161718191a1b1c1d1e1f501238679826b6379ba5fefdfde38501ee750107616c69636502125d1c6516e79cdd5cd2614c176fb36103200c706f727463756c6c69730406c00002011f0b3139322e302e322e371806deadbeef",
);
const PY_CHALLENGE = hex(
	"0b2a0047db86b35593461e7f743419cd6c4f9a0050121e82e8a791e367b75e0cb7c3739c05261217456e74657220796f757220746f6b656e20636f6465180a0102030405060708",
);

test("User-Password hiding matches RFC 2865 §7.1 (single block)", () => {
	assert.equal(hidePassword(Buffer.from("arctangent"), RFC_SECRET, RFC_RA).toString("hex"), "0dbe708d93d413ce3196e43f782a0aee");
});

test("the whole RFC 2865 §7.1 Access-Request encodes byte for byte", () => {
	const packet = encodePacket({
		code: RADIUS_CODE.AccessRequest,
		identifier: 0,
		authenticator: RFC_RA,
		attributes: [
			{ type: RADIUS_ATTR.UserName, value: Buffer.from("nemo") },
			{ type: RADIUS_ATTR.UserPassword, value: hidePassword(Buffer.from("arctangent"), RFC_SECRET, RFC_RA) },
			{ type: RADIUS_ATTR.NasIpAddress, value: Buffer.from([192, 168, 1, 16]) },
			{ type: 5, value: Buffer.from([0, 0, 0, 3]) },
		],
	});
	assert.deepEqual(packet, RFC_REQUEST);
});

test("the RFC 2865 §7.1 Access-Accept verifies; any flipped bit does not", () => {
	const decoded = decodePacket(RFC_ACCEPT);
	assert.ok(decoded.ok);
	assert.equal(decoded.packet.code, RADIUS_CODE.AccessAccept);
	assert.deepEqual(verifyResponse(decoded.packet, RFC_RA, RFC_SECRET), {
		responseAuthenticatorValid: true,
		messageAuthenticator: "absent",
	});
	for (const bit of [0, 8 * 4, 8 * 20 + 3, RFC_ACCEPT.length * 8 - 1]) {
		const tampered = Buffer.from(RFC_ACCEPT);
		tampered[bit >> 3] = (tampered[bit >> 3] as number) ^ (1 << (bit & 7));
		const again = decodePacket(tampered);
		assert.ok(again.ok);
		assert.equal(verifyResponse(again.packet, RFC_RA, RFC_SECRET).responseAuthenticatorValid, false, `bit ${bit}`);
	}
	// Wrong secret, wrong request authenticator.
	const decodedAgain = decodePacket(RFC_ACCEPT);
	assert.ok(decodedAgain.ok);
	assert.equal(verifyResponse(decodedAgain.packet, RFC_RA, Buffer.from("xyzzy5462")).responseAuthenticatorValid, false);
	assert.equal(verifyResponse(decodedAgain.packet, Buffer.alloc(16), RFC_SECRET).responseAuthenticatorValid, false);
});

test("User-Password hiding: multi-block and empty passwords match the Python vectors; reveal round-trips", () => {
	const long = Buffer.from("correct horse battery staple, 40 chars!!");
	assert.equal(long.length, 40);
	const hidden = hidePassword(long, PY_SECRET, PY_RA);
	assert.equal(hidden.toString("hex"), "4e126417f590db18ba0e3e640a93036224400a8971abd6b45e5bc68453900cf3dbdc503012dc2768e88e5be740092490");
	assert.equal(hidePassword(Buffer.alloc(0), PY_SECRET, PY_RA).toString("hex"), "2d7d166590f3af38d2614c176fb36103");
	assert.deepEqual(revealPassword(hidden, PY_SECRET, PY_RA), long);
	assert.equal(revealPassword(hidden.subarray(0, 17), PY_SECRET, PY_RA), null);
});

test("User-Password: 128 octets is the maximum (RFC 2865 §5.2)", () => {
	assert.equal(hidePassword(Buffer.alloc(128, 0x61), PY_SECRET, PY_RA).length, 128);
	assert.throws(
		() => hidePassword(Buffer.alloc(129, 0x61), PY_SECRET, PY_RA),
		(error: unknown) => isPortcullisError(error, "ERR_INPUT"),
	);
});

test("Access-Request with Message-Authenticator first matches the Python vector byte for byte", () => {
	const packet = encodeAccessRequest({
		identifier: 0x2a,
		requestAuthenticator: PY_RA,
		secret: PY_SECRET,
		userName: "alice",
		password: "password",
		nasIdentifier: "portcullis",
		nasIpAddress: "192.0.2.1",
		callingStationId: "192.0.2.7",
		state: hex("deadbeef"),
	});
	assert.equal(packet.toString("hex"), PY_REQUEST.toString("hex"));
	const decoded = decodePacket(packet);
	assert.ok(decoded.ok);
	assert.equal(decoded.packet.attributes[0]?.type, RADIUS_ATTR.MessageAuthenticator);
	assert.equal(verifyRequestMessageAuthenticator(decoded.packet, PY_SECRET), "valid");
	assert.equal(verifyRequestMessageAuthenticator(decoded.packet, Buffer.from("other")), "invalid");
});

test("encodeAccessRequest refuses an empty secret, a missing NAS identity and bad attribute sizes", () => {
	const base = { identifier: 1, requestAuthenticator: PY_RA, secret: PY_SECRET, userName: "alice", password: "x", nasIdentifier: "n" };
	const inputError = (error: unknown): boolean => isPortcullisError(error, "ERR_INPUT");
	assert.throws(() => encodeAccessRequest({ ...base, secret: Buffer.alloc(0) }), inputError);
	assert.throws(() => encodeAccessRequest({ ...base, nasIdentifier: undefined }), inputError);
	assert.throws(() => encodeAccessRequest({ ...base, userName: "" }), inputError);
	assert.throws(() => encodeAccessRequest({ ...base, userName: "u".repeat(254) }), inputError);
	assert.throws(() => encodeAccessRequest({ ...base, state: Buffer.alloc(0) }), inputError);
	assert.throws(() => encodeAccessRequest({ ...base, nasIpAddress: "::1" }), inputError);
	assert.throws(() => encodeAccessRequest({ ...base, requestAuthenticator: Buffer.alloc(15) }), inputError);
	assert.throws(() => encodeAccessRequest({ ...base, identifier: 256 }), inputError);
});

test("Access-Challenge with Message-Authenticator: encoder and verifier agree with the Python vector", () => {
	const built = encodeResponse({
		code: RADIUS_CODE.AccessChallenge,
		identifier: 0x2a,
		requestAuthenticator: PY_RA,
		secret: PY_SECRET,
		attributes: [
			{ type: RADIUS_ATTR.ReplyMessage, value: Buffer.from("Enter your token code") },
			{ type: RADIUS_ATTR.State, value: hex("0102030405060708") },
		],
		messageAuthenticator: "first",
	});
	assert.equal(built.toString("hex"), PY_CHALLENGE.toString("hex"));
	const decoded = decodePacket(PY_CHALLENGE);
	assert.ok(decoded.ok);
	assert.deepEqual(verifyResponse(decoded.packet, PY_RA, PY_SECRET), {
		responseAuthenticatorValid: true,
		messageAuthenticator: "valid",
	});
	// MA tampered and the Response Authenticator re-signed by someone with the secret: MA invalid.
	const tampered = Buffer.from(PY_CHALLENGE);
	tampered[30] = (tampered[30] as number) ^ 1;
	const again = decodePacket(tampered);
	assert.ok(again.ok);
	assert.equal(verifyResponse(again.packet, PY_RA, PY_SECRET).messageAuthenticator, "invalid");
	// An MA placed last also verifies (FreeRADIUS 3.2.1 appends it).
	const last = encodeResponse({
		code: RADIUS_CODE.AccessAccept,
		identifier: 7,
		requestAuthenticator: PY_RA,
		secret: PY_SECRET,
		attributes: [{ type: RADIUS_ATTR.ReplyMessage, value: Buffer.from("hi") }],
		messageAuthenticator: "last",
	});
	const lastDecoded = decodePacket(last);
	assert.ok(lastDecoded.ok);
	assert.deepEqual(verifyResponse(lastDecoded.packet, PY_RA, PY_SECRET), {
		responseAuthenticatorValid: true,
		messageAuthenticator: "valid",
	});
});

function header(code: number, identifier: number, length: number): Buffer {
	const buffer = Buffer.alloc(20);
	buffer[0] = code;
	buffer[1] = identifier;
	buffer.writeUInt16BE(length, 2);
	return buffer;
}

/** A datagram whose Length field equals its size. */
function datagram(attributes: Buffer): Buffer {
	return Buffer.concat([header(2, 1, 20 + attributes.length), attributes]);
}

test("strict decoding: each malformed datagram yields its error value", () => {
	const cases: Array<[string, Buffer, DecodeError]> = [
		["empty", Buffer.alloc(0), "datagram-too-short"],
		["19 octets", Buffer.alloc(19), "datagram-too-short"],
		["4097 octets", Buffer.concat([header(2, 1, 4096), Buffer.alloc(4077)]), "datagram-too-long"],
		["Length 19", header(2, 1, 19), "length-field-invalid"],
		["Length 0", header(2, 1, 0), "length-field-invalid"],
		["Length 4097", Buffer.concat([header(2, 1, 4097), Buffer.alloc(100)]), "length-field-invalid"],
		["Length beyond datagram", Buffer.concat([header(2, 1, 40), Buffer.alloc(10)]), "length-exceeds-datagram"],
		["attribute length 0", datagram(Buffer.from([18, 0, 0x41, 0x41])), "attribute-length-invalid"],
		["attribute length 1", datagram(Buffer.from([18, 1, 0x41, 0x41])), "attribute-length-invalid"],
		["attribute over remainder", datagram(Buffer.from([18, 10, 0x41, 0x41])), "attribute-overruns-packet"],
		["lone trailing octet", datagram(Buffer.from([18, 3, 0x41, 18])), "attribute-header-truncated"],
		[
			"duplicate Message-Authenticator",
			datagram(Buffer.concat([Buffer.from([80, 18]), Buffer.alloc(16), Buffer.from([80, 18]), Buffer.alloc(16)])),
			"message-authenticator-duplicate",
		],
		["Message-Authenticator length 17", datagram(Buffer.concat([Buffer.from([80, 17]), Buffer.alloc(15)])), "message-authenticator-length"],
		["Message-Authenticator length 19", datagram(Buffer.concat([Buffer.from([80, 19]), Buffer.alloc(17)])), "message-authenticator-length"],
		["empty State", datagram(Buffer.from([24, 2])), "attribute-value-invalid"],
		["empty Reply-Message", datagram(Buffer.from([18, 2])), "attribute-value-invalid"],
		["Service-Type of 3 octets", datagram(Buffer.from([6, 5, 0, 0, 1])), "attribute-value-invalid"],
	];
	for (const [name, bytes, expected] of cases) {
		const result = decodePacket(bytes);
		assert.equal(result.ok, false, name);
		if (!result.ok) assert.equal(result.error, expected, name);
	}
	// Not a Buffer at all (untyped caller): still a value, not an exception.
	const notBuffer = decodePacket("hello" as unknown as Buffer);
	assert.equal(notBuffer.ok, false);
});

test("octets beyond the Length field are padding and ignored (RFC 2865 §3)", () => {
	const padded = Buffer.concat([RFC_ACCEPT, Buffer.from("garbage-after-length")]);
	const decoded = decodePacket(padded);
	assert.ok(decoded.ok);
	assert.equal(decoded.packet.raw.length, RFC_ACCEPT.length);
	assert.equal(decoded.packet.attributes.length, 3);
	assert.equal(verifyResponse(decoded.packet, RFC_RA, RFC_SECRET).responseAuthenticatorValid, true);
});

test("decoding exactly 4096 octets works; attribute values are exposed with offsets", () => {
	const attrs: Buffer[] = [];
	let size = 20;
	while (size + 255 <= 4096) {
		attrs.push(Buffer.concat([Buffer.from([18, 255]), Buffer.alloc(253, 0x61)]));
		size += 255;
	}
	attrs.push(Buffer.concat([Buffer.from([26, 4096 - size]), Buffer.alloc(4096 - size - 2)]));
	const packet = datagram(Buffer.concat(attrs));
	assert.equal(packet.length, 4096);
	const decoded = decodePacket(packet);
	assert.ok(decoded.ok);
	assert.equal(decoded.packet.attributes[0]?.valueOffset, 22);
});

/** Small deterministic PRNG (mulberry32) so fuzz failures are reproducible. */
function prng(seed: number): () => number {
	let state = seed >>> 0;
	return () => {
		state = (state + 0x6d2b79f5) >>> 0;
		let t = state;
		t = Math.imul(t ^ (t >>> 15), t | 1);
		t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
		return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
	};
}

test("fuzz: random and mutated datagrams never make the decoder throw", () => {
	const random = prng(0xc0ffee);
	const seeds = [RFC_ACCEPT, PY_CHALLENGE, PY_REQUEST];
	for (let round = 0; round < 20000; round++) {
		let input: Buffer;
		if (round % 4 === 0) {
			input = Buffer.from(Array.from({ length: Math.floor(random() * 80) }, () => Math.floor(random() * 256)));
		} else {
			input = Buffer.from(seeds[round % seeds.length] as Buffer);
			const edits = 1 + Math.floor(random() * 4);
			for (let edit = 0; edit < edits; edit++) {
				const at = Math.floor(random() * input.length);
				input[at] = Math.floor(random() * 256);
			}
			if (random() < 0.2) input = input.subarray(0, Math.floor(random() * input.length));
		}
		const result = decodePacket(input);
		assert.equal(typeof result.ok, "boolean");
		// The catch-all inside decodePacket must never be what saved us.
		if (!result.ok) assert.doesNotMatch(result.detail, /decoder fault/);
		if (result.ok) {
			// Every accepted packet is internally consistent.
			let total = 20;
			for (const attribute of result.packet.attributes) total += attribute.value.length + 2;
			assert.equal(total, result.packet.raw.length);
		}
	}
});

test("safeEqual is false for different lengths instead of throwing", () => {
	assert.equal(safeEqual(Buffer.alloc(16), Buffer.alloc(15)), false);
	assert.equal(safeEqual(Buffer.alloc(16), Buffer.alloc(16)), true);
});
