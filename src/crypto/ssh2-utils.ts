/**
 * ssh2's key helpers (`ssh2.utils`: parseKey, generateKeyPairSync), loaded on first use. The key
 * parser is needed by storage (ssh-key-store.ts) and key generation, which every process builds,
 * but called only when a key is added or generated; loading ssh2 (about 80 files) up front cost
 * every CLI command a noticeable part of its start (docs/benchmarks.md, "CLI cold start"). The
 * gateway still imports ssh2 itself (`import ssh2 from "ssh2"`); both get the same module instance
 * (Node's CommonJS cache), the one patched at install (scripts/apply-patches.js).
 */
import { createRequire } from "node:module";
import type ssh2 from "ssh2";

let loaded: typeof ssh2 | undefined;

export function ssh2Utils(): typeof ssh2.utils {
	loaded ??= createRequire(import.meta.url)("ssh2") as typeof ssh2;
	return loaded.utils;
}
