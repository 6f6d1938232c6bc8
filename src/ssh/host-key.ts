/**
 * The gateway's ed25519 host key: generated on first start (OpenSSH private key format, 0600),
 * then reused, so clients' known_hosts entries stay valid across restarts.
 */
import { generateEd25519Key } from "../crypto/generate-key.ts";
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import ssh2 from "ssh2";
import type { Config } from "../config/config.ts";
import { PortcullisError } from "../core/errors.ts";
import { sshFingerprint } from "../storage/ssh-key-store.ts";

export interface HostKey {
	readonly path: string;
	/** OpenSSH private key text, passed to ssh2's `hostKeys`. */
	readonly privateKey: string;
	/** One-line public key, "ssh-ed25519 AAAA... portcullis". */
	readonly publicKey: string;
	/** "SHA256:..." as `ssh-keygen -lf` and OpenSSH's "Host key fingerprint" print it. */
	readonly fingerprint: string;
}

export function hostKeyPath(config: Config): string {
	return resolve(config.ssh.host_key_file !== "" ? config.ssh.host_key_file : join(config.data_dir, "ssh_host_ed25519_key"));
}

function parsePrivate(text: string, path: string): ssh2.ParsedKey {
	const parsed = ssh2.utils.parseKey(text);
	const key = Array.isArray(parsed) ? parsed[0] : parsed;
	if (key === undefined || key instanceof Error || !key.isPrivateKey()) {
		throw new PortcullisError("ERR_CONFIG_INVALID", `${path} is not a usable SSH private key`);
	}
	return key;
}

export function loadOrCreateHostKey(path: string): HostKey {
	let privateKey: string;
	if (existsSync(path)) {
		privateKey = readFileSync(path, "utf8");
		// Like sshd: refuse a host key others can read (it would let them impersonate the gateway).
		if (process.platform !== "win32" && (statSync(path).mode & 0o077) !== 0) {
			throw new PortcullisError("ERR_CONFIG_INVALID", `${path} must not be readable by group or others (chmod 600)`);
		}
	} else {
		mkdirSync(dirname(path), { recursive: true });
		privateKey = generateEd25519Key("portcullis").privateKey;
		try {
			// "wx": never overwrite a key another process created meanwhile; use theirs instead.
			writeFileSync(path, privateKey, { mode: 0o600, flag: "wx" });
			chmodSync(path, 0o600);
		} catch (error) {
			if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
			privateKey = readFileSync(path, "utf8");
		}
	}
	const key = parsePrivate(privateKey, path);
	const blob = key.getPublicSSH();
	return { path, privateKey, publicKey: `${key.type} ${blob.toString("base64")} portcullis`, fingerprint: sshFingerprint(blob) };
}
