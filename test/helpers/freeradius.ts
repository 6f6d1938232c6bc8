/**
 * Starts a REAL FreeRADIUS 3.x (Debian package `freeradius`) on 127.0.0.1 for tests.
 *
 * Recipe (docs/dependencies.md, RADIUS): copy /etc/freeradius/3.0 into a mkdtemp folder, drop the modules that fail
 * without certificates or helpers (eap, mschap, ntlm_auth, digest, chap), replace sites-enabled
 * with one auth site on our port, switch proxying off, write clients.conf for 127.0.0.1 with a
 * random secret and `require_message_authenticator = yes`, write the users file, then run
 * `freeradius -X -f -d <dir>` and wait for "Ready to process requests".
 *
 * Debian's 3.2.1 has no BlastRADIUS fix and does not sign replies by itself, so the site adds
 * `update reply { &Message-Authenticator := 0x00 }` in post-auth, in Post-Auth-Type REJECT and in
 * the challenge branch (FreeRADIUS then computes the real value).
 *
 * /etc/freeradius is mode 2750 freerad:freerad, so a non-root CI user cannot copy it. With
 * `base: "auto"` (default) the helper then writes a minimal radiusd.conf instead (same site, same
 * users, only the pap and files modules); `base: "minimal"` forces that path.
 *
 * Missing binary: tests skip with a message, except with PORTCULLIS_STRICT_PEERS=1 where
 * startFreeRadius throws so the test FAILS (docs/briefs/README.md).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import dgram from "node:dgram";
import { accessSync, constants as fsConstants, existsSync } from "node:fs";
import { cp, mkdir, mkdtemp, open, readFile, readdir, rm, unlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const FREERADIUS_BIN = process.env.PORTCULLIS_FREERADIUS_BIN ?? "/usr/sbin/freeradius";
export const FREERADIUS_SYSTEM_CONFIG = process.env.PORTCULLIS_FREERADIUS_CONF ?? "/etc/freeradius/3.0";
const STRICT = process.env.PORTCULLIS_STRICT_PEERS === "1";

/** Users configured in every instance. */
export const FREERADIUS_USERS = {
	/** Plain PAP user; the Accept carries a Reply-Message. */
	alice: { username: "alice", password: "password", replyMessage: "Welcome, alice" },
	/** Two-step user: password → Access-Challenge("Enter your token code", State) → token → Accept. */
	carol: { username: "carol", password: "carol-password", token: "424242", prompt: "Enter your token code" },
	/** Accepted with Service-Type = Framed-User (2), which the client must not honour (RFC 2865 §5.6). */
	dave: { username: "dave", password: "password" },
	/**
	 * One-time codes, like a token server: users "otto", "otto1", "otto2", … accept any 6 digits
	 * starting with 7, each code ONCE per user and instance (rlm_cache remembers used codes), so a
	 * replayed code is rejected.
	 */
	otto: { username: "otto", usernamePattern: /^otto[0-9]*$/, codePattern: /^7[0-9]{5}$/ },
} as const;

/** rlm_cache instance remembering otto's used codes (FREERADIUS_USERS.otto). */
const OTP_CACHE_MODULE = `cache portcullis_otp_used {
	driver = "rlm_cache_rbtree"
	key = "%{User-Name}:%{User-Password}"
	ttl = 86400
	add_stats = no
	update {
		&control:Tmp-String-9 := "used"
	}
}
`;

/**
 * Reason to skip FreeRADIUS tests, or undefined when they must run. Under
 * PORTCULLIS_STRICT_PEERS=1 this is always undefined, so a missing binary makes the test fail.
 * Use as `test("…", { skip: freeRadiusSkipReason() }, async () => …)`.
 */
export function freeRadiusSkipReason(): string | undefined {
	if (STRICT) return undefined;
	try {
		accessSync(FREERADIUS_BIN, fsConstants.X_OK);
		return undefined;
	} catch {
		return `FreeRADIUS not installed (${FREERADIUS_BIN} missing; apt-get install freeradius). Set PORTCULLIS_STRICT_PEERS=1 to fail instead of skipping.`;
	}
}

