/**
 * Generates an ed25519 private key in OpenSSH format that ssh2 can read back.
 *
 * ssh2 1.17's own parser rejects about 0.3 % of the ed25519 keys its generateKeyPairSync writes
 * ("Malformed OpenSSH private key", measured here: 11 of 3,000). A host or target key written on
 * first start must therefore be parsed before it is kept, or one start in ~300 would leave a data
 * directory that can never start again.
 */
import { ssh2Utils } from "./ssh2-utils.ts";

export function generateEd25519Key(comment: string): { privateKey: string; publicKey: string } {
	const utils = ssh2Utils();
	for (let tries = 0; tries < 20; tries++) {
		const pair = utils.generateKeyPairSync("ed25519", { comment });
		const parsed = utils.parseKey(pair.private);
		const parsedPublic = utils.parseKey(pair.public);
		const readable = (key: typeof parsed) => !(key instanceof Error) && !Array.isArray(key);
		if (readable(parsed) && readable(parsedPublic)) return { privateKey: pair.private, publicKey: pair.public };
	}
	throw new Error("could not generate a readable ed25519 key");
}
