/**
 * The deterministic random generator of the NIST post-quantum competition's known-answer tests
 * (rng.c of the submission package: AES-256 CTR_DRBG of NIST SP 800-90A without derivation
 * function, reseed never), re-implemented with Node's AES-256-ECB. KEM implementations that draw
 * their randomness through it reproduce the published KAT files (PQCgenKAT_kem.c; liboqs
 * tests/kat_kem.c hashes the first entry), which is how test/ssh/sntrup761-kex.test.ts checks the
 * sntrup761 addon against values that were not produced on this machine.
 */
import { createCipheriv } from "node:crypto";

export class NistKatDrbg {
	#key = Buffer.alloc(32);
	#v = Buffer.alloc(16);

	/** randombytes_init(entropy_input, NULL, 256): 48 bytes of entropy, no personalisation. */
	constructor(entropy: Buffer) {
		if (entropy.length !== 48) throw new RangeError("the NIST KAT DRBG takes 48 bytes of entropy");
		this.#update(entropy);
	}

	/** randombytes(x, n): n bytes, then an update with no input (as rng.c does after every call). */
	bytes(length: number): Buffer {
		const blocks: Buffer[] = [];
		for (let left = length; left > 0; left -= 16) blocks.push(this.#block());
		this.#update(null);
		return Buffer.concat(blocks).subarray(0, length);
	}

	#block(): Buffer {
		for (let index = 15; index >= 0; index--) {
			this.#v[index] = ((this.#v[index] as number) + 1) & 0xff;
			if (this.#v[index] !== 0) break;
		}
		const cipher = createCipheriv("aes-256-ecb", this.#key, null);
		cipher.setAutoPadding(false);
		return cipher.update(this.#v);
	}

	#update(provided: Buffer | null): void {
		const temp = Buffer.concat([this.#block(), this.#block(), this.#block()]);
		if (provided) for (let index = 0; index < 48; index++) temp[index] = (temp[index] as number) ^ (provided[index] as number);
		this.#key = Buffer.from(temp.subarray(0, 32));
		this.#v = Buffer.from(temp.subarray(32, 48));
	}
}
