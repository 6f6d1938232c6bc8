/**
 * The gateway's transport algorithms (RFC 4253 §7.1 KEXINIT name-lists), narrowed from ssh2's
 * defaults. ssh-audit (test/security/ssh-audit.test.ts) checks the result; docs/ssh-relay.md
 * "Transport hardening" explains each choice.
 *
 * - Compression: "none" and "zlib@openssh.com" only. Plain "zlib" starts at NEWKEYS, i.e. before
 *   authentication, so an anonymous client could make us inflate a decompression bomb (docs/threat-model.md,
 *   "SSH pre-authentication surface": 1.2 MB on the wire → 1.2 GB inflated). "zlib@openssh.com"
 *   (OpenSSH PROTOCOL §2.2, "delayed compression") starts only after USERAUTH_SUCCESS; ssh2 1.17
 *   switches its packet reader and writer in Protocol#authSuccess() and, on a rekey, only when
 *   already authenticated (lib/protocol/kex.js), which is the delay RFC 4253 §6.2 allows.
 * - MACs: encrypt-then-MAC with SHA-2 only. Encrypt-and-MAC (RFC 4253 §6.4) MACs the plaintext and
 *   is the construction behind the CBC/Terrapin-style oracles; SHA-1 is deprecated (RFC 9142 §3.2
 *   for key exchange; OpenSSH removed hmac-sha1 from its defaults). AEAD ciphers (chacha20-poly1305,
 *   AES-GCM) carry their own MAC and ignore this list.
 * - Key exchange: `ssh.kex` (src/core/ssh-kex.ts), by default the post-quantum hybrid
 *   mlkem768x25519-sha256 first (draft-ietf-sshm-mlkem-hybrid-kex, from patches/ssh2+1.17.0.patch),
 *   then sntrup761x25519-sha512 under both its names (RFC 9941, same patch, for OpenSSH 8.5 to 9.8),
 *   then Curve25519 (RFC 8731) and finite-field groups of 2048+ bits with SHA-2 (RFC 8268,
 *   RFC 4419). The NIST P-curve ECDH exchanges are dropped (ssh-audit "fail": curves of doubtful
 *   provenance; every client that speaks ETM MACs also speaks Curve25519). `ssh.pq_only` offers
 *   clients the post-quantum methods alone. The same list, in the same order, is offered to targets
 *   (target.ts), so an OpenSSH 9.9+ target gets ML-KEM too. ssh2 appends
 *   "kex-strict-s-v00@openssh.com" / "kex-strict-c-v00@openssh.com" itself (Terrapin, CVE-2023-48795).
 * - Ciphers: ssh2's defaults (chacha20-poly1305, AES-GCM, AES-CTR; none CBC or RC4), left to ssh2
 *   because it drops the ones this Node/OpenSSL build cannot run, where an exact list would throw.
 * - Host key: whatever host-key.ts loads (ed25519).
 */
import { createRequire } from "node:module";
import type ssh2 from "ssh2";
import type { Config } from "../config/config.ts";
import { PortcullisError } from "../core/errors.ts";
import { type KexName, offeredKex } from "../core/ssh-kex.ts";

export const SSH_MACS = ["hmac-sha2-256-etm@openssh.com", "hmac-sha2-512-etm@openssh.com"] as const;

export const SSH_COMPRESSION = ["none", "zlib@openssh.com"] as const;

/**
 * The key exchange names this installed ssh2 implements. ssh2 has no public list; its constants
 * module is the one it validates `algorithms.kex` against (pinned ssh2 1.17.0, package.json).
 */
export function ssh2SupportedKex(): readonly string[] {
	const constants = createRequire(import.meta.url)("ssh2/lib/protocol/constants.js") as { SUPPORTED_KEX?: unknown };
	return Array.isArray(constants.SUPPORTED_KEX) ? (constants.SUPPORTED_KEX as string[]) : [];
}

/**
 * Fails closed when a configured method is missing from ssh2, typically because
 * patches/ssh2+1.17.0.patch was not applied (npm install without its postinstall) or this Node has
 * no ML-KEM, or the sntrup761 addon was not built (scripts/build-native.js): the gateway must not start and silently offer less than the configuration says.
 */
function checkKex(kex: readonly KexName[]): void {
	const available = new Set(ssh2SupportedKex());
	const missing = kex.filter((name) => !available.has(name));
	if (missing.length > 0)
		throw new PortcullisError(
			"ERR_CONFIG_INVALID",
			`ssh.kex names ${missing.join(", ")}, which the installed ssh2 does not implement: run npm install (its postinstall applies patches/ssh2+1.17.0.patch) on Node.js 24 (docs/dependencies.md)`,
		);
}

/** @types/ssh2 predates the patch's mlkem768x25519-sha256 and sntrup761x25519-sha512; checkKex() has verified every name against ssh2 itself. */
function asSsh2Kex(kex: readonly KexName[]): ssh2.KexAlgorithm[] {
	return [...kex] as ssh2.KexAlgorithm[];
}

/** The client leg (the gateway's SSH server): `ssh.kex`, narrowed to post-quantum by `ssh.pq_only`. */
export function serverAlgorithms(config: Config): ssh2.Algorithms {
	const kex = offeredKex(config.ssh.kex, config.ssh.pq_only);
	checkKex(kex);
	return { kex: asSsh2Kex(kex), hmac: [...SSH_MACS], compress: [...SSH_COMPRESSION] };
}

/**
 * The target leg (the gateway's SSH client): `ssh.kex` in the same order; ciphers, MACs and
 * compression stay ssh2's client defaults as before (targets are the administrator's own servers).
 * `ssh.pq_only` is about users' clients; a target without ML-KEM or sntrup761 (OpenSSH before 8.5)
 * still gets a classical exchange unless the classical names are removed from `ssh.kex`
 * (docs/configuration.md). OpenSSH 8.5–9.8 targets get sntrup761x25519-sha512.
 */
export function targetAlgorithms(config: Config): ssh2.Algorithms {
	const kex = [...config.ssh.kex];
	checkKex(kex);
	return { kex: asSsh2Kex(kex) };
}
