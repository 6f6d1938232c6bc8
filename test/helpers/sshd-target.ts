/**
 * Starts a REAL OpenSSH sshd on 127.0.0.1 as a target server (or as a jump host for the benchmark).
 *
 * `sshd -D -e -f <config>` runs in a mkdtemp folder with its own ed25519 host key, a free port,
 * AuthorizedKeysFile pointing at a file we write, StrictModes no, UsePAM no, its PidFile in the
 * folder, and `Subsystem sftp internal-sftp`. The login user is the current user (root on the dev
 * box, hence PermitRootLogin prohibit-password). /run/sshd (privilege separation dir) is created
 * first; sshd refuses to start without it.
 *
 * Missing binary: tests skip with a message, except with PORTCULLIS_STRICT_PEERS=1 where
 * startSshd throws so the test FAILS (docs/briefs/README.md).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { accessSync, constants as fsConstants, mkdirSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { connect, createServer } from "node:net";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";

export const SSHD_BIN = process.env.PORTCULLIS_SSHD_BIN ?? "/usr/sbin/sshd";
export const SSH_BIN = process.env.PORTCULLIS_SSH_BIN ?? "ssh";
const STRICT = process.env.PORTCULLIS_STRICT_PEERS === "1";

function executable(path: string): boolean {
	try {
		accessSync(path, fsConstants.X_OK);
		return true;
	} catch {
		return false;
	}
}

function onPath(name: string): boolean {
	return spawnSync("sh", ["-c", `command -v ${name}`], { stdio: "ignore" }).status === 0;
}

/**
 * Reason to skip the sshd tests, or undefined when they must run. Under PORTCULLIS_STRICT_PEERS=1
 * this is always undefined, so a missing sshd (or ssh client) makes the test fail.
 */
export function sshdSkipReason(extra: readonly string[] = []): string | undefined {
	if (STRICT) return undefined;
	if (!executable(SSHD_BIN))
		return `OpenSSH server not installed (${SSHD_BIN} missing; apt-get install openssh-server). Set PORTCULLIS_STRICT_PEERS=1 to fail instead of skipping.`;
	for (const tool of [SSH_BIN, ...extra]) if (!onPath(tool)) return `${tool} not installed. Set PORTCULLIS_STRICT_PEERS=1 to fail instead of skipping.`;
	return undefined;
}

export async function freeTcpPort(): Promise<number> {
	return new Promise((resolvePort, reject) => {
		const server = createServer();
		server.once("error", reject);
		server.listen(0, "127.0.0.1", () => {
			const address = server.address();
			const port = typeof address === "object" && address ? address.port : 0;
			server.close(() => resolvePort(port));
		});
	});
}

export interface SshdOptions {
	/** authorized_keys lines accepted for the login user. */
	authorizedKeys?: readonly string[];
	/** Extra sshd_config lines (e.g. "PasswordAuthentication yes"). */
	extraConfig?: readonly string[];
	logLevel?: "QUIET" | "ERROR" | "INFO" | "VERBOSE" | "DEBUG";
	/**
	 * Run the sshd of another Debian root through chroot (e.g. OpenSSH 10 from the trixie root that
	 * scripts/build-openssh-roots.sh builds): its temp folder is made inside the root.
	 */
	root?: string;
}

export interface Sshd {
	readonly host: string;
	readonly port: number;
	readonly dir: string;
	/** The login user on this target (the current user). */
	readonly user: string;
	/** "ssh-ed25519 AAAA…" of the target's host key. */
	readonly hostKey: string;
	readonly process: ChildProcess;
	/** Everything sshd wrote to stderr (-e). */
	log(): string;
	setAuthorizedKeys(lines: readonly string[]): Promise<void>;
	stop(): Promise<void>;
}

function waitForBanner(port: number, timeoutMs: number): Promise<boolean> {
	const deadline = Date.now() + timeoutMs;
	return new Promise((resolveWait) => {
		const attempt = () => {
			const socket = connect({ host: "127.0.0.1", port });
			let data = "";
			socket.setTimeout(1000);
			socket.on("data", (chunk) => {
				data += chunk.toString("latin1");
				if (data.includes("SSH-2.0-")) {
					socket.destroy();
					resolveWait(true);
				}
			});
			const retry = () => {
				socket.destroy();
				if (Date.now() > deadline) resolveWait(false);
				else setTimeout(attempt, 50);
			};
			socket.on("error", retry);
			socket.on("timeout", retry);
		};
		attempt();
	});
}

