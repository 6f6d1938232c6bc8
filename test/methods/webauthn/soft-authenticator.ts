/**
 * A software FIDO2 authenticator for tests (never production code): ES256 key pairs from
 * node:crypto, authenticator data and clientDataJSON built by hand (W3C WebAuthn L2 §6.1, §5.8.1),
 * "none" attestation in a hand-written CBOR encoding (RFC 8949 §3, only the types needed), and
 * signatures over authenticatorData ‖ SHA-256(clientDataJSON) (§6.3.3). Every field can be bent,
 * so tests can send wrong origins, RP ids, types, challenges, counters and signatures.
 */
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from "node:crypto";

type Cbor = number | string | Uint8Array | Cbor[] | Map<number | string, Cbor> | { [key: string]: Cbor };

function head(major: number, length: number): Buffer {
	if (length < 24) return Buffer.from([(major << 5) | length]);
	if (length < 0x100) return Buffer.from([(major << 5) | 24, length]);
	if (length < 0x10000) {
		const out = Buffer.alloc(3);
		out[0] = (major << 5) | 25;
		out.writeUInt16BE(length, 1);
		return out;
	}
	const out = Buffer.alloc(5);
	out[0] = (major << 5) | 26;
	out.writeUInt32BE(length, 1);
	return out;
}

/** Minimal CBOR encoder: unsigned/negative integers, byte and text strings, arrays, maps. */
export function cbor(value: Cbor): Buffer {
	if (typeof value === "number") return value >= 0 ? head(0, value) : head(1, -1 - value);
	if (typeof value === "string") {
		const bytes = Buffer.from(value, "utf8");
		return Buffer.concat([head(3, bytes.length), bytes]);
	}
	if (value instanceof Uint8Array) return Buffer.concat([head(2, value.length), Buffer.from(value)]);
	if (Array.isArray(value)) return Buffer.concat([head(4, value.length), ...value.map(cbor)]);
	const entries = value instanceof Map ? [...value.entries()] : Object.entries(value);
	return Buffer.concat([head(5, entries.length), ...entries.flatMap(([key, item]) => [cbor(key), cbor(item)])]);
}

const sha256 = (data: Buffer | string): Buffer => createHash("sha256").update(data).digest();

export interface SoftCredential {
	readonly id: Buffer;
	readonly privateKey: KeyObject;
	readonly cosePublicKey: Buffer;
	counter: number;
}

export interface Bend {
	origin?: string;
	rpId?: string;
	type?: string;
	challenge?: string;
	/** Flags byte (default UP|UV, plus AT at registration). */
	flags?: number;
	/** Signature counter to report (default: the credential's counter + 1). */
	counter?: number;
	/** Sign with this key instead (a forged or cloned key). */
	signWith?: KeyObject;
	userHandle?: string | null;
	crossOrigin?: boolean;
}

export interface RegistrationJSON {
	id: string;
	rawId: string;
	type: "public-key";
	response: { clientDataJSON: string; attestationObject: string; transports: string[] };
	clientExtensionResults: Record<string, never>;
	authenticatorAttachment: "cross-platform";
}

export interface AssertionJSON {
	id: string;
	rawId: string;
	type: "public-key";
	response: { clientDataJSON: string; authenticatorData: string; signature: string; userHandle?: string };
	clientExtensionResults: Record<string, never>;
	authenticatorAttachment: "cross-platform";
}

const UP = 0x01;
const UV = 0x04;
const AT = 0x40;

export class SoftAuthenticator {
	readonly credentials: SoftCredential[] = [];

	constructor(
		readonly origin: string,
		readonly rpId: string,
	) {}

	static newKey(): { privateKey: KeyObject; cosePublicKey: Buffer } {
		const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
		const jwk = publicKey.export({ format: "jwk" });
		// RFC 9053 §7.1.1 / RFC 8152 §13.1.1: kty EC2 (2), alg ES256 (-7), crv P-256 (1), x, y.
		const cose = cbor(
			new Map<number, Cbor>([
				[1, 2],
				[3, -7],
				[-1, 1],
				[-2, Buffer.from(jwk.x as string, "base64url")],
				[-3, Buffer.from(jwk.y as string, "base64url")],
			]),
		);
		return { privateKey, cosePublicKey: cose };
	}

	private clientData(type: string, challenge: string, bend: Bend): Buffer {
		return Buffer.from(
			JSON.stringify({
				type: bend.type ?? type,
				challenge: bend.challenge ?? challenge,
				origin: bend.origin ?? this.origin,
				crossOrigin: bend.crossOrigin ?? false,
			}),
			"utf8",
		);
	}

	/** navigator.credentials.create() with "none" attestation. `options` is PublicKeyCredentialCreationOptionsJSON. */
	register(options: { challenge: string; rp: { id?: string } }, bend: Bend = {}, credential?: SoftCredential): RegistrationJSON {
		const created = credential ?? { id: randomBytes(32), ...SoftAuthenticator.newKey(), counter: 0 };
		if (credential === undefined) this.credentials.push(created);
		const rpId = bend.rpId ?? options.rp.id ?? this.rpId;
		const counter = Buffer.alloc(4);
		counter.writeUInt32BE(bend.counter ?? created.counter);
		const idLength = Buffer.alloc(2);
		idLength.writeUInt16BE(created.id.length);
		const authData = Buffer.concat([
			sha256(rpId),
			Buffer.from([bend.flags ?? UP | UV | AT]),
			counter,
			Buffer.alloc(16),
			idLength,
			created.id,
			created.cosePublicKey,
		]);
		const clientData = this.clientData("webauthn.create", options.challenge, bend);
		const attestationObject = cbor({ fmt: "none", attStmt: {}, authData });
		const id = created.id.toString("base64url");
		return {
			id,
			rawId: id,
			type: "public-key",
			response: { clientDataJSON: clientData.toString("base64url"), attestationObject: attestationObject.toString("base64url"), transports: ["usb"] },
			clientExtensionResults: {},
			authenticatorAttachment: "cross-platform",
		};
	}

	/** navigator.credentials.get() with the first allowed credential this authenticator holds. */
	assert(options: { challenge: string; rpId?: string; allowCredentials?: { id: string }[] }, bend: Bend = {}, credential?: SoftCredential): AssertionJSON {
		const allowed = new Set((options.allowCredentials ?? []).map((entry) => entry.id));
		const chosen = credential ?? this.credentials.find((candidate) => allowed.size === 0 || allowed.has(candidate.id.toString("base64url")));
		if (chosen === undefined) throw new Error("no matching credential on the soft authenticator");
		const next = bend.counter ?? chosen.counter + 1;
		if (bend.counter === undefined) chosen.counter = next;
		const counter = Buffer.alloc(4);
		counter.writeUInt32BE(next);
		const authData = Buffer.concat([sha256(bend.rpId ?? options.rpId ?? this.rpId), Buffer.from([bend.flags ?? UP | UV]), counter]);
		const clientData = this.clientData("webauthn.get", options.challenge, bend);
		const signature = sign("sha256", Buffer.concat([authData, sha256(clientData)]), { key: bend.signWith ?? chosen.privateKey, dsaEncoding: "der" });
		const id = chosen.id.toString("base64url");
		const response: AssertionJSON["response"] = {
			clientDataJSON: clientData.toString("base64url"),
			authenticatorData: authData.toString("base64url"),
			signature: signature.toString("base64url"),
		};
		if (bend.userHandle !== undefined && bend.userHandle !== null) response.userHandle = bend.userHandle;
		return { id, rawId: id, type: "public-key", response, clientExtensionResults: {}, authenticatorAttachment: "cross-platform" };
	}
}
