/**
 * `npm run screenshots`: drives the web console in headless Chromium (the same set-up as
 * test/e2e/web-enforce-2fa.test.ts) and writes PNGs of the main pages to docs/screenshots/.
 *
 * `npm run screenshots -- methods` (or `core`, `webauthn`) writes only that group, so one group
 * can be refreshed without re-rendering the others (each run makes new TOTP keys and QR codes).
 */
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Page } from "playwright-core";
import { createMethodAdmin } from "../src/methods/method-admin.ts";
import { ADMIN_ACTOR } from "../test/helpers/test-app.ts";
import { answerTotp, chromiumMissing, enrolTotp, logIn, logOut, newPage, PASSWORD, startConsole } from "../test/e2e/web-harness.ts";
import { webauthnScreenshots } from "../test/methods/webauthn/e2e-harness.ts";

const OUT = resolve(import.meta.dirname, "..", "docs", "screenshots");

async function shot(page: Page, name: string): Promise<void> {
	const file = join(OUT, `${name}.png`);
	await page.screenshot({ path: file, fullPage: true });
	console.log(`wrote ${file}`);
}

const GROUPS = ["core", "webauthn", "methods", "rollout", "live"] as const;
type Group = (typeof GROUPS)[number];

async function main(): Promise<void> {
	const missing = chromiumMissing();
	if (missing !== null) throw new Error(missing);
	const asked = process.argv.slice(2);
	const unknown = asked.filter((name) => !(GROUPS as readonly string[]).includes(name));
	if (unknown.length > 0) throw new Error(`unknown screenshot group(s) ${unknown.join(", ")}; use ${GROUPS.join(", ")}`);
	const groups = new Set<Group>(asked.length === 0 ? GROUPS : (asked as Group[]));
	mkdirSync(OUT, { recursive: true });
	if (groups.has("core")) await coreScreenshots();
	// Security key registration and the SSH approval page (a console reached as localhost).
	if (groups.has("webauthn")) await webauthnScreenshots(shot);
	if (groups.has("methods")) await methodScreenshots();
	if (groups.has("rollout")) await rolloutScreenshots();
	if (groups.has("live")) await liveScreenshots();
}

/** docs/operations.md "Live sessions": two nodes' connections as the registry holds them. */
async function liveScreenshots(): Promise<void> {
	const c = await startConsole();
	try {
		await c.app.admin.createUser(ADMIN_ACTOR, { username: "admin", password: PASSWORD, isAdmin: true, groups: [] });
		const live = c.app.liveSessions;
		const now = c.clock.now().getTime();
		const nodes = [
			{ id: "3f9a1c0e7b2d4e6f8a1b2c3d4e5f6a7b", name: "gw-eu-1" },
			{ id: "9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a49", name: "gw-eu-2" },
		];
		for (const node of nodes) await live.registerNode(node.id, node.name);
		const connections = [
			{ id: "a1b2c3d4e5f60718", node: 0, user: "alice", source: "198.51.100.23", second: "totp", note: "", first: "publickey", minutes: 42 },
			{ id: "0f1e2d3c4b5a6978", node: 1, user: "bob", source: "203.0.113.9", second: "remembered:webauthn", note: "", first: "publickey", minutes: 7 },
			{ id: "5566778899aabbcc", node: 1, user: "carol", source: "10.1.4.20", second: "not-required", note: "policy", first: "password", minutes: 2 },
		];
		for (const each of connections) {
			const started = now - each.minutes * 60_000;
			await live.connectionOpened({
				id: each.id,
				node_id: nodes[each.node]!.id,
				user_id: each.user,
				username: each.user,
				source: each.source,
				started_at: started,
				first_factor: each.first,
				second_factor: each.second,
				second_factor_note: each.note,
				bytes_in: 0,
				bytes_out: 0,
				updated_at: now,
			});
		}
		const channel = (id: string, connection: string, node: number, kind: string, server: string | null, minutes: number) =>
			live.channelOpened({
				id,
				connection_id: connection,
				node_id: nodes[node]!.id,
				kind,
				server,
				started_at: now - minutes * 60_000,
				bytes_in: 0,
				bytes_out: 0,
			});
		await channel("11".repeat(16), "a1b2c3d4e5f60718", 0, "menu", "db-prod", 41);
		await channel("22".repeat(16), "a1b2c3d4e5f60718", 0, "session", "web-1", 12);
		await channel("33".repeat(16), "0f1e2d3c4b5a6978", 1, "tunnel", "db-prod", 6);
		await live.updateBytes({ id: "a1b2c3d4e5f60718", bytesIn: 48_213, bytesOut: 2_811_904 }, [
			{ id: "11".repeat(16), bytesIn: 40_120, bytesOut: 2_600_114, server: "db-prod" },
			{ id: "22".repeat(16), bytesIn: 8_093, bytesOut: 211_790, server: "web-1" },
		]);
		await live.updateBytes({ id: "0f1e2d3c4b5a6978", bytesIn: 1_203_554, bytesOut: 88_120_431 }, [
			{ id: "33".repeat(16), bytesIn: 1_203_554, bytesOut: 88_120_431, server: "db-prod" },
		]);
		const admin = await newPage(c);
		await logIn(admin, "admin");
		await admin.goto("/admin/live");
		await shot(admin, "admin-live");
	} finally {
		await c.close();
	}
}