// ---------------------------------------------------------------------------------------------
// Free UDP port reservation
// ---------------------------------------------------------------------------------------------

/**
 * Cross-process registry so parallel test files (node --test runs one process per file) never
 * hand the same port to two servers in the window between "probe socket closed" and "server
 * bound": a port is ours only once we created `<dir>/<host>-<port>` with O_EXCL. Locks of dead
 * processes are reclaimed. The folder is per user (a shared one would need to be world-writable);
 * clashes with other users' processes are caught by the bind retry instead.
 */
const PORT_LOCK_DIR = join(tmpdir(), `portcullis-udp-port-locks-${process.getuid?.() ?? "user"}`);

export interface UdpPortReservation {
	readonly host: string;
	readonly port: number;
	release(): Promise<void>;
}

function processAlive(pid: number): boolean {
	try {
		process.kill(pid, 0);
		return true;
	} catch (error) {
		return (error as NodeJS.ErrnoException).code === "EPERM";
	}
}

async function probeFreeUdpPort(host: string): Promise<number> {
	const socket = dgram.createSocket(host.includes(":") ? "udp6" : "udp4");
	await new Promise<void>((resolve, reject) => {
		socket.once("error", reject);
		socket.bind(0, host, () => resolve());
	});
	const port = socket.address().port;
	await new Promise<void>((resolve) => socket.close(() => resolve()));
	return port;
}

async function tryLock(path: string): Promise<boolean> {
	try {
		const handle = await open(path, "wx");
		await handle.writeFile(String(process.pid));
		await handle.close();
		return true;
	} catch (error) {
		if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
	}
	// Reclaim the lock of a test process that died without releasing it.
	const owner = Number((await readFile(path, "utf8").catch(() => "")).trim());
	if (Number.isInteger(owner) && owner > 0 && processAlive(owner)) return false;
	await unlink(path).catch(() => undefined);
	return false;
}

/**
 * Finds a UDP port that is free now (bind to port 0, read it, close) and reserves it against
 * other test processes using this helper. The caller binds it (or hands it to a child) and
 * retries with a new reservation if the bind still clashes with some unrelated process.
 */
export async function reserveUdpPort(host = "127.0.0.1"): Promise<UdpPortReservation> {
	await mkdir(PORT_LOCK_DIR, { recursive: true });
	for (let attempt = 0; attempt < 50; attempt++) {
		const port = await probeFreeUdpPort(host);
		const lock = join(PORT_LOCK_DIR, `${host.replace(/[^0-9a-zA-Z.]/g, "_")}-${port}`);
		if (await tryLock(lock)) {
			let released = false;
			return {
				host,
				port,
				release: async () => {
					if (released) return;
					released = true;
					await unlink(lock).catch(() => undefined);
				},
			};
		}
	}
	throw new Error("reserveUdpPort: could not reserve a free UDP port after 50 attempts");
}

// ---------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------

export interface StartFreeRadiusOptions {
	/** "auto" (default): copy /etc/freeradius/3.0 if readable, else minimal. */
	readonly base?: "auto" | "system-copy" | "minimal";
	/** Shared secret for 127.0.0.1; default 24 random hex characters. */
	readonly secret?: string;
	/** Add Message-Authenticator to every reply (default true). false = a legacy, unsigned 3.2.1. */
	readonly signReplies?: boolean;
	/** How long to wait for "Ready to process requests" (default 20 s). */
	readonly readyTimeoutMs?: number;
}

export interface FreeRadiusServer {
	readonly host: "127.0.0.1";
	readonly port: number;
	readonly secret: string;
	/** The State carol's challenge carries (random per instance). */
	readonly carolState: Buffer;
	/** The temporary raddb folder. */
	readonly dir: string;
	readonly base: "system-copy" | "minimal";
	/** Everything FreeRADIUS printed so far (debug output of -X). */
	log(): string;
	/** Stops the server, removes the folder and releases the port. Idempotent. */
	stop(): Promise<void>;
}

