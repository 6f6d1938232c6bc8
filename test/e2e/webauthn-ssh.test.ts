/**
 * docs/product-decisions.md Decision 6 end to end: the real OpenSSH client logs in to the gateway as alice
 * (group ops forces 2FA, her only factor is a security key). The keyboard-interactive prompt prints
 * a one-time link; the test opens it in headless Chromium (alice's console session, CDP virtual
 * authenticator), approves with the key, and answers the prompt with Enter; the login completes.
 * An unapproved link, an expired link and a denied link each fail the SSH login.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { APPROVAL_TTL_MS } from "../../src/methods/webauthn/webauthn-method.ts";
import { requireOpenSsh, runOpenSsh, type OpenSshResult } from "../helpers/ssh-client.ts";
import { ADMIN_ACTOR } from "../helpers/test-app.ts";
import { chromiumMissing, logIn, newKeyPage, registerKeyInBrowser, startKeyConsole, type KeyConsole, type KeyPage } from "../methods/webauthn/e2e-harness.ts";

const PASSWORD = "correct horse battery";
const PASSWORD_PROMPT = /'s password: $/;
const APPROVAL_PROMPT =
	/\) (?:Not approved yet\. )?Approve this login in your browser: (http:\/\/localhost:\d+\/approve\/[A-Za-z0-9_-]{43}) - then press Enter: $/;

const missing = chromiumMissing();
const strict = process.env.PORTCULLIS_STRICT_PEERS === "1";
if (missing !== null && !strict) console.log(`# SKIP webauthn SSH e2e: ${missing}`);

function describeRun(result: OpenSshResult): string {
	return JSON.stringify(
		{ code: result.code, stdout: result.stdout, prompts: result.prompts, stderr: result.stderr.split("\n").filter((line) => !line.startsWith("debug")) },
		null,
		1,
	);
}

describe("SSH login approved in the browser with a security key (OpenSSH + Chromium)", { skip: missing !== null && !strict ? missing : false }, () => {
	let c: KeyConsole;
	let alice: KeyPage;

	before(async () => {
		if (missing !== null) throw new Error(`PORTCULLIS_STRICT_PEERS=1 and ${missing}`);
		c = await startKeyConsole({ ssh: true });
		await c.app.admin.updateSettings(ADMIN_ACTOR, { enabledMethods: ["webauthn", "totp", "recovery-code"] });
		await c.app.admin.createGroup(ADMIN_ACTOR, { name: "ops", forceTwoFactor: true, allowedMethods: null });
		await c.app.admin.createUser(ADMIN_ACTOR, { username: "alice", password: PASSWORD, isAdmin: false, groups: ["ops"] });
		// Alice registers her key in the forced enrolment of her first web login; her session stays open.
		alice = await newKeyPage(c);
		await logIn(alice.page, "alice", PASSWORD);
		assert.match(alice.page.url(), /\/login\/enroll$/);
		await registerKeyInBrowser(alice.page, "blue key");
		assert.match(alice.page.url(), /\/account\/recovery-codes\?welcome=1$/);
	});
	after(async () => {
		if (c) await c.close();
	});

	async function unlock(): Promise<void> {
		await c.app.admin.unlock(ADMIN_ACTOR, "alice");
	}

	/** `ssh alice@gw whoami`: answers the password prompt, hands each approval link to `onLink`. */
	function sshAsAlice(onLink: (link: string) => string | null | Promise<string | null>): Promise<OpenSshResult> {
		return runOpenSsh({
			port: c.sshPort,
			user: "alice",
			command: "whoami",
			preferred: "password,keyboard-interactive",
			timeoutMs: 45_000,
			answer: (prompt) => {
				if (PASSWORD_PROMPT.test(prompt)) return PASSWORD;
				const link = APPROVAL_PROMPT.exec(prompt)?.[1];
				return link === undefined ? null : onLink(link);
			},
		});
	}

	test("password, then the approval link: approved in the browser with the key, Enter, logged in", async (t) => {
		if (!requireOpenSsh(t)) return;
		const links: string[] = [];
		const result = await sshAsAlice(async (link) => {
			links.push(link);
			const { page } = alice;
			await page.goto(link);
			await page.locator("#approval-source").waitFor();
			assert.equal(await page.locator("#approval-user").textContent(), "alice");
			assert.equal(await page.locator("#approval-source").textContent(), "127.0.0.1");
			await page.getByText("One SSH connection to this gateway").waitFor();
			await page.getByRole("button", { name: "Approve with security key" }).click();
			await page.getByText("Approved. Go back to your terminal and press Enter.").waitFor();
			return "";
		});
		assert.equal(result.code, 0, describeRun(result));
		assert.equal(result.stdout, "authenticated alice 2fa=webauthn epoch=0\n");
		assert.equal(links.length, 1);
		assert.match(result.stderr, /Two-factor authentication is required by group ops\./);
		// The link is spent.
		await alice.page.goto(links[0] as string);
		await alice.page.getByText("This login was approved and has finished.").waitFor();
		assert.deepEqual(c.cspViolations, []);
	});

	test("an unapproved link fails the login: Enter alone is asked again, then refused", async (t) => {
		if (!requireOpenSsh(t)) return;
		const links = new Set<string>();
		let enters = 0;
		const result = await sshAsAlice((link) => {
			links.add(link);
			enters += 1;
			return "";
		});
		assert.equal(result.code, 255, describeRun(result));
		assert.equal(result.stdout, "");
		assert.match(result.stderr, /Not approved yet|Too many wrong answers/);
		assert.ok(enters >= 4, `pressed Enter ${enters} times`);
		// Each unapproved link ended; none of them can be approved afterwards.
		for (const link of links) {
			await alice.page.goto(link);
			await alice.page.getByText(/This link has expired|This link was replaced/).waitFor();
		}
		await unlock();
	});

	test("an expired link fails the login (fake clock past the link's lifetime)", async (t) => {
		if (!requireOpenSsh(t)) return;
		let seen = 0;
		const result = await sshAsAlice(async (link) => {
			seen += 1;
			if (seen > 1) return null;
			c.clock.advance(APPROVAL_TTL_MS + 1000);
			await alice.page.goto(link);
			await alice.page.getByText("This link has expired. Start the SSH login again to get a new one.").waitFor();
			assert.equal(await alice.page.getByRole("button", { name: "Approve with security key" }).count(), 0);
			return "";
		});
		assert.equal(result.code, 255, describeRun(result));
		assert.equal(result.stdout, "");
		assert.match(result.stderr, /expired/i);
		await unlock();
	});

	test("a link denied in the browser fails the login", async (t) => {
		if (!requireOpenSsh(t)) return;
		let denied = "";
		const result = await sshAsAlice(async (link) => {
			// Links after the denial: nobody approves them (a failed askpass is an empty answer to OpenSSH).
			if (denied !== "") return null;
			denied = link;
			await alice.page.goto(link);
			await alice.page.getByRole("button", { name: "Deny: this was not me" }).click();
			await alice.page.getByText("You denied this login.").waitFor();
			return "";
		});
		assert.equal(result.code, 255, describeRun(result));
		assert.equal(result.stdout, "");
		assert.match(result.stderr, /That answer is not valid/);
		const events = await c.app.stores.audit.query({ event: "webauthn.ssh-denied", username: "alice" });
		assert.equal(events.length, 1);
		await unlock();
	});
});
