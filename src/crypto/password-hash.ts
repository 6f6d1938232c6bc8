/**
 * Passwords and recovery codes are hashed with argon2id (docs/product-decisions.md Decision 9) using the OWASP
 * minimum (m = 19 MiB, t = 2, p = 1). Hashing runs on libuv's thread pool, off the event loop.
 */
/** The native argon2 binding, loaded by the first hash or check (`--help` and listings never need it). */
let argon2: Promise<typeof import("@node-rs/argon2")> | undefined;
const library = () => (argon2 ??= import("@node-rs/argon2"));

/** The cost every new hash is made with; the stored hash carries its own, which verify reads. */
export const PASSWORD_HASH_OPTIONS = { algorithm: 2 /* Argon2id */, memoryCost: 19456, timeCost: 2, parallelism: 1 } as const;

let options: { algorithm: 2; memoryCost: number; timeCost: number; parallelism: number } = PASSWORD_HASH_OPTIONS;

/**
 * For the test suite only: new hashes at argon2id's smallest cost (m = 64 KiB, t = 1). Every
 * password and recovery code a test creates is hashed, ten per recovery-code set, and at full
 * cost that was a large part of `npm test`'s CPU time (docs/benchmarks.md, "npm test"). Called by
 * test/helpers/low-hash-cost.ts, which scripts/test.sh imports into the test processes (never into
 * a server or CLI process they start); test/crypto/password-hash-cost.test.ts fails if any module
 * under src/ calls it, and checks the production cost in a process without it. Verification is
 * unchanged: it reads the cost from the stored hash.
 */
export function useLowestHashCostForTests(): void {
	options = { ...PASSWORD_HASH_OPTIONS, memoryCost: 64, timeCost: 1 };
}

export async function hashPassword(password: string): Promise<string> {
	return (await library()).hash(password.normalize("NFC"), options);
}

export async function verifyPassword(storedHash: string, password: string): Promise<boolean> {
	try {
		return await (await library()).verify(storedHash, password.normalize("NFC"));
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
