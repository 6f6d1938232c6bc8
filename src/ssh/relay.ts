/**
 * Byte relay between the user's session channel (downstream, served by the gateway) and a
 * session channel on the target (upstream, an ssh2 Client channel). Raw bytes only: PTY output,
 * exec stdio and subsystems are passed through unchanged. An inspector (the SFTP audit, sftp-audit.ts) may read
 * both directions as they pass; when it refuses a chunk, that chunk is not forwarded and both sides are closed.
 *
 * Flow control follows the SSH window (RFC 4254 §5.2): a full writable side pauses the other
 * side until 'drain', so a slow client slows the target instead of growing the gateway's memory.
 */
import type ssh2 from "ssh2";
import type { RelayBytes } from "../core/metrics.ts";

export interface RelayEnd {
	/** Exit status from the target (RFC 4254 §6.10 "exit-status"), if it sent one. */
	readonly code: number | null;
	/** Signal name from "exit-signal", if the target process was killed. */
	readonly signal: string | null;
}

export interface Relay {
	/** Window change from the client (RFC 4254 §6.7), passed to the target's PTY. */
	resize(cols: number, rows: number, width: number, height: number): void;
	signal(name: string): void;
	/** Ends the upstream channel: SIGTERM, then close (the gateway side is left to the caller). */
	close(): void;
	readonly done: Promise<RelayEnd>;
}

/**
 * What the target said about its end, watched from the moment its channel opened.
 *
 * ssh2 emits "exit" (RFC 4254 §6.10 "exit-status" / "exit-signal") once, as the request arrives,
 * to whoever listens at that moment; it does not replay it. Between the channel's opening and the
 * relay's start the gateway awaits database writes (the recording's server marker, the
 * `ssh.session-start` audit event), and a short command (`ssh gw db1 -- echo x`) can send its
 * output, exit-status, eof and close within that gap: its output waits in the channel's buffer,
 * but an "exit" nobody listened to is gone, and the user got 255 instead of 0 (docs/benchmarks.md,
 * soak run S1). So the status is caught by a listener installed synchronously in the channel's
 * open callback, before any later packet can be parsed, and the relay reads it from here.
 */
export interface ExitWatch {
	readonly code: number | null;
	readonly signal: string | null;
}

/** Call in the exec/shell callback itself (no await in between): see ExitWatch. */
export function watchExit(up: ssh2.ClientChannel): ExitWatch {
	const watch = { code: null as number | null, signal: null as string | null };
	up.on("exit", (exitCode: number | null, exitSignal?: string) => {
		if (typeof exitCode === "number") watch.code = exitCode;
		if (typeof exitSignal === "string") watch.signal = exitSignal;
	});
	return watch;
}

export interface RelayOptions {
	/** The target's exit, watched since its channel opened (watchExit). */
	exit: ExitWatch;
	/** Copy of what the user sees (recording). */
	onOutput?: (data: Buffer) => void;
	/** Exec mode: pass the exit status on and end the downstream channel when the target ends. */
	endDownstream: boolean;
	/** This connection's counts, in memory (live sessions: flushed to the database in batches by live-registry.ts). */
	sessionBytes?: { in: number; out: number };
	/** Bytes the user typed ahead (after choosing the server in the menu): sent first. */
	initialInput?: Buffer;
	/** Byte counts to add to (the metrics' relay bytes: plain additions, read when scraped). */
	bytes?: RelayBytes;
	/** Reads each chunk before it is forwarded; false ends the relay (fail closed) without forwarding it. */
	inspect?: {
		fromClient(chunk: Buffer): boolean;
		fromTarget(chunk: Buffer): boolean;
		/** Backpressure of the inspector itself (SFTP content capture writing to the database): both directions pause until it settles. */
		wait?(): Promise<void> | null;
	};
}

