/**
 * The seam between SSH authentication (gateway.ts, authenticate.ts) and everything after it
 * (channels.ts: menu, targets, ProxyJump, recording).
 *
 * The gateway creates one AuthenticatedSsh per connection, and only after ssh2 sent
 * SSH_MSG_USERAUTH_SUCCESS (RFC 4252 §5.1), i.e. after LoginFlow said "authenticated"
 * (docs/product-decisions.md Decision 1). Channel code never re-decides authentication; it reads these fields
 * and registers cleanup with onClose().
 */
import type { MethodId } from "../core/method-id.ts";
import type { LivePolicy } from "./live-policy.ts";
import type { LiveConnection } from "./live-registry.ts";
import type { SshServices } from "./ssh-services.ts";

export interface AuthenticatedSsh {
	/** Random id of this TCP connection (also in audit events ssh.connect / ssh.disconnect). */
	readonly connectionId: string;
	readonly userId: string;
	/** Canonical username (as stored), not necessarily the string the client sent. */
	readonly username: string;
	/** The TCP peer address (never a client-supplied value). */
	readonly sourceAddress: string;
	/** The second factor proven on this connection, or null when the policy required none. */
	readonly secondFactorMethod: MethodId | null;
	/** The second factor came from a remember-window grant: this connection proved none itself (per-server step-up). */
	readonly secondFactorRemembered: boolean;
	/** The public key that proved the first factor ("SHA256:…"), or null for a password login. */
	readonly publicKeyFingerprint: string | null;
	/** users.session_epoch when authentication began; a bump revokes this connection (live policy). */
	readonly sessionEpoch: number;
	/** Epoch milliseconds (injected clock) of USERAUTH_SUCCESS. */
	readonly authenticatedAt: number;
	/** Key exchange method of the handshake that protected the login (shown in the menu, audited with ssh.authenticated). */
	readonly kex: string | null;
	/**
	 * `alice:db1@gw` (target-username.ts): the server this connection is bound to. A shell opens its
	 * shell, exec runs the command there, the sftp subsystem is its sftp. Null: the menu and `ssh gw NAME`.
	 */
	readonly boundServer: string | null;
	/** Runs once when the connection ends, whatever the cause. Listeners added after close run at once. */
	onClose(listener: () => void): void;
	/**
	 * Ends the connection (audited as ssh.disconnect with this reason). Idempotent. `userMessage`
	 * is the DISCONNECT description the client prints (disconnect-message.ts); without it the
	 * description is empty.
	 */
	close(reason: string, userMessage?: string): void;
	/** Registers a writer for operator notices (the node is stopping); returns its removal. */
	onNotice(listener: (text: string) => void): () => void;
}

/** What channels.ts needs from the gateway. The relay helper may add fields. */
export interface ChannelDeps {
	readonly services: SshServices;
	/** Instant revocation: new work is gated, relays are tracked for grant removal (live-policy.ts). */
	readonly livePolicy: Pick<LivePolicy, "gate" | "trackRelay">;
	/** The connection in the live-session registry: channels register here (list, bytes, terminate). */
	readonly liveSession: LiveConnection;
}
