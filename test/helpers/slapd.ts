/**
 * A real OpenLDAP slapd (Debian package `slapd`) for the directory tests (docs/identity.md): a
 * generated slapd.conf (`-f`) in a mkdtemp folder, one mdb database `dc=example,dc=test`, the
 * memberof overlay (memberOf like Active Directory), TLS with a test-ca.ts certificate for LDAPS
 * and StartTLS, and a tiny schema for AD's userAccountControl so the disabled bit is tested as AD
 * sends it. Seeded through the overlay (ldapts as the rootdn) so memberOf is maintained.
 *
 * When slapd is missing the tests skip, or FAIL under PORTCULLIS_STRICT_PEERS=1.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Attribute, Change, Client } from "ldapts";
import { makeTestCa, type TestCa } from "./test-ca.ts";

export const SLAPD = "/usr/sbin/slapd";
export const SUFFIX = "dc=example,dc=test";
export const ROOT_DN = `cn=admin,${SUFFIX}`;
export const ROOT_PASSWORD = "root-secret";
export const SERVICE_DN = `cn=portcullis,ou=services,${SUFFIX}`;
export const SERVICE_PASSWORD = "service-secret";
export const PEOPLE = `ou=people,${SUFFIX}`;
export const GROUPS = `ou=groups,${SUFFIX}`;

export function slapdSkip(): false | string {
	if (existsSync(SLAPD)) return false;
	if (process.env.PORTCULLIS_STRICT_PEERS === "1")
		throw new Error("slapd is required for these tests (PORTCULLIS_STRICT_PEERS=1): apt-get install slapd ldap-utils");
	return "slapd not installed";
}

export interface SeedUser {
	readonly uid: string;
	readonly password: string;
	/** AD userAccountControl (512 normal, 514 disabled); absent: the attribute is not set. */
	readonly userAccountControl?: number;
}

export interface SeedGroup {
	readonly cn: string;
	/** uids of members (groupOfNames: by DN, so the memberof overlay fills memberOf). */
	readonly members: readonly string[];
	/** posixGroup with memberUid instead (no memberOf: found by the group search). */
	readonly posix?: boolean;
}

export interface Slapd {
	readonly ca: TestCa;
	/** ldap://127.0.0.1:port (StartTLS or insecure) */
	readonly ldapUrl: string;
	/** ldaps://127.0.0.1:port */
	readonly ldapsUrl: string;
	userDn(uid: string): string;
	groupDn(cn: string): string;
	/** As the rootdn: add, modify, delete entries while the tests run. */
	admin<T>(job: (client: Client) => Promise<T>): Promise<T>;
	setDisabled(uid: string, disabled: boolean): Promise<void>;
	removeUser(uid: string): Promise<void>;
	removeMember(group: string, uid: string): Promise<void>;
	/** Stops slapd (the directory outage) ; start() brings it back on the same ports. */
	stop(): Promise<void>;
	start(): Promise<void>;
	close(): Promise<void>;
}

async function freePort(): Promise<number> {
	const server = net.createServer();
	await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
	const port = (server.address() as net.AddressInfo).port;
	await new Promise<void>((resolve) => server.close(() => resolve()));
	return port;
}

async function waitForPort(port: number, child: ChildProcess, log: () => string): Promise<void> {
	for (let i = 0; ; i++) {
		if (child.exitCode !== null) throw new Error(`slapd exited (${child.exitCode}): ${log()}`);
		const ok = await new Promise<boolean>((resolve) => {
			const socket = net.connect(port, "127.0.0.1");
			socket.once("connect", () => {
				socket.destroy();
				resolve(true);
			});
			socket.once("error", () => resolve(false));
		});
		if (ok) return;
		if (i > 1200) throw new Error(`slapd did not listen on ${port}: ${log()}`);
		await new Promise((resolve) => setTimeout(resolve, 50));
	}
}

