import { randomBytes, randomInt } from "node:crypto";

/** Randomness is injected so tests can be deterministic; production always uses the CSPRNG. */
export interface Random {
	bytes(length: number): Buffer;
	/** Uniform integer in [min, max). */
	int(min: number, max: number): number;
}

export const cryptoRandom: Random = {
	bytes: (length) => randomBytes(length),
	int: (min, max) => randomInt(min, max),
};
