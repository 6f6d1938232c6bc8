/**
 * Builds the LDAP / Active Directory side from the configuration (docs/identity.md): the client
 * (src/net/ldap-directory.ts) behind the flows' port, and the periodic sync of directory accounts.
 */
import { readFileSync } from "node:fs";
import type { Config } from "../config/config.ts";
import type { Logger } from "../core/logger.ts";
import { DirectoryAccounts, type DirectoryAccountsDeps, type DirectoryPort } from "../flows/directory-accounts.ts";
import { LdapDirectory } from "../net/ldap-directory.ts";

type LdapConfig = NonNullable<Config["ldap"]>;

/** The configured directory client; files (CA, service password) are read once here. */
export function ldapDirectoryFromConfig(ldap: LdapConfig): DirectoryPort {
	const bindPassword = ldap.bind_password_file === "" ? ldap.bind_password : readFileSync(ldap.bind_password_file, "utf8").replace(/\r?\n$/, "");
	return new LdapDirectory({
		url: ldap.url,
		startTls: ldap.start_tls,
		insecure: ldap.insecure,
		ca: ldap.ca_file === "" ? null : readFileSync(ldap.ca_file, "utf8"),
		bindDn: ldap.bind_dn,
		bindPassword,
		userBase: ldap.user_base,
		userFilter: ldap.user_filter,
		memberOfAttribute: ldap.member_of_attribute,
		groupBase: ldap.group_base,
		groupFilter: ldap.group_filter,
		timeoutMs: ldap.timeout_ms,
		maxResponseBytes: ldap.max_response_bytes,
	});
}

export function directoryAccounts(ldap: LdapConfig, deps: Omit<DirectoryAccountsDeps, "directory" | "mapping">, directory?: DirectoryPort): DirectoryAccounts {
	return new DirectoryAccounts({
		...deps,
		directory: directory ?? ldapDirectoryFromConfig(ldap),
		mapping: Object.entries(ldap.group_map).map(([directoryGroup, group]) => ({ directoryGroup, group })),
	});
}

/** The periodic sync (ldap.sync_minutes; 0: none). One run at a time; a failed run is logged and audited by the flow. */
export function startDirectorySync(accounts: DirectoryAccounts | null, minutes: number, logger: Logger): { stop(): void } {
	if (accounts === null || minutes === 0) return { stop: () => undefined };
	let running = false;
	const timer = setInterval(() => {
		if (running) return;
		running = true;
		accounts
			.syncAll()
			.then((report) => logger.info({ ...report }, "directory sync finished"))
			.catch((error: unknown) => logger.error({ err: error }, "directory sync failed"))
			.finally(() => {
				running = false;
			});
	}, minutes * 60_000);
	timer.unref();
	return { stop: () => clearInterval(timer) };
}
