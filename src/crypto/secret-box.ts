/**
 * Secrets at rest (docs/product-decisions.md Decision 9): TOTP keys, access keywords and method secrets are
 * sealed with AES-256-GCM under a key that never lives in the database. The key comes from the
 * config (`secrets.key`, base64) or from a key file created on first start with mode 0600.
 *
 * Sealed format: "v1:" + base64(iv[12] | tag[16] | ciphertext). The associated data binds a
 * ciphertext to its purpose and owner (e.g. "totp:<factorId>"), so a sealed secret copied into
 * another row does not decrypt.
 */
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { PortcullisError } from "../core/errors.ts";

export interface SecretBox {
	seal(plaintext: Buffer | string, context: string): string;
	open(sealed: string, context: string): Buffer;
}

export function createSecretBox(key: Buffer): SecretBox {
	if (key.length !== 32) throw new PortcullisError("ERR_SECRET_KEY", "the secret key must be 32 bytes");
	return {
		seal(plaintext, context) {
			const iv = randomBytes(12);
			const cipher = createCipheriv("aes-256-gcm", key, iv);
			cipher.setAAD(Buffer.from(context, "utf8"));
			const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
			return `v1:${Buffer.concat([iv, cipher.getAuthTag(), body]).toString("base64")}`;
		},
		open(sealed, context) {
			if (!sealed.startsWith("v1:")) throw new PortcullisError("ERR_DECRYPT");
			const raw = Buffer.from(sealed.slice(3), "base64");
			if (raw.length < 28) throw new PortcullisError("ERR_DECRYPT");
			try {
				const decipher = createDecipheriv("aes-256-gcm", key, raw.subarray(0, 12));
				decipher.setAAD(Buffer.from(context, "utf8"));
				decipher.setAuthTag(raw.subarray(12, 28));
				return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]);
			} catch (cause) {
				throw new PortcullisError("ERR_DECRYPT", undefined, { cause });
			}
		},
	};
}

/** Reads the key file, creating it (0600) on first start. Refuses a key file others can read. */
export function loadOrCreateKeyFile(path: string): Buffer {
	if (!existsSync(path)) {
		mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
		writeFileSync(path, `${randomBytes(32).toString("base64")}\n`, { mode: 0o600, flag: "wx" });
	}
	const mode = statSync(path).mode & 0o077;
	if (mode !== 0) {
		chmodSync(path, 0o600);
	}
	const key = Buffer.from(readFileSync(path, "utf8").trim(), "base64");
	if (key.length !== 32) throw new PortcullisError("ERR_SECRET_KEY", `the key file ${path} does not hold 32 base64 bytes`);
	return key;
}
