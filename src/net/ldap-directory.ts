/**
 * The LDAP / Active Directory client (docs/identity.md): one bounded exchange per call,
 * over `ldapts`. The password is checked by binding as the user after a search with the service
 * account (never a hash compare); the connection is LDAPS or StartTLS with the server certificate
 * verified against the configured CA, plain LDAP only with the explicit `insecure` flag.
 *
 * Every call has one deadline for the whole exchange (connect, TLS, binds, searches), and one cap
 * on the bytes the server may send: past either the sockets are destroyed and the answer is
 * "unavailable" (a slow or hostile server can neither hang a login nor fill memory).
 */
import net from "node:net";
import tls from "node:tls";
import { Client, InvalidCredentialsError, type Entry } from "ldapts";
import { fillFilter, normaliseDn } from "../core/ldap-filter.ts";

export interface LdapDirectoryOptions {
	/** ldaps://host:636 or ldap://host:389 (the latter with startTls, or insecure). */
	readonly url: string;
	readonly startTls: boolean;
	/** Plain LDAP without TLS: passwords cross the network in clear. Only when set explicitly. */
	readonly insecure: boolean;
	/** PEM CA certificate(s) the server certificate must chain to; null: the system's roots. */
	readonly ca: string | null;
	readonly bindDn: string;
	readonly bindPassword: string;
	readonly userBase: string;
	/** Search filter with `{username}` (RFC 4515-escaped before it is put in). */
	readonly userFilter: string;
	/** The attribute listing the user's groups (AD, OpenLDAP memberof overlay); "" to skip. */
	readonly memberOfAttribute: string;
	/** A group search for servers without memberOf; "" to skip. */
	readonly groupBase: string;
	/** With `{dn}` and `{username}`, e.g. (|(member={dn})(memberUid={username})). */
	readonly groupFilter: string;
	readonly timeoutMs: number;
	readonly maxResponseBytes: number;
}

export interface DirectoryEntry {
	readonly dn: string;
	/** Normalised DNs (ldap-filter.ts normaliseDn) of the groups the entry belongs to. */
	readonly groups: readonly string[];
	/** Active Directory userAccountControl bit 2 (ACCOUNTDISABLE, MS-ADTS §2.2.16). */
	readonly disabled: boolean;
}

export type DirectoryFind = { kind: "found"; entry: DirectoryEntry } | { kind: "unknown" } | { kind: "unavailable"; reason: string };
export type DirectoryBind = { kind: "ok"; entry: DirectoryEntry } | { kind: "wrong" } | { kind: "unknown" } | { kind: "unavailable"; reason: string };
export type DirectoryTest = { ok: true; detail: string } | { ok: false; reason: string };

/** AD userAccountControl ACCOUNTDISABLE (MS-ADTS §2.2.16). */
const ACCOUNT_DISABLE = 0x2;
/** Group entries read per user at most (a huge answer is cut by maxResponseBytes first anyway). */
const GROUP_LIMIT = 1000;

class DeadlineError extends Error {}

function attributeValues(entry: Entry, name: string): string[] {
	const key = Object.keys(entry).find((k) => k.toLowerCase() === name.toLowerCase());
	if (key === undefined) return [];
	const value = entry[key];
	const list = Array.isArray(value) ? value : [value];
	return list.map((item) => (Buffer.isBuffer(item) ? item.toString("utf8") : String(item)));
}

export class LdapDirectory {
	constructor(private readonly options: LdapDirectoryOptions) {
		const scheme = new URL(options.url).protocol;
		if (scheme !== "ldaps:" && scheme !== "ldap:") throw new Error(`LDAP url must be ldaps:// or ldap://, not ${scheme}`);
		if (scheme === "ldap:" && !options.startTls && !options.insecure) throw new Error("plain ldap:// needs start_tls = true (or the explicit insecure flag)");
	}

	/** The service-account search: does the user exist, with which DN, groups and state. */
	find(username: string): Promise<DirectoryFind> {
		return this.exchange(async (client) => {
			await client.bind(this.options.bindDn, this.options.bindPassword);
			const entry = await this.searchUser(client, username);
			return entry === null ? { kind: "unknown" } : { kind: "found", entry };
		});
	}

	/** Search with the service account, then bind as the user with the password (RFC 4513 §5.1.3: no empty password, that is an unauthenticated bind). */
	authenticate(username: string, password: string): Promise<DirectoryBind> {
		return this.exchange(async (client) => {
			await client.bind(this.options.bindDn, this.options.bindPassword);
			const entry = await this.searchUser(client, username);
			if (entry === null) return { kind: "unknown" };
			if (password.length === 0) return { kind: "wrong" };
			try {
				await client.bind(entry.dn, password);
			} catch (error) {
				if (error instanceof InvalidCredentialsError) return { kind: "wrong" };
				throw error;
			}
			return { kind: "ok", entry };
		});
	}