function siteConfig(port: number, carolState: Buffer, signReplies: boolean): string {
	const sign = signReplies ? "update reply {\n\t\t\t&Message-Authenticator := 0x00\n\t\t}" : "# replies left unsigned (legacy server)";
	const { carol } = FREERADIUS_USERS;
	return `# Portcullis test site (test/helpers/freeradius.ts)
server portcullis {
	listen {
		type = auth
		ipaddr = 127.0.0.1
		port = ${port}
	}
	authorize {
		# otto, otto1, otto2, ...: one-time codes (7xxxxx), each accepted once; the cache remembers used ones.
		if (&User-Name =~ /^otto[0-9]*$/) {
			update control {
				&Cache-Status-Only := yes
			}
			portcullis_otp_used
			if (ok) {
				reject
			}
			if (&User-Password =~ /^7[0-9]{5}$/) {
				update control {
					&Cache-Status-Only !* ANY
				}
				portcullis_otp_used
				update control {
					&Auth-Type := Accept
				}
				return
			}
			else {
				reject
			}
		}
		files
		# carol: a two-step login, as an OTP server such as privacyIDEA does it: first the
		# password (answered with Access-Challenge + State), then the token code with the State.
		if (&User-Name == "${carol.username}") {
			if (&State) {
				if ((&State == 0x${carolState.toString("hex")}) && (&User-Password == "${carol.token}")) {
					update control {
						&Auth-Type := Accept
					}
				}
				else {
					reject
				}
			}
			elsif (&User-Password == &control:Cleartext-Password) {
				update reply {
					&Reply-Message := "${carol.prompt}"
					&State := 0x${carolState.toString("hex")}
				}
				${sign}
				update control {
					&Response-Packet-Type := Access-Challenge
				}
				handled
			}
			else {
				reject
			}
		}
		else {
			pap
		}
	}
	authenticate {
		Auth-Type PAP {
			pap
		}
	}
	post-auth {
		${sign}
		Post-Auth-Type REJECT {
			${sign}
		}
	}
}
`;
}

function usersFile(): string {
	const { alice, carol, dave } = FREERADIUS_USERS;
	return `${alice.username}\tCleartext-Password := "${alice.password}"
\tReply-Message := "${alice.replyMessage}"

${carol.username}\tCleartext-Password := "${carol.password}"

${dave.username}\tCleartext-Password := "${dave.password}"
\tService-Type := Framed-User
`;
}

function clientsConf(secret: string): string {
	return `client portcullis-test {
	ipaddr = 127.0.0.1
	secret = "${secret}"
	# Drop any Access-Request without a valid Message-Authenticator (BlastRADIUS).
	require_message_authenticator = yes
	nas_type = other
}
`;
}

function minimalRadiusdConf(dir: string): string {
	return `# Minimal FreeRADIUS 3 configuration for tests (used when /etc/freeradius is unreadable).
prefix = /usr
confdir = ${dir}
raddbdir = ${dir}
logdir = ${dir}/log
run_dir = ${dir}/run
libdir = /usr/lib/freeradius
pidfile = \${run_dir}/freeradius.pid
name = freeradius
max_request_time = 30
cleanup_delay = 5
max_requests = 1024
hostname_lookups = no
log {
	destination = stdout
	auth = no
}
security {
	allow_core_dumps = no
	max_attributes = 200
	reject_delay = 0
	status_server = no
}
proxy_requests = no
thread pool {
	start_servers = 1
	max_servers = 4
	min_spare_servers = 1
	max_spare_servers = 2
	max_requests_per_server = 0
}
$INCLUDE clients.conf
modules {
	# "reject" and "handled" in unlang are rlm_always instances (as in mods-available/always).
	always reject {
		rcode = reject
	}
	always handled {
		rcode = handled
	}
	pap {
	}
	files {
		filename = ${dir}/mods-config/files/authorize
	}
	${OTP_CACHE_MODULE}
}
$INCLUDE sites-enabled/
`;
}

