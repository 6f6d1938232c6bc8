/**
 * The account page's SSH keys (src/web/routes/account-keys.tsx) over HTTP, with the gateway on
 * the same app: a key added on the page logs in with OpenSSH (still asking for TOTP), changes need
 * a fresh second factor, users only see and remove their own keys, and the page shows the
 * gateway's host key fingerprint.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { startSshGateway, type SshGateway } from "../../src/ssh/gateway.ts";
import { makeKey, type TestKey } from "../helpers/keys.ts";
import { requireOpenSsh, runOpenSsh } from "../helpers/ssh-client.ts";
import { ADMIN_ACTOR, Browser, createWebTest, decodeHtml, enrolTotp, loginWithTotp, mainOf, PASSWORD, totpCodeAt, type WebTest } from "../web/helpers.ts";
import { enrolKeyword, KEYWORD, keywordAnswer, standInChannels } from "./auth-fixtures.ts";

describe("account page: SSH keys", () => {
	let w: WebTest;
	let gateway: SshGateway;
	let dir: string;
	let key: TestKey;
	let secret: Buffer;
	let browser: Browser;

	before(async () => {
		w = await createWebTest();
		gateway = await startSshGateway(w.app.ssh, { listen: "127.0.0.1:0", attachChannels: standInChannels({ calls: [] }) });
		dir = mkdtempSync(join(tmpdir(), "portcullis-web-keys-"));
		key = makeKey(dir, "laptop");
		await w.app.admin.createGroup(ADMIN_ACTOR, { name: "ops", forceTwoFactor: true, allowedMethods: null });
		const alice = await w.app.admin.createUser(ADMIN_ACTOR, { username: "alice", password: PASSWORD, isAdmin: false, groups: ["ops"] });
		secret = await enrolTotp(w, alice.id);
		w.clock.advance(30_000);
		browser = new Browser(w.server);
		const home = await loginWithTotp(w, browser, "alice", secret);
		assert.equal(home.statusCode, 200);
	});
	after(async () => {
		await gateway?.close();
		await w?.close();
		rmSync(dir, { recursive: true, force: true });
	});

	let fingerprint = "";

	test("the page lists no keys and shows the gateway host key fingerprint", async () => {
		const page = await browser.get("/account/ssh-keys");
		assert.equal(page.statusCode, 200);
		const main = decodeHtml(mainOf(page.body));
		assert.match(main, /You have not added an SSH key/);
		assert.ok(main.includes(gateway.hostKeyFingerprint), "host key fingerprint shown");
	});

	test("adding: bad lines are refused with a reason; a good key is added", async () => {
		const base64 = key.publicLine.split(" ")[1] as string;
		const sk = await browser.post("/account/ssh-keys", { publicKey: `sk-ssh-ed25519@openssh.com ${base64}` });
		assert.equal(sk.statusCode, 400);
		assert.match(decodeHtml(sk.body), /security-key \(FIDO\) keys are not supported/);
		const added = await browser.post("/account/ssh-keys", { publicKey: `${key.publicLine}\n` });
		assert.equal(added.statusCode, 303, added.body.slice(0, 300));
		const page = await browser.follow(added);
		const main = decodeHtml(mainOf(page.body));
		const match = /(SHA256:[A-Za-z0-9+/]{43})<\/code><\/td><td>ssh-ed25519<\/td><td>laptop<\/td>/.exec(main);
		assert.ok(match, main.slice(0, 800));
		fingerprint = match[1] as string;
		const duplicate = await browser.post("/account/ssh-keys", { publicKey: key.publicLine });
		assert.equal(duplicate.statusCode, 400);
		assert.match(decodeHtml(duplicate.body), /already added/);
	});

	test("the key from the page logs in over SSH, and the gateway still asks for TOTP", async (t) => {
		if (!requireOpenSsh(t)) return;
		w.clock.advance(30_000);
		const result = await runOpenSsh({
			port: gateway.address.port,
			user: "alice",
			command: "id",
			preferred: "publickey,keyboard-interactive",
			identityFile: key.file,
			answer: (prompt) => (/TOTP\): $/.test(prompt) ? totpCodeAt(secret, w.clock.now().getTime()) : null),
		});
		assert.equal(result.code, 0, result.stderr);
		assert.ok(result.stderr.includes('Authenticated using "publickey" with partial success.'));
		assert.equal(result.stdout, "authenticated alice 2fa=totp epoch=0\n");
	});

	test("another user cannot see or remove alice's key", async () => {
		const bob = await w.app.admin.createUser(ADMIN_ACTOR, { username: "bob", password: PASSWORD, isAdmin: false, groups: ["ops"] });
		const bobSecret = await enrolTotp(w, bob.id);
		w.clock.advance(30_000);
		const other = new Browser(w.server);
		await loginWithTotp(w, other, "bob", bobSecret);
		const page = await other.get("/account/ssh-keys");
		assert.ok(!page.body.includes(fingerprint));
		const removed = await other.post("/account/ssh-keys/remove", { fingerprint });
		assert.equal(removed.statusCode, 404);
		assert.ok((await browser.get("/account/ssh-keys")).body.includes(fingerprint));
	});

	test("over HTTP: the SSH prompt follows the method of the last web login (keyword, then TOTP)", async (t) => {
		const wendy = await w.app.admin.createUser(ADMIN_ACTOR, { username: "wendy", password: PASSWORD, isAdmin: false, groups: ["ops"] });
		const wendySecret = await enrolTotp(w, wendy.id);
		await enrolKeyword(w, wendy.id);
		const webLogin = async (method: "access-keyword" | "totp") => {
			w.clock.advance(30_000);
			const web = new Browser(w.server);
			assert.equal((await web.login("wendy")).headers.location, "/login/2fa");
			const page = await web.get(`/login/2fa?method=${method}`);
			let fields: Record<string, string>;
			if (method === "access-keyword") {
				const legend = /<legend>([^<]+)<\/legend>/.exec(decodeHtml(page.body));
				assert.ok(legend, "keyword positions on the page");
				const answer = Array.from(keywordAnswer(`${legend[1]}:`) ?? "");
				fields = { method, c1: answer[0] ?? "", c2: answer[1] ?? "", c3: answer[2] ?? "" };
			} else {
				fields = { method, code: totpCodeAt(wendySecret, w.clock.now().getTime()) };
			}
			const done = await web.post("/login/2fa", fields);
			assert.equal(done.statusCode, 303, done.body.slice(0, 300));
		};
		const sshPrompt = async (): Promise<string> => {
			w.clock.advance(30_000);
			const result = await runOpenSsh({
				port: gateway.address.port,
				user: "wendy",
				command: "id",
				preferred: "password,keyboard-interactive",
				answer: (prompt) =>
					/password: $/.test(prompt)
						? PASSWORD
						: /TOTP\): $/.test(prompt)
							? totpCodeAt(wendySecret, w.clock.now().getTime())
							: /Access keyword/.test(prompt)
								? keywordAnswer(prompt, KEYWORD)
								: null,
			});
			assert.equal(result.code, 0, result.stderr);
			return result.prompts[1] ?? "";
		};
		if (!requireOpenSsh(t)) return;
		await webLogin("access-keyword");
		assert.match(await sshPrompt(), /Access keyword: characters \d+, \d+ and \d+: $/);
		await webLogin("totp");
		assert.match(await sshPrompt(), /Authenticator app code \(TOTP\): $/);
	});

	test("changes need a fresh second factor (step-up); then removal works and the key no longer logs in", async (t) => {
		w.clock.advance((w.app.config.security.step_up_minutes + 1) * 60_000);
		await browser.get("/account/ssh-keys");
		const stale = await browser.post("/account/ssh-keys/remove", { fingerprint });
		assert.equal(stale.statusCode, 303);
		assert.match(String(stale.headers.location), /^\/account\/step-up\?next=%2Faccount%2Fssh-keys/);
		assert.ok((await browser.get("/account/ssh-keys")).body.includes(fingerprint), "nothing removed without step-up");

		// Step up with a fresh TOTP code, then remove.
		await browser.get("/account/step-up?next=%2Faccount%2Fssh-keys");
		w.clock.advance(30_000);
		const stepped = await browser.post("/account/step-up", { next: "/account/ssh-keys", method: "totp", code: totpCodeAt(secret, w.clock.now().getTime()) });
		assert.equal(stepped.statusCode, 303, stepped.body.slice(0, 300));
		await browser.get("/account/ssh-keys");
		const removed = await browser.post("/account/ssh-keys/remove", { fingerprint });
		assert.equal(removed.statusCode, 303);
		assert.match(decodeHtml(mainOf((await browser.follow(removed)).body)), /The key was removed\./);
		const audit = await w.app.stores.audit.query({ username: "alice", event: "ssh-key.remove" });
		assert.equal(audit[0]?.outcome, "success");
		assert.equal(audit[0]?.actor, "user:alice");

		if (!requireOpenSsh(t)) return;
		const refused = await runOpenSsh({
			port: gateway.address.port,
			user: "alice",
			command: "id",
			preferred: "publickey",
			identityFile: key.file,
			answer: () => null,
		});
		assert.equal(refused.code, 255);
		assert.match(refused.stderr, /Permission denied \(publickey,password\)/);
	});
});
