/**
 * `portcullis user add-key / list-keys / remove-key` as real processes on a data directory, then
 * the gateway on that same data directory: a key added on the CLI logs in with OpenSSH, and a
 * removed key no longer does.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createPortcullis, type Portcullis } from "../../src/app/portcullis.ts";
import { configSchema } from "../../src/config/config.ts";
import { startSshGateway, type SshGateway } from "../../src/ssh/gateway.ts";
import { makeKey, type TestKey } from "../helpers/keys.ts";
import { requireOpenSsh, runOpenSsh } from "../helpers/ssh-client.ts";
import { standInChannels } from "./auth-fixtures.ts";

const MAIN = new URL("../../src/cli/main.ts", import.meta.url).pathname;

function cli(args: string[], input = ""): Promise<{ code: number | null; stdout: string; stderr: string }> {
	return new Promise((resolve) => {
		const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("PORTCULLIS_")));
		const child = spawn(process.execPath, ["--import", "tsx", MAIN, ...args], { env, stdio: ["pipe", "pipe", "pipe"] });
		let stdout = "";
		let stderr = "";
		child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
		child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
		child.on("close", (code) => resolve({ code, stdout, stderr }));
		child.stdin.end(input);
	});
}

describe("CLI key management + gateway", () => {
	let dir: string;
	let keyDir: string;
	let key: TestKey;

	before(() => {
		dir = mkdtempSync(join(tmpdir(), "portcullis-cli-keys-"));
		keyDir = mkdtempSync(join(tmpdir(), "portcullis-cli-keyfiles-"));
		key = makeKey(keyDir, "laptop");
	});
	after(() => {
		rmSync(dir, { recursive: true, force: true });
		rmSync(keyDir, { recursive: true, force: true });
	});

	let fingerprint = "";

	test("add-key reads the .pub line on stdin; refuses duplicates, sk-* keys and certificates", async () => {
		assert.equal((await cli(["user", "add", "alice", "--data", dir], "a-long-password-1\n")).code, 0);
		const added = await cli(["user", "add-key", "alice", "--data", dir], readFileSync(`${key.file}.pub`, "utf8"));
		assert.equal(added.code, 0, added.stderr);
		const match = /^added ssh-ed25519 key (SHA256:\S+) for alice\n$/.exec(added.stdout);
		assert.ok(match, added.stdout);
		fingerprint = match[1] as string;

		const duplicate = await cli(["user", "add-key", "alice", "--data", dir], key.publicLine);
		assert.equal(duplicate.code, 2);
		assert.match(duplicate.stderr, /already added/);
		const base64 = key.publicLine.split(" ")[1] as string;
		const sk = await cli(["user", "add-key", "alice", "--data", dir], `sk-ssh-ed25519@openssh.com ${base64} yubikey\n`);
		assert.equal(sk.code, 2);
		assert.match(sk.stderr, /security-key \(FIDO\) keys are not supported/);
		const cert = await cli(["user", "add-key", "alice", "--data", dir], `ssh-ed25519-cert-v01@openssh.com ${base64}\n`);
		assert.equal(cert.code, 2);
		assert.match(cert.stderr, /certificates are not accepted/);
		const unknownUser = await cli(["user", "add-key", "mallory", "--data", dir], key.publicLine);
		assert.notEqual(unknownUser.code, 0);

		const listed = await cli(["user", "list-keys", "alice", "--json", "--data", dir]);
		assert.equal(listed.code, 0, listed.stderr);
		const keys = JSON.parse(listed.stdout) as { fingerprint: string; algo: string; comment: string }[];
		assert.deepEqual(
			keys.map(({ fingerprint: fp, algo, comment }) => ({ fp, algo, comment })),
			[{ fp: fingerprint, algo: "ssh-ed25519", comment: "laptop" }],
		);
	});

	test("the CLI-added key logs in over SSH (no policy, no factor); after remove-key it does not", async (t) => {
		if (!requireOpenSsh(t)) return;
		assert.notEqual(fingerprint, "", "previous test added the key");
		const config = configSchema.parse({ data_dir: dir, http: { listen: "127.0.0.1:0", public_url: "http://127.0.0.1:8080" } });
		const app: Portcullis = await createPortcullis(config);
		const gateway: SshGateway = await startSshGateway(app.ssh, { listen: "127.0.0.1:0", attachChannels: standInChannels({ calls: [] }) });
		try {
			const login = () =>
				runOpenSsh({ port: gateway.address.port, user: "alice", command: "id", preferred: "publickey", identityFile: key.file, answer: () => null });
			const ok = await login();
			assert.equal(ok.code, 0, ok.stderr);
			assert.equal(ok.stdout, "authenticated alice 2fa=none epoch=0\n");
			assert.match(ok.stderr, new RegExp(`Server accepts key: ${key.file} ED25519 ${fingerprint.replace(/[+/]/g, "\\$&")}`));

			const removed = await cli(["user", "remove-key", "alice", fingerprint, "--data", dir]);
			assert.equal(removed.code, 0, removed.stderr);
			assert.equal((await cli(["user", "remove-key", "alice", fingerprint, "--data", dir])).code, 2);
			const refused = await login();
			assert.equal(refused.code, 255);
			assert.match(refused.stderr, /Permission denied \(publickey,password\)/);
			const audit = await app.stores.audit.query({ username: "alice" });
			assert.ok(audit.some((row) => row.event === "ssh-key.add" && row.outcome === "success"));
			assert.ok(audit.some((row) => row.event === "ssh-key.remove" && row.outcome === "success"));
		} finally {
			await gateway.close();
			await app.close();
		}
	});
});
