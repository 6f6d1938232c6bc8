/**
 * Channels of a fully authenticated SSH connection (RFC 4254). The gateway calls attachChannels
 * once per connection, right after USERAUTH_SUCCESS; nothing here re-decides authentication
 * (docs/product-decisions.md Decision 1), it only decides *where* an authenticated user may go.
 *
 * What a user can do (docs/ssh-relay.md has the user-facing version):
 * - `ssh alice@gw` (shell, with or without a PTY): the server menu (menu.ts); choosing a server
 *   opens a shell on it through the gateway; leaving it returns to the menu; `q` quits.
 * - `ssh -t alice@gw db1`: exec "db1" = straight to db1's shell (with the client's PTY, if any).
 * - `ssh alice@gw db1 -- CMD` (or `db1 CMD`): runs CMD on db1; stdin/stdout/stderr and the exit
 *   status are relayed. The rest of the line after the name (and an optional `--`) is passed on
 *   verbatim, exactly as OpenSSH passes a remote command.
 * - ProxyJump `ssh -J alice@gw root@db1` (and scp/sftp -J): direct-tcpip (RFC 4254 §7.2) only to a
 *   granted server: host = the server's name or its configured host, port = its configured port
 *   (for the server's name, port 22 (the client default) also maps to the configured port).
 *   Everything else is refused and audited (ssh.forward-refused).
 * - `alice:db1@gw` (a connection bound to a server, target-username.ts): shell = db1's shell, exec =
 *   the command on db1 verbatim, subsystem "sftp" = db1's sftp subsystem (psftp, WinSCP, FileZilla,
 *   `sftp -o User=alice:db1 gw`), so scp (exec `scp -t`/`scp -f`, or its sftp mode) works too.
 * - `sftp alice@gw` (sftp without a target): the gateway's SFTP view, granted servers as folders (sftp-view.ts).
 * - Refused and audited: remote forwarding (tcpip-forward, -R), streamlocal (Unix sockets, both
 *   directions), X11 and agent forwarding (agent forwarding is a later feature).
 *
 * Interactive sessions (the menu, and any exec with a PTY) are recorded (recording.ts) into the
 * shared database. When the recording cannot be written, the recording mode decides
 * (src/core/recording-mode.ts; the server's, else the global one): strict refuses the session
 * (or ends it with a notice), best effort lets it go on; either way `recording.failed` is audited
 * and logged.
 * exec/shell/subsystem requests are accepted synchronously (docs/dependencies.md, Relay behaviour) and the channel
 * is paused until the upstream side is ready.
 *
 * Instant revocation (docs/threat-model.md I7): every new piece of work passes the live-policy gate
 * first (one indexed read; the full policy check when anything changed): a session channel open
 * and a direct-tcpip open are accepted only after it, an exec/shell/subsystem runs only after it
 * (the request itself stays accepted synchronously: ssh2 drops a reply sent after the client's
 * EOF, and the paused channel does nothing until the gate passed), a target chosen in the menu is
 * opened only after it, and a global request triggers it. A failed gate closes the connection.
 * Every relay is registered with the live policy, which closes it when its server's grant goes.
 */
import { connect as netConnect, type Socket } from "node:net";
import type ssh2 from "ssh2";
import type { RecordingMode } from "../core/recording-mode.ts";
import { errorFields } from "../core/logger.ts";
import type { ServerService } from "../servers/server-service.ts";
import type { ServerRow } from "../storage/server-store.ts";
import { newId } from "../crypto/tokens.ts";
import type { AuthenticatedSsh, ChannelDeps } from "./authenticated-ssh.ts";
import { Menu, terminalSafe } from "./menu.ts";
import { CHANNEL_TERMINATED_MESSAGE, type LiveChannel, type LiveConnection } from "./live-registry.ts";
import { rejectProhibited } from "./protocol-guard.ts";
import { SessionRecorder, terminalLineEndings } from "./recording.ts";
import { relay, watchExit, type ExitWatch, type Relay, type RelayEnd } from "./relay.ts";
import { SftpAudit, type SftpAuditEvent } from "./sftp-audit.ts";
import { type CaptureOpener, captureOpener } from "./sftp-capture.ts";
import { serveSftpView } from "./sftp-view.ts";
import type { SshServices } from "./ssh-services.ts";
import { connectTarget } from "./target.ts";
import { terminalCells, terminalType } from "./terminal-geometry.ts";

/** Environment variables passed on to targets (OpenSSH's default SendEnv); targets may still refuse them. */
const PASSED_ENV = /^(LANG|LC_[A-Z]+|TZ|COLORTERM)$/;

interface PtyState {
	term: string;
	cols: number;
	rows: number;
	width: number;
	height: number;
	modes: ssh2.TerminalModes;
}

/** Per-connection state: what must be torn down when the connection ends. */
interface Conn {
	readonly services: SshServices;
	readonly session: AuthenticatedSsh;
	readonly live: ChannelDeps["livePolicy"];
	/** The connection in the live-session registry (channels, bytes, terminate). */
	readonly registry: LiveConnection;
	readonly servers: ServerService;
	readonly closers: Set<() => void>;
	readonly relays: Set<Relay>;
	closed: boolean;
}