	/** Connect, TLS, service bind and one search of the user base: what the console's Test connection shows. */
	testConnection(): Promise<DirectoryTest> {
		return this.exchange(async (client) => {
			await client.bind(this.options.bindDn, this.options.bindPassword);
			const { searchEntries } = await client.search(this.options.userBase, { scope: "base", attributes: ["1.1"] });
			const transport = this.options.url.startsWith("ldaps:") ? "LDAPS" : this.options.startTls ? "StartTLS" : "plain LDAP (insecure)";
			return { ok: true as const, detail: `${transport}: service account bound, user base ${searchEntries[0]?.dn ?? this.options.userBase} readable` };
		}).then((result) => ("kind" in result ? { ok: false, reason: result.reason } : result));
	}

	private async searchUser(client: Client, username: string): Promise<DirectoryEntry | null> {
		const { userBase, userFilter, memberOfAttribute, groupBase, groupFilter } = this.options;
		const attributes = ["userAccountControl", ...(memberOfAttribute === "" ? [] : [memberOfAttribute])];
		const filter = fillFilter(userFilter, { username });
		const { searchEntries } = await client.search(userBase, { scope: "sub", filter, attributes, sizeLimit: 2 });
		// Zero or several entries: no one to bind as (several would let the directory pick).
		if (searchEntries.length !== 1) return null;
		const found = searchEntries[0] as Entry;
		const groups = new Set(memberOfAttribute === "" ? [] : attributeValues(found, memberOfAttribute).map(normaliseDn));
		if (groupBase !== "") {
			const groupSearch = await client.search(groupBase, {
				scope: "sub",
				filter: fillFilter(groupFilter, { username, dn: found.dn }),
				attributes: ["1.1"],
				sizeLimit: GROUP_LIMIT,
			});
			for (const group of groupSearch.searchEntries) groups.add(normaliseDn(group.dn));
		}
		const control = Number.parseInt(attributeValues(found, "userAccountControl")[0] ?? "0", 10);
		return { dn: found.dn, groups: [...groups].sort(), disabled: Number.isFinite(control) && (control & ACCOUNT_DISABLE) !== 0 };
	}

	/**
	 * One connection for one job, under one deadline and one byte cap; a failure that is not the
	 * user's wrong password is "unavailable" with its reason (for the audit log, never the user).
	 */
	private async exchange<T>(job: (client: Client) => Promise<T>): Promise<T | { kind: "unavailable"; reason: string }> {
		const { url, ca, timeoutMs, maxResponseBytes, startTls } = this.options;
		const sockets: net.Socket[] = [];
		let received = 0;
		let fault: string | null = null;
		const kill = (reason: string) => {
			fault ??= reason;
			for (const socket of sockets) socket.destroy();
		};
		const counter = (chunk: Buffer) => {
			received += chunk.length;
			if (received > maxResponseBytes) kill(`the server sent more than ${maxResponseBytes} bytes`);
		};
		const watch = <S extends net.Socket>(socket: S): S => {
			sockets.push(socket);
			socket.on("data", counter);
			return socket;
		};
		// StartTLS (RFC 4511 §4.14) wraps the plain socket: from then on the TLS socket is counted (its
		// plaintext), and the plain one must not have a reader of its own that would take TLS records.
		const secure = (...args: [tls.ConnectionOptions] | [number, string, tls.ConnectionOptions]) => {
			if (args.length === 1) {
				args[0].socket?.removeListener("data", counter);
				return watch(tls.connect(args[0]));
			}
			return watch(tls.connect(...args));
		};
		const host = new URL(url).hostname.replace(/^\[|\]$/g, "");
		const tlsOptions: tls.ConnectionOptions = {
			...(ca === null ? {} : { ca }),
			rejectUnauthorized: true,
			minVersion: "TLSv1.2",
			...(net.isIP(host) === 0 ? { servername: host } : {}),
		};
		const client = new Client({
			url,
			timeout: timeoutMs,
			connectTimeout: timeoutMs,
			// Only for ldaps:// — ldapts treats tlsOptions on an ldap:// URL as "connect with TLS", which a StartTLS port refuses.
			...(url.startsWith("ldaps:") ? { tlsOptions } : {}),
			createConnection: ((...args: Parameters<typeof net.connect>) => watch(net.connect(...args))) as typeof net.connect,
			createSecureConnection: secure as typeof tls.connect,
		});
		let timer: NodeJS.Timeout | undefined;
		const deadline = new Promise<never>((_, reject) => {
			timer = setTimeout(() => {
				kill(`no answer within ${timeoutMs} ms`);
				reject(new DeadlineError());
			}, timeoutMs);
		});
		try {
			const work = (async () => {
				if (startTls && url.startsWith("ldap:")) await client.startTLS({ ...tlsOptions, host });
				return job(client);
			})();
			work.catch(() => undefined);
			return await Promise.race([work, deadline]);
		} catch (error) {
			return { kind: "unavailable", reason: fault ?? (error instanceof Error ? `${error.name}: ${error.message}` : String(error)) };
		} finally {
			clearTimeout(timer);
			// Unbind is best effort and bounded too: a server that stopped answering gets its socket closed.
			if (fault === null) await Promise.race([client.unbind().catch(() => undefined), new Promise((resolve) => setTimeout(resolve, 200).unref())]);
			for (const socket of sockets) socket.destroy();
		}
	}
}
