/**
 * SSH public keys (first factor on the gateway), one row per (user, key), and the one parser for
 * `.pub` / authorized_keys lines used by the CLI (`user add-key`) and the account page.
 *
 * Only plain keys whose signatures ssh2 can verify are accepted: ssh-ed25519, ecdsa-sha2-nistp*,
 * ssh-rsa (>= 2048 bits). FIDO keys (sk-*) and OpenSSH certificates are refused with a clear
 * message: ssh2 cannot verify sk signatures, and certificates would need a CA policy (docs/threat-model.md
 * S12) that does not exist.
 */
import { createHash } from "node:crypto";
import type { Kysely, Selectable } from "kysely";
import type { Clock } from "../core/clock.ts";
import { ssh2Utils } from "../crypto/ssh2-utils.ts";
import { PortcullisError } from "../core/errors.ts";
import type { Random } from "../core/random.ts";
import { newId } from "../crypto/tokens.ts";
import type { Database } from "./schema.ts";
import { stripUnsafe } from "../core/untrusted-text.ts";

export interface UserKeysTable {
	id: string;
	user_id: string;
	/** Key type from the blob: ssh-ed25519, ecdsa-sha2-nistp256, ssh-rsa, ... */
	algo: string;
	/** base64 of the SSH wire-format public key blob (RFC 4253 §6.6). */
	public_key: string;
	/** "SHA256:" + unpadded base64 of SHA-256(blob), exactly as `ssh-keygen -lf` prints it. */
	fingerprint: string;
	comment: string;
	created_at: number;
}

export type UserKeyRow = Selectable<UserKeysTable>;

/** The lead owns schema.ts; this store widens the Database type with its own table. */
type KeyDatabase = Database & { user_keys: UserKeysTable };

export const ACCEPTED_KEY_TYPES = ["ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-rsa"] as const;
export const MAX_KEYS_PER_USER = 50;
const MAX_LINE_LENGTH = 16_384;
const MIN_RSA_BITS = 2048;

export interface ParsedPublicKey {
	readonly algo: string;
	readonly blob: Buffer;
	readonly publicKey: string;
	readonly fingerprint: string;
	readonly comment: string;
}

export type ParseKeyResult = { readonly ok: true; readonly key: ParsedPublicKey } | { readonly ok: false; readonly message: string };