/** What a visit asks the target for (RFC 4254 §6.5): a shell, a command, or the sftp subsystem. */
type TargetRequest = { readonly kind: "shell" } | { readonly kind: "exec"; readonly command: string } | { readonly kind: "subsystem"; readonly name: "sftp" };

const SHELL: TargetRequest = { kind: "shell" };

/** Per-session-channel state (RFC 4254 §6: pty-req, env, window-change arrive on the session). */
interface SessionState {
	pty: PtyState | null;
	env: Record<string, string>;
	active: Relay | null;
	onResize: ((pty: PtyState) => void) | null;
	/** The target of the current (or last) visit: its recording mode applies to a failure. */
	server: ServerRow | null;
	/** Closed by the gateway (strict recording failure, an administrator): nothing more is written to the channel. */
	stopped: boolean;
	/** The channel in the live-session registry, once it runs a menu or a session. */
	live: LiveChannel | null;
}

export function parseTargetCommand(command: string): { server: string; command: string | null } | null {
	const trimmed = command.trim();
	const match = /^(\S+)(?:\s+(.*))?$/s.exec(trimmed);
	if (!match) return null;
	let rest = (match[2] ?? "").trim();
	if (rest === "--") rest = "";
	else if (/^--\s/.test(rest)) rest = rest.slice(2).trim();
	return { server: match[1]!, command: rest === "" ? null : rest };
}

export function attachChannels(client: ssh2.Connection, session: AuthenticatedSsh, deps: ChannelDeps): void {
	const conn: Conn = {
		services: deps.services,
		session,
		live: deps.livePolicy,
		registry: deps.liveSession,
		servers: deps.services.servers,
		closers: new Set(),
		relays: new Set(),
		closed: false,
	};
	session.onClose(() => {
		conn.closed = true;
		// Relays first (SIGTERM + channel close upstream), then the upstream connections.
		for (const active of [...conn.relays]) active.close();
		conn.relays.clear();
		for (const close of [...conn.closers]) {
			try {
				close();
			} catch {
				// Best effort: the peer may already be gone.
			}
		}
		conn.closers.clear();
	});

	client.on("session", (accept, reject) => {
		void conn.live.gate(session).then((allowed) => {
			try {
				// Refused by policy: ADMINISTRATIVELY_PROHIBITED (RFC 4254 §5.1), like every policy refusal here.
				if (!allowed || conn.closed) return rejectProhibited(client, reject);
				const channel = accept();
				if (channel) {
					trackChannel(conn, channel, "session");
					handleSession(conn, channel);
				}
			} catch {
				// The connection went away while the gate ran.
			}
		});
	});

	client.on("tcpip", (accept, reject, info) => {
		// A refusal by policy answers ADMINISTRATIVELY_PROHIBITED (RFC 4254 §5.1), so the client can tell
		// "not granted" from "the target is down" (CONNECT_FAILED, ssh2's plain reject()).
		handleDirectTcpip(conn, accept, reject, (description?: string) => rejectProhibited(client, reject, description), info).catch(() => reject());
	});

	client.on("openssh.streamlocal", (_accept, reject, info) => {
		rejectProhibited(client, reject);
		void refused(conn, "ssh.forward-refused", { kind: "direct-streamlocal", socketPath: String(info.socketPath).slice(0, 200) });
	});

	client.on("request", (_accept, reject, name, info) => {
		reject?.();
		// Nothing is granted by a global request; it still re-checks the connection (closed if revoked).
		void conn.live.gate(session);
		const target =
			"bindPort" in info
				? { bindAddr: String(info.bindAddr).slice(0, 100), bindPort: info.bindPort }
				: { socketPath: String((info as ssh2.SocketBindInfo).socketPath).slice(0, 200) };
		void refused(conn, "ssh.forward-refused", { kind: name, ...target });
	});
}

function auditBase(conn: Conn) {
	return { userId: conn.session.userId, username: conn.session.username, channel: "ssh", source: conn.session.sourceAddress };
}

async function refused(conn: Conn, event: string, detail: Record<string, unknown>): Promise<void> {
	await conn.services.audit.record({ ...auditBase(conn), event, outcome: "failure", detail: { ...detail, connection: conn.session.connectionId } });
}