/**
 * docs/rollout.md: the impact preview before forcing 2FA with a deadline, the user's banner before
 * the deadline, the enrolment status view, the network rules page and a server that requires 2FA.
 */
async function rolloutScreenshots(): Promise<void> {
	const c = await startConsole();
	try {
		const day = 86_400_000;
		await c.app.admin.createUser(ADMIN_ACTOR, { username: "admin", password: PASSWORD, isAdmin: true, groups: [] });
		await c.app.admin.createGroup(ADMIN_ACTOR, {
			name: "ops",
			forceTwoFactor: true,
			allowedMethods: null,
			enrolmentDeadline: c.clock.now().getTime() + 14 * day,
		});
		await c.app.admin.createUser(ADMIN_ACTOR, { username: "dana", password: PASSWORD, isAdmin: false, groups: ["ops"] });
		await c.app.admin.createUser(ADMIN_ACTOR, { username: "erin", password: PASSWORD, isAdmin: false, groups: [] });
		await c.app.servers.add(ADMIN_ACTOR, {
			name: "db-prod",
			host: "10.0.0.20",
			loginUser: "postgres",
			groups: ["ops"],
			requireTwoFactor: true,
			freshMinutes: 15,
		});

		const dana = await newPage(c);
		await logIn(dana, "dana");
		await dana.locator(".rollout-nudge").waitFor();
		await shot(dana, "rollout-banner");

		const admin = await newPage(c);
		await logIn(admin, "admin");
		await admin.goto("/admin/enrolment");
		await shot(admin, "admin-enrolment");
		await admin.goto("/admin/settings");
		await admin.getByLabel("Force 2FA for everyone").check();
		await admin.getByLabel("Enrolment deadline (staged rollout)").fill("30d");
		await admin.getByRole("button", { name: "Save settings" }).click();
		await admin.getByRole("heading", { name: "Confirm the change" }).waitFor();
		await shot(admin, "rollout-impact");
		// After dana's login: from outside a require-2fa-outside network a user without a factor enrols at once (no grace).
		await c.app.networkRules.set(ADMIN_ACTOR, null, "require-2fa-outside", ["192.0.2.0/24", "2001:db8:1::/48"]);
		await admin.goto("/admin/network");
		await shot(admin, "admin-network");
		await admin.goto("/admin/server?name=db-prod");
		await shot(admin, "admin-server-step-up");
	} finally {
		await c.close();
	}
}

/** Login, forced enrolment with TOTP, recovery codes, second factor, account and the admin pages. */
async function coreScreenshots(): Promise<void> {
	const c = await startConsole();
	try {
		await c.app.admin.createUser(ADMIN_ACTOR, { username: "admin", password: PASSWORD, isAdmin: true, groups: [] });
		await c.app.admin.createGroup(ADMIN_ACTOR, { name: "ops", forceTwoFactor: true, allowedMethods: null });
		await c.app.admin.createGroup(ADMIN_ACTOR, { name: "contractors", forceTwoFactor: true, allowedMethods: ["totp", "recovery-code"] });
		await c.app.admin.createUser(ADMIN_ACTOR, { username: "alice", password: PASSWORD, isAdmin: false, groups: ["ops"] });
		await c.app.admin.createUser(ADMIN_ACTOR, { username: "bob", password: PASSWORD, isAdmin: false, groups: [] });
		await c.app.admin.createUser(ADMIN_ACTOR, { username: "carol", password: PASSWORD, isAdmin: false, groups: ["contractors"] });

		const alice = await newPage(c);
		await alice.goto("/login");
		await alice.getByLabel("Username").fill("alice");
		await shot(alice, "login");

		await logIn(alice, "alice");
		await shot(alice, "enroll-choose");
		await alice.getByLabel("Label (optional)").first().fill("work phone");
		await alice.getByRole("button", { name: "Set up authenticator app" }).click();
		await alice.locator("#totp-key").waitFor();
		await shot(alice, "enroll-totp");
		await alice.goto("/login/enroll");
		await alice.getByLabel("Label (optional)").first().fill("work phone");
		const secret = await enrolTotp(c, alice);
		await alice.getByRole("button", { name: "Create recovery codes" }).click();
		await alice.locator("#recovery-codes").waitFor();
		await shot(alice, "recovery-codes");
		await logOut(alice);

		c.clock.advance(30_000);
		await logIn(alice, "alice");
		await shot(alice, "second-factor");
		await answerTotp(c, alice, secret);
		await alice.getByText("SSH logins will ask for:").waitFor();
		await shot(alice, "account");

		const admin = await newPage(c);
		await logIn(admin, "admin");
		await admin.goto("/admin/settings");
		await shot(admin, "admin-settings");
		await admin.goto("/admin/users");
		await shot(admin, "admin-users");
		await admin.goto("/admin/group?name=contractors");
		await shot(admin, "admin-group");
		await admin.goto("/admin/audit");
		await shot(admin, "admin-audit");
	} finally {
		await c.close();
	}
}

