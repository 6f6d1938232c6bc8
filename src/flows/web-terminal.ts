/**
 * The console's web terminal (docs/decisions.md "Web terminal"): a
 * browser tab that is a connection to a target server, held to the same per-connection rules as
 * an SSH connection to that server.
 *
 * The decision stays here and in core: the web adapter passes what the web session proved (its
 * second factor and when), this flow checks the grant (ServerService.findForUser, as the SSH menu
 * and `ssh gw SERVER` do) and the per-server step-up (LoginFlow.serverAccess → decideServerAccess,
 * the same rule the SSH relay applies), and only then asks the connector to open the target.
 * The user's 2FA policy itself (groups, settings, factors, network rules for the browser's
 * address) is the web session gate's check (flows/session-gate.ts) that every console request,
 * the WebSocket upgrade included, passes first: decideSecondFactor has one rule set for both
 * channels. The SSH remember window is never applied: it can only relax SSH, never the web.
 *
 * The connector is a port: the SSH adapter implements it (src/ssh/web-terminal.ts: the target leg
 * of the relay, its recording and the live-session registry) and the composition root wires it,
 * so the web adapter never imports src/ssh/.
 */
import type { ServerService } from "../servers/server-service.ts";
import type { AuditLog } from "../storage/audit-log.ts";
import type { ServerRow } from "../storage/server-store.ts";
import type { LoginFlow } from "./login-flow.ts";
import { relayMayContinue, type ConnectionProof } from "./server-step-up.ts";
import type { Clock } from "../core/clock.ts";

/** What the web session proved, as the web adapter reads it from its session row. */
export interface WebTerminalProof {
	readonly userId: string;
	readonly username: string;
	/** The browser's address (request.ip: X-Forwarded-For only from trusted proxies). */
	readonly sourceAddress: string;
	/** Random id of this terminal connection (audit, live sessions). */
	readonly connectionId: string;
	/** The web session's second factor (null: it logged in without one). */
	readonly secondFactorMethod: string | null;
	/** Epoch ms of the web session's last full authentication or step-up (web_sessions.step_up_at). */
	readonly provenAt: number | null;
	/** users.session_epoch of the web session: a bump revokes the terminal like the session. */
	readonly sessionEpoch: number;
}

export type WebTerminalAccess =
	| { readonly kind: "allowed"; readonly server: ServerRow }
	| { readonly kind: "not-granted"; readonly message: string }
	/** A fresh second factor is needed (the console's step-up, then back); `problem` "none" when the session proved none. */
	| { readonly kind: "step-up"; readonly message: string; readonly problem: "none" | "stale" };

/** Where the target's output goes (the WebSocket), and how the terminal learns it ended. */
export interface TerminalSink {
	/** `done` runs when the socket took the data: until then the target is paused (flow control). */
	output(data: Buffer, done: () => void): void;
	/** The session ended (target exit, an administrator, the policy); `message` is shown in the terminal. */
	ended(message: string | null): void;
}

export interface TerminalSize {
	readonly cols: number;
	readonly rows: number;
}

export interface OpenTerminal {
	/** Keystrokes and pastes, UTF-8 bytes as typed (Ctrl-C is the byte 0x03, as on any terminal). */
	input(data: Buffer): void;
	resize(size: TerminalSize): void;
	/** Ends the target session (the browser closed, the web session ended, the policy says so). */
	close(message: string | null): void;
	/** The asciicast recording, or null (best-effort mode and the recording failed to start). */
	readonly recordingId: string | null;
}

export type TerminalOpenResult = { readonly ok: true; readonly terminal: OpenTerminal } | { readonly ok: false; readonly message: string };

/** The port: opens a recorded shell on the target, registered in the live-session list. */
export interface TerminalConnector {
	open(proof: WebTerminalProof, server: ServerRow, size: TerminalSize, sink: TerminalSink): Promise<TerminalOpenResult>;
}

export interface WebTerminalDeps {
	readonly login: Pick<LoginFlow, "serverAccess">;
	readonly servers: Pick<ServerService, "findForUser">;
	readonly audit: Pick<AuditLog, "record">;
	readonly clock: Clock;
	readonly connector: TerminalConnector;
	/** How often an open terminal re-checks its session and policy (ssh.policy_poll_ms). */
	readonly pollMs: number;
}

export class WebTerminalService {
	readonly pollMs: number;

	constructor(private readonly deps: WebTerminalDeps) {
		this.pollMs = deps.pollMs;
	}

	/** The open-time check: grant, then per-server step-up, exactly as the SSH relay asks them. */
	async authorize(proof: WebTerminalProof, serverName: string): Promise<WebTerminalAccess> {
		const server = await this.deps.servers.findForUser(proof.userId, serverName);
		if (server === undefined) {
			await this.deps.audit.record({
				event: "web.terminal-refused",
				outcome: "failure",
				userId: proof.userId,
				username: proof.username,
				channel: "web",
				source: proof.sourceAddress,
				detail: { requested: serverName.slice(0, 64), connection: proof.connectionId },
			});
			return { kind: "not-granted", message: `No server named "${serverName.slice(0, 64)}" is available to you.` };
		}
		const access = await this.deps.login.serverAccess(connectionProof(proof), server, "web-terminal");
		if (access.kind === "refused") return { kind: "step-up", message: access.message, problem: access.problem };
		return { kind: "allowed", server };
	}

	/** Authorizes again (the WebSocket may arrive later than the page) and opens the target. */
	async open(proof: WebTerminalProof, serverName: string, size: TerminalSize, sink: TerminalSink): Promise<WebTerminalAccess | TerminalOpenResult> {
		const access = await this.authorize(proof, serverName);
		if (access.kind !== "allowed") return access;
		return this.deps.connector.open(proof, access.server, size, sink);
	}

	/**
	 * The live re-check of an open terminal (after the web session gate passed): the server is still
	 * granted, and its step-up rule still holds for what the session proved (relayMayContinue, as SSH).
	 */
	async mayContinue(proof: WebTerminalProof, serverName: string): Promise<boolean> {
		const server = await this.deps.servers.findForUser(proof.userId, serverName);
		if (server === undefined) return false;
		return relayMayContinue(connectionProof(proof), server, this.deps.clock.now().getTime());
	}
}

function connectionProof(proof: WebTerminalProof): ConnectionProof {
	return {
		userId: proof.userId,
		username: proof.username,
		sourceAddress: proof.sourceAddress,
		connectionId: proof.connectionId,
		// A web session proves its factor in this browser; no remember-window grant stands in for it.
		secondFactorMethod: proof.provenAt === null ? null : proof.secondFactorMethod,
		secondFactorRemembered: false,
		authenticatedAt: proof.provenAt ?? 0,
	};
}
