/**
 * The LDAP client against a real OpenLDAP slapd (test/helpers/slapd.ts): LDAPS and StartTLS with
 * a test CA, bind as the user, groups by memberOf and by a group search, AD's disabled bit, the
 * refusal of a certificate from another CA and of plain LDAP without the insecure flag, and LDAP
 * injection (RFC 4515 escaping).
 */
import assert from "node:assert/strict";
import net from "node:net";
import { after, before, describe, test } from "node:test";
import { escapeFilterValue, fillFilter, normaliseDn } from "../../src/core/ldap-filter.ts";
import { LdapDirectory, type LdapDirectoryOptions } from "../../src/net/ldap-directory.ts";
import { GROUPS, PEOPLE, SERVICE_DN, SERVICE_PASSWORD, type Slapd, slapdSkip, startSlapd } from "../helpers/slapd.ts";
import { makeTestCa, opensslSkip } from "../helpers/test-ca.ts";

test("RFC 4515 escaping: the five specials and non-ASCII bytes are escaped, nothing else", () => {
	assert.equal(escapeFilterValue("alice"), "alice");
	assert.equal(escapeFilterValue("a*b(c)d\\e\u0000f"), "a\\2ab\\28c\\29d\\5ce\\00f");
	assert.equal(escapeFilterValue("é"), "\\c3\\a9");
	assert.equal(fillFilter("(&(uid={username})(x={dn}))", { username: "*)(uid=*", dn: "cn=a" }), "(&(uid=\\2a\\29\\28uid=\\2a)(x=cn=a))");
	assert.equal(normaliseDn("CN=Ops , OU=Groups,DC=Example, DC=test"), "cn=ops,ou=groups,dc=example,dc=test");
});

const skip = slapdSkip() || opensslSkip();

describe("LdapDirectory against slapd", { skip }, () => {
	let slapd: Slapd;
	const options = (overrides: Partial<LdapDirectoryOptions> = {}): LdapDirectoryOptions => ({
		url: slapd.ldapsUrl,
		startTls: false,
		insecure: false,
		ca: slapd.ca.caCert,
		bindDn: SERVICE_DN,
		bindPassword: SERVICE_PASSWORD,
		userBase: PEOPLE,
		userFilter: "(&(objectClass=inetOrgPerson)(uid={username}))",
		memberOfAttribute: "memberOf",
		groupBase: GROUPS,
		groupFilter: "(|(&(objectClass=groupOfNames)(member={dn}))(&(objectClass=posixGroup)(memberUid={username})))",
		timeoutMs: 30_000,
		maxResponseBytes: 1024 * 1024,
		...overrides,
	});

	before(async () => {
		slapd = await startSlapd(
			[
				{ uid: "alice", password: "alice-pw" },
				{ uid: "bob", password: "bob-pw", userAccountControl: 512 },
				{ uid: "dave", password: "dave-pw", userAccountControl: 514 },
			],
			[
				{ cn: "ops", members: ["alice"] },
				{ cn: "devs", members: ["bob"] },
				{ cn: "unix", members: ["alice", "bob"], posix: true },
			],
		);
	});
	after(async () => {
		await slapd?.close();
	});

	test("LDAPS: the right password binds and returns the DN and every group (memberOf and the posixGroup search)", async () => {
		const directory = new LdapDirectory(options());
		const result = await directory.authenticate("alice", "alice-pw");
		assert.deepEqual(result, {
			kind: "ok",
			entry: { dn: slapd.userDn("alice"), groups: [normaliseDn(slapd.groupDn("ops")), normaliseDn(slapd.groupDn("unix"))], disabled: false },
		});
	});

	test("memberOf alone (no group search) still finds the groupOfNames membership", async () => {
		const result = await new LdapDirectory(options({ groupBase: "" })).find("bob");
		assert.equal(result.kind, "found");
		assert.deepEqual(result.kind === "found" && result.entry.groups, [normaliseDn(slapd.groupDn("devs"))]);
	});

	test("a wrong password, an empty password and an unknown user are told apart from an outage", async () => {
		const directory = new LdapDirectory(options());
		assert.deepEqual(await directory.authenticate("alice", "wrong"), { kind: "wrong" });
		// An empty password would be an unauthenticated bind (RFC 4513 §5.1.2) that "succeeds": refused before.
		assert.deepEqual(await directory.authenticate("alice", ""), { kind: "wrong" });
		assert.deepEqual(await directory.authenticate("nobody", "x"), { kind: "unknown" });
	});

	test("Active Directory's userAccountControl disabled bit is read", async () => {
		const directory = new LdapDirectory(options());
		const dave = await directory.find("dave");
		assert.equal(dave.kind === "found" && dave.entry.disabled, true);
		const bob = await directory.find("bob");
		assert.equal(bob.kind === "found" && bob.entry.disabled, false);
	});

	test("StartTLS on the ldap:// port binds the same way", async () => {
		const directory = new LdapDirectory(options({ url: slapd.ldapUrl, startTls: true }));
		assert.equal((await directory.authenticate("alice", "alice-pw")).kind, "ok");
		const tested = await directory.testConnection();
		assert.equal(tested.ok, true);
		assert.match(tested.ok ? tested.detail : "", /StartTLS/);
	});

	test("a server certificate from another CA is refused (LDAPS and StartTLS): unavailable, never a bind", async () => {
		const other = makeTestCa("Someone Else's CA");
		for (const overrides of [{}, { url: slapd.ldapUrl, startTls: true }]) {
			const result = await new LdapDirectory(options({ ...overrides, ca: other.caCert })).authenticate("alice", "alice-pw");
			assert.equal(result.kind, "unavailable");
			assert.match(result.kind === "unavailable" ? result.reason : "", /certificate/i);
		}
	});

	test("plain ldap:// is refused without the insecure flag, and works with it", async () => {
		assert.throws(() => new LdapDirectory(options({ url: slapd.ldapUrl })), /start_tls/);
		assert.equal((await new LdapDirectory(options({ url: slapd.ldapUrl, insecure: true })).authenticate("alice", "alice-pw")).kind, "ok");
	});

	test("LDAP injection: wildcards and filter clauses in a username match nothing", async () => {
		const directory = new LdapDirectory(options());
		for (const username of ["*", "al*", "alice)(uid=*", "*)(|(uid=*", "alice\\", "alice\u0000", "(uid=alice)"]) {
			assert.deepEqual(await directory.authenticate(username, "alice-pw"), { kind: "unknown" }, username);
		}
		// The unescaped form would have matched alice: proof the escaping is what stops it.
		assert.equal((await new LdapDirectory(options({ userFilter: "(uid=al*)" })).find("ignored")).kind, "found");
	});

	test("a wrong service-account password is an outage (unavailable), not the user's wrong password", async () => {
		const result = await new LdapDirectory(options({ bindPassword: "nope" })).authenticate("alice", "alice-pw");
		assert.equal(result.kind, "unavailable");
	});

	test("a closed port is unavailable", async () => {
		const server = net.createServer();
		await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
		const port = (server.address() as net.AddressInfo).port;
		await new Promise<void>((resolve) => server.close(() => resolve()));
		const result = await new LdapDirectory(options({ url: `ldaps://127.0.0.1:${port}` })).authenticate("alice", "alice-pw");
		assert.equal(result.kind, "unavailable");
	});
});