function handleSession(conn: Conn, channel: ssh2.Session): void {
	const state: SessionState = { pty: null, env: {}, active: null, onResize: null, server: null, stopped: false, live: null };

	channel.on("pty", (accept, _reject, info) => {
		state.pty = {
			term: terminalType(info.term),
			cols: terminalCells(info.cols, 80),
			rows: terminalCells(info.rows, 24),
			width: info.width,
			height: info.height,
			modes: info.modes,
		};
		accept?.();
	});
	channel.on("window-change", (accept, _reject, info) => {
		if (state.pty) {
			state.pty = {
				...state.pty,
				cols: terminalCells(info.cols, state.pty.cols),
				rows: terminalCells(info.rows, state.pty.rows),
				width: info.width,
				height: info.height,
			};
			state.onResize?.(state.pty);
		}
		accept?.();
	});
	channel.on("env", (accept, reject, info) => {
		if (PASSED_ENV.test(info.key) && typeof info.val === "string" && info.val.length <= 256) {
			state.env[info.key] = info.val;
			accept?.();
		} else reject?.();
	});
	channel.on("signal", (accept, _reject, info) => {
		state.active?.signal(info.name);
		accept?.();
	});
	channel.on("x11", (_accept, reject) => {
		reject?.();
		void refused(conn, "ssh.forward-refused", { kind: "x11" });
	});
	channel.on("auth-agent", (_accept, reject) => {
		reject?.();
		void refused(conn, "ssh.forward-refused", { kind: "auth-agent" });
	});

	channel.on("shell", (accept) => {
		const down = accept();
		if (!down) return;
		down.pause();
		// Operator notices (the node is stopping) reach the user's terminal on stderr.
		const stopNotices = conn.session.onNotice((text) => down.stderr.write(`\r\n${text}\r\n`));
		down.once("close", stopNotices);
		const bound = conn.session.boundServer;
		afterGate(conn, down, () => (bound === null ? runMenu(conn, down, state) : runOnServer(conn, down, state, bound, SHELL)));
	});
	channel.on("exec", (accept, _reject, info) => {
		const down = accept();
		if (!down) return;
		down.pause();
		const bound = conn.session.boundServer;
		// A bound connection passes the command verbatim (scp -t/-f, rsync, …); otherwise its first word names the server.
		afterGate(conn, down, () =>
			bound === null ? runExec(conn, down, state, info.command) : runOnServer(conn, down, state, bound, { kind: "exec", command: info.command }),
		);
	});
	// Without a server in the user name, `sftp alice@gw` is the gateway's own SFTP view (sftp-view.ts).
	// ssh2 emits "sftp" instead of "subsystem" for sftp only while a listener exists, so a bound
	// connection (which relays the raw stream) does not register one.
	if (conn.session.boundServer === null)
		channel.on("sftp", (accept) => {
			const sftp = accept();
			if (!sftp) return;
			void conn.live.gate(conn.session).then((allowed) => {
				if (!allowed || conn.closed) return sftp.end();
				runSftpView(conn, sftp);
			});
		});
	channel.on("subsystem", (accept, reject, info) => {
		// Only "sftp" on a bound connection arrives here (an unbound one has the "sftp" listener above).
		const bound = conn.session.boundServer;
		if (info.name !== "sftp" || bound === null) {
			reject?.();
			return;
		}
		const down = accept();
		if (!down) return;
		down.pause();
		afterGate(conn, down, () => runOnServer(conn, down, state, bound, { kind: "subsystem", name: "sftp" }));
	});
}

/**
 * Runs `work` on an accepted (paused) channel only when the live-policy gate passes. When it does
 * not, the gate has already closed the connection; the channel is ended without doing anything.
 */
function afterGate(conn: Conn, down: ssh2.ServerChannel, work: () => Promise<void>): void {
	void conn.live.gate(conn.session).then((allowed) => {
		if (!allowed || conn.closed) {
			try {
				down.stderr.write("Portcullis: access revoked.\r\n");
				down.exit(1);
				down.end();
			} catch {
				// The connection is already gone.
			}
			return;
		}
		work().catch((error: unknown) => failChannel(conn, down, error));
	});
}

function failChannel(conn: Conn, down: ssh2.ServerChannel, error: unknown): void {
	void conn.services.audit.record({
		...auditBase(conn),
		event: "ssh.channel-error",
		outcome: "failure",
		detail: { error: error instanceof Error ? error.message.slice(0, 300) : "unknown", connection: conn.session.connectionId },
	});
	try {
		down.stderr.write("\r\nPortcullis: internal error; the session was closed.\r\n");
		down.exit(1);
		down.end();
	} catch {
		// already closed
	}
}

type OpenResult = { ok: true; client: ssh2.Client; channel: ssh2.ClientChannel; exit: ExitWatch; loginUser: string } | { ok: false; message: string };

