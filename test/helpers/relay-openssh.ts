/**
 * Drives the REAL OpenSSH client (ssh, scp, sftp) for the relay tests.
 *
 * - Non-interactive runs: a private ssh_config (-F, which OpenSSH also passes to the `ssh -W` it
 *   spawns for -J), a fresh ed25519 client key, and SSH_ASKPASS answering password prompts
 *   (SSH_ASKPASS_REQUIRE=force, no controlling terminal: the child runs in its own session).
 * - Interactive runs: a real terminal from tmux (own server socket in the temp folder), so the
 *   client sends a real pty-req and, on `resize`, a real window-change.
 */
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface RunResult {
	code: number | null;
	stdout: Buffer;
	stderr: string;
}

export interface OpenSshClient {
	readonly dir: string;
	readonly configFile: string;
	/** "ssh-ed25519 AAAA…" of the client key (install it on targets for -J tests). */
	readonly publicKey: string;
	/** Runs ssh/scp/sftp with -F config; `password` answers the gateway's password prompt. */
	run(
		program: "ssh" | "scp" | "sftp",
		args: readonly string[],
		options?: { input?: string | Buffer; password?: string; timeoutMs?: number; env?: Record<string, string> },
	): Promise<RunResult>;
	/** Starts a command in a real terminal (tmux). */
	terminal(command: readonly string[], options: { cols: number; rows: number; password?: string; env?: Record<string, string> }): Promise<Terminal>;
	cleanup(): Promise<void>;
}

export interface Terminal {
	/** Types text (literally, e.g. "db1\r" for db1 + Enter). */
	type(text: string): Promise<void>;
	/** Sends tmux key names ("Up", "Down", "Enter", "C-d"). */
	keys(...names: string[]): Promise<void>;
	/** The visible screen. */
	screen(): Promise<string>;
	/** Waits until the screen matches, or throws with the screen in the message. */
	waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
	resize(cols: number, rows: number): Promise<void>;
	/** True once the command in the terminal has exited. */
	exited(): Promise<boolean>;
	close(): Promise<void>;
}

export function tmuxAvailable(): boolean {
	return spawnSync("sh", ["-c", "command -v tmux"], { stdio: "ignore" }).status === 0;
}

