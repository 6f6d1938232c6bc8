import type { Migration } from "kysely/migration";
import { sshKeysMigration } from "./0002-ssh-keys.ts";
import { serversMigration } from "./0003-servers.ts";
import { webauthnMigration } from "./0004-webauthn.ts";
import { passwordThrottleMigration } from "./0006-password-throttle.ts";
import { keywordChallengesMigration } from "./0005-keyword-challenges.ts";
import { policyVersionMigration } from "./0010-policy-version.ts";
import { enrolmentGuardMigration } from "./0008-enrolment-guard.ts";
import { recordingChunksMigration } from "./0013-recording-chunks.ts";
import { inflightAttemptsMigration } from "./0011-inflight-attempts.ts";
import { stepUpNetworkMigration } from "./0015-step-up-network.ts";
import { rolloutMigration } from "./0014-rollout.ts";
import { auditChainMigration } from "./0012-audit-chain.ts";
import { apiTokensMigration } from "./0016-api-tokens.ts";
import { liveSessionsMigration } from "./0017-live-sessions.ts";
import { passwordLinksMigration } from "./0019-password-links.ts";
import { hotPathIndexesMigration } from "./0021-hot-path-indexes.ts";
import { directoryUsersMigration } from "./0023-directory-users.ts";
import { sftpCaptureMigration } from "./0026-sftp-capture.ts";

/**
 * Later migrations, in order. Each feature adds its own file here (e.g. 0002-ssh.ts) and a line
 * below; names sort lexically, so keep the NNNN- prefix.
 */
export function extraMigrations(dialect: "sqlite" | "postgres"): Record<string, Migration> {
	return {
		"0002-ssh-keys": sshKeysMigration(dialect),
		"0003-servers": serversMigration(dialect),
		"0004-webauthn": webauthnMigration(dialect),
		"0006-password-throttle": passwordThrottleMigration(dialect),
		"0005-keyword-challenges": keywordChallengesMigration(dialect),
		"0008-enrolment-guard": enrolmentGuardMigration(dialect),
		"0010-policy-version": policyVersionMigration(dialect),
		"0013-recording-chunks": recordingChunksMigration(dialect),
		"0011-inflight-attempts": inflightAttemptsMigration(dialect),
		"0015-step-up-network": stepUpNetworkMigration(dialect),
		"0014-rollout": rolloutMigration(dialect),
		"0012-audit-chain": auditChainMigration(dialect),
		"0016-api-tokens": apiTokensMigration(dialect),
		"0017-live-sessions": liveSessionsMigration(dialect),
		"0019-password-links": passwordLinksMigration(dialect),
		"0021-hot-path-indexes": hotPathIndexesMigration(dialect),
		"0023-directory-users": directoryUsersMigration(dialect),
		"0026-sftp-capture": sftpCaptureMigration(dialect),
	};
}