/** Connects to the server and opens a shell, an exec or the sftp subsystem on it. */
async function openTarget(conn: Conn, server: ServerRow, state: SessionState, request: TargetRequest): Promise<OpenResult> {
	const { session } = conn;
	const connected = await connectTarget(conn.services, server, {
		username: session.username,
		userId: session.userId,
		connectionId: session.connectionId,
		sourceAddress: session.sourceAddress,
	});
	if (!connected.ok) return { ok: false, message: connected.message };
	const client = connected.client;
	const closeClient = () => client.end();
	conn.closers.add(closeClient);
	client.once("close", () => conn.closers.delete(closeClient));
	if (conn.closed) {
		client.end();
		return { ok: false, message: "connection closed" };
	}
	const pty = state.pty
		? { term: state.pty.term, cols: state.pty.cols, rows: state.pty.rows, width: state.pty.width, height: state.pty.height, modes: state.pty.modes }
		: false;
	return new Promise<OpenResult>((resolveOpen) => {
		const done = (error: Error | undefined, channel: ssh2.ClientChannel) => {
			if (error) {
				client.end();
				resolveOpen({ ok: false, message: `${server.name} refused the session: ${error.message.slice(0, 200)}` });
			}
			// Watched here, in the callback, not when the relay starts: see ExitWatch.
			else resolveOpen({ ok: true, client, channel, exit: watchExit(channel), loginUser: connected.loginUser });
		};
		if (request.kind === "shell") client.shell(pty, { env: state.env }, done);
		else if (request.kind === "exec") client.exec(request.command, { pty, env: state.env }, done);
		// A subsystem has no PTY of its own (RFC 4254 §6.5); the target runs its sftp-server.
		else client.subsys(request.name, done);
	});
}

/** One visit to a target: audit start/end around the relay. */
async function visitTarget(
	conn: Conn,
	down: ssh2.ServerChannel,
	state: SessionState,
	server: ServerRow,
	request: TargetRequest,
	mode: "menu" | "command",
	recorder: SessionRecorder | null,
	typedAhead: Buffer | null = null,
): Promise<{ ok: true; end: RelayEnd } | { ok: false; message: string }> {
	// A target chosen in the menu is new work: the gate first (it closes the connection on failure).
	if (!(await conn.live.gate(conn.session))) return { ok: false, message: "access revoked" };
	// Per-server step-up: the connection's own login must have proven a (fresh enough) second factor.
	const access = await stepUpAccess(conn, server, mode);
	if (access.kind === "refused") return { ok: false, message: access.message };
	// A recorded session whose recording already failed (best effort so far) may not enter a strict server.
	if ((state.pty !== null && request.kind !== "subsystem") || mode === "menu") {
		if ((recorder === null || recorder.failed) && (await conn.servers.recordingModeFor(server)) === "strict") {
			await recordingFailed(conn, new Error("recording unavailable"), "strict", "visit", recorder?.id ?? null, server);
			return { ok: false, message: `${server.name} requires a recorded session, and recording is unavailable` };
		}
	}
	state.server = server;
	const opened = await openTarget(conn, server, state, request);
	if (!opened.ok) {
		await refused(conn, "ssh.target-failed", { server: server.name, reason: opened.message.slice(0, 200) });
		return opened;
	}
	const started = conn.services.clock.now().getTime();
	await recorder?.enterServer(server);
	await conn.services.audit.write({
		...auditBase(conn),
		event: "ssh.session-start",
		outcome: "success",
		detail: {
			server: server.name,
			host: server.host,
			port: server.port,
			loginUser: opened.loginUser,
			mode,
			command: request.kind === "exec" ? request.command.slice(0, 200) : null,
			...(request.kind === "subsystem" ? { subsystem: request.name } : {}),
			bound: conn.session.boundServer !== null,
			pty: state.pty !== null && request.kind !== "subsystem",
			recording: recorder?.id ?? null,
			connection: conn.session.connectionId,
		},
	});
	state.live?.setServer(server.name);
	// Relayed SFTP is parsed for the audit trail (sftp-audit.ts); content is kept only with the server's capture on (sftp-capture.ts).
	const sftp = request.kind === "subsystem" ? new SftpAudit((event) => void auditSftp(conn, server.name, event), contentCapture(conn, server)) : null;
	const active = relay(down, opened.channel, {
		exit: opened.exit,
		endDownstream: mode === "command",
		...(sftp
			? { inspect: { fromClient: (chunk: Buffer) => sftp.fromClient(chunk), fromTarget: (chunk: Buffer) => sftp.fromTarget(chunk), wait: () => sftp.wait() } }
			: {}),
		bytes: conn.services.metrics.relayBytes,
		...(state.live ? { sessionBytes: state.live.bytes } : {}),
		// Without a PTY the target writes bare "\n" (no terminal turns it into CR LF); the recording gets
		// what a terminal would have shown, so the player draws lines, not a staircase.
		...(recorder ? { onOutput: (data: Buffer) => recorder.output(state.pty ? data : terminalLineEndings(data)) } : {}),
		...(typedAhead ? { initialInput: typedAhead } : {}),
	});
	state.active = active;
	conn.relays.add(active);
	// Grant removal: SIGTERM + channel close, and the connection to the target is ended too (a
	// command without a PTY would keep its channel open on sshd: docs/dependencies.md, Relay behaviour).
	const untrack = conn.live.trackRelay(conn.session, server.id, () => {
		active.close();
		opened.client.end();
	});
	state.onResize = (pty) => {
		active.resize(pty.cols, pty.rows, pty.width, pty.height);
		recorder?.resize(pty.cols, pty.rows);
	};
	const end = await active.done;
	untrack();
	if (sftp) {
		await sftp.end();
		if (sftp.failure !== null) await refused(conn, "ssh.sftp-refused", { server: server.name, reason: sftp.failure });
	}
	conn.relays.delete(active);
	state.active = null;
	if (mode === "menu") state.live?.setServer(null);
	state.onResize = null;
	opened.client.end();
	await conn.services.audit.write({
		...auditBase(conn),
		event: "ssh.session-end",
		outcome: "info",
		detail: {
			server: server.name,
			durationMs: conn.services.clock.now().getTime() - started,
			exitCode: end.code,
			signal: end.signal,
			recording: recorder?.id ?? null,
			connection: conn.session.connectionId,
		},
	});
	return { ok: true, end };
}