/** Whether base "auto" will copy the system configuration (false for a non-root CI user). */
export function freeRadiusSystemConfigReadable(): boolean {
	return systemConfigReadable();
}

function systemConfigReadable(): boolean {
	try {
		accessSync(join(FREERADIUS_SYSTEM_CONFIG, "radiusd.conf"), fsConstants.R_OK);
		accessSync(join(FREERADIUS_SYSTEM_CONFIG, "mods-enabled"), fsConstants.R_OK | fsConstants.X_OK);
		return true;
	} catch {
		return false;
	}
}

async function writeSystemCopy(dir: string): Promise<void> {
	// verbatimSymlinks keeps mods-enabled/* -> ../mods-available/* relative to the copy.
	await cp(FREERADIUS_SYSTEM_CONFIG, dir, { recursive: true, verbatimSymlinks: true });
	for (const module of ["eap", "mschap", "ntlm_auth", "digest", "chap"]) {
		await rm(join(dir, "mods-enabled", module), { force: true });
	}
	for (const entry of await readdir(join(dir, "sites-enabled"))) {
		await rm(join(dir, "sites-enabled", entry), { force: true, recursive: true });
	}
	let conf = await readFile(join(dir, "radiusd.conf"), "utf8");
	conf = conf
		.replace(/^proxy_requests\s*=.*$/m, "proxy_requests = no")
		// Otherwise it opens a proxy socket on "*" (docs/dependencies.md, RADIUS).
		.replace(/^\$INCLUDE proxy\.conf/m, "#$INCLUDE proxy.conf")
		.replace(/^raddbdir\s*=.*$/m, `raddbdir = ${dir}`)
		.replace(/^logdir\s*=.*$/m, `logdir = ${join(dir, "log")}`)
		.replace(/^run_dir\s*=.*$/m, `run_dir = ${join(dir, "run")}`)
		// Default 1 s; tests with short timeouts want the Reject at once.
		.replace(/^(\s*)reject_delay\s*=.*$/m, "$1reject_delay = 0")
		// As root it would switch to freerad, which cannot read our 0700 mkdtemp folder.
		.replace(/^(\s*)(user|group)\s*=\s*freerad\s*$/gm, "$1#$2 = freerad");
	await writeFile(join(dir, "radiusd.conf"), conf);
}

// ---------------------------------------------------------------------------------------------
// Process
// ---------------------------------------------------------------------------------------------

const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function installExitHook(): void {
	if (exitHookInstalled) return;
	exitHookInstalled = true;
	// A crashed test file must not leave FreeRADIUS running.
	process.once("exit", () => {
		for (const child of live) child.kill("SIGKILL");
	});
}

class StartFailure extends Error {
	constructor(
		message: string,
		readonly portClash: boolean,
	) {
		super(message);
	}
}

function tail(text: string, lines = 40): string {
	return text.split("\n").slice(-lines).join("\n");
}

async function launch(dir: string, readyTimeoutMs: number): Promise<{ child: ChildProcess; output: () => string }> {
	const child = spawn(FREERADIUS_BIN, ["-X", "-f", "-d", dir], { stdio: ["ignore", "pipe", "pipe"] });
	live.add(child);
	installExitHook();
	let output = "";
	return await new Promise((resolve, reject) => {
		let settled = false;
		const finish = (error: StartFailure | null): void => {
			if (settled) return;
			settled = true;
			clearTimeout(timer);
			if (error === null) {
				resolve({ child, output: () => output });
			} else {
				child.kill("SIGKILL");
				live.delete(child);
				reject(error);
			}
		};
		const onData = (chunk: Buffer): void => {
			output += chunk.toString("utf8");
			if (output.includes("Ready to process requests")) finish(null);
		};
		child.stdout?.on("data", onData);
		child.stderr?.on("data", onData);
		child.once("error", (error) => finish(new StartFailure(`cannot run ${FREERADIUS_BIN}: ${error.message}`, false)));
		child.once("exit", (code, signal) => {
			live.delete(child);
			finish(new StartFailure(`FreeRADIUS exited before ready (code ${code}, signal ${signal}):\n${tail(output)}`, /Address already in use/.test(output)));
		});
		const timer = setTimeout(() => finish(new StartFailure(`FreeRADIUS not ready after ${readyTimeoutMs} ms:\n${tail(output)}`, false)), readyTimeoutMs);
	});
}

