/**
 * SSH user keys for tests: generated with ssh2 (no ssh-keygen needed), written 0600 so the
 * OpenSSH client accepts them with -i.
 */
import { generateEd25519Key } from "../../src/crypto/generate-key.ts";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import ssh2 from "ssh2";

export interface TestKey {
	/** OpenSSH private key text (ssh2 Client `privateKey`). */
	readonly privateKey: string;
	/** "ssh-ed25519 AAAA... comment" line (what `user add-key` reads). */
	readonly publicLine: string;
	/** Path of the private key file (OpenSSH `-i`). */
	readonly file: string;
	readonly parsed: ssh2.ParsedKey;
}

export function makeKey(dir: string, name: string, type: "ed25519" | "rsa" | "ecdsa" = "ed25519"): TestKey {
	const pair =
		type === "rsa"
			? ssh2.utils.generateKeyPairSync("rsa", { bits: 2048, comment: name })
			: type === "ecdsa"
				? ssh2.utils.generateKeyPairSync("ecdsa", { bits: 256, comment: name })
				: (({ privateKey, publicKey }) => ({ private: privateKey, public: publicKey }))(generateEd25519Key(name));
	const file = join(dir, `id_${name}`);
	writeFileSync(file, pair.private, { mode: 0o600 });
	writeFileSync(`${file}.pub`, `${pair.public}\n`, { mode: 0o644 });
	const parsed = ssh2.utils.parseKey(pair.private);
	if (parsed instanceof Error || Array.isArray(parsed)) throw new Error("could not parse generated key");
	return { privateKey: pair.private, publicLine: pair.public, file, parsed };
}
