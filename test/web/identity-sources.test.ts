/**
 * The console's Identity sources page (docs/identity.md) against a real slapd: the settings shown,
 * Test connection, a test login showing the DN and mapped groups (audited, nothing created), the
 * insecure flag marked in red, admins only and behind a fresh step-up.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { GROUPS, PEOPLE, SERVICE_DN, SERVICE_PASSWORD, type Slapd, slapdSkip, startSlapd } from "../helpers/slapd.ts";
import { opensslSkip } from "../helpers/test-ca.ts";
import { ADMIN_ACTOR, Browser, createWebTest, decodeHtml, mainOf, PASSWORD, type WebTest } from "./helpers.ts";

describe("Identity sources page", { skip: slapdSkip() || opensslSkip() }, () => {
	let slapd: Slapd;
	let dir: string;
	const ldapConfig = (overrides: Record<string, unknown> = {}) => ({
		ldap: {
			url: slapd.ldapsUrl,
			ca_file: join(dir, "ca.pem"),
			bind_dn: SERVICE_DN,
			bind_password: SERVICE_PASSWORD,
			user_base: PEOPLE,
			group_base: GROUPS,
			group_map: { [slapd.groupDn("ops")]: "ops" },
			// Far from any real answer time: only a dead directory reaches it, even on a loaded machine.
			timeout_ms: 30_000,
			...overrides,
		},
	});
	async function adminBrowser(w: WebTest): Promise<Browser> {
		await w.app.admin.createUser(ADMIN_ACTOR, { username: "root", password: PASSWORD, isAdmin: true, groups: [] });
		const admin = new Browser(w.server);
		await admin.follow(await admin.login("root"));
		await admin.get("/account/step-up");
		await admin.follow(await admin.post("/account/step-up", { password: PASSWORD, next: "/account" }));
		return admin;
	}

	before(async () => {
		slapd = await startSlapd([{ uid: "alice", password: "alice-pw" }], [{ cn: "ops", members: ["alice"] }]);
		dir = mkdtempSync(join(tmpdir(), "portcullis-identity-page-"));
		writeFileSync(join(dir, "ca.pem"), slapd.ca.caCert);
	});
	after(async () => {
		await slapd?.close();
		if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
	});

	describe("LDAPS directory", () => {
		let w: WebTest;
		let admin: Browser;
		before(async () => {
			w = await createWebTest({ config: ldapConfig() });
			await w.app.admin.createGroup(ADMIN_ACTOR, { name: "ops", forceTwoFactor: true, allowedMethods: null });
			admin = await adminBrowser(w);
		});
		after(async () => w.close());

		test("the page shows the server, the transport and the mapping; no insecure warning", async () => {
			const page = await admin.get("/admin/identity");
			assert.equal(page.statusCode, 200);
			const main = decodeHtml(mainOf(page.body));
			assert.match(main, /LDAPS, certificate verified/);
			assert.match(main, new RegExp(slapd.groupDn("ops")));
			assert.doesNotMatch(main, /Insecure/);
			assert.match(page.body, /<a href="\/admin\/identity"[^>]*>Identity sources<\/a>/);
		});

		test("Test connection works and is audited", async () => {
			const page = await admin.post("/admin/identity/test-connection", {});
			assert.equal(page.statusCode, 200, page.body.slice(0, 300));
			assert.match(decodeHtml(mainOf(page.body)), /Connection works\. LDAPS: service account bound/);
			assert.equal((await w.app.stores.audit.query({ event: "directory.test-connection" })).length, 1);
		});

		test("a test login shows the DN and the mapped groups, creates nothing, and is audited; a wrong password says so", async () => {
			const page = await admin.post("/admin/identity/test-login", { username: "alice", password: "alice-pw" });
			assert.equal(page.statusCode, 200);
			const main = decodeHtml(mainOf(page.body));
			assert.match(main, /this user can log in/);
			assert.match(main, new RegExp(slapd.userDn("alice")));
			assert.match(main, /Portcullis groups<\/dt><dd>ops</);
			assert.equal(await w.app.stores.users.findByUsername("alice"), undefined, "a test login creates no account");
			const wrong = await admin.post("/admin/identity/test-login", { username: "alice", password: "nope" });
			assert.match(decodeHtml(mainOf(wrong.body)), /refused the password/);
			assert.doesNotMatch(decodeHtml(mainOf(wrong.body)), /uid=alice/);
			const audit = await w.app.stores.audit.query({ event: "directory.test-login" });
			assert.equal(audit.length, 2);
			assert.ok(audit.every((row) => !String(row.detail).includes("alice-pw") && !String(row.detail).includes("nope")));
		});

		test("the user pages mark a directory account with its source and DN; a local one as local", async () => {
			assert.equal((await w.app.login.submitPassword({ channel: "web", sourceAddress: "192.0.2.10" }, "alice", "alice-pw")).kind, "enroll");
			const list = mainOf((await admin.get("/admin/users")).body);
			assert.match(list, /alice<\/a><span class="tag">directory<\/span>/);
			assert.doesNotMatch(list, /root<\/a>(<span class="tag">admin<\/span>)?<span class="tag">directory/);
			const detail = decodeHtml(mainOf((await admin.get("/admin/user?name=alice")).body));
			assert.match(detail, new RegExp(`the directory \\(LDAP\\): <code>${slapd.userDn("alice")}</code>`));
			assert.match(decodeHtml(mainOf((await admin.get("/admin/user?name=root")).body)), /Portcullis \(local account\)/);
		});

		test("directory down: the web login page says why a directory user cannot log in; Test connection shows the failure; a local admin logs in", async () => {
			await slapd.stop();
			try {
				const alice = new Browser(w.server);
				const refused = await alice.login("alice", "alice-pw");
				assert.match(decodeHtml(refused.body), /company directory cannot be reached/);
				const tested = await admin.post("/admin/identity/test-connection", {});
				assert.match(decodeHtml(mainOf(tested.body)), /Connection failed:/);
				const root = new Browser(w.server);
				const page = await root.follow(await root.login("root"));
				assert.equal(page.statusCode, 200);
				assert.doesNotMatch(decodeHtml(page.body), /company directory/);
			} finally {
				await slapd.start();
			}
		});

		test("a non-admin gets neither the page nor the tests", async () => {
			await w.app.admin.createUser(ADMIN_ACTOR, { username: "joe", password: PASSWORD, isAdmin: false, groups: [] });
			const joe = new Browser(w.server);
			await joe.follow(await joe.login("joe"));
			assert.notEqual((await joe.get("/admin/identity")).statusCode, 200);
			const before = (await w.app.stores.audit.query({ event: "directory.test-login" })).length;
			const tried = await joe.post("/admin/identity/test-login", { username: "alice", password: "alice-pw" });
			assert.notEqual(tried.statusCode, 200);
			assert.equal((await w.app.stores.audit.query({ event: "directory.test-login" })).length, before);
		});
	});

	test("plain LDAP with the insecure flag is marked in red", async () => {
		const w = await createWebTest({ config: ldapConfig({ url: slapd.ldapUrl, insecure: true, ca_file: "" }) });
		try {
			const admin = await adminBrowser(w);
			const main = mainOf((await admin.get("/admin/identity")).body);
			assert.match(main, /class="alert alert-error"[^>]*>Insecure: plain LDAP without TLS/);
		} finally {
			await w.close();
		}
	});

	test("without a directory the page says so", async () => {
		const w = await createWebTest();
		try {
			const admin = await adminBrowser(w);
			assert.match(mainOf((await admin.get("/admin/identity")).body), /No directory is configured/);
		} finally {
			await w.close();
		}
	});
});
