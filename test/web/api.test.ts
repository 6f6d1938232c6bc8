/**
 * The REST API (docs/api.md): Bearer tokens only, scopes, the owner's rights, the live policy on
 * every call, revocation on every node, schemas and the OpenAPI document, and "not a side door".
 * Each refusal sits beside its positive twin.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { performance } from "node:perf_hooks";
import type { FastifyInstance, LightMyRequestResponse } from "fastify";
import { createPortcullis, type Portcullis } from "../../src/app/portcullis.ts";
import { runMaintenance } from "../../src/app/maintenance.ts";
import { webServices } from "../../src/app/web-services.ts";
import { buildWebServer } from "../../src/web/server.ts";
import { startSshGateway, type SshGateway } from "../../src/ssh/gateway.ts";
import { loadOrCreateGatewayKey } from "../../src/servers/gateway-key.ts";
import { createRecordingNodes, type RecordingNodes } from "../helpers/recording-nodes.ts";
import { createOpenSshClient, type OpenSshClient, type RunResult } from "../helpers/relay-openssh.ts";
import { sshdSkipReason, startSshd, type Sshd } from "../helpers/sshd-target.ts";
import { createPostgresDatabase, testConfig } from "../helpers/test-app.ts";
import { ADMIN_ACTOR, Browser, createWebTest, enrolTotp, PASSWORD, type WebTest } from "./helpers.ts";

const DAY = 86_400_000;
const ALL = ["read", "users:write", "servers:write", "settings:write", "audit:read"];

async function call(
	server: FastifyInstance,
	method: string,
	url: string,
	token: string | null,
	body?: unknown,
	headers: Record<string, string> = {},
): Promise<LightMyRequestResponse> {
	return server.inject({
		method: method as "GET",
		url,
		headers: {
			...(token !== null ? { authorization: `Bearer ${token}` } : {}),
			...(body !== undefined ? { "content-type": "application/json" } : {}),
			...headers,
		},
		...(body !== undefined ? { payload: JSON.stringify(body) } : {}),
	});
}

for (const engine of ["sqlite", "postgres"] as const)
	describe(`REST API (${engine})`, () => {
		let w: WebTest;
		const ids = new Map<string, string>();

		async function user(name: string, isAdmin: boolean): Promise<string> {
			const row = await w.app.admin.createUser(ADMIN_ACTOR, { username: name, password: PASSWORD, isAdmin, groups: [] });
			ids.set(name, row.id);
			return row.id;
		}

		/** A personal token as the console makes it (the step-up-gated route is tested below). */
		async function token(name: string, scopes: string[] = ALL, method: string | null = null): Promise<{ token: string; id: string }> {
			const userId = ids.get(name) as string;
			const row = await w.app.stores.users.findById(userId);
			const made = await w.app.apiTokens.createPersonal(
				{ name: `user:${name}`, channel: "web", source: "test" },
				{ userId, sessionEpoch: Number(row?.session_epoch), secondFactorMethod: method },
				{ name: `t-${name}`, scopes, expiresAt: w.clock.now().getTime() + 30 * DAY },
			);
			return { token: made.token, id: made.view.id };
		}

		before(async () => {
			w = await createWebTest({ engine });
			await user("root1", true);
			await user("alice", false);
		});
		after(async () => w.close());

		test("a Bearer token authenticates; a logged-in console session's cookie does not (CSRF never needed)", async () => {
			const { token: admin } = await token("root1");
			const ok = await call(w.server, "GET", "/api/v1/users", admin);
			assert.equal(ok.statusCode, 200, ok.body);
			assert.ok((ok.json() as { users: { username: string }[] }).users.some((row) => row.username === "alice"));
			// A POST with the token and no CSRF token at all: Bearer calls are not subject to CSRF.
			const created = await call(w.server, "POST", "/api/v1/users", admin, { username: "bob" });
			assert.equal(created.statusCode, 201, created.body);

			const browser = new Browser(w.server);
			await browser.follow(await browser.login("root1"));
			assert.equal((await browser.get("/admin/users")).statusCode, 200, "the session is a live admin session");
			const cookie = [...browser.cookies].map(([name, value]) => `${name}=${value}`).join("; ");
			const refused = await call(w.server, "GET", "/api/v1/users", null, undefined, { cookie });
			assert.equal(refused.statusCode, 401);
			assert.match(String(refused.headers["www-authenticate"]), /^Bearer/);
			const refusedPost = await call(w.server, "POST", "/api/v1/users", null, { username: "carol" }, { cookie });
			assert.equal(refusedPost.statusCode, 401);
			assert.equal(await w.app.stores.users.findByUsername("carol"), undefined);
			assert.equal((await call(w.server, "GET", "/api/v1/users", "pct_not-a-real-token")).statusCode, 401);
		});

		test("scopes: a read token cannot write; the users:write twin can", async () => {
			const { token: reader } = await token("root1", ["read"]);
			assert.equal((await call(w.server, "GET", "/api/v1/users", reader)).statusCode, 200);
			const refused = await call(w.server, "POST", "/api/v1/users", reader, { username: "dave" });
			assert.equal(refused.statusCode, 403);
			assert.match(String(refused.headers["www-authenticate"]), /insufficient_scope/);
			assert.equal(await w.app.stores.users.findByUsername("dave"), undefined);
			const { token: writer } = await token("root1", ["users:write"]);
			assert.equal((await call(w.server, "POST", "/api/v1/users", writer, { username: "dave" })).statusCode, 201);
			// audit:read is its own scope: read does not include the audit log.
			assert.equal((await call(w.server, "GET", "/api/v1/audit", reader)).statusCode, 403);
		});

		test("a token never exceeds its owner: a non-admin's token with every scope cannot call admin routes; a demoted admin's token stops at once", async () => {
			const { token: alice } = await token("alice");
			for (const [method, url, body] of [
				["GET", "/api/v1/users", undefined],
				["POST", "/api/v1/users", { username: "eve" }],
				["GET", "/api/v1/audit", undefined],
				["PATCH", "/api/v1/settings", { forceTwoFactor: false }],
				["PUT", "/api/v1/groups/ops/members/alice", undefined],
			] as const) {
				const response = await call(w.server, method, url, alice, body);
				assert.equal(response.statusCode, 403, `${method} ${url}: ${response.statusCode}`);
			}
			assert.equal(await w.app.stores.users.findByUsername("eve"), undefined);
			const me = await call(w.server, "GET", "/api/v1/me", alice);
			assert.equal(me.statusCode, 200);
			assert.equal((me.json() as { admin: boolean }).admin, false);

			await user("root2", true);
			const { token: root2 } = await token("root2");
			assert.equal((await call(w.server, "GET", "/api/v1/users", root2)).statusCode, 200);
			// Demotion also bumps the session epoch (AdminService.setAdmin): the token is gone, not just narrowed.
			await w.app.admin.setAdmin(ADMIN_ACTOR, "root2", false);
			assert.equal((await call(w.server, "GET", "/api/v1/users", root2)).statusCode, 401);
		});

		test("a disabled owner's token stops at once; a locked owner's too", async () => {
			await user("dis1", true);
			const { token: dis } = await token("dis1");
			assert.equal((await call(w.server, "GET", "/api/v1/me", dis)).statusCode, 200);
			await w.app.admin.setDisabled(ADMIN_ACTOR, "dis1", true);
			assert.equal((await call(w.server, "GET", "/api/v1/me", dis)).statusCode, 401);

			await user("lock1", true);
			const { token: locked } = await token("lock1");
			assert.equal((await call(w.server, "GET", "/api/v1/me", locked)).statusCode, 200);
			await w.app.stores.users.lock(ids.get("lock1") as string, "tfa", {
				maxFailures: 5,
				windowMs: 60_000,
				lockMs: 600_000,
				maxLockMs: 3_600_000,
			});
			assert.equal((await call(w.server, "GET", "/api/v1/me", locked)).statusCode, 401);
		});

		test("newly forced into 2FA: a token made without a factor stops at once; a token that proved TOTP goes on", async () => {
			await user("nofactor", false);
			await user("withtotp", false);
			await enrolTotp(w, ids.get("withtotp") as string);
			const { token: bare } = await token("nofactor");
			const { token: proven } = await token("withtotp", ALL, "totp");
			assert.equal((await call(w.server, "GET", "/api/v1/me", bare)).statusCode, 200);
			assert.equal((await call(w.server, "GET", "/api/v1/me", proven)).statusCode, 200);
			await w.app.admin.updateSettings(ADMIN_ACTOR, { forceTwoFactor: true });
			try {
				assert.equal((await call(w.server, "GET", "/api/v1/me", bare)).statusCode, 401);
				assert.equal((await call(w.server, "GET", "/api/v1/me", proven)).statusCode, 200);
				const refused = await w.app.stores.audit.query({ event: "api.refused", username: "nofactor" });
				assert.equal((refused[0]?.detail ?? "").includes("step-up"), true);
			} finally {
				await w.app.admin.updateSettings(ADMIN_ACTOR, { forceTwoFactor: false });
			}
		});

		test("a password change (session epoch) ends the owner's tokens", async () => {
			await user("pw1", false);
			const { token: before } = await token("pw1");
			assert.equal((await call(w.server, "GET", "/api/v1/me", before)).statusCode, 200);
			await w.app.admin.setPassword(ADMIN_ACTOR, "pw1", "another long password", false);
			assert.equal((await call(w.server, "GET", "/api/v1/me", before)).statusCode, 401);
		});

		test("expiry: required, at most a year; an expired token is refused", async () => {
			const userId = ids.get("root1") as string;
			const proof = { userId, sessionEpoch: 0, secondFactorMethod: null };
			const now = w.clock.now().getTime();
			const actor = { name: "user:root1", channel: "web" as const, source: "test" };
			await assert.rejects(w.app.apiTokens.createPersonal(actor, proof, { name: "x", scopes: ["read"], expiresAt: now + 366 * DAY }), /at most 365 days/);
			await assert.rejects(w.app.apiTokens.createPersonal(actor, proof, { name: "x", scopes: ["read"], expiresAt: Number.NaN }), /expiry/);
			await assert.rejects(w.app.apiTokens.createPersonal(actor, proof, { name: "x", scopes: ["tokens:write"], expiresAt: now + DAY }), /Unknown scope/);
			const made = await w.app.apiTokens.createPersonal(actor, proof, { name: "short", scopes: ["read"], expiresAt: now + DAY });
			assert.equal((await call(w.server, "GET", "/api/v1/me", made.token)).statusCode, 200);
			w.clock.advance(DAY + 1);
			assert.equal((await call(w.server, "GET", "/api/v1/me", made.token)).statusCode, 401);
		});

		test("not a side door: no route manages second factors, passwords or tokens; a password in a body is refused", async () => {
			const apiRoutes = w.server.portcullisRoutes.filter((route) => route.url.startsWith("/api/"));
			assert.ok(apiRoutes.length >= 20, `${apiRoutes.length} API routes`);
			for (const route of apiRoutes) assert.doesNotMatch(route.url, /password|factor|2fa|totp|webauthn|recovery|enrol|unlock|reset|token/i, route.url);
			const { token: admin } = await token("root1");
			const withPassword = await call(w.server, "POST", "/api/v1/users", admin, { username: "frank", password: "a very long password" });
			assert.equal(withPassword.statusCode, 400);
			assert.equal(await w.app.stores.users.findByUsername("frank"), undefined);
			const patch = await call(w.server, "PATCH", "/api/v1/users/alice", admin, { password: "a very long password" });
			assert.equal(patch.statusCode, 400);
			const twin = await call(w.server, "POST", "/api/v1/users", admin, { username: "frank" });
			assert.equal(twin.statusCode, 201);
			assert.equal((await w.app.stores.users.findByUsername("frank"))?.password_hash, null);
		});

		test("API-2: a token is not a password: a web or SSH password login with it is refused", async () => {
			const { token: admin } = await token("root1");
			for (const client of [
				{ channel: "ssh" as const, sourceAddress: "192.0.2.30" },
				{ channel: "web" as const, sourceAddress: "192.0.2.30" },
			]) {
				const step = await w.app.login.submitPassword(client, "root1", admin);
				assert.equal(step.kind, "denied", client.channel);
			}
			// The twin: the password itself still opens the login.
			assert.notEqual((await w.app.login.submitPassword({ channel: "web", sourceAddress: "192.0.2.30" }, "root1", PASSWORD)).kind, "denied");
		});

		test("every call is audited with the token id; changes carry the token in their actor", async () => {
			const { token: admin, id } = await token("root1");
			await user("gina", false);
			assert.equal((await call(w.server, "PATCH", "/api/v1/users/gina", admin, { disabled: true })).statusCode, 200);
			const calls = await w.app.stores.audit.query({ event: "api.call", username: "root1", limit: 5 });
			const detail = JSON.parse(calls[0]?.detail ?? "{}") as { tokenId?: string; route?: string; status?: number };
			assert.equal(detail.tokenId, id);
			assert.equal(detail.route, "/api/v1/users/:username");
			const change = (await w.app.stores.audit.query({ username: "gina", limit: 5 })).find(
				(row) => row.event !== "user.created" && row.event.startsWith("user."),
			);
			assert.ok(change, "the change was audited");
			assert.match(change?.actor ?? "", new RegExp(`token:${id}`));
		});

		test("schemas: every API route is in the OpenAPI document, and bad input is a JSON 400", async () => {
			const doc = await w.server.inject({ method: "GET", url: "/api/v1/openapi.json" });
			assert.equal(doc.statusCode, 200);
			const spec = doc.json() as { openapi: string; paths: Record<string, Record<string, unknown>> };
			assert.match(spec.openapi, /^3\./);
			const documented = new Set(Object.entries(spec.paths).flatMap(([path, ops]) => Object.keys(ops).map((op) => `${op.toUpperCase()} ${path}`)));
			for (const route of w.server.portcullisRoutes.filter((r) => r.access === "api" && r.method !== "HEAD")) {
				const path = route.url.replace(/:([A-Za-z]+)/g, "{$1}");
				assert.ok(documented.has(`${route.method} ${path}`), `${route.method} ${route.url} is not in the OpenAPI document`);
			}
			const { token: admin } = await token("root1");
			const bad = await call(w.server, "GET", "/api/v1/audit?limit=0", admin);
			assert.equal(bad.statusCode, 400);
			assert.equal((bad.json() as { error: string }).error, "bad_request");
			const paged = await call(w.server, "GET", "/api/v1/audit?limit=2", admin);
			const page = paged.json() as { events: { id: number }[]; next: number | null };
			assert.equal(page.events.length, 2);
			assert.ok(page.next !== null);
			const next = (await call(w.server, "GET", `/api/v1/audit?limit=2&before=${page.next}`, admin)).json() as { events: { id: number }[] };
			assert.ok((next.events[0]?.id ?? 0) < page.next);
		});

		test("bad input on every API route: unknown fields and parameters, wrong types, malformed JSON, forms, huge bodies → 4xx JSON, never 500", async () => {
			// Made with a proven factor: ending an SSH connection needs one, and the rights are checked before the input.
			const { token: admin } = await token("root1", ALL, "totp");
			const routes = w.server.portcullisRoutes.filter((route) => route.access === "api" && route.method !== "HEAD");
			const url = (route: { url: string }) => route.url.replace(/:([A-Za-z]+)/g, "x");
			for (const route of routes) {
				const label = `${route.method} ${route.url}`;
				const unknownParameter = await call(w.server, route.method, `${url(route)}?zz=1`, admin);
				assert.equal(unknownParameter.statusCode, 400, `${label} ?zz=1: ${unknownParameter.statusCode} ${unknownParameter.body}`);
				if (route.method === "GET" || route.method === "DELETE") continue;
				for (const body of [[], "text", 42, null, { zz: 1 }, { username: 7, name: 7, host: 7, disabled: "yes", forceTwoFactor: "yes" }]) {
					const response = await call(w.server, route.method, url(route), admin, body);
					assert.ok([400, 404].includes(response.statusCode), `${label} ${JSON.stringify(body)}: ${response.statusCode} ${response.body}`);
					assert.ok(typeof (response.json() as { error?: unknown }).error === "string", label);
				}
				const malformed = await call(w.server, route.method, url(route), admin, undefined, { "content-type": "application/json" });
				assert.ok(malformed.statusCode >= 400 && malformed.statusCode < 500, `${label} empty JSON: ${malformed.statusCode}`);
				const broken = await w.server.inject({
					method: route.method as "POST",
					url: url(route),
					headers: { authorization: `Bearer ${admin}`, "content-type": "application/json" },
					payload: "{",
				});
				assert.equal(broken.statusCode, 400, `${label} malformed JSON: ${broken.statusCode}`);
				const form = await w.server.inject({
					method: route.method as "POST",
					url: url(route),
					headers: { authorization: `Bearer ${admin}`, "content-type": "application/x-www-form-urlencoded" },
					payload: "username=mallory",
				});
				assert.equal(form.statusCode, 415, `${label} form: ${form.statusCode}`);
				assert.equal((form.json() as { error: string }).error, "unsupported_media_type");
				const huge = await call(w.server, route.method, url(route), admin, { username: "x".repeat(20_000) });
				assert.equal(huge.statusCode, 413, `${label} huge: ${huge.statusCode}`);
			}
			assert.equal(await w.app.stores.users.findByUsername("mallory"), undefined);
		});

		test("groups, servers, settings and sessions through the API", async () => {
			const { token: admin } = await token("root1");
			assert.equal((await call(w.server, "POST", "/api/v1/groups", admin, { name: "ops", forceTwoFactor: false })).statusCode, 201);
			const member = await call(w.server, "PUT", "/api/v1/groups/ops/members/alice", admin);
			assert.deepEqual((member.json() as { members: string[] }).members, ["alice"]);
			const server = await call(w.server, "POST", "/api/v1/servers", admin, { name: "db1", host: "db1.example.test", groups: ["ops"] });
			assert.equal(server.statusCode, 201, server.body);
			assert.equal((await call(w.server, "DELETE", "/api/v1/servers/db1/grants/ops", admin)).statusCode, 200);
			const settings = await call(w.server, "PATCH", "/api/v1/settings", admin, { rememberMinutes: 30 });
			assert.equal((settings.json() as { rememberMinutes: number }).rememberMinutes, 30);
			// Wired (the live describe below drives a real OpenSSH connection through it): no connection here.
			const none = await call(w.server, "GET", "/api/v1/ssh-sessions", admin);
			assert.equal(none.statusCode, 200, none.body);
			assert.deepEqual(none.json(), { sessions: [] });

			const browser = new Browser(w.server);
			await browser.follow(await browser.login("alice"));
			const list = (await call(w.server, "GET", "/api/v1/web-sessions", admin)).json() as { sessions: { id: string; username: string }[] };
			const alices = list.sessions.find((row) => row.username === "alice");
			assert.ok(alices);
			assert.equal((await browser.get("/account")).statusCode, 200);
			assert.equal((await call(w.server, "DELETE", `/api/v1/web-sessions/${alices.id}`, admin)).statusCode, 200);
			assert.equal((await browser.get("/account")).statusCode, 303, "the ended session is logged out");
		});
	});

