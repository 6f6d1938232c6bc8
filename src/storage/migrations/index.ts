import type { Migration } from "kysely";

/**
 * Later migrations, in order. Each feature adds its own file here (e.g. 0002-ssh.ts) and a line
 * below; names sort lexically, so keep the NNNN- prefix.
 */
export function extraMigrations(_dialect: "sqlite" | "postgres"): Record<string, Migration> {
	return {};
}
