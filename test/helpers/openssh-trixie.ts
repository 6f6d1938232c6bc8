/**
 * OpenSSH 10 (Debian 13 "trixie") for the post-quantum key exchange tests, from the minimal root
 * that scripts/build-openssh-trixie.sh builds and caches (.ci/run calls it). The client runs with
 * the root's own dynamic loader and libraries (no chroot: it needs the test's files); the server
 * runs through chroot (startSshd's `root` option), because sshd re-executes its helpers
 * (sshd-session, sshd-auth) by absolute path.
 *
 * Missing root: the tests skip with the command that builds it, except with
 * PORTCULLIS_STRICT_PEERS=1 where they fail.
 */
import { spawnSync } from "node:child_process";
import { accessSync, chmodSync, constants, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const TRIXIE_ROOT = process.env.PORTCULLIS_TRIXIE_ROOT ?? "/var/cache/portcullis/trixie";
const STRICT = process.env.PORTCULLIS_STRICT_PEERS === "1";

const LOADER = join(TRIXIE_ROOT, "lib64/ld-linux-x86-64.so.2");
const LIBRARY_PATH = [join(TRIXIE_ROOT, "lib/x86_64-linux-gnu"), join(TRIXIE_ROOT, "usr/lib/x86_64-linux-gnu")].join(":");

function built(): boolean {
	try {
		for (const file of [LOADER, join(TRIXIE_ROOT, "usr/bin/ssh"), join(TRIXIE_ROOT, "usr/sbin/sshd")]) accessSync(file, constants.X_OK);
		return true;
	} catch {
		return false;
	}
}

/** Reason to skip, or undefined when the tests must run (always undefined under PORTCULLIS_STRICT_PEERS=1). */
export function trixieSkipReason(): string | undefined {
	if (STRICT || built()) return undefined;
	return `OpenSSH 10 root missing at ${TRIXIE_ROOT}: run scripts/build-openssh-trixie.sh (needs mmdebstrap). Set PORTCULLIS_STRICT_PEERS=1 to fail instead of skipping.`;
}

/** A folder holding an `ssh` that runs the trixie client; put it first on PATH. */
export function trixieSshBinDir(): string {
	if (!built()) throw new Error(`OpenSSH 10 root missing at ${TRIXIE_ROOT}: run scripts/build-openssh-trixie.sh`);
	const dir = mkdtempSync(join(tmpdir(), "portcullis-trixie-bin-"));
	const ssh = join(dir, "ssh");
	writeFileSync(ssh, `#!/bin/sh\nexec '${LOADER}' --library-path '${LIBRARY_PATH}' '${join(TRIXIE_ROOT, "usr/bin/ssh")}' "$@"\n`);
	chmodSync(ssh, 0o755);
	return dir;
}

/** "OpenSSH_10.0p2 Debian-…" of the root's client. */
export function trixieSshVersion(): string {
	const result = spawnSync(LOADER, ["--library-path", LIBRARY_PATH, join(TRIXIE_ROOT, "usr/bin/ssh"), "-V"], { encoding: "utf8" });
	return `${result.stdout}${result.stderr}`.trim();
}