export function relay(down: ssh2.ServerChannel, up: ssh2.ClientChannel, options: RelayOptions): Relay {
	const { exit } = options;
	let finished = false;
	const onOutput = options.onOutput;
	const bytes: RelayBytes = options.bytes ?? { toTarget: 0, toClient: 0 };
	const sessionBytes = options.sessionBytes ?? { in: 0, out: 0 };

	let downPaused = false;
	/** The inspector asked to wait (its own writes are behind): neither direction is read until it settles. */
	let inspectWaiting = false;
	const resumeDown = () => {
		downPaused = false;
		if (!inspectWaiting) down.resume();
	};
	const inspect = options.inspect;
	const holdForInspect = () => {
		if (inspectWaiting || inspect?.wait === undefined) return;
		const wait = inspect.wait();
		if (wait === null) return;
		inspectWaiting = true;
		down.pause();
		up.pause();
		void wait.then(() => {
			inspectWaiting = false;
			if (finished) return;
			if (!downPaused) down.resume();
			if (!upPaused) up.resume();
			holdForInspect();
		});
	};
	let refused = false;
	const refuse = () => {
		refused = true;
		abort();
		try {
			down.close();
		} catch {
			// The client already closed the channel.
		}
	};
	const onDownData = (chunk: Buffer) => {
		if (refused) return;
		if (inspect && !inspect.fromClient(chunk)) return refuse();
		bytes.toTarget += chunk.length;
		sessionBytes.in += chunk.length;
		if (!up.write(chunk) && !downPaused) {
			downPaused = true;
			down.pause();
			up.once("drain", resumeDown);
		}
		holdForInspect();
	};
	const onDownEnd = () => up.end();

	let upPaused = false;
	const resumeUp = () => {
		upPaused = false;
		if (!inspectWaiting) up.resume();
		up.stderr.resume();
	};
	const pauseUpUntilDrain = () => {
		if (upPaused) return;
		upPaused = true;
		up.pause();
		up.stderr.pause();
		down.once("drain", resumeUp);
	};
	const onUpData = (chunk: Buffer) => {
		if (refused) return;
		if (inspect && !inspect.fromTarget(chunk)) return refuse();
		bytes.toClient += chunk.length;
		sessionBytes.out += chunk.length;
		onOutput?.(chunk);
		if (!down.write(chunk)) pauseUpUntilDrain();
		holdForInspect();
	};
	const onUpStderr = (chunk: Buffer) => {
		bytes.toClient += chunk.length;
		sessionBytes.out += chunk.length;
		onOutput?.(chunk);
		if (!down.stderr.write(chunk)) pauseUpUntilDrain();
	};
	if (options.initialInput && options.initialInput.length > 0) {
		bytes.toTarget += options.initialInput.length;
		sessionBytes.in += options.initialInput.length;
		up.write(options.initialInput);
	}
	down.on("data", onDownData);
	down.once("end", onDownEnd);
	up.on("data", onUpData);
	up.stderr.on("data", onUpStderr);

	/**
	 * Closing the upstream channel makes the target's sshd hang up a PTY session (SIGHUP). A command
	 * without a PTY would outlive a plain close (docs/dependencies.md, Relay behaviour), so it is sent SIGTERM first
	 * (RFC 4254 §6.9; honoured by OpenSSH ≥ 8.1 for non-root logins).
	 */
	let aborted = false;
	const abort = () => {
		if (finished || aborted) return;
		aborted = true;
		try {
			up.signal("TERM");
		} catch {
			// upstream already closing
		}
		up.close();
	};

	const done = new Promise<RelayEnd>((resolveDone) => {
		const finish = () => {
			if (finished) return;
			finished = true;
			down.off("data", onDownData);
			down.off("end", onDownEnd);
			down.off("drain", resumeUp);
			up.off("drain", resumeDown);
			if (downPaused) resumeDown();
			const { code, signal } = exit;
			if (options.endDownstream) {
				try {
					if (signal !== null) down.exit(signal.replace(/^SIG/, ""), false, "");
					else down.exit(code ?? 255);
				} catch {
					// The client already closed the channel.
				}
				down.end();
			}
			resolveDone({ code, signal });
		};
		up.once("close", finish);
		// If the user's side goes away (client gone, or the connection ended by live policy), the
		// target side has nobody to talk to.
		down.once("close", () => {
			abort();
			finish();
		});
	});
	down.resume();

	return {
		resize(cols, rows, width, height) {
			if (!finished) up.setWindow(rows, cols, height, width);
		},
		signal(name) {
			if (!finished) up.signal(name);
		},
		close: abort,
		done,
	};
}