/** OpenSSH's SHA256 fingerprint: unpadded base64 of SHA-256 over the public key blob. */
export function sshFingerprint(blob: Buffer): string {
	return `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;
}

/** Reads one SSH "string" (uint32 length + bytes, RFC 4251 §5) or null when truncated. */
function readSshString(buffer: Buffer, offset: number): { value: Buffer; next: number } | null {
	if (offset + 4 > buffer.length) return null;
	const length = buffer.readUInt32BE(offset);
	if (offset + 4 + length > buffer.length) return null;
	return { value: buffer.subarray(offset + 4, offset + 4 + length), next: offset + 4 + length };
}

function rsaModulusBits(blob: Buffer): number {
	const type = readSshString(blob, 0);
	const exponent = type && readSshString(blob, type.next);
	const modulus = exponent && readSshString(blob, exponent.next);
	if (!modulus) return 0;
	let bytes = modulus.value;
	while (bytes.length > 0 && bytes[0] === 0) bytes = bytes.subarray(1);
	if (bytes.length === 0) return 0;
	return (bytes.length - 1) * 8 + (32 - Math.clz32(bytes[0] as number));
}

/** Strips control and bidi characters from a key comment (it is shown in the console and CLI). */
function cleanComment(text: string): string {
	return stripUnsafe(text).trim().slice(0, 200);
}

/**
 * Parses one `.pub` line ("TYPE BASE64 [comment]"). authorized_keys options (command=, from=, ...)
 * are refused rather than silently ignored: the gateway could not honour them.
 */
export function parsePublicKeyLine(input: unknown): ParseKeyResult {
	if (typeof input !== "string") return { ok: false, message: "Paste one public key line (the contents of a .pub file)." };
	if (input.length > MAX_LINE_LENGTH) return { ok: false, message: "That is too long for a public key line." };
	const lines = input
		.split(/\r?\n/)
		.map((line) => line.trim())
		.filter((line) => line.length > 0 && !line.startsWith("#"));
	if (lines.length !== 1)
		return { ok: false, message: lines.length === 0 ? "No public key found: paste the contents of a .pub file." : "Give exactly one public key line." };
	const fields = (lines[0] as string).split(/[ \t]+/);
	const type = fields[0] ?? "";
	const base64 = fields[1] ?? "";
	if (type.startsWith("sk-")) {
		return { ok: false, message: `${type.slice(0, 60)} security-key (FIDO) keys are not supported on the gateway; add an ssh-ed25519, ecdsa or RSA key.` };
	}
	if (type.includes("-cert-v01@openssh.com") || type.includes("-cert@")) {
		return { ok: false, message: "OpenSSH certificates are not accepted; add the plain public key (the .pub file without -cert)." };
	}
	if (type === "ssh-dss") return { ok: false, message: "DSA keys are obsolete and not accepted; add an ssh-ed25519 key." };
	if (!(ACCEPTED_KEY_TYPES as readonly string[]).includes(type)) {
		return { ok: false, message: 'Unrecognised key line. Expected e.g. "ssh-ed25519 AAAA... comment" (authorized_keys options are not accepted).' };
	}
	if (!/^[A-Za-z0-9+/]+={0,2}$/.test(base64)) return { ok: false, message: "The key data is not valid base64." };
	const blob = Buffer.from(base64, "base64");
	const blobType = readSshString(blob, 0);
	if (blobType === null || blobType.value.toString("latin1") !== type) return { ok: false, message: "The key data does not match its type." };
	const parsed = ssh2Utils().parseKey(`${type} ${base64}`);
	if (parsed instanceof Error || Array.isArray(parsed) || parsed.isPrivateKey() || parsed.type !== type) {
		return { ok: false, message: "The key could not be parsed." };
	}
	// Normalise to the blob ssh2 will compare against at login.
	const canonical = parsed.getPublicSSH();
	if (!canonical.equals(blob)) return { ok: false, message: "The key data is not in canonical form." };
	if (type === "ssh-rsa" && rsaModulusBits(blob) < MIN_RSA_BITS) return { ok: false, message: `RSA keys must have at least ${MIN_RSA_BITS} bits.` };
	return {
		ok: true,
		key: { algo: type, blob, publicKey: blob.toString("base64"), fingerprint: sshFingerprint(blob), comment: cleanComment(fields.slice(2).join(" ")) },
	};
}

export class SshKeyStore {
	private readonly db: Kysely<KeyDatabase>;

	constructor(
		db: Kysely<Database>,
		private readonly clock: Clock,
		private readonly random: Random,
	) {
		// Same connection, wider table map (see KeyDatabase).
		this.db = db as unknown as Kysely<KeyDatabase>;
	}

	async list(userId: string): Promise<UserKeyRow[]> {
		return this.db.selectFrom("user_keys").selectAll().where("user_id", "=", userId).orderBy("created_at", "asc").orderBy("id", "asc").execute();
	}

	/** Adds a parsed key; ERR_CONFLICT when this user already has it or has too many keys. */
	async add(userId: string, key: ParsedPublicKey): Promise<UserKeyRow> {
		const existing = await this.list(userId);
		if (existing.some((row) => row.fingerprint === key.fingerprint))
			throw new PortcullisError("ERR_CONFLICT", `this key (${key.fingerprint}) is already added`);
		if (existing.length >= MAX_KEYS_PER_USER) throw new PortcullisError("ERR_CONFLICT", `at most ${MAX_KEYS_PER_USER} keys per user`);
		const row: UserKeyRow = {
			id: newId(this.random),
			user_id: userId,
			algo: key.algo,
			public_key: key.publicKey,
			fingerprint: key.fingerprint,
			comment: key.comment,
			created_at: this.clock.now().getTime(),
		};
		try {
			await this.db.insertInto("user_keys").values(row).execute();
		} catch (error) {
			// A concurrent add of the same key lost the unique index race; anything else is a database failure.
			const code = (error as { code?: unknown }).code;
			if (code === "23505" || code === "SQLITE_CONSTRAINT_UNIQUE" || code === "SQLITE_CONSTRAINT_PRIMARYKEY") {
				throw new PortcullisError("ERR_CONFLICT", `this key (${key.fingerprint}) is already added`, { cause: error });
			}
			throw new PortcullisError("ERR_DATABASE", undefined, { cause: error });
		}
		return row;
	}

	/** Removes by fingerprint ("SHA256:..."); false when the user has no such key. */
	async remove(userId: string, fingerprint: string): Promise<boolean> {
		const result = await this.db.deleteFrom("user_keys").where("user_id", "=", userId).where("fingerprint", "=", fingerprint).executeTakeFirst();
		return Number(result.numDeletedRows) > 0;
	}

	/** Live policy: does this user still have the key a connection authenticated with? */
	async hasKey(userId: string, fingerprint: string): Promise<boolean> {
		const row = await this.db.selectFrom("user_keys").select("id").where("user_id", "=", userId).where("fingerprint", "=", fingerprint).executeTakeFirst();
		return row !== undefined;
	}

	/** The gateway's lookup: this user's key with exactly this blob, if any. */
	async findForUser(userId: string, blob: Buffer): Promise<UserKeyRow | undefined> {
		return this.db.selectFrom("user_keys").selectAll().where("user_id", "=", userId).where("public_key", "=", blob.toString("base64")).executeTakeFirst();
	}
}
