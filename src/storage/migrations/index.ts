import type { Migration } from "kysely";
import { sshKeysMigration } from "./0002-ssh-keys.ts";
import { serversMigration } from "./0003-servers.ts";
import { webauthnMigration } from "./0004-webauthn.ts";
import { keywordChallengesMigration } from "./0005-keyword-challenges.ts";

/**
 * Later migrations, in order. Each feature adds its own file here (e.g. 0002-ssh.ts) and a line
 * below; names sort lexically, so keep the NNNN- prefix.
 */
export function extraMigrations(dialect: "sqlite" | "postgres"): Record<string, Migration> {
	return {
		"0002-ssh-keys": sshKeysMigration(dialect),
		"0003-servers": serversMigration(dialect),
		"0004-webauthn": webauthnMigration(dialect),
		"0005-keyword-challenges": keywordChallengesMigration(dialect),
	};
}
