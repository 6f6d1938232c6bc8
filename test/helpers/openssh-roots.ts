/**
 * Newer OpenSSH releases for the post-quantum key exchange tests, from the minimal Debian roots that
 * scripts/build-openssh-roots.sh builds and caches (.ci/run calls it):
 *   - "trixie" (Debian 13): OpenSSH 10.0 client and sshd;
 *   - "testing": OpenSSH 10.1+ client, which warns on every connection without a post-quantum
 *     key exchange.
 * A client runs with its root's own dynamic loader and libraries (no chroot: it needs the test's
 * files); the sshd runs through chroot (startSshd's `root` option), because it re-executes its
 * helpers (sshd-session, sshd-auth) by absolute path.
 *
 * A missing root: the tests skip with the command that builds it, except with
 * PORTCULLIS_STRICT_PEERS=1 where they fail.
 */
import { spawnSync } from "node:child_process";
import { accessSync, chmodSync, constants, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export type OpenSshRoot = "trixie" | "testing";

const CACHE = process.env.PORTCULLIS_OPENSSH_ROOTS ?? "/var/cache/portcullis";
const STRICT = process.env.PORTCULLIS_STRICT_PEERS === "1";

export function opensshRoot(name: OpenSshRoot): string {
	return join(CACHE, name);
}

function loader(name: OpenSshRoot): string[] {
	const root = opensshRoot(name);
	return [join(root, "lib64/ld-linux-x86-64.so.2"), "--library-path", `${join(root, "lib/x86_64-linux-gnu")}:${join(root, "usr/lib/x86_64-linux-gnu")}`];
}

function built(name: OpenSshRoot): boolean {
	try {
		accessSync(loader(name)[0] as string, constants.X_OK);
		accessSync(join(opensshRoot(name), "usr/bin/ssh"), constants.X_OK);
		return true;
	} catch {
		return false;
	}
}

/** Reason to skip, or undefined when the tests must run (always undefined under PORTCULLIS_STRICT_PEERS=1). */
export function opensshRootSkipReason(...names: OpenSshRoot[]): string | undefined {
	if (STRICT) return undefined;
	const missing = names.filter((name) => !built(name));
	if (missing.length === 0) return undefined;
	return `OpenSSH root(s) ${missing.join(", ")} missing under ${CACHE}: run scripts/build-openssh-roots.sh (needs mmdebstrap). Set PORTCULLIS_STRICT_PEERS=1 to fail instead of skipping.`;
}

/** A folder holding an `ssh` that runs this root's client; put it first on PATH. */
export function opensshBinDir(name: OpenSshRoot): string {
	if (!built(name)) throw new Error(`OpenSSH root ${name} missing under ${CACHE}: run scripts/build-openssh-roots.sh`);
	const dir = mkdtempSync(join(tmpdir(), `portcullis-openssh-${name}-`));
	const ssh = join(dir, "ssh");
	const quoted = [...loader(name), join(opensshRoot(name), "usr/bin/ssh")].map((part) => `'${part}'`).join(" ");
	writeFileSync(ssh, `#!/bin/sh\nexec ${quoted} "$@"\n`);
	chmodSync(ssh, 0o755);
	return dir;
}

/** "OpenSSH_10.0p2 Debian-…" of the root's client. */
export function opensshVersion(name: OpenSshRoot): string {
	const [bin, ...args] = loader(name);
	const result = spawnSync(bin as string, [...args, join(opensshRoot(name), "usr/bin/ssh"), "-V"], { encoding: "utf8" });
	return `${result.stdout}${result.stderr}`.trim();
}
