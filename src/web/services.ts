/**
 * What the web console may call: narrow services built by the composition root
 * (src/app/web-services.ts). The web adapter never sees the app object, a database handle or a
 * store it could write to on its own; every change goes through a flow or a service below it
 * (docs/architecture.md "The web adapter").
 */
import type { Config } from "../config/config.ts";
import type { Clock } from "../core/clock.ts";
import type { Random } from "../core/random.ts";
import type { Actor } from "../core/actor.ts";
import type { AdminService } from "../flows/admin-service.ts";
import type { DirectoryAccounts, GroupMapping } from "../flows/directory-accounts.ts";
import type { ApiTokenService } from "../flows/api-tokens.ts";
import type { EnrollmentFlow } from "../flows/enrollment-flow.ts";
import type { LoginFlow } from "../flows/login-flow.ts";
import type { SessionGate } from "../flows/session-gate.ts";
import type { DuoMethod } from "../methods/duo/duo-method.ts";
import type { MethodSettingsStore } from "../methods/method-settings.ts";
import type { WebauthnMethod } from "../methods/webauthn/webauthn-method.ts";
import type { GatewayKey } from "../servers/gateway-key.ts";
import type { NetworkRuleService } from "../flows/network-rules.ts";
import type { LiveSessionService } from "../flows/live-sessions.ts";
import type { WebTerminalService } from "../flows/web-terminal.ts";
import type { ServerService } from "../servers/server-service.ts";
import type { SshKeyService } from "../servers/ssh-keys.ts";
import type { AttemptStore } from "../storage/attempt-store.ts";
import type { DatabaseHealth } from "../storage/database-health.ts";
import type { AuditLog } from "../storage/audit-log.ts";
import type { FactorStore } from "../storage/factor-store.ts";
import type { GroupStore } from "../storage/group-store.ts";
import type { RecoveryCodeStore } from "../storage/recovery-code-store.ts";
import type { RecordingStore } from "../storage/recording-store.ts";
import type { SessionStore } from "../storage/session-store.ts";
import type { SettingsStore } from "../storage/settings-store.ts";
import type { UserStore } from "../storage/user-store.ts";
import type { MethodAdmin } from "../methods/method-admin.ts";

export type WebLogin = Pick<
	LoginFlow,
	| "submitPassword"
	| "currentStep"
	| "startChallenge"
	| "submitSecondFactor"
	| "abandon"
	| "finishEnrollment"
	| "beginStepUp"
	| "confirmPassword"
	| "changeOwnPassword"
	| "accountSummary"
>;

export type WebEnrollment = Pick<
	EnrollmentFlow,
	| "begin"
	| "complete"
	| "pendingSetup"
	| "remove"
	| "enrollableMethods"
	| "regenerateRecoveryCodes"
	| "refuseDuringLogin"
	| "rememberedGrants"
	| "forgetRememberedGrant"
>;

export type WebAdmin = Pick<
	AdminService,
	| "createUser"
	| "requireUser"
	| "setDisabled"
	| "resetTwoFactor"
	| "issuePasswordLink"
	| "passwordLinkUser"
	| "setPasswordByLink"
	| "unlock"
	| "addMember"
	| "removeMember"
	| "createGroup"
	| "updateGroup"
	| "deleteGroup"
	| "updateSettings"
	| "implementedMethods"
	| "enrolmentStatus"
	| "previewSettings"
	| "previewGroup"
	| "setAdmin"
	| "requireGroup"
	| "listWebSessions"
	| "terminateWebSession"
>;

/** API tokens: the console's tokens page and the REST API's per-call check (flows/api-tokens.ts). */
export type WebApiTokens = Pick<
	ApiTokenService,
	"createPersonal" | "listOwn" | "revokeOwn" | "authenticate" | "permits" | "refusal" | "actorOf" | "createServiceAccount"
>;

/** One channel of a live SSH connection as the API lists it (flows/live-sessions.ts LiveChannelView). */
export interface SshChannelView {
	readonly id: string;
	/** "menu", "session" (relayed shell, exec, scp, sftp) or "tunnel" (ProxyJump: end to end encrypted). */
	readonly kind: string;
	readonly server: string | null;
	readonly startedAt: number;
	readonly bytesIn: number;
	readonly bytesOut: number;
}

/** One live SSH connection as the API lists it: what the console's /admin/live shows. */
export interface SshSessionView {
	readonly id: string;
	readonly username: string;
	readonly source: string;
	/** The node holding the connection (ssh.node_name), and its id. */
	readonly node: string;
	readonly nodeId: string;
	readonly startedAt: number;
	readonly firstFactor: string;
	/** A method id, "remembered:<method>" or "not-required" (then secondFactorNote says why). */
	readonly secondFactor: string;
	readonly secondFactorNote: string;
	/** How the console words it (flows/live-sessions.ts secondFactorLabel). */
	readonly secondFactorLabel: string;
	/** As of the owning node's last flush (every few seconds). */
	readonly bytesIn: number;
	readonly bytesOut: number;
	readonly updatedAt: number;
	/** The servers its channels are relayed to, each once. */
	readonly servers: readonly string[];
	readonly channels: readonly SshChannelView[];
}

/** What ending a live SSH connection (or one channel of it) asks for. */
export interface SshTerminateRequest {
	readonly id: string;
	readonly channelId: string | null;
	/** Plain text, at most 200 characters; it goes into the audit log with the actor. */
	readonly reason: string;
}

/**
 * `GET/DELETE /api/v1/ssh-sessions` (docs/api.md "Live SSH sessions"): the cross-node registry
 * of live SSH connections (flows/live-sessions.ts), passed by the composition root
 * (app/web-ssh-sessions.ts). When null, those routes answer 501. `terminate` records a request the
 * owning node acts on within its poll interval, audited with the actor (a token's actor names the
 * token id); it throws ERR_NOT_FOUND for a connection (or channel) no live node holds and
 * ERR_INPUT for a malformed id or reason.
 */