/** `sftp alice@gw`: the granted servers as folders; each opened on first use, with the checks of `ssh gw NAME`. */
function runSftpView(conn: Conn, sftp: ssh2.SFTPWrapper): void {
	const opened: ssh2.Client[] = [];
	const view = serveSftpView(sftp, {
		listServers: async () => (await conn.servers.listForUser(conn.session.userId)).map((server) => server.name),
		openServer: async (name) => {
			const result = await openViewServer(conn, name);
			if (result.ok) opened.push(result.client);
			return result;
		},
		audit: (server, event) => void auditSftp(conn, server, event),
	});
	// The client's EOF (`bye`) is the end of the session: close our side too (RFC 4254 §5.3).
	sftp.once("end", () => sftp.end());
	sftp.once("close", () => {
		view.end();
		for (const client of opened) client.end();
	});
}

async function openViewServer(
	conn: Conn,
	name: string,
): Promise<{ ok: true; target: { sftp: ssh2.SFTPWrapper }; client: ssh2.Client } | { ok: false; message: string }> {
	const { session } = conn;
	if (!(await conn.live.gate(session)) || conn.closed) return { ok: false, message: "access revoked" };
	const server = await conn.servers.findForUser(session.userId, name);
	if (server === undefined) {
		await refused(conn, "ssh.target-refused", { requested: name.slice(0, 64), subsystem: "sftp", view: true });
		return { ok: false, message: `no server named "${terminalSafe(name.slice(0, 64))}" is available to you` };
	}
	const access = await stepUpAccess(conn, server, "command");
	if (access.kind === "refused") return { ok: false, message: access.message };
	const connected = await connectTarget(conn.services, server, {
		username: session.username,
		userId: session.userId,
		connectionId: session.connectionId,
		sourceAddress: session.sourceAddress,
	});
	if (!connected.ok) {
		await refused(conn, "ssh.target-failed", { server: server.name, reason: connected.message.slice(0, 200) });
		return { ok: false, message: connected.message };
	}
	const client = connected.client;
	const closeClient = () => client.end();
	conn.closers.add(closeClient);
	if (conn.closed) {
		client.end();
		return { ok: false, message: "connection closed" };
	}
	let sftp: ssh2.SFTPWrapper;
	try {
		sftp = await new Promise<ssh2.SFTPWrapper>((resolveSftp, reject) => client.sftp((error, wrapper) => (error ? reject(error) : resolveSftp(wrapper))));
	} catch (error) {
		client.end();
		const message = `${server.name} refused sftp: ${error instanceof Error ? error.message.slice(0, 200) : "unknown"}`;
		await refused(conn, "ssh.target-failed", { server: server.name, reason: message });
		return { ok: false, message };
	}
	const started = conn.services.clock.now().getTime();
	const base = { server: server.name, connection: session.connectionId };
	await conn.services.audit.write({
		...auditBase(conn),
		event: "ssh.session-start",
		outcome: "success",
		detail: {
			...base,
			host: server.host,
			port: server.port,
			loginUser: connected.loginUser,
			mode: "sftp-view",
			command: null,
			subsystem: "sftp",
			bound: false,
			pty: false,
			recording: null,
		},
	});
	// Grant removal (live-policy.ts) ends this server's SFTP session; the folder's next request fails.
	const untrack = conn.live.trackRelay(session, server.id, () => client.end());
	client.once("close", () => {
		untrack();
		conn.closers.delete(closeClient);
		void conn.services.audit.record({
			...auditBase(conn),
			event: "ssh.session-end",
			outcome: "info",
			detail: { ...base, durationMs: conn.services.clock.now().getTime() - started, exitCode: null, signal: null, recording: null },
		});
	});
	const capture = contentCapture(conn, server);
	return { ok: true, target: { sftp, ...(capture ? { capture } : {}) }, client };
}

/** The server's admin turned SFTP content capture on (sftp-capture.ts): how each opened file is captured; else null. */
function contentCapture(conn: Conn, server: ServerRow): CaptureOpener | null {
	if (server.capture_sftp_content !== 1) return null;
	const { services, session } = conn;
	return captureOpener({
		sink: services.recordings,
		newId: () => newId(services.random),
		now: () => services.clock.now().getTime(),
		userId: session.userId,
		username: session.username,
		serverId: server.id,
		server: server.name,
		maxBytes: services.config.ssh.sftp_capture_max_bytes,
	});
}

