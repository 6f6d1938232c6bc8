/**
 * Host key, user key parsing/storage and the prompt grammar: the small pieces under the gateway.
 * Fingerprints are checked against OpenSSH's own ssh-keygen and ssh client.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import ssh2 from "ssh2";
import { isPortcullisError } from "../../src/core/errors.ts";
import { loadOrCreateHostKey } from "../../src/ssh/host-key.ts";
import { HOST_FINGERPRINT_SETTING } from "../../src/servers/gateway-host-key.ts";
import { instructionText, parseAnswer, promptText, terminalSafe } from "../../src/ssh/prompts.ts";
import { parsePublicKeyLine } from "../../src/storage/ssh-key-store.ts";
import { makeKey } from "../helpers/keys.ts";
import { requireOpenSsh, runOpenSsh } from "../helpers/ssh-client.ts";
import { addUser, startFixture, type Fixture } from "./auth-fixtures.ts";

function sshKeygenFingerprint(file: string): string {
	// "256 SHA256:abc... comment (ED25519)"
	return execFileSync("/usr/bin/ssh-keygen", ["-l", "-E", "sha256", "-f", file], { encoding: "utf8" }).split(" ")[1] as string;
}

describe("host key", () => {
	let dir: string;
	before(() => {
		dir = mkdtempSync(join(tmpdir(), "portcullis-hostkey-"));
	});
	after(() => rmSync(dir, { recursive: true, force: true }));

	test("generated once as an OpenSSH ed25519 key with mode 0600, then reused", (t) => {
		const path = join(dir, "sub", "ssh_host_ed25519_key");
		const first = loadOrCreateHostKey(path);
		assert.equal(statSync(path).mode & 0o777, 0o600);
		assert.match(first.privateKey, /^-----BEGIN OPENSSH PRIVATE KEY-----/);
		assert.match(first.publicKey, /^ssh-ed25519 AAAA/);
		assert.match(first.fingerprint, /^SHA256:[A-Za-z0-9+/]{43}$/);
		const second = loadOrCreateHostKey(path);
		assert.equal(second.fingerprint, first.fingerprint);
		if (!requireOpenSsh(t)) return;
		writeFileSync(join(dir, "host.pub"), `${first.publicKey}\n`);
		assert.equal(sshKeygenFingerprint(join(dir, "host.pub")), first.fingerprint);
	});

	test("a host key readable by others is refused (like sshd)", () => {
		const path = join(dir, "loose_key");
		loadOrCreateHostKey(path);
		chmodSync(path, 0o644);
		assert.throws(
			() => loadOrCreateHostKey(path),
			(error: unknown) => isPortcullisError(error, "ERR_CONFIG_INVALID"),
		);
	});
});

describe("public key lines", () => {
	let dir: string;
	before(() => {
		dir = mkdtempSync(join(tmpdir(), "portcullis-userkeys-"));
	});
	after(() => rmSync(dir, { recursive: true, force: true }));

	test("ed25519, ecdsa and RSA-2048 keys parse; the fingerprint is ssh-keygen's", (t) => {
		const openssh = requireOpenSsh(t);
		for (const type of ["ed25519", "ecdsa", "rsa"] as const) {
			const key = makeKey(dir, `k-${type}`, type);
			const parsed = parsePublicKeyLine(`${key.publicLine}\n`);
			assert.ok(parsed.ok, parsed.ok ? "" : parsed.message);
			if (!parsed.ok) continue;
			assert.equal(parsed.key.comment, `k-${type}`);
			assert.ok(parsed.key.blob.equals(key.parsed.getPublicSSH()));
			if (openssh) assert.equal(parsed.key.fingerprint, sshKeygenFingerprint(`${key.file}.pub`));
		}
	});

	test("sk-*, certificates, DSA, authorized_keys options, small RSA and garbage are refused with a reason", () => {
		const ed = makeKey(dir, "ed");
		const [type, base64] = ed.publicLine.split(" ") as [string, string];
		const small = ssh2.utils.generateKeyPairSync("rsa", { bits: 1024 });
		const cases: [string, RegExp][] = [
			[`sk-ssh-ed25519@openssh.com ${base64} fido`, /security-key \(FIDO\) keys are not supported/],
			[`sk-ecdsa-sha2-nistp256@openssh.com ${base64}`, /security-key/],
			[`ssh-ed25519-cert-v01@openssh.com ${base64}`, /certificates are not accepted/],
			[`ssh-dss ${base64}`, /DSA keys are obsolete/],
			[`command="echo hi" ${type} ${base64}`, /Unrecognised key line/],
			[small.public, /at least 2048 bits/],
			[`${type} not*base64`, /not valid base64/],
			[`ssh-rsa ${base64}`, /does not match its type/],
			[`${ed.publicLine}\n${ed.publicLine}`, /exactly one/],
			["", /No public key found/],
			[ed.privateKey, /exactly one|Unrecognised/],
			["x".repeat(20_000), /too long/],
		];
		for (const [line, message] of cases) {
			const result = parsePublicKeyLine(line);
			assert.equal(result.ok, false, line.slice(0, 40));
			assert.match(result.ok ? "" : result.message, message, line.slice(0, 40));
		}
		for (const value of [null, 42, { line: ed.publicLine }]) assert.equal(parsePublicKeyLine(value).ok, false);
	});

	test("comments lose control and bidi characters", () => {
		const ed = makeKey(dir, "c");
		const [type, base64] = ed.publicLine.split(" ") as [string, string];
		const parsed = parsePublicKeyLine(`${type} ${base64} evil\u001b[31m\u202ename`);
		assert.ok(parsed.ok);
		assert.equal(parsed.ok && parsed.key.comment, "evil[31mname");
	});
});

describe("key store and gateway host fingerprint", () => {
	let f: Fixture;
	let dir: string;
	before(async () => {
		f = await startFixture();
		dir = mkdtempSync(join(tmpdir(), "portcullis-keystore-"));
	});
	after(async () => {
		await f?.close();
		rmSync(dir, { recursive: true, force: true });
	});

	test("add, list, find, duplicate, remove", async () => {
		const userId = await addUser(f, "kate");
		const other = await addUser(f, "karl");
		const key = makeKey(dir, "kate");
		const parsed = parsePublicKeyLine(key.publicLine);
		assert.ok(parsed.ok);
		if (!parsed.ok) return;
		await f.keys.add(userId, parsed.key);
		await assert.rejects(f.keys.add(userId, parsed.key), (error: unknown) => isPortcullisError(error, "ERR_CONFLICT"));
		// The same key may belong to another account too (refusing would reveal who has it).
		await f.keys.add(other, parsed.key);
		assert.equal((await f.keys.list(userId)).length, 1);
		assert.equal((await f.keys.findForUser(userId, parsed.key.blob))?.fingerprint, parsed.key.fingerprint);
		assert.equal(await f.keys.findForUser(userId, Buffer.from("nope")), undefined);
		assert.equal(await f.keys.remove(userId, parsed.key.fingerprint), true);
		assert.equal(await f.keys.remove(userId, parsed.key.fingerprint), false);
		assert.equal((await f.keys.list(other)).length, 1);
	});

	test("the host key fingerprint is stored for the console and is what OpenSSH sees; strict KEX (Terrapin) is negotiated", async (t) => {
		assert.equal(await f.app.stores.settings.get(HOST_FINGERPRINT_SETTING), f.gateway.hostKeyFingerprint);
		if (!requireOpenSsh(t)) return;
		const result = await runOpenSsh({ port: f.port, user: "nobody", preferred: "password", command: "true", answer: () => null, extraArgs: ["-v", "-v"] });
		assert.match(result.stderr, new RegExp(`Server host key: ssh-ed25519 ${f.gateway.hostKeyFingerprint.replace(/[+/]/g, "\\$&")}`));
		// Terrapin (CVE-2023-48795, docs/threat-model.md, SSH protocol facts): both sides agree on strict KEX.
		assert.match(result.stderr, /will use strict KEX ordering/);
		assert.match(result.stderr, /remote software version Portcullis\r?\n/);
	});
});

describe("prompt grammar", () => {
	test("switch commands, numbers and answers", () => {
		const methods = ["totp", "access-keyword", "recovery-code"] as const;
		assert.deepEqual(parseAnswer(":keyword", methods), { kind: "switch", method: "access-keyword" });
		assert.deepEqual(parseAnswer(" :TOTP ", methods), { kind: "switch", method: "totp" });
		assert.deepEqual(parseAnswer(":recovery", methods), { kind: "switch", method: "recovery-code" });
		assert.deepEqual(parseAnswer(":3", methods), { kind: "switch", method: "recovery-code" });
		// A bare digit is an answer (Duo: "1 for push"), never a switch.
		assert.deepEqual(parseAnswer("3", methods), { kind: "answer", value: "3" });
		assert.deepEqual(parseAnswer(":2", methods), { kind: "switch", method: "access-keyword" });
		assert.deepEqual(parseAnswer(":4", methods), { kind: "unknown-switch", text: ":4" });
		assert.deepEqual(parseAnswer(":duo", methods), { kind: "unknown-switch", text: ":duo" });
		assert.deepEqual(parseAnswer("123456", methods), { kind: "answer", value: "123456" });
		assert.deepEqual(parseAnswer("a:b", methods), { kind: "answer", value: "a:b" });
		assert.deepEqual(parseAnswer("", methods), { kind: "answer", value: "" });
	});

	test("texts are terminal-safe and name the method", () => {
		assert.equal(promptText("Authenticator app code (TOTP)"), "Authenticator app code (TOTP): ");
		assert.equal(promptText("Access keyword: characters 2, 5 and 9"), "Access keyword: characters 2, 5 and 9: ");
		assert.equal(terminalSafe("a\u001b[2Jb\u0007c\r\nd\u202e"), "a[2Jbc\nd");
		const text = instructionText({
			explanation: "Two-factor authentication is required for everyone.",
			current: "totp",
			methods: ["totp", "access-keyword"],
			notice: "That answer is not valid. 2 attempts left.",
		});
		assert.equal(
			text,
			"That answer is not valid. 2 attempts left.\nTwo-factor authentication is required for everyone.\nUsing Authenticator app (TOTP). To switch, type :keyword (or :2) for Access keyword.",
		);
	});
});