export async function startSshd(options: SshdOptions = {}): Promise<Sshd> {
	const root = options.root;
	const sshdBin = root === undefined ? SSHD_BIN : join(root, "usr/sbin/sshd");
	if (!executable(sshdBin)) throw new Error(`OpenSSH server missing: ${sshdBin}`);
	mkdirSync(join(root ?? "/", "run/sshd"), { recursive: true, mode: 0o755 });
	const dir = await mkdtemp(join(root === undefined ? tmpdir() : join(root, "tmp"), "portcullis-sshd-"));
	// Paths as sshd sees them (inside the chroot when there is one).
	const inner = (path: string) => (root === undefined ? path : path.slice(root.replace(/\/$/, "").length));
	const hostKeyFile = join(dir, "ssh_host_ed25519_key");
	const keygen = spawnSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "portcullis-test-target", "-f", hostKeyFile]);
	if (keygen.status !== 0) throw new Error(`ssh-keygen failed: ${keygen.stderr?.toString()}`);
	const hostKey = (await readFile(`${hostKeyFile}.pub`, "utf8")).trim().split(/\s+/).slice(0, 2).join(" ");
	const authorizedKeysFile = join(dir, "authorized_keys");
	await writeFile(authorizedKeysFile, `${(options.authorizedKeys ?? []).join("\n")}\n`, { mode: 0o600 });
	const user = userInfo().username;

	for (let attempt = 0; attempt < 5; attempt++) {
		const port = await freeTcpPort();
		// sshd takes the FIRST value of a keyword: the caller's lines go first so they override ours.
		const config = [
			...(options.extraConfig ?? []),
			"ListenAddress 127.0.0.1",
			`Port ${port}`,
			`HostKey ${inner(hostKeyFile)}`,
			`AuthorizedKeysFile ${inner(authorizedKeysFile)}`,
			`PidFile ${inner(join(dir, "sshd.pid"))}`,
			"StrictModes no",
			"UsePAM no",
			"PermitRootLogin prohibit-password",
			"PasswordAuthentication no",
			"KbdInteractiveAuthentication no",
			"PubkeyAuthentication yes",
			"Subsystem sftp internal-sftp",
			"AcceptEnv LANG LC_*",
			// The login user's shell start-up files run in every session (bash reads ~/.bashrc under sshd).
			// A developer machine's pyenv rehash there takes a lock file that a session killed by a test
			// (kill -9, terminate) leaves behind; every later session then waits PYENV_REHASH_TIMEOUT (60 s)
			// for it. Our targets are not about the user's shell: wait at most 1 s.
			"SetEnv PYENV_REHASH_TIMEOUT=1",
			"PrintMotd no",
			"PrintLastLog no",
			"UseDNS no",
			"MaxStartups 1000:30:2000",
			"MaxSessions 100",
			`LogLevel ${options.logLevel ?? "ERROR"}`,
		].join("\n");
		const configFile = join(dir, "sshd_config");
		await writeFile(configFile, `${config}\n`);
		// Own process group: stop() ends the listener and every per-connection child it forked.
		const command = root === undefined ? [SSHD_BIN] : ["/usr/sbin/chroot", root, "/usr/sbin/sshd"];
		const child = spawn(command[0] as string, [...command.slice(1), "-D", "-e", "-f", inner(configFile)], {
			stdio: ["ignore", "ignore", "pipe"],
			detached: true,
		});
		let log = "";
		child.stderr!.on("data", (chunk: Buffer) => {
			log += chunk.toString("utf8");
			if (log.length > 1_000_000) log = log.slice(-500_000);
		});
		const exited = new Promise<void>((resolveExit) => child.once("exit", () => resolveExit()));
		// If the test process ends without stop() (crash, timeout), take the sshd group with it.
		const onExit = () => {
			try {
				process.kill(-child.pid!, "SIGKILL");
			} catch {
				// already gone
			}
		};
		process.once("exit", onExit);
		child.once("exit", () => process.off("exit", onExit));
		const ready = await Promise.race([waitForBanner(port, 10_000), exited.then(() => false)]);
		if (!ready) {
			try {
				process.kill(-child.pid!, "SIGKILL");
			} catch {
				// already gone
			}
			if (/Address already in use|Cannot bind/i.test(log)) continue;
			await rm(dir, { recursive: true, force: true });
			throw new Error(`sshd did not start: ${log.slice(0, 2000)}`);
		}
		return {
			host: "127.0.0.1",
			port,
			dir,
			user,
			hostKey,
			process: child,
			log: () => log,
			async setAuthorizedKeys(lines) {
				await writeFile(authorizedKeysFile, `${lines.join("\n")}\n`, { mode: 0o600 });
			},
			async stop() {
				const group = (signal: NodeJS.Signals) => {
					try {
						process.kill(-child.pid!, signal);
					} catch {
						// group already gone
					}
				};
				group("SIGTERM");
				await Promise.race([exited, new Promise((resolveWait) => setTimeout(resolveWait, 3000))]);
				group("SIGKILL");
				await rm(dir, { recursive: true, force: true });
			},
		};
	}
	await rm(dir, { recursive: true, force: true });
	throw new Error("sshd: no free port after 5 attempts");
}