/** One SFTP operation (sftp-audit.ts) as an audit event, attached to the connection and server. */
function auditSftp(conn: Conn, server: string, event: SftpAuditEvent): Promise<void> {
	return conn.services.audit.record({
		...auditBase(conn),
		event: "ssh.sftp",
		outcome: event.outcome,
		detail: { server, op: event.op, ...event.detail, connection: conn.session.connectionId },
	});
}

/** The open-channel gauge (core/metrics.ts): one up now, one down when the channel closes. */
function trackChannel(conn: Conn, channel: { once(name: "close", listener: () => void): unknown }, type: "session" | "direct-tcpip"): void {
	const metrics = conn.services.metrics;
	metrics.sshChannels(type, 1);
	channel.once("close", () => metrics.sshChannels(type, -1));
}

/** Never silent: an error log line and a `recording.failed` audit event (itself logged if the audit write fails too). */
async function recordingFailed(
	conn: Conn,
	error: unknown,
	mode: RecordingMode,
	stage: "start" | "write" | "visit",
	recording: string | null,
	server: ServerRow | null,
): Promise<void> {
	conn.services.metrics.recordingFailure(stage);
	conn.services.logger.error(
		{ ...errorFields(error), recording, mode, stage, server: server?.name ?? null, connectionId: conn.session.connectionId },
		"session recording failed",
	);
	await conn.services.audit.record({
		...auditBase(conn),
		event: "recording.failed",
		outcome: "failure",
		detail: {
			stage,
			mode,
			recording,
			server: server?.name ?? null,
			error: error instanceof Error ? error.message.slice(0, 200) : "unknown",
			connection: conn.session.connectionId,
		},
	});
}

const REFUSED_UNRECORDED = "Portcullis: this session cannot be recorded right now, so it was refused. Try again later.";
const ENDED_UNRECORDED = "Portcullis: the session recording failed, so this session is being closed.";

/**
 * Starts the recording of a session channel. When it cannot be written: strict → the channel is
 * refused with one line (null returned with `refused`), best effort → the session goes on
 * unrecorded. `server` is the target of `ssh -t gw NAME`, null for the menu.
 */
async function openRecorder(
	conn: Conn,
	down: ssh2.ServerChannel,
	state: SessionState,
	server: ServerRow | null,
): Promise<{ refused: true } | { refused: false; recorder: SessionRecorder | null }> {
	let recorder: SessionRecorder;
	try {
		recorder = await SessionRecorder.start(conn.services, {
			userId: conn.session.userId,
			username: conn.session.username,
			cols: state.pty?.cols ?? 80,
			rows: state.pty?.rows ?? 24,
			term: state.pty?.term ?? "xterm",
		});
	} catch (error) {
		const mode = await conn.servers.recordingModeFor(server);
		await recordingFailed(conn, error, mode, "start", null, server);
		if (mode === "best-effort") return { refused: false, recorder: null };
		try {
			down.stderr.write(`${REFUSED_UNRECORDED}\r\n`);
			down.exit(1);
			down.end();
		} catch {
			// The client is gone already.
		}
		return { refused: true };
	}
	trackRecorder(conn, down, state, recorder);
	return { refused: false, recorder };
}

function trackRecorder(conn: Conn, down: ssh2.ServerChannel, state: SessionState, recorder: SessionRecorder): void {
	// A write that fails mid-session: strict ends the session with a notice, best effort goes on.
	recorder.onFailure((error) => {
		void (async () => {
			const server = state.server;
			const mode = await conn.servers.recordingModeFor(server);
			await recordingFailed(conn, error, mode, "write", recorder.id, server);
			if (mode === "best-effort" || state.stopped) return;
			state.stopped = true;
			try {
				down.stderr.write(`\r\n${ENDED_UNRECORDED}\r\n`);
				state.active?.close();
				down.exit(1);
				down.close();
			} catch {
				// The channel is already gone.
			}
		})();
	});
	let done = false;
	const finish = () => {
		if (done) return;
		done = true;
		void recorder.finish().then(() => {
			if (recorder.failed) return;
			// The chain's end in the audit log: rewriting the recording would also need rewriting this.
			const { chunks, lastHash } = recorder.chain;
			return conn.services.audit.record({
				...auditBase(conn),
				event: "ssh.recording-finished",
				outcome: "info",
				detail: { recording: recorder.id, chunks, lastHash, bytes: recorder.bytes, connection: conn.session.connectionId },
			});
		});
	};
	conn.closers.add(finish);
	down.once("close", () => {
		conn.closers.delete(finish);
		finish();
	});
}