for (const engine of ["sqlite", "postgres"] as const)
	describe(`REST API: revocation on every node, service accounts, the tokens page (${engine})`, () => {
		let w: WebTest;
		const nodes: { app: Portcullis; server: FastifyInstance }[] = [];
		const cleanupDirs: string[] = [];

		const drops: (() => Promise<void>)[] = [];
		before(async () => {
			w = await createWebTest({ engine });
		});
		after(async () => {
			for (const node of nodes) {
				await node.server.close();
				await node.app.close();
			}
			for (const dir of cleanupDirs) rmSync(dir, { recursive: true, force: true });
			for (const drop of drops) await drop();
			await w.close();
		});

		test("a revoked token is refused at once on another node sharing the database", async () => {
			// Two nodes: two processes' worth of Portcullis on one database file and one secrets key.
			const dir = mkdtempSync(join(tmpdir(), "portcullis-api-nodes-"));
			const key = randomBytes(32);
			cleanupDirs.push(dir);
			let database: { kind: "sqlite"; file: string } | { kind: "postgres"; url: string } = { kind: "sqlite", file: join(dir, "portcullis.sqlite") };
			if (engine === "postgres") {
				const created = await createPostgresDatabase();
				drops.push(created.drop);
				database = { kind: "postgres", url: created.url };
			}
			const a = await createPortcullis(testConfig(dir), { clock: w.clock, database, secretKey: key });
			const b = await createPortcullis(testConfig(dir), { clock: w.clock, database, secretKey: key });
			const serverA = await buildWebServer(webServices(a));
			const serverB = await buildWebServer(webServices(b));
			nodes.push({ app: a, server: serverA }, { app: b, server: serverB });
			const admin = await a.admin.createUser(ADMIN_ACTOR, { username: "root1", password: PASSWORD, isAdmin: true, groups: [] });
			const made = await a.apiTokens.createPersonal(
				{ name: "user:root1", channel: "web", source: "test" },
				{ userId: admin.id, sessionEpoch: 0, secondFactorMethod: null },
				{ name: "ci", scopes: ["read"], expiresAt: w.clock.now().getTime() + DAY },
			);
			assert.equal((await call(serverB, "GET", "/api/v1/users", made.token)).statusCode, 200, "node B admits it");
			assert.equal(await a.apiTokens.revokeOwn({ name: "user:root1", channel: "web", source: "test" }, admin.id, made.view.id), true);
			assert.equal((await call(serverB, "GET", "/api/v1/users", made.token)).statusCode, 401, "node B refuses it at once");
			assert.equal((await call(serverA, "GET", "/api/v1/users", made.token)).statusCode, 401);
		});

		test("service accounts: tokens made on the host work (also under forced 2FA); no interactive login; no personal token for them", async () => {
			const host = { name: "cli:root", channel: "cli" as const, source: "host" };
			const svc = await w.app.apiTokens.createServiceAccount(host, "deploy-bot", true);
			const made = await w.app.apiTokens.createForService(host, "deploy-bot", { name: "ci", scopes: ["read"], expiresAt: w.clock.now().getTime() + DAY });
			// No interactive login: SSH public key (the first factor proven by the adapter) and web are refused.
			const ssh = await w.app.login.afterVerifiedFirstFactor({ channel: "ssh", sourceAddress: "192.0.2.1" }, svc.id, "publickey");
			assert.equal(ssh.kind, "denied");
			const human = await w.app.admin.createUser(ADMIN_ACTOR, { username: "human", password: PASSWORD, isAdmin: false, groups: [] });
			const twin = await w.app.login.afterVerifiedFirstFactor({ channel: "ssh", sourceAddress: "192.0.2.1" }, human.id, "publickey");
			assert.notEqual(twin.kind, "denied");
			const browser = new Browser(w.server);
			const web = await browser.login("deploy-bot", "");
			assert.notEqual(web.headers.location, "/account");
			// Forced 2FA does not stop a service account's host-made token (docs/api.md "Service accounts").
			await w.app.admin.updateSettings(ADMIN_ACTOR, { forceTwoFactor: true });
			assert.equal((await call(w.server, "GET", "/api/v1/users", made.token)).statusCode, 200);
			// Host tokens only for service accounts; a person's tokens are made in the console with a fresh factor.
			await assert.rejects(
				w.app.apiTokens.createForService(host, "human", { name: "x", scopes: ["read"], expiresAt: w.clock.now().getTime() + DAY }),
				/not a service account/,
			);
			await assert.rejects(
				w.app.apiTokens.createPersonal(
					host,
					{ userId: svc.id, sessionEpoch: 0, secondFactorMethod: null },
					{ name: "x", scopes: ["read"], expiresAt: w.clock.now().getTime() + DAY },
				),
				/cannot make a token/,
			);
			// Disabled: its tokens stop.
			await w.app.admin.updateSettings(ADMIN_ACTOR, { forceTwoFactor: false });
			await w.app.admin.setDisabled(ADMIN_ACTOR, "deploy-bot", true);
			assert.equal((await call(w.server, "GET", "/api/v1/users", made.token)).statusCode, 401);
		});

		test("an administrator creates a service account in the console; a non-administrator cannot", async () => {
			await w.app.admin.createUser(ADMIN_ACTOR, { username: "boss", password: PASSWORD, isAdmin: true, groups: [] });
			await w.app.admin.createUser(ADMIN_ACTOR, { username: "pleb", password: PASSWORD, isAdmin: false, groups: [] });
			const pleb = new Browser(w.server);
			await pleb.follow(await pleb.login("pleb"));
			await pleb.get("/account");
			const refused = await pleb.post("/admin/users/service-account", { username: "sneaky-bot" });
			assert.equal(refused.statusCode, 403);
			assert.equal(await w.app.stores.users.findByUsername("sneaky-bot"), undefined);
			const boss = new Browser(w.server);
			await boss.follow(await boss.login("boss"));
			await boss.get("/admin/users");
			const created = await boss.post("/admin/users/service-account", { username: "backup-bot" });
			assert.equal(created.statusCode, 303, created.body.slice(0, 300));
			const row = await w.app.stores.users.findByUsername("backup-bot");
			assert.equal(row?.service_account, 1);
			assert.equal(row?.password_hash, null);
			assert.match((await boss.get("/admin/users")).body, /backup-bot<\/a><span class="tag">service account/);
		});

		test("maintenance drops tokens dead for 90 days; a live token stays", async () => {
			const t = await createWebTest({ engine });
			try {
				const owner = await t.app.admin.createUser(ADMIN_ACTOR, { username: "keeper", password: PASSWORD, isAdmin: false, groups: [] });
				const actor = { name: "user:keeper", channel: "web" as const, source: "test" };
				const proof = { userId: owner.id, sessionEpoch: 0, secondFactorMethod: null };
				const now = t.clock.now().getTime();
				const revoked = await t.app.apiTokens.createPersonal(actor, proof, { name: "old", scopes: ["read"], expiresAt: now + 365 * DAY });
				await t.app.apiTokens.createPersonal(actor, proof, { name: "live", scopes: ["read"], expiresAt: now + 365 * DAY });
				await t.app.apiTokens.revokeOwn(actor, owner.id, revoked.view.id);
				t.clock.advance(89 * DAY);
				await runMaintenance(t.app);
				assert.deepEqual((await t.app.apiTokens.listOwn(owner.id)).map((view) => view.name).sort(), ["live", "old"]);
				t.clock.advance(2 * DAY);
				await runMaintenance(t.app);
				assert.deepEqual(
					(await t.app.apiTokens.listOwn(owner.id)).map((view) => view.name),
					["live"],
				);
			} finally {
				await t.close();
			}
		});

		test("the tokens page: creating needs a fresh step-up; the token is shown once; last use shown; revocable", async () => {
			await w.app.admin.createUser(ADMIN_ACTOR, { username: "tess", password: PASSWORD, isAdmin: true, groups: [] });
			const browser = new Browser(w.server);
			await browser.follow(await browser.login("tess"));
			w.clock.advance(11 * 60_000);
			await browser.get("/account/tokens");
			const stale = await browser.post("/account/tokens", { name: "laptop", days: "30", scope_read: "on" });
			assert.equal(stale.statusCode, 303);
			assert.match(String(stale.headers.location), /^\/account\/step-up/);
			assert.equal((await w.app.apiTokens.listOwn((await w.app.stores.users.findByUsername("tess"))?.id ?? "")).length, 0, "no token without a fresh step-up");
			await browser.follow(stale);
			const confirmed = await browser.post("/account/step-up", { password: PASSWORD, next: "/account/tokens" });
			assert.equal(confirmed.statusCode, 303);
			await browser.follow(confirmed);
			const tooLong = await browser.post("/account/tokens", { name: "laptop", days: "400", scope_read: "on" });
			assert.equal(tooLong.statusCode, 400);
			const created = await browser.post("/account/tokens", { name: "laptop", days: "30", scope_read: "on" });
			assert.equal(created.statusCode, 200, created.body.slice(0, 300));
			const raw = /id="api-token">(pct_[A-Za-z0-9_-]+)</.exec(created.body)?.[1];
			assert.ok(raw, "the token is shown");
			assert.equal((await call(w.server, "GET", "/api/v1/me", raw)).statusCode, 200);
			const list = await browser.get("/account/tokens");
			assert.equal(list.body.includes(raw), false, "never shown again");
			assert.doesNotMatch(list.body, /never<\/td>|>never\s*</, "last use is shown");
			assert.match(list.body, /laptop/);
			const id = /name="tokenId" value="([0-9a-f]{32})"/.exec(list.body)?.[1] ?? "";
			const revoked = await browser.post("/account/tokens/revoke", { tokenId: id });
			assert.equal(revoked.statusCode, 303);
			assert.equal((await call(w.server, "GET", "/api/v1/me", raw)).statusCode, 401);
		});
	});

