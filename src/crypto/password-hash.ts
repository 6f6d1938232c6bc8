/**
 * Passwords and recovery codes are hashed with argon2id (docs/product-decisions.md Decision 9) using the OWASP
 * minimum (m = 19 MiB, t = 2, p = 1). Hashing runs on libuv's thread pool, off the event loop.
 */
import { hash, verify } from "@node-rs/argon2";

const OPTIONS = { algorithm: 2 /* Argon2id */, memoryCost: 19456, timeCost: 2, parallelism: 1 } as const;

export async function hashPassword(password: string): Promise<string> {
	return hash(password.normalize("NFC"), OPTIONS);
}

export async function verifyPassword(storedHash: string, password: string): Promise<boolean> {
	try {
		return await verify(storedHash, password.normalize("NFC"));
	} catch {
		return false;
	}
}

/** A fixed hash verified when the user does not exist, so timing does not reveal usernames. */
let dummyHash: Promise<string> | null = null;
export async function verifyAgainstDummy(password: string): Promise<false> {
	dummyHash ??= hashPassword("portcullis-dummy-password");
	await verifyPassword(await dummyHash, password);
	return false;
}