async function runExec(conn: Conn, down: ssh2.ServerChannel, state: SessionState, rawCommand: string): Promise<void> {
	const parsed = parseTargetCommand(rawCommand);
	const fail = (message: string, status: number) => {
		down.stderr.write(`Portcullis: ${message}\r\n`);
		down.exit(status);
		down.end();
	};
	if (parsed === null) return fail("usage: ssh USER@GATEWAY SERVER [-- COMMAND]  (or no command for the server menu)", 2);
	return runOnServer(conn, down, state, parsed.server, parsed.command === null ? SHELL : { kind: "exec", command: parsed.command });
}

/**
 * `ssh gw NAME [CMD]` and every session channel of a bound connection (`alice:NAME@gw`). A server
 * that does not exist and one not granted get the same answer (no oracle of server names).
 */
async function runOnServer(conn: Conn, down: ssh2.ServerChannel, state: SessionState, name: string, request: TargetRequest): Promise<void> {
	const fail = (message: string, status: number) => {
		down.stderr.write(`Portcullis: ${message}\r\n`);
		down.exit(status);
		down.end();
	};
	const server = await conn.servers.findForUser(conn.session.userId, name);
	if (server === undefined) {
		await refused(conn, "ssh.target-refused", { requested: name.slice(0, 64), ...(request.kind === "subsystem" ? { subsystem: request.name } : {}) });
		const hint = conn.session.boundServer === null ? " Run ssh without a command to see the menu." : " Log in without :SERVER to see the menu.";
		return fail(`no server named "${terminalSafe(name.slice(0, 64))}" is available to you.${hint}`, 1);
	}
	registerLive(conn, down, state, "session", server.name);
	let recorder: SessionRecorder | null = null;
	// Interactive (a PTY) is recorded; a subsystem has no PTY of its own (its stream is SFTP packets).
	if (state.pty && request.kind !== "subsystem") {
		const opened = await openRecorder(conn, down, state, server);
		if (opened.refused) return;
		recorder = opened.recorder;
	}
	const visit = await visitTarget(conn, down, state, server, request, "command", recorder);
	if (!visit.ok && !state.stopped) {
		recorder?.output(`Portcullis: ${visit.message}\r\n`);
		fail(visit.message, 1);
	}
	await recorder?.finish();
}

async function runMenu(conn: Conn, down: ssh2.ServerChannel, state: SessionState): Promise<void> {
	const { session, servers } = conn;
	registerLive(conn, down, state, "menu", null);
	const opened = await openRecorder(conn, down, state, null);
	if (opened.refused) return;
	const recorder = opened.recorder;
	const newline = state.pty ? "\r\n" : "\n";
	// Line mode: the client gets plain "\n" lines; the recording keeps CR LF, as a terminal would show them.
	const write = (text: string) => {
		recorder?.output(state.pty ? text : text.replace(/\r?\n/g, "\r\n"));
		down.write(state.pty ? text : text.replace(/\r\n/g, "\n"));
	};
	const menu = new Menu(
		{ username: session.username, kex: session.kex, cols: state.pty?.cols ?? 80, rows: state.pty?.rows ?? 24, write, lineMode: state.pty === null },
		await servers.listForUser(session.userId),
	);
	let downEnded = false;
	let downClosed = false;
	down.once("end", () => {
		downEnded = true;
	});
	// The client may close this session channel and keep the connection (ControlMaster).
	down.once("close", () => {
		downClosed = true;
	});

	const quit = async (text: string) => {
		write(`${newline}${text}${newline}`);
		down.exit(0);
		down.end();
		await recorder?.finish();
	};

	const loop = (): Promise<{ kind: "quit" } | { kind: "choose"; entry: ServerRow }> =>
		new Promise((resolveAction) => {
			const onData = (data: Buffer) => {
				const action = menu.input(data);
				if (action) {
					stop();
					resolveAction(action);
				}
			};
			const onEnd = () => {
				stop();
				resolveAction({ kind: "quit" });
			};
			const stop = () => {
				down.off("data", onData);
				down.off("end", onEnd);
				down.off("close", onEnd);
				down.pause();
				state.onResize = null;
			};
			state.onResize = (pty) => {
				recorder?.resize(pty.cols, pty.rows);
				menu.resize(pty.cols, pty.rows);
			};
			down.on("data", onData);
			down.once("end", onEnd);
			down.once("close", onEnd);
			if (downEnded) onEnd();
			else down.resume();
		});

	menu.render();
	for (;;) {
		if (conn.closed || downClosed || state.stopped) return void recorder?.finish();
		const action = await loop();
		if (state.stopped) return void recorder?.finish();
		if (action.kind === "quit") return quit("Bye.");
		const chosen = await servers.findForUser(session.userId, action.entry.name);
		if (chosen === undefined) {
			menu.takeRest();
			menu.setEntries(await servers.listForUser(session.userId));
			menu.setMessage(`${action.entry.name} is no longer available to you.`);
			menu.render();
			continue;
		}
		write(`${state.pty ? "\x1b[H\x1b[2J" : ""}${newline}Connecting to ${chosen.name} (${terminalSafe(chosen.host)}:${chosen.port})...${newline}`);
		const typedAhead = Buffer.from(menu.takeRest(), "utf8");
		const visit = await visitTarget(conn, down, state, chosen, SHELL, "menu", recorder, typedAhead);
		if (conn.closed || downClosed || state.stopped) return void recorder?.finish();
		if (downEnded) return quit(`Connection to ${chosen.name} closed.`);
		// Leave whatever state the target left the terminal in: main screen, visible cursor, plain text.
		if (state.pty) write("\x1b[?1049l\x1b[?25h\x1b[0m");
		menu.resetFilter();
		menu.setEntries(await servers.listForUser(session.userId));
		menu.setMessage(
			visit.ok
				? `Connection to ${chosen.name} closed${visit.end.code !== null ? ` (exit ${visit.end.code})` : visit.end.signal ? ` (${visit.end.signal})` : ""}.`
				: visit.message,
		);
		menu.render();
	}
}