function shellQuote(value: string): string {
	return `'${value.replace(/'/g, `'\\''`)}'`;
}

export async function createOpenSshClient(): Promise<OpenSshClient> {
	const dir = await mkdtemp(join(tmpdir(), "portcullis-ssh-client-"));
	const keyFile = join(dir, "id_ed25519");
	const keygen = spawnSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "portcullis-test-client", "-f", keyFile]);
	if (keygen.status !== 0) throw new Error(`ssh-keygen failed: ${keygen.stderr?.toString()}`);
	const publicKey = readFileSync(`${keyFile}.pub`, "utf8").trim().split(/\s+/).slice(0, 2).join(" ");
	const askpass = join(dir, "askpass.sh");
	writeFileSync(
		askpass,
		`#!/bin/sh\ncase "$1" in\n  *assword*) printf '%s\\n' "$PORTCULLIS_TEST_PASSWORD" ;;\n  *) printf '%s\\n' "$PORTCULLIS_TEST_CODE" ;;\nesac\n`,
	);
	chmodSync(askpass, 0o700);
	const configFile = join(dir, "ssh_config");
	writeFileSync(
		configFile,
		[
			"Host *",
			"  StrictHostKeyChecking no",
			"  UserKnownHostsFile /dev/null",
			"  GlobalKnownHostsFile /dev/null",
			"  LogLevel ERROR",
			`  IdentityFile ${keyFile}`,
			"  IdentitiesOnly yes",
			"  IdentityAgent none",
			"  PreferredAuthentications publickey,keyboard-interactive,password",
			"  NumberOfPasswordPrompts 1",
			"  ControlMaster no",
			"  ConnectTimeout 10",
			"  ServerAliveInterval 0",
			"",
		].join("\n"),
	);
	const baseEnv = (password: string | undefined): Record<string, string> => ({
		PATH: process.env.PATH ?? "/usr/bin:/bin",
		HOME: dir,
		SSH_ASKPASS: askpass,
		SSH_ASKPASS_REQUIRE: "force",
		DISPLAY: ":0",
		PORTCULLIS_TEST_PASSWORD: password ?? "",
		LANG: "C.UTF-8",
	});
	const tmuxSocket = join(dir, "tmux.sock");
	const tmuxConfig = join(dir, "tmux.conf");
	// Set before the first session starts: a command that exits at once must still leave its screen.
	writeFileSync(tmuxConfig, "set -g remain-on-exit on\nset -g status off\nset -g history-limit 5000\n");
	const terminals: Terminal[] = [];

	const tmux = (...args: string[]) => {
		const result = spawnSync("tmux", ["-S", tmuxSocket, "-f", tmuxConfig, ...args], { encoding: "utf8" });
		if (result.status !== 0) throw new Error(`tmux ${args[0]} failed: ${result.stderr}`);
		return result.stdout;
	};

	return {
		dir,
		configFile,
		publicKey,
		run(program, args, options = {}) {
			return new Promise((resolveRun, reject) => {
				const child = spawn(program, ["-F", configFile, ...args], {
					env: { ...baseEnv(options.password), ...options.env },
					detached: true,
					stdio: ["pipe", "pipe", "pipe"],
				});
				const stdout: Buffer[] = [];
				let stderr = "";
				child.stdout.on("data", (chunk: Buffer) => stdout.push(chunk));
				child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
				// A kill timer only where the caller asks for one: load must not turn into a failure.
				const timer =
					options.timeoutMs === undefined
						? undefined
						: setTimeout(() => {
								try {
									process.kill(-child.pid!, "SIGKILL");
								} catch {
									// gone
								}
								reject(new Error(`${program} ${args.join(" ")} timed out; stderr: ${stderr}`));
							}, options.timeoutMs);
				child.on("error", reject);
				child.on("close", (code) => {
					clearTimeout(timer);
					resolveRun({ code, stdout: Buffer.concat(stdout), stderr });
				});
				child.stdin.on("error", () => undefined);
				if (options.input !== undefined) child.stdin.end(options.input);
				else child.stdin.end();
			});
		},
		async terminal(command, options) {
			const name = `t${terminals.length}`;
			const env = { ...baseEnv(options.password), TERM: "xterm-256color", ...options.env };
			const line = [...Object.entries(env).map(([key, value]) => `${key}=${shellQuote(value)}`), ...command.map(shellQuote)].join(" ");
			tmux("new-session", "-d", "-s", name, "-x", String(options.cols), "-y", String(options.rows), `exec env -i ${line}`);
			const terminal: Terminal = {
				async type(text) {
					tmux("send-keys", "-t", name, "-l", text);
				},
				async keys(...names) {
					tmux("send-keys", "-t", name, ...names);
				},
				async screen() {
					return tmux("capture-pane", "-p", "-t", name);
				},
				async waitFor(pattern, timeoutMs = 15_000) {
					const deadline = Date.now() + timeoutMs;
					let screen = "";
					while (Date.now() < deadline) {
						screen = tmux("capture-pane", "-p", "-t", name);
						if (pattern.test(screen)) return screen;
						await new Promise((resolveWait) => setTimeout(resolveWait, 50));
					}
					throw new Error(`timed out waiting for ${pattern}; screen:\n${screen}`);
				},
				async resize(cols, rows) {
					tmux("resize-window", "-t", name, "-x", String(cols), "-y", String(rows));
				},
				async exited() {
					return tmux("display-message", "-p", "-t", name, "#{pane_dead}").trim() === "1";
				},
				async close() {
					try {
						tmux("kill-session", "-t", name);
					} catch {
						// already gone
					}
				},
			};
			terminals.push(terminal);
			return terminal;
		},
		async cleanup() {
			for (const terminal of terminals) await terminal.close();
			spawnSync("tmux", ["-S", tmuxSocket, "kill-server"], { stdio: "ignore" });
			await rm(dir, { recursive: true, force: true });
		},
	};
}
