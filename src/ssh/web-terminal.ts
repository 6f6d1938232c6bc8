/**
 * The SSH side of the console's web terminal (flows/web-terminal.ts declares the port; the
 * composition root wires this implementation, so the web adapter never imports src/ssh/).
 *
 * A web terminal is one relay to one target, built from the same parts as an SSH session:
 * connectTarget (target.ts: the gateway's credential, TOFU host keys, ssh.kex), relay.ts (the byte
 * relay with SSH-window flow control), SessionRecorder (recording.ts: asciicast v2 chunks in the
 * shared database, strict / best-effort mode) and the live-session registry (live-registry.ts:
 * listed as a "web-terminal" channel, ended by an administrator's terminate). The browser side is
 * a stream (WebDownstream) standing in for the SSH session channel the relay normally writes to.
 */
import { hostname } from "node:os";
import { Duplex, Writable } from "node:stream";
import type ssh2 from "ssh2";
import { errorFields } from "../core/logger.ts";
import { isMethodId } from "../core/method-id.ts";
import type { OpenTerminal, TerminalConnector, TerminalSink, TerminalSize, TerminalOpenResult, WebTerminalProof } from "../flows/web-terminal.ts";
import type { ServerRow } from "../storage/server-store.ts";
import type { AuthenticatedSsh } from "./authenticated-ssh.ts";
import { LiveRegistry, TERMINATED_MESSAGE } from "./live-registry.ts";
import { SessionRecorder } from "./recording.ts";
import { relay, watchExit, type ExitWatch } from "./relay.ts";
import type { SshServices } from "./ssh-services.ts";
import { connectTarget } from "./target.ts";
import { terminalCells } from "./terminal-geometry.ts";

/** The terminal type xterm.js emulates. */
const WEB_TERM = "xterm-256color";
/** Output waiting for the browser beyond this pauses the target (relay.ts flow control), as a slow SSH client does. */
const BROWSER_HIGH_WATER = 256 * 1024;

/**
 * The browser end of the relay, shaped like the ssh2 session channel relay.ts writes to: output is
 * handed to the sink (the WebSocket) and completes when the socket took it (backpressure), input
 * is pushed in by the web adapter, destroy() is the channel's close.
 */
class WebDownstream extends Duplex {
	readonly stderr: Writable;

	constructor(private readonly sink: TerminalSink) {
		super({ writableHighWaterMark: BROWSER_HIGH_WATER, allowHalfOpen: true });
		this.stderr = new Writable({ write: (chunk: Buffer, _encoding, done) => sink.output(chunk, () => done()) });
	}

	override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
		this.sink.output(chunk, () => done());
	}

	override _read(): void {
		// Input is pushed by the web adapter as it arrives.
	}

	/** The exit-status of an SSH channel: nothing to send to a browser (the sink's ended() says it). */
	exit(): void {}

	close(): void {
		this.destroy();
	}
}

export interface WebTerminalConnector extends TerminalConnector {
	/** Leaves the live-session registry (app close). */
	stop(): Promise<void>;
}

export function createWebTerminalConnector(services: SshServices): WebTerminalConnector {
	let registry: Promise<LiveRegistry> | null = null;
	// This process's web terminals are one more "node" of the live-session registry, started at the first terminal.
	const liveRegistry = (): Promise<LiveRegistry> => {
		registry ??= (async () => {
			const name = services.config.ssh.node_name !== "" ? services.config.ssh.node_name : hostname();
			const created = new LiveRegistry(services, { pollMs: services.config.ssh.policy_poll_ms, nodeName: `${name} (web)` });
			await created.start();
			return created;
		})();
		registry.catch(() => {
			registry = null;
		});
		return registry;
	};

	return {
		open: (proof, server, size, sink) => openWebTerminal(services, liveRegistry, proof, server, size, sink),
		async stop() {
			const started = registry;
			registry = null;
			if (started !== null) await (await started.catch(() => null))?.stop();
		},
	};
}

