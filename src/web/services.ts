/**
 * What the web console may call: narrow services built by the composition root
 * (src/app/web-services.ts). The web adapter never sees the app object, a database handle or a
 * store it could write to on its own; every change goes through a flow or a service below it
 * (docs/architecture.md "The web adapter").
 */
import type { Config } from "../config/config.ts";
import type { Clock } from "../core/clock.ts";
import type { Random } from "../core/random.ts";
import type { AdminService } from "../flows/admin-service.ts";
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
>;

/** The browser sessions of the console (rows in web_sessions; src/web/session.ts drives them). */
export type WebSessions = Pick<SessionStore, "find" | "create" | "rotate" | "update" | "touch" | "remove" | "removeAllOfUser" | "purgeExpired">;

/** Read-only views the pages show: who has which factors, groups and settings. */
export interface WebDirectory {
	readonly users: Pick<UserStore, "findById" | "list">;
	readonly groups: Pick<GroupStore, "list" | "groupsOfUser" | "membersOf">;
	readonly factors: Pick<FactorStore, "listActive">;
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

export interface WebServices {
	readonly config: { readonly http: Config["http"]; readonly security: Config["security"] };
	readonly consoleUrl: string;
	readonly clock: Clock;
	readonly random: Random;
	readonly login: WebLogin;
	readonly enrollment: WebEnrollment;
	readonly admin: WebAdmin;
	readonly sessions: WebSessions;
	readonly sessionGate: SessionGate;
	readonly audit: Pick<AuditLog, "write" | "record" | "query">;
	/** Tells a database outage from other failures (answered 503 "temporarily unavailable"). */
	readonly databaseHealth: Pick<DatabaseHealth, "isOutage">;
	readonly directory: WebDirectory;
	/** Servers, grants, credentials and host keys (every change validated and audited by the service). */
	readonly servers: Pick<
		ServerService,
		"list" | "add" | "update" | "remove" | "grant" | "revoke" | "setCredential" | "resetHostKey" | "globalRecordingMode" | "setGlobalRecordingMode"
	>;
	/** Session recordings of every node, from the shared database (read only). */
	readonly recordings: Pick<RecordingStore, "list" | "find" | "read">;
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
