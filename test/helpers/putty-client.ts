/**
 * Drives PuTTY's command-line tools (Debian `putty-tools`: plink, psftp, pscp) non-interactively.
 *
 * - The gateway's host key is given with `-hostkey SHA256:…`, so nothing is stored or asked; HOME
 *   is a temp folder (PuTTY keeps ~/.putty there).
 * - `-pw` answers the password only once: PuTTY 0.78 gives up ("Configured password was not
 *   accepted") when keyboard-interactive asks for more, and `-batch` refuses every prompt
 *   ("Cannot answer interactive prompts in batch mode"). So a user with a second factor is driven
 *   through the console prompts: without a terminal PuTTY reads its answers from stdin, one read()
 *   per prompt (it drops whatever else that read returned), so each answer is written only when its
 *   prompt has appeared on stderr. Nothing here depends on timing.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface PuttyResult {
	code: number | null;
	stdout: string;
	stderr: string;
}

export interface PuttyAnswer {
	readonly prompt: RegExp;
	readonly answer: string;
}

export interface PuttyClient {
	readonly dir: string;
	/** Runs plink/psftp/pscp with `-P port -hostkey fp` prepended; `answers` are given in order, each after its prompt. */
	run(program: "plink" | "psftp" | "pscp", args: readonly string[], options?: { answers?: readonly PuttyAnswer[] }): Promise<PuttyResult>;
	cleanup(): Promise<void>;
}

export function puttyAvailable(): boolean {
	return spawnSync("sh", ["-c", "command -v psftp && command -v pscp && command -v plink"], { stdio: "ignore" }).status === 0;
}

export async function createPuttyClient(port: number, hostKeyFingerprint: string): Promise<PuttyClient> {
	const dir = await mkdtemp(join(tmpdir(), "portcullis-putty-"));
	return {
		dir,
		run(program, args, options = {}) {
			return new Promise((resolveRun, reject) => {
				// detached: a session of its own, no controlling terminal, so PuTTY reads prompts from stdin.
				const child = spawn(program, ["-P", String(port), "-hostkey", hostKeyFingerprint, ...args], {
					env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, LANG: "C.UTF-8" },
					detached: true,
					stdio: ["pipe", "pipe", "pipe"],
				});
				const pending = [...(options.answers ?? [])];
				let stdout = "";
				let stderr = "";
				let seen = 0;
				const answerPrompts = () => {
					const next = pending[0];
					if (next === undefined) return;
					const rest = stderr.slice(seen);
					const match = next.prompt.exec(rest);
					if (match === null) return;
					seen += match.index + match[0].length;
					pending.shift();
					child.stdin.write(`${next.answer}\n`);
					if (pending.length === 0) child.stdin.end();
					answerPrompts();
				};
				child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString("utf8")));
				child.stderr.on("data", (chunk: Buffer) => {
					stderr += chunk.toString("utf8");
					answerPrompts();
				});
				child.stdin.on("error", () => undefined);
				if (pending.length === 0) child.stdin.end();
				child.on("error", reject);
				child.on("close", (code) => resolveRun({ code, stdout, stderr }));
			});
		},
		cleanup: () => rm(dir, { recursive: true, force: true }),
	};
}