export async function startSlapd(users: readonly SeedUser[], groups: readonly SeedGroup[]): Promise<Slapd> {
	const dir = mkdtempSync(join(tmpdir(), "portcullis-slapd-"));
	const ca = makeTestCa();
	writeFileSync(join(dir, "ca.pem"), ca.caCert);
	writeFileSync(join(dir, "server.pem"), ca.serverCert);
	writeFileSync(join(dir, "server.key"), ca.serverKey, { mode: 0o600 });
	mkdirSync(join(dir, "db"));
	const conf = `
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
attributetype ( 1.2.840.113556.1.4.8 NAME 'userAccountControl' SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
objectclass ( 1.3.6.1.4.1.32473.1.1 NAME 'portcullisTestAdUser' AUXILIARY MAY userAccountControl )
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload memberof
pidfile ${join(dir, "slapd.pid")}
TLSCACertificateFile ${join(dir, "ca.pem")}
TLSCertificateFile ${join(dir, "server.pem")}
TLSCertificateKeyFile ${join(dir, "server.key")}
sizelimit 5000
database mdb
maxsize 16777216
suffix "${SUFFIX}"
rootdn "${ROOT_DN}"
rootpw ${ROOT_PASSWORD}
directory ${join(dir, "db")}
overlay memberof
access to attrs=userPassword by self write by anonymous auth by * none
access to * by * read
`;
	writeFileSync(join(dir, "slapd.conf"), conf);
	execFileSync(SLAPD, ["-T", "test", "-u", "-f", join(dir, "slapd.conf")], { stdio: "pipe" });
	const ldapPort = await freePort();
	const ldapsPort = await freePort();
	const ldapUrl = `ldap://127.0.0.1:${ldapPort}`;
	const ldapsUrl = `ldaps://127.0.0.1:${ldapsPort}`;
	let child: ChildProcess | null = null;
	let output = "";
	const start = async () => {
		output = "";
		const started = spawn(SLAPD, ["-d", "0", "-f", join(dir, "slapd.conf"), "-h", `${ldapUrl}/ ${ldapsUrl}/`], { stdio: ["ignore", "pipe", "pipe"] });
		started.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()));
		started.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()));
		child = started;
		await waitForPort(ldapPort, started, () => output);
		await waitForPort(ldapsPort, started, () => output);
	};
	const stop = async () => {
		const running = child;
		child = null;
		if (running === null || running.exitCode !== null) return;
		const exited = new Promise((resolve) => running.once("exit", resolve));
		running.kill("SIGTERM");
		await exited;
	};
	const userDn = (uid: string) => `uid=${uid},${PEOPLE}`;
	const groupDn = (cn: string) => `cn=${cn},${GROUPS}`;
	const admin = async <T>(job: (client: Client) => Promise<T>): Promise<T> => {
		const client = new Client({ url: ldapUrl, timeout: 10_000 });
		try {
			await client.bind(ROOT_DN, ROOT_PASSWORD);
			return await job(client);
		} finally {
			await client.unbind().catch(() => undefined);
		}
	};
	await start();
	try {
		await admin(async (client) => {
			await client.add(SUFFIX, { objectClass: ["top", "dcObject", "organization"], dc: "example", o: "Example" });
			for (const ou of ["people", "groups", "services"]) await client.add(`ou=${ou},${SUFFIX}`, { objectClass: ["organizationalUnit"], ou });
			await client.add(SERVICE_DN, { objectClass: ["person"], cn: "portcullis", sn: "service", userPassword: SERVICE_PASSWORD });
			for (const [index, user] of users.entries()) {
				await client.add(userDn(user.uid), {
					objectClass: ["inetOrgPerson", "posixAccount", ...(user.userAccountControl === undefined ? [] : ["portcullisTestAdUser"])],
					uid: user.uid,
					cn: user.uid,
					sn: user.uid,
					uidNumber: String(10000 + index),
					gidNumber: "10000",
					homeDirectory: `/home/${user.uid}`,
					userPassword: user.password,
					...(user.userAccountControl === undefined ? {} : { userAccountControl: String(user.userAccountControl) }),
				});
			}
			for (const group of groups) {
				if (group.posix === true) {
					await client.add(groupDn(group.cn), {
						objectClass: ["posixGroup"],
						cn: group.cn,
						gidNumber: "20000",
						...(group.members.length > 0 ? { memberUid: [...group.members] } : {}),
					});
				} else {
					// groupOfNames needs one member at least: the service account stands in for an empty group.
					const members = group.members.length > 0 ? group.members.map(userDn) : [SERVICE_DN];
					await client.add(groupDn(group.cn), { objectClass: ["groupOfNames"], cn: group.cn, member: members });
				}
			}
		});
	} catch (error) {
		await stop();
		rmSync(dir, { recursive: true, force: true });
		throw error;
	}
	return {
		ca,
		ldapUrl,
		ldapsUrl,
		userDn,
		groupDn,
		admin,
		setDisabled: (uid, disabled) =>
			admin((client) =>
				client.modify(userDn(uid), [
					new Change({ operation: "replace", modification: new Attribute({ type: "userAccountControl", values: [disabled ? "514" : "512"] }) }),
				]),
			),
		removeUser: (uid) => admin((client) => client.del(userDn(uid))),
		removeMember: (group, uid) =>
			admin((client) =>
				client.modify(groupDn(group), [new Change({ operation: "delete", modification: new Attribute({ type: "member", values: [userDn(uid)] }) })]),
			),
		stop,
		start,
		close: async () => {
			await stop();
			rmSync(dir, { recursive: true, force: true });
		},
	};
}
