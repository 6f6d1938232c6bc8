/**
 * Method settings: every invalid combination refused where it is made, enabling
 * an unconfigured method refused, secrets sealed and never shown (get(), audit log, raw rows),
 * settings read on every use (a second node sharing the database sees a change at once), an
 * unreadable row failing closed, and "test connection" for the Yubico validation server.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createPortcullis } from "../../src/app/portcullis.ts";
import { isPortcullisError, type ErrorCode } from "../../src/core/errors.ts";
import type { MethodId } from "../../src/core/method-id.ts";
import { createMethodAdmin, type MethodAdmin } from "../../src/methods/method-admin.ts";
import { MethodSettingsStore, type ConfigurableMethod } from "../../src/methods/method-settings.ts";
import { deadTcpPort } from "../helpers/dead-ports.ts";
import { startFakeYubicoServer, type FakeYubicoServer } from "../helpers/fake-yubico-server.ts";
import { ENROL, makeUser } from "../helpers/method-login.ts";
import { ADMIN_ACTOR, createTestApp, testConfig, type TestApp } from "../helpers/test-app.ts";

const YUBI_API_KEY = Buffer.from("YubiApiKeyMarker-0123456789").toString("base64");
const DUO_SKEY = "DuoSecretKeyMarker0123456789abcdefghijkl";
const RADIUS_SECRET = "RadiusSecretMarker-0123456789";
const VALID = {
	"yubikey-otp": { mode: "cloud", urls: ["https://api.yubico.com/wsapi/2.0/verify"], clientId: "12345", apiKey: YUBI_API_KEY, timeoutMs: 3000 },
	duo: { apiHost: "api-12345678.duosecurity.com", integrationKey: "DIWJ8X6AEYOR5OMC6TQ1", secretKey: DUO_SKEY, honourDuoBypass: false, timeoutMs: 5000 },
	radius: {
		servers: [{ host: "radius1.example.net", port: 1812, secret: RADIUS_SECRET, legacyNoMessageAuthenticator: false }],
		timeoutMs: 1000,
		retries: 2,
		nasIdentifier: "portcullis",
	},
} as const;

type Case = readonly [string, ConfigurableMethod, unknown, ErrorCode];
const y = VALID["yubikey-otp"];
const d = VALID.duo;
const r = VALID.radius;
const server = r.servers[0];
const INVALID: readonly Case[] = [
	["yubikey: no mode", "yubikey-otp", {}, "ERR_INPUT"],
	["yubikey: unknown mode", "yubikey-otp", { mode: "hybrid" }, "ERR_INPUT"],
	["yubikey: offline with stray settings", "yubikey-otp", { mode: "offline", aesKey: "00" }, "ERR_INPUT"],
	["yubikey: cloud without URLs", "yubikey-otp", { ...y, urls: undefined }, "ERR_INPUT"],
	["yubikey: empty URL list", "yubikey-otp", { ...y, urls: [] }, "ERR_INPUT"],
	["yubikey: six URLs", "yubikey-otp", { ...y, urls: Array.from({ length: 6 }, (_, i) => `https://v${i}.example/verify`) }, "ERR_INPUT"],
	["yubikey: not a URL", "yubikey-otp", { ...y, urls: ["api.yubico.com/verify"] }, "ERR_INPUT"],
	["yubikey: ftp URL", "yubikey-otp", { ...y, urls: ["ftp://api.yubico.com/verify"] }, "ERR_INPUT"],
	["yubikey: URL with a query", "yubikey-otp", { ...y, urls: ["https://api.yubico.com/verify?id=1"] }, "ERR_INPUT"],
	["yubikey: URL with credentials", "yubikey-otp", { ...y, urls: ["https://u:p@api.yubico.com/verify"] }, "ERR_INPUT"],
	["yubikey: plain http to another host", "yubikey-otp", { ...y, urls: ["http://api.yubico.com/wsapi/2.0/verify"] }, "ERR_POLICY_INVALID"],
	["yubikey: plain http to a LAN address", "yubikey-otp", { ...y, urls: ["http://10.0.0.5/wsapi/2.0/verify"] }, "ERR_POLICY_INVALID"],
	["yubikey: the same URL twice", "yubikey-otp", { ...y, urls: [y.urls[0], y.urls[0]] }, "ERR_POLICY_INVALID"],
	["yubikey: empty client id", "yubikey-otp", { ...y, clientId: "" }, "ERR_INPUT"],
	["yubikey: client id with spaces", "yubikey-otp", { ...y, clientId: "12 34" }, "ERR_INPUT"],
	["yubikey: empty API key", "yubikey-otp", { ...y, apiKey: "" }, "ERR_INPUT"],
	["yubikey: missing API key", "yubikey-otp", { ...y, apiKey: undefined }, "ERR_INPUT"],
	["yubikey: API key not base64", "yubikey-otp", { ...y, apiKey: "not base64!!" }, "ERR_INPUT"],
	["yubikey: API key too short", "yubikey-otp", { ...y, apiKey: "AAAA" }, "ERR_INPUT"],
	["yubikey: timeout 0", "yubikey-otp", { ...y, timeoutMs: 0 }, "ERR_INPUT"],
	["yubikey: timeout too long", "yubikey-otp", { ...y, timeoutMs: 600_000 }, "ERR_INPUT"],
	["yubikey: timeout not a number", "yubikey-otp", { ...y, timeoutMs: "soon" }, "ERR_INPUT"],
	["yubikey: CA that is not PEM", "yubikey-otp", { ...y, caPem: "hello" }, "ERR_INPUT"],
	["duo: empty API host", "duo", { ...d, apiHost: "" }, "ERR_INPUT"],
	["duo: API host as URL", "duo", { ...d, apiHost: "https://api-12345678.duosecurity.com" }, "ERR_INPUT"],
	["duo: API host with a path", "duo", { ...d, apiHost: "api-12345678.duosecurity.com/auth" }, "ERR_INPUT"],
	["duo: API host with a bad port", "duo", { ...d, apiHost: "api-12345678.duosecurity.com:99999" }, "ERR_INPUT"],
	["duo: short integration key", "duo", { ...d, integrationKey: "DI123" }, "ERR_INPUT"],
	["duo: integration key with symbols", "duo", { ...d, integrationKey: "DIWJ8X6AEYOR5OMC6TQ!" }, "ERR_INPUT"],
	["duo: empty secret key", "duo", { ...d, secretKey: "" }, "ERR_INPUT"],
	["duo: missing secret key", "duo", { ...d, secretKey: undefined }, "ERR_INPUT"],
	["duo: short secret key", "duo", { ...d, secretKey: "short-secret" }, "ERR_INPUT"],
	["duo: secret key with spaces", "duo", { ...d, secretKey: "a secret key with spaces in it" }, "ERR_INPUT"],
	[
		"duo: secret key equal to the integration key",
		"duo",
		{ ...d, integrationKey: "DIWJ8X6AEYOR5OMC6TQ1", secretKey: "DIWJ8X6AEYOR5OMC6TQ1" },
		"ERR_POLICY_INVALID",
	],
	["duo: bypass flag not a boolean", "duo", { ...d, honourDuoBypass: "yes" }, "ERR_INPUT"],
	["duo: unknown setting", "duo", { ...d, failmode: "open" }, "ERR_INPUT"],
	["radius: no servers", "radius", { ...r, servers: [] }, "ERR_INPUT"],
	["radius: servers missing", "radius", { ...r, servers: undefined }, "ERR_INPUT"],
	["radius: six servers", "radius", { ...r, servers: Array.from({ length: 6 }, (_, i) => ({ ...server, host: `r${i}.example.net` })) }, "ERR_INPUT"],
	["radius: empty secret", "radius", { ...r, servers: [{ ...server, secret: "" }] }, "ERR_INPUT"],
	["radius: missing secret", "radius", { ...r, servers: [{ ...server, secret: undefined }] }, "ERR_INPUT"],
	["radius: short secret", "radius", { ...r, servers: [{ ...server, secret: "testing123" }] }, "ERR_INPUT"],
	["radius: empty host", "radius", { ...r, servers: [{ ...server, host: "" }] }, "ERR_INPUT"],
	["radius: bad host", "radius", { ...r, servers: [{ ...server, host: "radius server!" }] }, "ERR_INPUT"],
	["radius: port 0", "radius", { ...r, servers: [{ ...server, port: 0 }] }, "ERR_INPUT"],
	["radius: port too high", "radius", { ...r, servers: [{ ...server, port: 70000 }] }, "ERR_INPUT"],
	["radius: the same server twice", "radius", { ...r, servers: [server, { ...server, host: "RADIUS1.example.net" }] }, "ERR_POLICY_INVALID"],
	["radius: legacy flag not a boolean", "radius", { ...r, servers: [{ ...server, legacyNoMessageAuthenticator: "yes" }] }, "ERR_INPUT"],
	["radius: unknown server setting", "radius", { ...r, servers: [{ ...server, requireMessageAuthenticator: false }] }, "ERR_INPUT"],
	["radius: too many retries", "radius", { ...r, retries: 6 }, "ERR_INPUT"],
	["radius: timeout too short", "radius", { ...r, timeoutMs: 10 }, "ERR_INPUT"],
	[
		"radius: a login could wait minutes",
		"radius",
		{ ...r, servers: [server, { ...server, host: "r2.example.net" }, { ...server, host: "r3.example.net" }], timeoutMs: 10_000, retries: 2 },
		"ERR_POLICY_INVALID",
	],
	["radius: NAS-Identifier with control characters", "radius", { ...r, nasIdentifier: "nas\u0007" }, "ERR_INPUT"],
	["radius: not an object", "radius", "servers=radius1", "ERR_INPUT"],
	["totp has no settings", "totp" as ConfigurableMethod, {}, "ERR_INPUT"],
];

describe("method settings", () => {
	let t: TestApp;
	let admin: MethodAdmin;
	before(async () => {
		t = await createTestApp();
		admin = createMethodAdmin(t.app);
	});
	after(async () => t.cleanup());

	for (const [name, method, input, code] of INVALID) {
		test(`refused: ${name} (${code})`, async () => {
			await assert.rejects(admin.update(ADMIN_ACTOR, method, input), (error: unknown) => isPortcullisError(error, code));
			if ((method as string) !== "totp") assert.equal((await admin.get(method)).configured, false, "nothing was stored");
		});
	}

	test("enabling a method before it is configured is refused (settings, new group, group update); afterwards it is allowed", async () => {
		for (const method of ["yubikey-otp", "duo", "radius"] as const) {
			await assert.rejects(
				t.app.admin.updateSettings(ADMIN_ACTOR, { enabledMethods: ["totp", method] }),
				(error: unknown) => isPortcullisError(error, "ERR_POLICY_INVALID") && /configure/.test(String(error)),
			);
			await assert.rejects(t.app.admin.createGroup(ADMIN_ACTOR, { name: `g-${method}`, forceTwoFactor: false, allowedMethods: [method] }), (error: unknown) =>
				isPortcullisError(error, "ERR_POLICY_INVALID"),
			);
		}
		await t.app.admin.createGroup(ADMIN_ACTOR, { name: "ops", forceTwoFactor: false, allowedMethods: ["totp"] });
		await assert.rejects(t.app.admin.updateGroup(ADMIN_ACTOR, "ops", { allowedMethods: ["totp", "radius"] }), (error: unknown) =>
			isPortcullisError(error, "ERR_POLICY_INVALID"),
		);
		for (const method of ["yubikey-otp", "duo", "radius"] as const) await admin.update(ADMIN_ACTOR, method, VALID[method]);
		await t.app.admin.updateSettings(ADMIN_ACTOR, { enabledMethods: ["totp", "yubikey-otp", "duo", "radius"] });
		await t.app.admin.updateGroup(ADMIN_ACTOR, "ops", { allowedMethods: ["totp", "radius"] });
		assert.deepEqual((await t.app.stores.settings.getTwoFactor()).enabledMethods, ["totp", "yubikey-otp", "duo", "radius"]);
	});

	test("valid settings come back redacted with defaults filled in; plain http to this host is allowed", async () => {
		const view = await admin.update(ADMIN_ACTOR, "yubikey-otp", {
			mode: "cloud",
			urls: ["http://127.0.0.1:8000/wsapi/2.0/verify", "https://api.yubico.com/wsapi/2.0/verify"],
			clientId: "12345",
			apiKey: YUBI_API_KEY,
		});
		assert.deepEqual(view.settings, {
			mode: "cloud",
			urls: ["http://127.0.0.1:8000/wsapi/2.0/verify", "https://api.yubico.com/wsapi/2.0/verify"],
			clientId: "12345",
			apiKeySet: true,
			timeoutMs: 5000,
			caPemSet: false,
			insecureHttp: true,
		});
		assert.match(view.downgrades.join(" "), /plain http/);
		const radius = await admin.update(ADMIN_ACTOR, "radius", { servers: [{ host: "radius1.example.net", secret: RADIUS_SECRET }] });
		assert.deepEqual(radius.settings, {
			servers: [{ host: "radius1.example.net", port: 1812, secretSet: true, legacyNoMessageAuthenticator: false }],
			timeoutMs: 2000,
			retries: 2,
			nasIdentifier: "portcullis",
		});
		await admin.update(ADMIN_ACTOR, "yubikey-otp", VALID["yubikey-otp"]);
		await admin.update(ADMIN_ACTOR, "radius", VALID.radius);
	});

	test("an omitted secret keeps the stored one (forms never echo secrets); a new one replaces it; the audit names it", async () => {
		const store = new MethodSettingsStore(t.app.stores.settings, t.app.box);
		await admin.update(ADMIN_ACTOR, "duo", { ...d, secretKey: undefined, timeoutMs: 7000 });
		assert.equal((await store.require("duo")).secretKey, DUO_SKEY);
		assert.equal((await store.require("duo")).timeoutMs, 7000);
		let [event] = await t.app.stores.audit.query({ event: "method.settings-changed", limit: 1 });
		assert.deepEqual(JSON.parse(event!.detail!).secretsChanged, []);
		assert.equal(event!.actor, ADMIN_ACTOR.name);
		// A RADIUS server keeps its secret when listed again without one; a NEW server needs one.
		await admin.update(ADMIN_ACTOR, "radius", { ...r, servers: [{ host: server.host, port: server.port }] });
		assert.equal((await store.require("radius")).servers[0]!.secret, RADIUS_SECRET);
		await assert.rejects(admin.update(ADMIN_ACTOR, "radius", { ...r, servers: [{ host: "radius2.example.net" }] }), (error: unknown) =>
			isPortcullisError(error, "ERR_INPUT"),
		);
		const newSecret = "AnotherRadiusSecret-987654321";
		await admin.update(ADMIN_ACTOR, "radius", { ...r, servers: [{ ...server, secret: newSecret }] });
		[event] = await t.app.stores.audit.query({ event: "method.settings-changed", limit: 1 });
		assert.deepEqual(JSON.parse(event!.detail!).secretsChanged, ["servers[radius1.example.net:1812].secret"]);
		assert.ok(!event!.detail!.includes(newSecret));
		await admin.update(ADMIN_ACTOR, "radius", VALID.radius);
	});

	test("secrets never appear in get()/list() output, in the audit log, or in clear in the settings table", async () => {
		const secrets = [YUBI_API_KEY, Buffer.from(YUBI_API_KEY, "base64").toString("utf8"), DUO_SKEY, RADIUS_SECRET];
		const shown = JSON.stringify([await admin.list(), await admin.get("duo"), await admin.get("radius"), await admin.get("yubikey-otp")]);
		const audit = JSON.stringify(await t.app.stores.audit.query({ limit: 10_000 }));
		const rows = JSON.stringify(await t.app.db.selectFrom("settings").selectAll().execute());
		for (const secret of secrets) {
			assert.ok(!shown.includes(secret), "get() leaks a secret");
			assert.ok(!audit.includes(secret), "the audit log leaks a secret");
			assert.ok(!rows.includes(secret), "a secret is stored in clear");
		}
		assert.ok((await t.app.stores.audit.query({ event: "method.settings-changed" })).length >= 3);
	});

	test("a sealed secret is bound to its method: copied into another method's row it does not open", async () => {
		const rows = await t.app.db.selectFrom("settings").selectAll().execute();
		const duoRow = JSON.parse(rows.find((row) => row.key === "method-settings:duo")!.value) as { secretKey: string };
		const radiusRow = JSON.parse(rows.find((row) => row.key === "method-settings:radius")!.value) as { servers: { secret: string }[] };
		radiusRow.servers[0]!.secret = duoRow.secretKey;
		await t.app.stores.settings.set("method-settings:radius", JSON.stringify(radiusRow));
		const view = await admin.get("radius");
		assert.equal(view.configured, true);
		assert.equal(view.settings, null);
		assert.match(view.problem ?? "", /cannot be used/);
		await assert.rejects(new MethodSettingsStore(t.app.stores.settings, t.app.box).require("radius"), (error: unknown) =>
			isPortcullisError(error, "ERR_METHOD_UNAVAILABLE"),
		);
		await admin.update(ADMIN_ACTOR, "radius", VALID.radius); // the admin re-enters everything
		assert.equal((await admin.get("radius")).problem, null);
	});

	test("removing settings is refused while the method is enabled or listed by a group", async () => {
		await assert.rejects(
			admin.clear(ADMIN_ACTOR, "radius"),
			(error: unknown) => isPortcullisError(error, "ERR_POLICY_INVALID") && /enabled/.test(String(error)),
		);
		await t.app.admin.updateSettings(ADMIN_ACTOR, { enabledMethods: ["totp", "yubikey-otp", "duo"] });
		await assert.rejects(admin.clear(ADMIN_ACTOR, "radius"), (error: unknown) => isPortcullisError(error, "ERR_POLICY_INVALID") && /ops/.test(String(error)));
		await t.app.admin.updateGroup(ADMIN_ACTOR, "ops", { allowedMethods: ["totp"] });
		await admin.clear(ADMIN_ACTOR, "radius");
		assert.equal((await admin.get("radius")).configured, false);
		await assert.rejects(t.app.admin.updateSettings(ADMIN_ACTOR, { enabledMethods: ["totp", "radius"] }), (error: unknown) =>
			isPortcullisError(error, "ERR_POLICY_INVALID"),
		);
	});
});

describe("method settings are read on every use (two nodes, one database)", () => {
	let t: TestApp;
	let yubico: FakeYubicoServer;
	const API_KEY = Buffer.from("two nodes share this key").toString("base64");
	before(async () => {
		t = await createTestApp();
		yubico = await startFakeYubicoServer({ clients: { "9": API_KEY } });
	});
	after(async () => {
		await yubico.close();
		await t.cleanup();
	});

	test("node B sees node A's change at once; a node with another secret key fails closed", async () => {
		const file = join(t.dir, "portcullis.sqlite");
		const key = randomBytes(32);
		const nodeA = await createPortcullis(testConfig(t.dir), { clock: t.clock, database: { kind: "sqlite", file }, secretKey: key });
		const nodeB = await createPortcullis(testConfig(t.dir), { clock: t.clock, database: { kind: "sqlite", file }, secretKey: key });
		const stranger = await createPortcullis(testConfig(t.dir), { clock: t.clock, database: { kind: "sqlite", file }, secretKey: randomBytes(32) });
		try {
			await createMethodAdmin(nodeA).update(ADMIN_ACTOR, "yubikey-otp", { mode: "offline" });
			assert.deepEqual((await createMethodAdmin(nodeB).get("yubikey-otp")).settings, { mode: "offline" });
			await createMethodAdmin(nodeA).update(ADMIN_ACTOR, "yubikey-otp", { mode: "cloud", urls: [yubico.url], clientId: "9", apiKey: API_KEY, timeoutMs: 1000 });
			assert.equal(((await createMethodAdmin(nodeB).get("yubikey-otp")).settings as { mode?: string } | null)?.mode, "cloud");
			assert.match((await createMethodAdmin(stranger).get("yubikey-otp")).problem ?? "", /cannot be used/);
			await nodeA.admin.updateSettings(ADMIN_ACTOR, { enabledMethods: ["totp", "yubikey-otp"] });
			const user = await nodeA.admin.createUser(ADMIN_ACTOR, { username: "nina", password: "method test password", isAdmin: false, groups: [] });
			await nodeA.stores.factors.insert(
				{ userId: user.id, method: "yubikey-otp", label: "k", status: "active", secretEnc: null, publicId: "cccccccccccb" },
				{ origin: null, generation: 0, linkHash: null },
			);
			// The node with the wrong key cannot open the API key: the login fails closed.
			const step = await stranger.login.submitPassword({ channel: "ssh", sourceAddress: "192.0.2.1" }, "nina", "method test password");
			assert.equal(step.kind, "second-factor");
			if (step.kind !== "second-factor") return;
			await stranger.login.startChallenge(step.attemptId, "yubikey-otp");
			const result = await stranger.login.submitSecondFactor(step.attemptId, "yubikey-otp", `cccccccccccb${"c".repeat(32)}`);
			assert.ok(result.kind === "denied" && result.reason === "unavailable");
		} finally {
			await nodeA.close();
			await nodeB.close();
			await stranger.close();
		}
	});

	test("test connection (Yubico): a signed BAD_OTP for a dummy OTP means reachable and signed; problems are named", async () => {
		const admin = createMethodAdmin(t.app);
		await admin.update(ADMIN_ACTOR, "yubikey-otp", { mode: "cloud", urls: [yubico.url], clientId: "9", apiKey: API_KEY, timeoutMs: 1000 });
		const ok = await admin.testConnection(ADMIN_ACTOR, "yubikey-otp");
		assert.equal(ok.ok, true, JSON.stringify(ok));
		assert.match(ok.checks[0]!.message, /BAD_OTP/);
		assert.equal(yubico.requests.at(-1)?.signatureValid, true);

		await admin.update(ADMIN_ACTOR, "yubikey-otp", {
			mode: "cloud",
			urls: [yubico.url],
			clientId: "9",
			apiKey: Buffer.from("a different api key!").toString("base64"),
			timeoutMs: 1000,
		});
		const wrongKey = await admin.testConnection(ADMIN_ACTOR, "yubikey-otp");
		assert.equal(wrongKey.ok, false);
		assert.match(wrongKey.checks[0]!.message, /API key/);

		await admin.update(ADMIN_ACTOR, "yubikey-otp", { mode: "cloud", urls: [yubico.url], clientId: "9", apiKey: API_KEY, timeoutMs: 1000 });
		yubico.mode = "unsigned";
		const unsigned = await admin.testConnection(ADMIN_ACTOR, "yubikey-otp");
		yubico.mode = "ok";
		assert.equal(unsigned.ok, false);
		assert.match(unsigned.checks[0]!.message, /unsigned/);

		await admin.update(ADMIN_ACTOR, "yubikey-otp", {
			mode: "cloud",
			urls: [yubico.url, `http://127.0.0.1:${await deadTcpPort()}/wsapi/2.0/verify`],
			clientId: "9",
			timeoutMs: 1000,
		});
		const partly = await admin.testConnection(ADMIN_ACTOR, "yubikey-otp");
		assert.equal(partly.ok, false);
		assert.deepEqual(
			partly.checks.map((check) => check.ok),
			[true, false],
		);
		assert.match(partly.checks[1]!.message, /unreachable/);

		await admin.update(ADMIN_ACTOR, "yubikey-otp", { mode: "offline" });
		assert.equal((await admin.testConnection(ADMIN_ACTOR, "yubikey-otp")).ok, true);
		assert.ok((await t.app.stores.audit.query({ event: "method.connection-tested" })).length >= 5);
	});

	test("enrolment of a method whose settings are missing is refused with a message", async () => {
		const id = await makeUser(t, "olaf");
		// Enabled via the stored two-factor settings directly, as an old database might have it.
		await t.app.stores.settings.setTwoFactor({ forceTwoFactor: false, enabledMethods: ["totp", "duo" as MethodId] });
		const result = await t.app.enrollment.begin(id, "duo", "Duo", {}, ENROL);
		assert.equal(result.kind, "rejected");
		assert.match(result.kind === "rejected" ? result.message : "", /not finished configuring/);
	});
});

describe("method settings rows keep their stored format", () => {
	let t: TestApp;
	before(async () => {
		t = await createTestApp();
	});
	after(async () => t.cleanup());

	const CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
	const WEB_SECRET = "W".repeat(20) + "s".repeat(20);
	/** Each method's settings with every optional field set, and the names of its sealed fields. */
	const SETTINGS = {
		"yubikey-otp": { mode: "cloud", urls: ["https://api.yubico.com/wsapi/2.0/verify"], clientId: "12345", apiKey: YUBI_API_KEY, timeoutMs: 3000, caPem: CA },
		duo: {
			apiHost: "api-12345678.duosecurity.com",
			integrationKey: "DIWJ8X6AEYOR5OMC6TQ1",
			secretKey: DUO_SKEY,
			honourDuoBypass: true,
			timeoutMs: 5000,
			caPem: CA,
			webClientId: "DIAAAAAAAAAAAAAAAAAA",
			webClientSecret: WEB_SECRET,
		},
		radius: {
			servers: [{ host: "radius1.example.net", port: 1812, secret: RADIUS_SECRET, legacyNoMessageAuthenticator: true }],
			timeoutMs: 1000,
			retries: 2,
			nasIdentifier: "portcullis",
		},
	} as const;

	test("a row as written before (JSON, secrets sealed under method-settings:<id>, v: 1) opens; a saved row has exactly that shape", async () => {
		// Rows written by earlier versions must stay readable after refactors, and rows written now by older nodes.
		const box = t.app.box;
		const seal = (method: ConfigurableMethod, value: string): string => box.seal(value, `method-settings:${method}`);
		const rows: Record<ConfigurableMethod, Record<string, unknown>> = {
			"yubikey-otp": { ...SETTINGS["yubikey-otp"], apiKey: seal("yubikey-otp", YUBI_API_KEY), v: 1 },
			duo: { ...SETTINGS.duo, secretKey: seal("duo", DUO_SKEY), webClientSecret: seal("duo", WEB_SECRET), v: 1 },
			radius: { ...SETTINGS.radius, servers: [{ ...SETTINGS.radius.servers[0], secret: seal("radius", RADIUS_SECRET) }], v: 1 },
		};
		const store = new MethodSettingsStore(t.app.stores.settings, box);
		for (const method of ["yubikey-otp", "duo", "radius"] as const) {
			await t.app.stores.settings.set(`method-settings:${method}`, JSON.stringify(rows[method]));
			assert.deepEqual(await store.require(method), SETTINGS[method], `${method}: an existing row opens`);
		}
		// Saving writes the same keys in the same order, every secret sealed under its method's context.
		for (const method of ["yubikey-otp", "duo", "radius"] as const) {
			await store.save(method, await store.require(method));
			const saved: Record<string, unknown> = JSON.parse((await t.app.stores.settings.get(`method-settings:${method}`))!);
			assert.deepEqual(Object.keys(saved), Object.keys(rows[method]), `${method}: the same fields`);
			const open = (value: unknown): string => box.open(String(value), `method-settings:${method}`).toString("utf8");
			if (method === "yubikey-otp") assert.deepEqual({ ...saved, apiKey: open(saved.apiKey) }, { ...SETTINGS[method], v: 1 });
			if (method === "duo")
				assert.deepEqual({ ...saved, secretKey: open(saved.secretKey), webClientSecret: open(saved.webClientSecret) }, { ...SETTINGS[method], v: 1 });
			if (method === "radius") {
				const servers = Array.isArray(saved.servers)
					? saved.servers.map((server: Record<string, unknown>) => ({ ...server, secret: open(server.secret) }))
					: [];
				assert.deepEqual({ ...saved, servers }, { ...SETTINGS[method], v: 1 });
			}
		}
	});
});