async function stopChild(child: ChildProcess): Promise<void> {
	if (child.exitCode !== null || child.signalCode !== null) return;
	await new Promise<void>((resolve) => {
		const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
		child.once("exit", () => {
			clearTimeout(timer);
			resolve();
		});
		child.kill("SIGTERM");
	});
	live.delete(child);
}

/**
 * Starts FreeRADIUS with users alice, carol, dave and otto (FREERADIUS_USERS). Retries with a new port
 * when the chosen one was taken in the meantime. Call `stop()` in an `after` hook.
 */
export async function startFreeRadius(options: StartFreeRadiusOptions = {}): Promise<FreeRadiusServer> {
	if (!existsSync(FREERADIUS_BIN)) {
		throw new Error(
			`FreeRADIUS binary ${FREERADIUS_BIN} is missing (apt-get install freeradius)${STRICT ? "; PORTCULLIS_STRICT_PEERS=1 makes this a failure" : ""}`,
		);
	}
	const requested = options.base ?? "auto";
	const base: "system-copy" | "minimal" = requested === "auto" ? (systemConfigReadable() ? "system-copy" : "minimal") : requested;
	if (base === "system-copy" && !systemConfigReadable()) {
		throw new Error(`${FREERADIUS_SYSTEM_CONFIG} is not readable by this user (it is mode 2750 freerad); use base "minimal"`);
	}
	const secret = options.secret ?? randomBytes(12).toString("hex");
	const carolState = randomBytes(8);
	const signReplies = options.signReplies ?? true;
	const readyTimeoutMs = options.readyTimeoutMs ?? 20_000;

	let lastError: unknown = null;
	for (let attempt = 0; attempt < 5; attempt++) {
		const reservation = await reserveUdpPort("127.0.0.1");
		const dir = await mkdtemp(join(tmpdir(), "portcullis-freeradius-"));
		try {
			if (base === "system-copy") {
				await writeSystemCopy(dir);
				await writeFile(join(dir, "mods-enabled", "portcullis_otp_used"), OTP_CACHE_MODULE);
			} else await writeFile(join(dir, "radiusd.conf"), minimalRadiusdConf(dir));
			await mkdir(join(dir, "log"), { recursive: true });
			await mkdir(join(dir, "run"), { recursive: true });
			await mkdir(join(dir, "sites-enabled"), { recursive: true });
			await mkdir(join(dir, "mods-config", "files"), { recursive: true });
			await writeFile(join(dir, "sites-enabled", "portcullis"), siteConfig(reservation.port, carolState, signReplies));
			await writeFile(join(dir, "clients.conf"), clientsConf(secret));
			await writeFile(join(dir, "mods-config", "files", "authorize"), usersFile());

			const { child, output } = await launch(dir, readyTimeoutMs);
			let stopped: Promise<void> | null = null;
			return {
				host: "127.0.0.1",
				port: reservation.port,
				secret,
				carolState,
				dir,
				base,
				log: output,
				stop: () => {
					stopped ??= (async () => {
						await stopChild(child);
						await rm(dir, { recursive: true, force: true });
						await reservation.release();
					})();
					return stopped;
				},
			};
		} catch (error) {
			await rm(dir, { recursive: true, force: true });
			await reservation.release();
			lastError = error;
			if (error instanceof StartFailure && error.portClash) continue;
			throw error;
		}
	}
	throw new Error(`FreeRADIUS: every port attempt clashed; last error: ${String(lastError)}`);
}
