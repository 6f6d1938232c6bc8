/**
 * The backend methods at the SSH gateway with the real OpenSSH client (keyboard-interactive after
 * partial success): a YubiKey OTP, Duo's pam_duo-like prompt answered with "1" (push), and a
 * RADIUS Access-Challenge from a real FreeRADIUS answered as a second prompt in the same exchange.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createMethodAdmin } from "../../src/methods/method-admin.ts";
import { DUO_IKEY, DUO_SKEY, type FakeDuoServer, startFakeDuoServer } from "../helpers/fake-duo-server.ts";
import { FREERADIUS_USERS, freeRadiusSkipReason, startFreeRadius, type FreeRadiusServer } from "../helpers/freeradius.ts";
import { ENROL } from "../helpers/method-login.ts";
import { requireOpenSsh, runOpenSsh, type OpenSshResult } from "../helpers/ssh-client.ts";
import { ADMIN_ACTOR } from "../helpers/test-app.ts";
import { opensslAvailable, sharedTestCa } from "../helpers/test-ca.ts";
import { simulatedYubikey } from "../helpers/yubikey-keys.ts";
import { addUser, PASSWORD, startFixture, type Fixture } from "../ssh/auth-fixtures.ts";

const PASSWORD_PROMPT = /'s password: $/;
const { carol } = FREERADIUS_USERS;

function show(result: OpenSshResult): string {
	return JSON.stringify(
		{
			code: result.code,
			stdout: result.stdout,
			prompts: result.prompts,
			stderr: result.stderr.split("\n").filter((line) => /Authentic|partial|Permission|Two-factor|Duo|RADIUS/.test(line)),
		},
		null,
		1,
	);
}

describe("YubiKey, Duo and RADIUS at the SSH gateway (OpenSSH client)", {
	skip: freeRadiusSkipReason() ?? (opensslAvailable() ? false : "openssl not installed"),
}, () => {
	let f: Fixture;
	let radius: FreeRadiusServer;
	let duo: FakeDuoServer;
	const key = simulatedYubikey();

	before(async () => {
		f = await startFixture();
		radius = await startFreeRadius();
		const ca = sharedTestCa();
		duo = await startFakeDuoServer({ ikey: DUO_IKEY, skey: DUO_SKEY, tls: { cert: ca.serverCert, key: ca.serverKey }, clock: f.clock, users: { dina: {} } });
		const admin = createMethodAdmin(f.app);
		await admin.update(ADMIN_ACTOR, "yubikey-otp", { mode: "offline" });
		await admin.update(ADMIN_ACTOR, "duo", {
			apiHost: `localhost:${duo.port}`,
			integrationKey: DUO_IKEY,
			secretKey: DUO_SKEY,
			timeoutMs: 2000,
			caPem: ca.caCert,
		});
		await admin.update(ADMIN_ACTOR, "radius", { servers: [{ host: radius.host, port: radius.port, secret: radius.secret }], timeoutMs: 1000, retries: 1 });
		await f.app.admin.updateSettings(ADMIN_ACTOR, { enabledMethods: ["totp", "yubikey-otp", "duo", "radius"] });
		const yuri = await addUser(f, "yuri");
		assert.equal(
			(await f.app.enrollment.begin(yuri, "yubikey-otp", "k", { otp: key.otp(), aesKey: key.aesKeyHex, privateId: key.privateIdHex }, ENROL)).kind,
			"active",
		);
		const dina = await addUser(f, "dina");
		assert.equal((await f.app.enrollment.begin(dina, "duo", "Duo", {}, ENROL)).kind, "active");
		const carolId = await addUser(f, "carol");
		const begin = await f.app.enrollment.begin(carolId, "radius", "token", { password: carol.password }, ENROL);
		assert.equal(begin.kind, "pending");
		assert.equal((await f.app.enrollment.complete(carolId, begin.kind === "pending" ? begin.factorId : "", { code: carol.token }, ENROL)).kind, "active");
	});
	after(async () => {
		await f?.close();
		await radius?.stop();
		await duo?.close();
	});

	test("YubiKey: password, then 'YubiKey: touch your key'", async (t) => {
		if (!requireOpenSsh(t)) return;
		const result = await runOpenSsh({
			port: f.port,
			user: "yuri",
			command: "whoami",
			preferred: "password,keyboard-interactive",
			answer: (prompt) => (PASSWORD_PROMPT.test(prompt) ? PASSWORD : /YubiKey: touch your key: $/.test(prompt) ? key.otp() : null),
		});
		assert.equal(result.code, 0, show(result));
		assert.equal(result.stdout, "authenticated yuri 2fa=yubikey-otp epoch=0\n");
	});

	test("Duo: the pam_duo-like prompt, answered with 1 (push, approved)", async (t) => {
		if (!requireOpenSsh(t)) return;
		const result = await runOpenSsh({
			port: f.port,
			user: "dina",
			command: "whoami",
			preferred: "password,keyboard-interactive",
			timeoutMs: 30_000,
			answer: (prompt) =>
				PASSWORD_PROMPT.test(prompt)
					? PASSWORD
					: /Duo: enter a passcode, or 1 for push to iOS \(XXX-XXX-0100\), 2 for phone call to iOS \(XXX-XXX-0100\): $/.test(prompt)
						? "1"
						: null,
		});
		assert.equal(result.code, 0, show(result));
		assert.equal(result.stdout, "authenticated dina 2fa=duo epoch=0\n");
		assert.equal(duo.requests.filter((request) => request.path === "/auth/v2/auth").at(-1)?.params.ipaddr, "127.0.0.1");
	});

	test("RADIUS: password, then the server's challenge as a second prompt in the same exchange (State carried)", async (t) => {
		if (!requireOpenSsh(t)) return;
		const result = await runOpenSsh({
			port: f.port,
			user: "carol",
			command: "whoami",
			preferred: "password,keyboard-interactive",
			answer: (prompt) =>
				PASSWORD_PROMPT.test(prompt)
					? PASSWORD
					: /RADIUS: password or token code: $/.test(prompt)
						? carol.password
						: prompt.includes(carol.prompt)
							? carol.token
							: null,
		});
		assert.equal(result.code, 0, show(result));
		assert.equal(result.stdout, "authenticated carol 2fa=radius epoch=0\n");
		assert.ok(
			result.prompts.some((prompt) => prompt.includes(carol.prompt)),
			show(result),
		);
	});
});
