/**
 * The composition root's wiring for the web console: the narrow services src/web/services.ts
 * declares, made from the app's flows, stores and methods. The console receives only these.
 */
import { isDuoMethod } from "../methods/duo/duo-method.ts";
import { isWebauthnMethod } from "../methods/webauthn/webauthn-method.ts";
import { SessionGate } from "../flows/session-gate.ts";
import { gatewayHostFingerprint } from "../servers/gateway-host-key.ts";
import { loadOrCreateGatewayKey } from "../servers/gateway-key.ts";
import { serverService } from "../servers/server-service.ts";
import { sshKeyService } from "../servers/ssh-keys.ts";
import { loadCsrfKey } from "../web/csrf.ts";
import { webSshSessions } from "./web-ssh-sessions.ts";
import type { WebServices } from "../web/services.ts";
import type { Portcullis } from "./portcullis.ts";

export function webServices(app: Portcullis): WebServices {
	const { stores, config } = app;
	const webauthn = app.methods.get("webauthn");
	const duo = app.methods.get("duo");
	const servers = serverService(app);
	return {
		config: { http: config.http, security: config.security, log: config.log },
		consoleUrl: app.consoleUrl,
		clock: app.clock,
		random: app.random,
		login: app.login,
		enrollment: app.enrollment,
		admin: app.admin,
		apiTokens: app.apiTokens,
		sshSessions: webSshSessions(app.liveSessions),
		sessions: stores.sessions,
		sessionGate: new SessionGate({ login: app.login, policyVersion: stores.policyVersion, clock: app.clock }),
		audit: stores.audit,
		databaseHealth: app.health,
		identitySources:
			app.directory === null || config.ldap === undefined
				? null
				: {
						ldap: {
							url: config.ldap.url,
							transport: config.ldap.url.startsWith("ldaps:") ? "LDAPS" : config.ldap.start_tls ? "StartTLS" : "plain LDAP",
							insecure: !config.ldap.url.startsWith("ldaps:") && !config.ldap.start_tls,
							userBase: config.ldap.user_base,
							userFilter: config.ldap.user_filter,
							groupMap: Object.entries(config.ldap.group_map).map(([directoryGroup, group]) => ({ directoryGroup, group })),
							syncMinutes: config.ldap.sync_minutes,
							timeoutMs: config.ldap.timeout_ms,
						},
						accounts: app.directory,
					},
		directory: { users: stores.users, groups: stores.groups, factors: stores.factors, recoveryCodes: stores.recoveryCodes, settings: stores.settings },
		servers,
		recordings: stores.recordings,
		networkRules: app.networkRules,
		liveSessions: app.liveSessions,
		terminal: app.webTerminal,
		grantedServers: app.servers,
		gateway: {
			targetKey: () => loadOrCreateGatewayKey(config),
			hostFingerprint: () => gatewayHostFingerprint(stores.settings),
		},
		sshKeys: sshKeyService(app),
		methods: {
			webauthn: isWebauthnMethod(webauthn) ? webauthn : null,
			duo: isDuoMethod(duo) ? duo : null,
			attempts: stores.attempts,
			settings: app.methodSettings,
		},
		methodAdmin: app.methodAdmin,
		csrfKey: () => loadCsrfKey({ settings: stores.settings, box: app.box, random: app.random }),
	};
}
