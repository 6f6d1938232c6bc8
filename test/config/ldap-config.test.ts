/**
 * The [ldap] table (docs/configuration.md, docs/identity.md): plain ldap:// only with StartTLS or the
 * explicit insecure flag; StartTLS not on ldaps://; the defaults a directory gets.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { configSchema } from "../../src/config/config.ts";

const base = { bind_dn: "cn=svc,dc=example,dc=com", user_base: "ou=people,dc=example,dc=com" };
const parse = (ldap: Record<string, unknown>) => configSchema.safeParse({ ldap: { ...base, ...ldap } });

test("ldaps:// is accepted with verified TLS and the documented defaults", () => {
	const parsed = parse({ url: "ldaps://ldap.example.com" });
	assert.ok(parsed.success, parsed.success ? "" : parsed.error.message);
	assert.equal(parsed.data.ldap?.insecure, false);
	assert.equal(parsed.data.ldap?.timeout_ms, 5000);
	assert.equal(parsed.data.ldap?.sync_minutes, 5);
	assert.equal(configSchema.parse({}).ldap, undefined, "no [ldap]: no directory");
});

test("plain ldap:// is refused unless start_tls or insecure is set", () => {
	const plain = parse({ url: "ldap://ldap.example.com" });
	assert.equal(plain.success, false);
	assert.match(plain.success ? "" : plain.error.message, /start_tls = true, or insecure = true/);
	assert.ok(parse({ url: "ldap://ldap.example.com:389", start_tls: true }).success);
	assert.ok(parse({ url: "ldap://127.0.0.1:389", insecure: true }).success);
});

test("start_tls on ldaps:// and URLs with a path or another scheme are refused", () => {
	assert.equal(parse({ url: "ldaps://ldap.example.com", start_tls: true }).success, false);
	assert.equal(parse({ url: "ldaps://ldap.example.com/dc=example,dc=com" }).success, false);
	assert.equal(parse({ url: "http://ldap.example.com" }).success, false);
});
