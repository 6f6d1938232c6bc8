/**
 * The SSH key exchange methods the gateway may offer (RFC 4253 §7.1 name-lists), most preferred
 * first, and which of them are post-quantum. Pure data: the configuration validates `ssh.kex`
 * against it (src/config/config.ts) and src/ssh/algorithms.ts hands the chosen list to ssh2.
 *
 * - mlkem768x25519-sha256: ML-KEM-768 (FIPS 203) with X25519, draft-ietf-sshm-mlkem-hybrid-kex;
 *   OpenSSH 9.9+ (the default of OpenSSH 10). ssh2 gets it from patches/ssh2+1.17.0.patch.
 * - sntrup761x25519-sha512 and its older name sntrup761x25519-sha512@openssh.com: Streamlined
 *   NTRU Prime sntrup761 with X25519, RFC 9941; OpenSSH 8.5+ (the default of OpenSSH 9.0 to 9.8,
 *   i.e. Debian 12 and Ubuntu 22.04/24.04). The same patch adds it, with OpenSSH's own sntrup761.c
 *   in a native addon (docs/decisions.md, "Post-quantum key exchange").
 * - curve25519-sha256 (RFC 8731) and finite-field groups of 2048+ bits with SHA-2 (RFC 8268,
 *   RFC 4419): the classical exchanges, for clients and targets without ML-KEM.
 */
export const SUPPORTED_KEX = [
	"mlkem768x25519-sha256",
	"sntrup761x25519-sha512",
	"sntrup761x25519-sha512@openssh.com",
	"curve25519-sha256",
	"curve25519-sha256@libssh.org",
	"diffie-hellman-group16-sha512",
	"diffie-hellman-group18-sha512",
	"diffie-hellman-group-exchange-sha256",
	"diffie-hellman-group14-sha256",
] as const;

export type KexName = (typeof SUPPORTED_KEX)[number];

/** Hybrid post-quantum methods: a quantum computer recording the session today cannot break them later. */
export const POST_QUANTUM_KEX: readonly KexName[] = ["mlkem768x25519-sha256", "sntrup761x25519-sha512", "sntrup761x25519-sha512@openssh.com"];

/** The default `ssh.kex`: all of them, post-quantum first (OpenSSH 10's order for these names). */
export const DEFAULT_KEX: readonly KexName[] = [...SUPPORTED_KEX];

export function isPostQuantumKex(name: string): boolean {
	return (POST_QUANTUM_KEX as readonly string[]).includes(name);
}

/** The list actually offered: `kex` in its order, only the post-quantum methods when `pqOnly`. */
export function offeredKex(kex: readonly KexName[], pqOnly: boolean): KexName[] {
	return pqOnly ? kex.filter(isPostQuantumKex) : [...kex];
}