async function handleDirectTcpip(
	conn: Conn,
	accept: () => ssh2.ServerChannel | undefined,
	reject: () => void,
	prohibit: (description?: string) => void,
	info: ssh2.TcpipRequestInfo,
): Promise<void> {
	// The gate before anything else; a failed gate has closed the connection already.
	if (!(await conn.live.gate(conn.session))) return prohibit();
	const destination = { host: String(info.destIP).slice(0, 255), port: info.destPort };
	const server = await conn.servers.resolveForward(conn.session.userId, destination.host, destination.port);
	if (server === undefined || conn.closed) {
		prohibit();
		await refused(conn, "ssh.forward-refused", { kind: "direct-tcpip", ...destination });
		return;
	}
	// Per-server step-up: refused with the reason and how to reconnect (OpenSSH prints the description).
	const access = await stepUpAccess(conn, server, "direct-tcpip");
	if (access.kind === "refused") return prohibit(access.message);
	const socket: Socket = netConnect({ host: server.host, port: server.port });
	socket.setNoDelay(true);
	const closeSocket = () => socket.destroy();
	conn.closers.add(closeSocket);
	socket.once("close", () => conn.closers.delete(closeSocket));
	let opened = false;
	socket.once("error", (error) => {
		if (!opened) {
			reject();
			void refused(conn, "ssh.forward-failed", { kind: "direct-tcpip", server: server.name, ...destination, error: error.message.slice(0, 200) });
		}
	});
	socket.once("connect", () => {
		const channel = accept();
		if (!channel) {
			socket.destroy();
			return;
		}
		opened = true;
		trackChannel(conn, channel, "direct-tcpip");
		const relayBytes = conn.services.metrics.relayBytes;
		socket.on("data", (chunk: Buffer) => {
			relayBytes.toClient += chunk.length;
		});
		channel.on("data", (chunk: Buffer) => {
			relayBytes.toTarget += chunk.length;
		});
		// Live sessions: the socket counts its bytes itself (read at flush time, nothing on the hot path).
		const live = conn.registry.channel(
			"tunnel",
			server.name,
			() => socket.destroy(),
			() => ({ in: socket.bytesWritten, out: socket.bytesRead }),
		);
		socket.once("close", () => live.end());
		// Grant removal closes this forward (live-policy.ts).
		const untrack = conn.live.trackRelay(conn.session, server.id, () => socket.destroy());
		socket.once("close", untrack);
		socket.pipe(channel).on("error", () => socket.destroy());
		channel.pipe(socket);
		channel.once("close", () => socket.destroy());
		socket.once("close", () => channel.close());
		void conn.services.audit.record({
			...auditBase(conn),
			event: "ssh.forward",
			outcome: "success",
			detail: { kind: "direct-tcpip", server: server.name, ...destination, connection: conn.session.connectionId },
		});
	});
}

/**
 * Publishes a session channel (menu or session) in the live-session registry until it closes. An
 * administrator's terminate ends the relay and the channel with one line; the connection stays.
 */
function registerLive(conn: Conn, down: ssh2.ServerChannel, state: SessionState, kind: "menu" | "session", server: string | null): void {
	const live = conn.registry.channel(kind, server, () => {
		if (state.stopped) return;
		state.stopped = true;
		try {
			down.stderr.write(`\r\n${CHANNEL_TERMINATED_MESSAGE}\r\n`);
			state.active?.close();
			down.exit(1);
			down.close();
		} catch {
			// The channel is already gone.
		}
	});
	state.live = live;
	down.once("close", () => live.end());
}

/** Per-server step-up (flows/server-step-up.ts decides; this only passes what the connection proved). */
function stepUpAccess(conn: Conn, server: ServerRow, via: "menu" | "command" | "direct-tcpip") {
	const { session } = conn;
	return conn.services.login.serverAccess(
		{
			userId: session.userId,
			username: session.username,
			sourceAddress: session.sourceAddress,
			connectionId: session.connectionId,
			secondFactorMethod: session.secondFactorMethod,
			secondFactorRemembered: session.secondFactorRemembered,
			authenticatedAt: session.authenticatedAt,
		},
		server,
		via,
	);
}