export interface WebSshSessions {
	list(): Promise<readonly SshSessionView[]>;
	terminate(actor: Actor, request: SshTerminateRequest): Promise<{ readonly requestId: string; readonly node: string }>;
}

/** The browser sessions of the console (rows in web_sessions; src/web/session.ts drives them). */
export type WebSessions = Pick<
	SessionStore,
	"find" | "findForRequest" | "create" | "rotate" | "update" | "touch" | "remove" | "removeAllOfUser" | "purgeExpired"
>;

/** Read-only views the pages show: who has which factors, groups and settings. */
export interface WebDirectory {
	readonly users: Pick<UserStore, "findById" | "list">;
	readonly groups: Pick<GroupStore, "list" | "groupsOfUser" | "groupNamesByUser" | "membersOf">;
	readonly factors: Pick<FactorStore, "listActive" | "activeCountsByUser">;
	readonly recoveryCodes: Pick<RecoveryCodeStore, "countUnused">;
	readonly settings: Pick<SettingsStore, "getTwoFactor">;
}

/** The SSH gateway's side the console shows: its keys. */
export interface WebGateway {
	/** The key the gateway logs in to target servers with (created on first use). */
	targetKey(): GatewayKey;
	/** The running gateway's host key fingerprint, or null before its first start. */
	hostFingerprint(): Promise<string | null>;
}

/** What the WebAuthn pages ask of the method: ceremony options and the SSH approval link. */
export type WebauthnWeb = Pick<WebauthnMethod, "registrationOptions" | "assertionOptionsForAttempt" | "viewApproval" | "approve" | "deny">;

/** Whether Duo runs the Universal Prompt on the web (a Web SDK application is configured). */
export type DuoWeb = Pick<DuoMethod, "webPrompt">;

/** The web faces of the methods that have their own pages (absent when not built or not configured). */
export interface WebMethods {
	readonly webauthn: WebauthnWeb | null;
	readonly duo: DuoWeb | null;
	/** Duo's Universal Prompt: the live attempt the waiting round is stored on. */
	readonly attempts: Pick<AttemptStore, "getLive">;
	/** Read on every use: the YubiKey page asks whether validation is offline. */
	readonly settings: Pick<MethodSettingsStore, "load">;
}

/** LDAP / Active Directory as the console's Identity sources page shows it (docs/identity.md). */
export interface WebIdentitySources {
	readonly ldap: {
		readonly url: string;
		readonly transport: "LDAPS" | "StartTLS" | "plain LDAP";
		/** Plain LDAP: passwords in clear on the network (shown in red). */
		readonly insecure: boolean;
		readonly userBase: string;
		readonly userFilter: string;
		readonly groupMap: readonly GroupMapping[];
		readonly syncMinutes: number;
		readonly timeoutMs: number;
	};
	readonly accounts: Pick<DirectoryAccounts, "testConnection" | "testLogin">;
}

export interface WebServices {
	readonly config: { readonly http: Config["http"]; readonly security: Config["security"]; readonly log: Config["log"] };
	readonly consoleUrl: string;
	readonly clock: Clock;
	readonly random: Random;
	readonly login: WebLogin;
	readonly enrollment: WebEnrollment;
	readonly admin: WebAdmin;
	readonly apiTokens: WebApiTokens;
	/** Live SSH sessions of every node for the API; null when not wired (the API answers 501). */
	readonly sshSessions: WebSshSessions | null;
	readonly sessions: WebSessions;
	readonly sessionGate: SessionGate;
	readonly audit: Pick<AuditLog, "write" | "record" | "query">;
	/** Tells a database outage from other failures (answered 503 "temporarily unavailable"). */
	readonly databaseHealth: Pick<DatabaseHealth, "isOutage">;
	readonly directory: WebDirectory;
	/** The configured directory (LDAP / AD), or null when none is configured. */
	readonly identitySources: WebIdentitySources | null;
	/** Servers, grants, credentials and host keys (every change validated and audited by the service). */
	readonly servers: Pick<
		ServerService,
		"list" | "add" | "update" | "remove" | "grant" | "revoke" | "setCredential" | "resetHostKey" | "globalRecordingMode" | "setGlobalRecordingMode"
	>;
	/** Session recordings of every node, from the shared database (read only). */
	readonly recordings: Pick<RecordingStore, "list" | "find" | "read" | "lastChunk">;
	/** Trusted networks of the 2FA policy (validated and audited by the service). */
	readonly networkRules: Pick<NetworkRuleService, "list" | "set" | "clear">;
	/** Live SSH connections of every node: the list and the terminate request (audited by the service). */
	readonly liveSessions: Pick<LiveSessionService, "list" | "terminate">;
	/** The web terminal: open-time checks (grant, per-server step-up), the live re-check, and the target behind a port. */
	readonly terminal: Pick<WebTerminalService, "authorize" | "open" | "mayContinue" | "pollMs">;
	/** The servers granted to a user (the web terminal's list). */
	readonly grantedServers: Pick<ServerService, "listForUser">;
	readonly gateway: WebGateway;
	readonly sshKeys: SshKeyService;
	readonly methods: WebMethods;
	/** What the method settings page edits through (see WebContext.app). */
	/** Second-factor method backends (settings, connection tests), validated and audited. */
	readonly methodAdmin: MethodAdmin;
	/** The shared CSRF key (created once, sealed in the settings table; src/web/csrf.ts). */
	csrfKey(): Promise<Buffer>;
}
