/**
 * The web console's route modules. To add pages, write a RouteModule (every route declares
 * `config.access`; see ../context.ts) and add ONE line to ROUTE_MODULES below.
 */
import type { FastifyInstance } from "fastify";
import type { RouteModule, WebContext } from "../context.ts";
import { apiRoutes } from "../api/plugin.ts";
import { accountRoutes } from "./account.tsx";
import { accountKeysRoutes } from "./account-keys.tsx";
import { accountTokensRoutes } from "./account-tokens.tsx";
import { adminRoutes } from "./admin.tsx";
import { adminAuditRoutes } from "./admin-audit.tsx";
import { adminGroupRoutes } from "./admin-groups.tsx";
import { adminUserRoutes } from "./admin-users.tsx";
import { adminServersRoutes } from "./admin-servers.tsx";
import { adminNetworkRoutes } from "./admin-network.tsx";
import { adminIdentityRoutes } from "./admin-identity.tsx";
import { adminRecordingRoutes } from "./admin-recordings.tsx";
import { adminLiveRoutes } from "./admin-live.tsx";
import { duoUniversalRoutes } from "./duo-universal.tsx";
import { enrollRoutes } from "./enroll.tsx";
import { loginRoutes } from "./login.tsx";
import { methodAdminRoutes } from "./methods-admin.tsx";
import { methodEnrollRoutes } from "./methods-enroll.tsx";
import { passwordLinkRoutes } from "./password-link.tsx";
import { stepUpRoutes } from "./step-up.tsx";
import { webTerminalRoutes } from "./web-terminal.tsx";
import { webauthnRoutes } from "./webauthn.tsx";
import { webauthnAnswerRoutes } from "./webauthn-answer.tsx";
import { webauthnApprovalRoutes } from "./webauthn-approval.tsx";

export const ROUTE_MODULES: readonly RouteModule[] = [
	loginRoutes,
	enrollRoutes,
	accountRoutes,
	stepUpRoutes,
	accountKeysRoutes,
	accountTokensRoutes,
	adminRoutes,
	adminUserRoutes,
	adminGroupRoutes,
	adminAuditRoutes,
	adminServersRoutes,
	adminNetworkRoutes,
	adminIdentityRoutes,
	adminRecordingRoutes,
	adminLiveRoutes,
	methodEnrollRoutes,
	methodAdminRoutes,
	webauthnRoutes,
	webauthnAnswerRoutes,
	webauthnApprovalRoutes,
	duoUniversalRoutes,
	passwordLinkRoutes,
	// The REST API (/api/v1, Bearer tokens only: src/web/api/plugin.ts).
	apiRoutes,
	webTerminalRoutes,
	// SSH helpers: servers, recordings and keys pages go here.
];

export async function registerRoutes(server: FastifyInstance, web: WebContext): Promise<void> {
	for (const register of ROUTE_MODULES) await register(server, web);
}