/** Polls until the probe answers (bounded, so what never happens fails instead of hanging). No timing in pass/fail. */
async function eventually<T>(probe: () => Promise<T | undefined | null | false>, what: string, timeoutMs = 60_000): Promise<T> {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		const value = await probe();
		if (value) return value;
		if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
		await new Promise((resolveWait) => setTimeout(resolveWait, 50));
	}
}

/** A client run whose end can be checked without waiting for it. */
function tracked(run: Promise<RunResult>): { readonly done: Promise<RunResult>; ended(): boolean } {
	let ended = false;
	const done = run.finally(() => {
		ended = true;
	});
	return { done, ended: () => ended };
}

interface ApiSshSession {
	id: string;
	username: string;
	source: string;
	node: string;
	nodeId: string;
	startedAt: number;
	firstFactor: string;
	secondFactor: string;
	secondFactorNote: string;
	secondFactorLabel: string;
	bytesIn: number;
	bytesOut: number;
	servers: string[];
	channels: { id: string; kind: string; server: string | null; bytesIn: number; bytesOut: number }[];
}

// The REAL OpenSSH client through a gateway on node A to a REAL sshd; the API is node B's, so
// "ended on whichever node holds it" is exercised too (docs/api.md "Live SSH sessions").
for (const engine of ["postgres", "sqlite"] as const)
	describe(`REST API: live SSH sessions (${engine}, OpenSSH → gateway on node A → sshd; the API on node B)`, { skip: sshdSkipReason() }, () => {
		let nodes: RecordingNodes;
		let client: OpenSshClient;
		let db1: Sshd;
		let gateway: SshGateway;
		let api: FastifyInstance;
		const users = new Map<string, string>();
		let made = 0;

		const ssh = (args: readonly string[]) => tracked(client.run("ssh", ["-p", String(gateway.address.port), ...args], { password: PASSWORD }));
		async function personal(username: string, scopes: string[], method: string | null): Promise<{ token: string; id: string }> {
			const userId = users.get(username) as string;
			const row = await nodes.b.stores.users.findById(userId);
			const created = await nodes.b.apiTokens.createPersonal(
				{ name: `user:${username}`, channel: "web", source: "test" },
				{ userId, sessionEpoch: Number(row?.session_epoch), secondFactorMethod: method },
				{ name: `t-${username}-${++made}`, scopes, expiresAt: Date.now() + DAY },
			);
			return { token: created.token, id: created.view.id };
		}
		const listed = async (token: string): Promise<ApiSshSession[]> => {
			const response = await call(api, "GET", "/api/v1/ssh-sessions", token);
			assert.equal(response.statusCode, 200, response.body);
			return (response.json() as { sessions: ApiSshSession[] }).sessions;
		};
		const auditOf = async (event: string, connectionId: string) =>
			(await nodes.b.stores.audit.query({ event })).filter((row) => JSON.parse(row.detail ?? "{}").connectionId === connectionId);
		const end = (id: string, token: string, query: string) => call(api, "DELETE", `/api/v1/ssh-sessions/${id}${query}`, token);

		before(async () => {
			nodes = await createRecordingNodes(engine, { ssh: { node_name: "gw-api" } });
			const { a, b } = nodes;
			client = await createOpenSshClient();
			db1 = await startSshd({ authorizedKeys: [loadOrCreateGatewayKey(a.config).publicKey, client.publicKey] });
			await a.admin.createGroup(ADMIN_ACTOR, { name: "ops", forceTwoFactor: false, allowedMethods: null });
			for (const [username, isAdmin, groups] of [
				["alice", false, ["ops"]],
				["root", true, []],
			] as const)
				users.set(username, (await a.admin.createUser(ADMIN_ACTOR, { username, password: PASSWORD, isAdmin, groups: [...groups] })).id);
			await a.servers.add(ADMIN_ACTOR, { name: "db1", host: db1.host, port: db1.port, loginUser: db1.user, groups: ["ops"] });
			gateway = await startSshGateway(a.ssh, { listen: "127.0.0.1:0" });
			api = await buildWebServer(webServices(b));
			await api.ready();
		});

		after(async () => {
			await client?.cleanup();
			await gateway?.close();
			await api?.close();
			await db1?.stop();
			await nodes?.cleanup();
		});

		test("GET lists the live connection as the console does; DELETE with a reason ends it (the client exits), audited with the token; refusals change nothing", async (t) => {
			const reader = await personal("root", ["read"], "totp");
			const run = ssh(["alice@127.0.0.1", "db1", "head -c 300000 /dev/zero; sleep 600"]);
			const view = await eventually(
				async () => (await listed(reader.token)).find((row) => row.username === "alice" && row.channels.some((channel) => channel.server === "db1")),
				"alice's connection in the API's list",
			);
			assert.equal(view.node, "gw-api", "the node holding it (ssh.node_name)");
			assert.equal(view.nodeId, gateway.liveRegistry.nodeId);
			assert.equal(view.source, "127.0.0.1");
			assert.equal(view.firstFactor, "password");
			assert.equal(view.secondFactor, "not-required");
			assert.equal(view.secondFactorNote, "policy");
			assert.match(view.secondFactorLabel, /^not required/);
			assert.deepEqual(view.servers, ["db1"]);
			assert.equal(view.channels[0]?.kind, "session");
			assert.ok(view.startedAt > 0);
			// Bytes as of node A's last flush (flushed here at once instead of waiting for it).
			const counted = await eventually(async () => {
				await gateway.liveRegistry.flush();
				const found = (await listed(reader.token)).find((row) => row.id === view.id);
				return found !== undefined && found.bytesOut >= 300_000 ? found : null;
			}, "the relayed bytes in the API's list");
			assert.ok((counted.channels[0]?.bytesOut ?? 0) >= 300_000, "the channel's own count");

			// Refusals, each beside its twin below: nothing is requested, the connection lives on.
			const alice = await personal("alice", ALL, "totp");
			assert.equal((await call(api, "GET", "/api/v1/ssh-sessions", alice.token)).statusCode, 403, "a non-admin owner's token cannot list");
			assert.equal((await end(view.id, alice.token, "?reason=mine")).statusCode, 403, "nor end");
			const readOnly = await end(view.id, reader.token, "?reason=read+only");
			assert.equal(readOnly.statusCode, 403, "a read-only token cannot end");
			assert.match(String(readOnly.headers["www-authenticate"]), /insufficient_scope/);
			const unproven = await personal("root", ALL, null);
			const noFactor = await end(view.id, unproven.token, "?reason=no+factor");
			assert.equal(noFactor.statusCode, 403, "a token made without a proven second factor cannot end (the console's step-up)");
			assert.match((noFactor.json() as { message: string }).message, /second factor/);
			assert.equal(
				(await listed(unproven.token)).some((row) => row.id === view.id),
				true,
				"but it may list",
			);
			const writer = await personal("root", ["users:write"], "totp");
			for (const [query, status, what] of [
				["", 400, "no reason"],
				["?reason=", 400, "an empty reason"],
				["?reason=%20%20", 400, "a blank reason"],
				[`?reason=${"x".repeat(201)}`, 400, "a reason over 200 characters"],
				["?reason=a%1B%5B2Jb", 400, "a reason with a control sequence"],
				["?reason=a%E2%80%AEb", 400, "a reason with a bidi override"],
				["?reason=ok&channel=nothex", 400, "a malformed channel id"],
				[`?reason=ok&channel=${"0".repeat(32)}`, 404, "a channel the connection does not have"],
				["?reason=ok&zz=1", 400, "an unknown parameter"],
			] as const) {
				const refused = await end(view.id, writer.token, query);
				assert.equal(refused.statusCode, status, `${what}: ${refused.statusCode} ${refused.body}`);
			}
			assert.equal((await end("0123456789abcdef", writer.token, "?reason=ok")).statusCode, 404, "an unknown id");
			assert.equal((await end("not-an-id", writer.token, "?reason=ok")).statusCode, 400, "a malformed id");
			assert.deepEqual(await auditOf("ssh.terminate-requested", view.id), [], "nothing was requested");
			await gateway.liveRegistry.poll();
			assert.equal(run.ended(), false, "the connection lives on");

			// The twin: an admin's users:write token made with a proven factor, and a reason.
			const asked = performance.now();
			const ended = await end(view.id, writer.token, `?reason=${encodeURIComponent("incident 42: über-long sleep")}`);
			assert.equal(ended.statusCode, 202, ended.body);
			const answer = ended.json() as { requested: boolean; requestId: string; node: string };
			assert.equal(answer.requested, true);
			assert.equal(answer.node, "gw-api");
			assert.match(answer.requestId, /^[0-9a-f]+$/);
			await eventually(async () => run.ended(), "the client to be cut off");
			// Reported, not asserted (no timing in pass/fail): DELETE on node B → the client gone from node A.
			t.diagnostic(`DELETE on node B to the client's exit: ${Math.round(performance.now() - asked)} ms (ssh.policy_poll_ms = 1000)`);
			assert.notEqual((await run.done).code, 0, "the client was cut off");
			await eventually(async () => !(await listed(reader.token)).some((row) => row.id === view.id), "the connection to leave the list");

			const actor = `api:root:token:${writer.id}`;
			const [request] = await auditOf("ssh.terminate-requested", view.id);
			assert.equal(request?.actor, actor, "the request names the token");
			assert.equal(request?.channel, "api");
			assert.equal(request?.username, "alice");
			assert.equal(JSON.parse(request?.detail ?? "{}").reason, "incident 42: über-long sleep");
			const done = await eventually(async () => (await auditOf("ssh.terminated", view.id))[0], "ssh.terminated");
			assert.equal(done.actor, actor, "the termination names the token");
			assert.equal(JSON.parse(done.detail ?? "{}").requestedVia, "api");
			assert.equal(JSON.parse(done.detail ?? "{}").result, "ended");
		});

		test("a service account's host-made token (no factor: the host stands in) may end one channel; the connection stays", async () => {
			const host = { name: "cli:root", channel: "cli" as const, source: "host" };
			await nodes.b.apiTokens.createServiceAccount(host, "reaper-bot", true);
			const bot = await nodes.b.apiTokens.createForService(host, "reaper-bot", { name: "ci", scopes: ["read", "users:write"], expiresAt: Date.now() + DAY });
			const before = new Set((await listed(bot.token)).map((row) => row.id));
			const socket = join(client.dir, "cm.sock");
			const master = ssh(["-M", "-S", socket, "-N", "alice@127.0.0.1"]);
			// The master first: a client started before its socket exists would open a connection of its own.
			const opened = await eventually(
				async () => (await listed(bot.token)).find((row) => !before.has(row.id) && row.username === "alice"),
				"alice's master connection",
			);
			const one = ssh(["-S", socket, "alice@127.0.0.1", "db1", "sleep 600"]);
			const two = ssh(["-S", socket, "alice@127.0.0.1", "db1", "sleep 601"]);
			const view = await eventually(
				async () => (await listed(bot.token)).find((row) => row.id === opened.id && row.channels.length === 2),
				"alice's multiplexed connection with two channels",
			);
			const [first, second] = view.channels;
			const ended = await end(view.id, bot.token, `?reason=one+channel&channel=${first?.id}`);
			assert.equal(ended.statusCode, 202, ended.body);
			await eventually(async () => one.ended() || two.ended(), "one of the two sessions to end");
			const after = await eventually(
				async () => (await listed(bot.token)).find((row) => row.id === view.id && row.channels.length === 1),
				"the connection with one channel left",
			);
			assert.equal(after.channels[0]?.id, second?.id, "the other channel is untouched");
			assert.equal(master.ended(), false, "the connection stays");
			const [request] = await auditOf("ssh.terminate-requested", view.id);
			assert.equal(request?.actor, `api:reaper-bot:token:${bot.view.id}`);
			assert.equal(JSON.parse(request?.detail ?? "{}").channelId, first?.id);

			assert.equal((await end(view.id, bot.token, "?reason=end+of+test")).statusCode, 202);
			for (const run of [master, one, two]) await eventually(async () => run.ended(), "every client to be cut off");
		});
	});
