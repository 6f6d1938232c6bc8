/**
 * The gateway's own ed25519 key for target servers (config.ssh.target_key_file, default
 * <data_dir>/gateway_ed25519_key, created 0600 on first start). Admins install its public half in
 * the targets' authorized_keys; the console and `portcullis server gateway-key` show it.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import type { Config } from "../config/config.ts";
import { PortcullisError } from "../core/errors.ts";
import { generateEd25519Key } from "../crypto/generate-key.ts";
import { ssh2Utils } from "../crypto/ssh2-utils.ts";
import { sshFingerprint } from "../storage/ssh-key-store.ts";

export interface GatewayKey {
	readonly file: string;
	/** OpenSSH private key text. */
	readonly privateKey: string;
	/** authorized_keys line: "ssh-ed25519 AAAA… portcullis-gateway". */
	readonly publicKey: string;
	/** "SHA256:…" as printed by ssh-keygen -lf. */
	readonly fingerprint: string;
}

export function gatewayKeyFile(config: Config): string {
	return resolve(config.ssh.target_key_file !== "" ? config.ssh.target_key_file : join(config.data_dir, "gateway_ed25519_key"));
}

const keyCache = new Map<string, GatewayKey>();

/** Reads the gateway's target key, creating it (0600) on first start. */
export function loadOrCreateGatewayKey(config: Config): GatewayKey {
	const file = gatewayKeyFile(config);
	const cached = keyCache.get(file);
	if (cached) return cached;
	if (!existsSync(file)) {
		mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
		const pair = generateEd25519Key("portcullis-gateway");
		try {
			writeFileSync(file, pair.privateKey, { mode: 0o600, flag: "wx" });
		} catch (error) {
			// Another process created it first (two nodes starting at once): use theirs.
			if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
		}
	}
	if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600);
	const privateKey = readFileSync(file, "utf8");
	const parsed = ssh2Utils().parseKey(privateKey);
	if (parsed instanceof Error) throw new PortcullisError("ERR_CONFIG_INVALID", `the gateway target key ${file} is not a usable private key: ${parsed.message}`);
	const blob = parsed.getPublicSSH();
	const key: GatewayKey = { file, privateKey, publicKey: `${parsed.type} ${blob.toString("base64")} portcullis-gateway`, fingerprint: sshFingerprint(blob) };
	keyCache.set(file, key);
	return key;
}
