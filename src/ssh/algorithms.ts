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
 * - Key exchange: Curve25519 (RFC 8731) and finite-field groups of 2048+ bits with SHA-2
 *   (RFC 8268, RFC 4419). The NIST P-curve ECDH exchanges are dropped (ssh-audit "fail": curves of
 *   doubtful provenance; every client that speaks ETM MACs also speaks Curve25519). ssh2 has no
 *   post-quantum hybrid (sntrup761x25519-sha512, mlkem768x25519-sha256); see docs/ssh-relay.md.
 *   ssh2 appends "kex-strict-s-v00@openssh.com" itself (Terrapin, CVE-2023-48795).
 * - Ciphers: ssh2's defaults (chacha20-poly1305, AES-GCM, AES-CTR; none CBC or RC4), left to ssh2
 *   because it drops the ones this Node/OpenSSL build cannot run, where an exact list would throw.
 * - Host key: whatever host-key.ts loads (ed25519).
 */
import type ssh2 from "ssh2";

export const SSH_KEX = [
	"curve25519-sha256",
	"curve25519-sha256@libssh.org",
	"diffie-hellman-group16-sha512",
	"diffie-hellman-group18-sha512",
	"diffie-hellman-group-exchange-sha256",
	"diffie-hellman-group14-sha256",
] as const;

export const SSH_MACS = ["hmac-sha2-256-etm@openssh.com", "hmac-sha2-512-etm@openssh.com"] as const;

export const SSH_COMPRESSION = ["none", "zlib@openssh.com"] as const;

export const SSH_ALGORITHMS: ssh2.Algorithms = {
	kex: [...SSH_KEX],
	hmac: [...SSH_MACS],
	compress: [...SSH_COMPRESSION],
};