/**
 * The backend methods: the YubiKey, Duo and RADIUS enrolment pages, the
 * /admin/methods page, and Duo's Universal Prompt button on the second-factor page. The settings
 * are dummies in documentation address space: showing these pages contacts no backend.
 */
async function methodScreenshots(): Promise<void> {
	const c = await startConsole();
	try {
		const methods = createMethodAdmin(c.app);
		await methods.update(ADMIN_ACTOR, "yubikey-otp", {
			mode: "cloud",
			urls: ["https://api.yubico.com/wsapi/2.0/verify"],
			clientId: "87654",
			apiKey: Buffer.from("dummy-yubico-api-key").toString("base64"),
		});
		await methods.update(ADMIN_ACTOR, "duo", {
			apiHost: "api-3f9a1c2e.duosecurity.com",
			integrationKey: "DIWJ8X6AEYOR5OMC6TQ1",
			secretKey: "dummy-duo-auth-api-secret-key-0123456789",
			webClientId: "DIUNIVERSALWEBSDK001",
			webClientSecret: "dummy-duo-web-sdk-client-secret-01234567",
		});
		await methods.update(ADMIN_ACTOR, "radius", {
			servers: [
				{ host: "192.0.2.15", port: 1812, secret: "dummy-radius-shared-secret-1" },
				{ host: "192.0.2.16", port: 1812, secret: "dummy-radius-shared-secret-2" },
			],
		});
		await c.app.admin.updateSettings(ADMIN_ACTOR, { enabledMethods: ["totp", "yubikey-otp", "duo", "radius", "recovery-code"] });
		await c.app.admin.createUser(ADMIN_ACTOR, { username: "admin", password: PASSWORD, isAdmin: true, groups: [] });
		await c.app.admin.createUser(ADMIN_ACTOR, { username: "alice", password: PASSWORD, isAdmin: false, groups: [] });
		const dave = await c.app.admin.createUser(ADMIN_ACTOR, { username: "dave", password: PASSWORD, isAdmin: false, groups: [] });
		// dave has Duo (inserted directly: enrolling would ask Duo's preauth).
		await c.app.stores.factors.insert(
			{ id: c.app.stores.factors.newFactorId(), userId: dave.id, method: "duo", label: "Duo", status: "active", secretEnc: null, publicId: "dave" },
			{ origin: null, generation: 0, linkHash: null },
		);

		const alice = await newPage(c);
		await logIn(alice, "alice");
		await alice.goto("/account/factors/yubikey-otp");
		await alice.getByLabel("Label (optional)").fill("blue key");
		await shot(alice, "enroll-yubikey");
		await alice.goto("/account/factors/duo");
		await shot(alice, "enroll-duo");
		await alice.goto("/account/factors/radius");
		await shot(alice, "enroll-radius");

		const duo = await newPage(c);
		await logIn(duo, "dave");
		await duo.getByRole("button", { name: "Continue to Duo" }).waitFor();
		await shot(duo, "second-factor-duo");

		const admin = await newPage(c);
		await logIn(admin, "admin");
		// One collapsible section per method; the picture shows RADIUS opened, the others closed.
		await admin.goto("/admin/methods?method=radius");
		await shot(admin, "admin-methods");
	} finally {
		await c.close();
	}
}

main().catch((error: unknown) => {
	console.error(error);
	process.exitCode = 1;
});
