/**
 * The composition root's wiring for the admin CLI: the narrow services src/cli/services.ts
 * declares, made from the app's flows and stores. Commands receive only these.
 */
import type { CliServices } from "../cli/services.ts";
import { createMethodAdmin } from "../methods/method-admin.ts";
import { sshKeyService } from "../servers/ssh-keys.ts";
import type { Portcullis } from "./portcullis.ts";

export function cliServices(app: Portcullis): CliServices {
	const { stores } = app;
	return {
		clock: app.clock,
		console: { url: app.consoleUrl, configured: app.config.http.public_url !== undefined },
		admin: app.admin,
		directory: { users: stores.users, groups: stores.groups, factors: stores.factors, settings: stores.settings },
		audit: stores.audit,
		servers: app.servers,
		recordings: stores.recordings,
		networkRules: app.networkRules,
		liveSessions: app.liveSessions,
		methods: createMethodAdmin(app),
		sshKeys: sshKeyService(app),
		apiTokens: app.apiTokens,
	};
}
