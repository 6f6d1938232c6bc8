/**
 * What the CLI's commands may use: the admin service and the other narrow services the console
 * uses too, built by the composition root (src/app/cli-services.ts). Never the app object, never a
 * store with write access: every change goes through a service that validates and audits it.
 */
import type { NetworkRuleService } from "../flows/network-rules.ts";
import type { LiveSessionService } from "../flows/live-sessions.ts";
import type { Clock } from "../core/clock.ts";
import type { AdminService } from "../flows/admin-service.ts";
import type { ApiTokenService } from "../flows/api-tokens.ts";
import type { MethodAdmin } from "../methods/method-admin.ts";
import type { ServerService } from "../servers/server-service.ts";
import type { SshKeyService } from "../servers/ssh-keys.ts";
import type { AuditLog } from "../storage/audit-log.ts";
import type { FactorStore } from "../storage/factor-store.ts";
import type { RecordingStore } from "../storage/recording-store.ts";
import type { GroupStore } from "../storage/group-store.ts";
import type { SettingsStore } from "../storage/settings-store.ts";
import type { UserStore } from "../storage/user-store.ts";

/** Read-only views for listings. */
export interface CliDirectory {
	readonly users: Pick<UserStore, "findByUsername" | "list">;
	readonly groups: Pick<GroupStore, "list" | "groupsOfUser" | "membersOf">;
	readonly factors: Pick<FactorStore, "listActive">;
	readonly settings: Pick<SettingsStore, "getTwoFactor">;
}

export interface CliServices {
	readonly clock: Clock;
	/**
	 * The console's address that links name: http.public_url, or (configured: false) a guess from
	 * http.listen, which is wrong whenever users reach the console at another address.
	 */
	readonly console: { readonly url: string; readonly configured: boolean };
	readonly admin: AdminService;
	readonly directory: CliDirectory;
	readonly audit: Pick<AuditLog, "query" | "verify">;
	readonly servers: ServerService;
	/** Session recordings (read only): listing and hash-chain verification. */
	readonly recordings: Pick<RecordingStore, "list" | "allIds" | "verify">;
	readonly networkRules: NetworkRuleService;
	/** Live SSH connections of every node: list, and end one (audited by the service). */
	readonly liveSessions: Pick<LiveSessionService, "list" | "terminate">;
	readonly methods: MethodAdmin;
	readonly sshKeys: SshKeyService;
	/** Service accounts and their API tokens (`portcullis token …`). */
	readonly apiTokens: Pick<ApiTokenService, "createServiceAccount" | "createForService" | "listService" | "revokeService">;
}
