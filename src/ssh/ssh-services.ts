/**
 * Everything the SSH gateway may use, built by the composition root (src/app/portcullis.ts) and
 * handed to startSshGateway. The gateway maps SSH onto these services; it never
 * sees the app object, never opens a store and never decides policy (LoginFlow does).
 */
import type { Config } from "../config/config.ts";
import type { Clock } from "../core/clock.ts";
import type { Logger } from "../core/logger.ts";
import type { Metrics } from "../core/metrics.ts";
import type { Random } from "../core/random.ts";
import type { LoginFlow } from "../flows/login-flow.ts";
import type { LiveSessions } from "./live-registry.ts";
import type { ServerService } from "../servers/server-service.ts";
import type { AuditLog } from "../storage/audit-log.ts";
import type { DatabaseHealth } from "../storage/database-health.ts";
import type { PolicyVersionStore } from "../storage/policy-version-store.ts";
import type { RecordingStore } from "../storage/recording-store.ts";
import type { SshKeyStore } from "../storage/ssh-key-store.ts";
import type { UserStore } from "../storage/user-store.ts";

export interface SshServices {
	readonly config: Config;
	readonly clock: Clock;
	readonly random: Random;
	/** Operational failures the gateway does not throw (an abandon that fails on a closing connection). */
	readonly logger: Logger;
	/** Where a user finishes setting up their account (told when the policy says "enroll"). */
	readonly consoleUrl: string;
	/** The login for every channel: first factor, second factor, and the live session check. */
	readonly login: LoginFlow;
	/** Account lookup for the public-key first factor. */
	readonly accounts: Pick<UserStore, "findByUsername">;
	/** The user's registered public keys (first factor). */
	readonly userKeys: Pick<SshKeyStore, "findForUser">;
	/** Audit trail; `record` logs and counts a failed write instead of rejecting. */
	readonly audit: Pick<AuditLog, "write" | "record">;
	/** Grants and targets (menu, ProxyJump, relays). */
	readonly servers: ServerService;
	/** Session recordings: rows and their hash-chained chunks in the shared database. */
	readonly recordings: Pick<RecordingStore, "create" | "createCapture" | "append" | "setServers" | "finish">;
	/** The one indexed read behind the live policy (flows/session-gate.ts). */
	readonly policyVersion: PolicyVersionStore;
	/** Tells a database outage from other failures (the client is told "temporarily unavailable"). */
	readonly databaseHealth: Pick<DatabaseHealth, "isOutage">;
	/** Connection and channel gauges, relay bytes, recording failures (core/metrics.ts; a no-op unless exported). */
	readonly metrics: Pick<Metrics, "sshConnections" | "sshChannels" | "relayBytes" | "recordingFailure">;
	/** The live-session registry in the shared database: this node's connections and the terminate requests aimed at it. */
	readonly live: LiveSessions;
	/** Publishes the host key fingerprint where the console shows it. */
	publishHostKeyFingerprint(fingerprint: string): Promise<void>;
}