async function openWebTerminal(
	services: SshServices,
	liveRegistry: () => Promise<LiveRegistry>,
	proof: WebTerminalProof,
	server: ServerRow,
	size: TerminalSize,
	sink: TerminalSink,
): Promise<TerminalOpenResult> {
	const auditBase = { userId: proof.userId, username: proof.username, channel: "web", source: proof.sourceAddress };
	const cols = terminalCells(size.cols, 80);
	const rows = terminalCells(size.rows, 24);
	const mode = await services.servers.recordingModeFor(server);

	let recorder: SessionRecorder | null = null;
	try {
		recorder = await SessionRecorder.start(services, { userId: proof.userId, username: proof.username, cols, rows, term: WEB_TERM });
	} catch (error) {
		await recordingFailed(services, proof, error, mode, "start", null, server);
		if (mode === "strict") return { ok: false, message: "This session cannot be recorded right now, so it was refused. Try again later." };
	}

	const connected = await connectTarget(services, server, {
		username: proof.username,
		userId: proof.userId,
		connectionId: proof.connectionId,
		sourceAddress: proof.sourceAddress,
	});
	if (!connected.ok) {
		await services.audit.record({
			...auditBase,
			event: "ssh.target-failed",
			outcome: "failure",
			detail: { server: server.name, reason: connected.message.slice(0, 200), connection: proof.connectionId },
		});
		await recorder?.finish();
		return { ok: false, message: connected.message };
	}
	const client = connected.client;
	const pty: ssh2.PseudoTtyOptions = { term: WEB_TERM, cols, rows, width: 0, height: 0 };
	// The exit is watched from the shell callback on: ssh2 emits it once, and the awaits below would miss it (relay.ts, watchExit).
	let exit: ExitWatch | null = null;
	const upstream = await new Promise<ssh2.ClientChannel | Error>((resolveShell) =>
		client.shell(pty, {}, (error, channel) => {
			if (!error) exit = watchExit(channel);
			resolveShell(error ?? channel);
		}),
	);
	if (upstream instanceof Error) {
		client.end();
		await recorder?.finish();
		return { ok: false, message: `${server.name} refused the session: ${upstream.message.slice(0, 200)}` };
	}

	const down = new WebDownstream(sink);
	let endMessage: string | null = null;
	const closeListeners: (() => void)[] = [];
	let closed = false;
	const close = (message: string | null) => {
		if (closed) return;
		closed = true;
		endMessage = message;
		down.destroy();
	};
	// The web terminal as a connection of the live-session registry (an administrator's terminate ends it).
	const session: AuthenticatedSsh = {
		connectionId: proof.connectionId,
		userId: proof.userId,
		username: proof.username,
		sourceAddress: proof.sourceAddress,
		secondFactorMethod: proof.secondFactorMethod !== null && isMethodId(proof.secondFactorMethod) ? proof.secondFactorMethod : null,
		secondFactorRemembered: false,
		publicKeyFingerprint: null,
		sessionEpoch: proof.sessionEpoch,
		authenticatedAt: services.clock.now().getTime(),
		onClose: (listener) => {
			if (closed) listener();
			else closeListeners.push(listener);
		},
		close: (_reason, userMessage) => close(userMessage ?? null),
		onNotice: () => () => undefined,
		kex: null,
		boundServer: null,
	};
	const registry = await liveRegistry().catch((error: unknown) => {
		services.logger.error({ ...errorFields(error) }, "live sessions: web terminal registry failed to start");
		return null;
	});
	const liveConnection = registry?.open(session, {
		firstFactor: "web session",
		secondFactor: proof.secondFactorMethod ?? "not-required",
		secondFactorNote: proof.secondFactorMethod === null ? "policy" : "",
		terminate: (message) => close(message === TERMINATED_MESSAGE ? "Portcullis: an administrator ended this connection." : message),
	});
	const live = liveConnection?.channel("web-terminal", server.name, () => close("Portcullis: an administrator ended this session."));

	const started = services.clock.now().getTime();
	await recorder?.enterServer(server);
	recorder?.onFailure((error) => {
		void recordingFailed(services, proof, error, mode, "write", recorder?.id ?? null, server).then(() => {
			if (mode === "strict") close("Portcullis: the session recording failed, so this session is being closed.");
		});
	});
	await services.audit.write({
		...auditBase,
		event: "ssh.session-start",
		outcome: "success",
		detail: {
			server: server.name,
			host: server.host,
			port: server.port,
			loginUser: connected.loginUser,
			mode: "web-terminal",
			command: null,
			pty: true,
			recording: recorder?.id ?? null,
			connection: proof.connectionId,
		},
	});
	const active = relay(down as unknown as ssh2.ServerChannel, upstream, {
		// relay.ts takes an ssh2 session channel; WebDownstream has the part of its shape the relay uses (streams, stderr, exit, close).
		endDownstream: false,
		exit: exit ?? watchExit(upstream),
		bytes: services.metrics.relayBytes,
		...(live ? { sessionBytes: live.bytes } : {}),
		...(recorder ? { onOutput: (data: Buffer) => recorder.output(data) } : {}),
	});
	void active.done.then(async (end) => {
		closed = true;
		client.end();
		live?.end();
		for (const listener of closeListeners.splice(0)) listener();
		await recorder?.finish();
		if (recorder !== null && !recorder.failed) {
			const { chunks, lastHash } = recorder.chain;
			await services.audit.record({
				...auditBase,
				event: "ssh.recording-finished",
				outcome: "info",
				detail: { recording: recorder.id, chunks, lastHash, bytes: recorder.bytes, connection: proof.connectionId },
			});
		}
		await services.audit.record({
			...auditBase,
			event: "ssh.session-end",
			outcome: "info",
			detail: {
				server: server.name,
				durationMs: services.clock.now().getTime() - started,
				exitCode: end.code,
				signal: end.signal,
				recording: recorder?.id ?? null,
				connection: proof.connectionId,
			},
		});
		sink.ended(endMessage ?? `Connection to ${server.name} closed${end.code !== null ? ` (exit ${end.code})` : ""}.`);
	});

	const terminal: OpenTerminal = {
		recordingId: recorder?.id ?? null,
		input(data) {
			if (!closed) down.push(data);
		},
		resize(next) {
			const c = terminalCells(next.cols, cols);
			const r = terminalCells(next.rows, rows);
			active.resize(c, r, 0, 0);
			recorder?.resize(c, r);
		},
		close,
	};
	return { ok: true, terminal };
}

async function recordingFailed(
	services: SshServices,
	proof: WebTerminalProof,
	error: unknown,
	mode: string,
	stage: "start" | "write",
	recording: string | null,
	server: ServerRow,
): Promise<void> {
	services.metrics.recordingFailure(stage);
	services.logger.error({ ...errorFields(error), recording, mode, stage, server: server.name, connectionId: proof.connectionId }, "session recording failed");
	await services.audit.record({
		userId: proof.userId,
		username: proof.username,
		channel: "web",
		source: proof.sourceAddress,
		event: "recording.failed",
		outcome: "failure",
		detail: {
			stage,
			mode,
			recording,
			server: server.name,
			error: error instanceof Error ? error.message.slice(0, 200) : "unknown",
			connection: proof.connectionId,
		},
	});
}
