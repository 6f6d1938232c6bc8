/**
 * mlkem768x25519-sha256 in ssh2 (patches/ssh2+1.17.0.patch, draft-ietf-sshm-mlkem-hybrid-kex):
 *
 * - the patch is applied (ssh2 lists and negotiates the method) and scripts/apply-patches.js is
 *   idempotent, applies to a clean ssh2 and refuses another ssh2 version;
 * - a known-answer vector from deterministic inputs (test/ssh/mlkem768x25519-kat.json): C_INIT from
 *   a seeded ML-KEM-768 key and a fixed X25519 scalar, K from a recorded S_REPLY, recomputed here
 *   independently with Node's crypto (K = SHA-256(K_PQ || K_CL));
 * - both halves agree on K with fresh randomness, and malformed C_INIT / S_REPLY are refused;
 * - ssh2 client and server negotiate it first, and a malformed KEX_ECDH_INIT ends the connection
 *   cleanly.
 * The real-peer tests (OpenSSH 10 on both legs) are in pq-kex-openssh.test.ts.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash, createPrivateKey, createPublicKey, decapsulate, diffieHellman } from "node:crypto";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import ssh2 from "ssh2";
import { loadConfig } from "../../src/config/load-config.ts";
import { serverAlgorithms, ssh2SupportedKex, targetAlgorithms } from "../../src/ssh/algorithms.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const require = createRequire(import.meta.url);

/** The patch's KEM module (plain CommonJS inside ssh2; typed here for the test only). */
interface KeyPair {
	readonly privateKey: unknown;
	readonly publicKey: unknown;
}
interface MlKemModule {
	readonly NAME: string;
	readonly supported: boolean;
	readonly C_INIT_LEN: number;
	readonly S_REPLY_LEN: number;
	readonly Client: new (keys?: { mlkem?: KeyPair; x25519?: KeyPair }) => { init(): Buffer; secret(sReply: Buffer): Buffer };
	serverReply(cInit: Buffer, x25519?: KeyPair): { reply: Buffer; secret: Buffer };
	keysFromSeeds(mlkemSeed: Buffer | null, x25519Private: Buffer | null): { mlkem?: KeyPair; x25519?: KeyPair };
}
const kem = require("ssh2/lib/protocol/kex_mlkem768x25519.js") as MlKemModule;

const KAT = JSON.parse(readFileSync(new URL("./mlkem768x25519-kat.json", import.meta.url), "utf8")) as Record<string, string>;
const hex = (name: string) => Buffer.from(KAT[name] as string, "hex");
const sha256 = (data: Buffer) => createHash("sha256").update(data).digest();

describe("the ssh2 patch is applied", () => {
	test("ssh2 implements and prefers mlkem768x25519-sha256; the gateway offers it first on both legs", () => {
		assert.equal(kem.supported, true, "Node's ML-KEM-768 is unavailable (Node 24 with OpenSSL 3.5 needed)");
		assert.ok(ssh2SupportedKex().includes("mlkem768x25519-sha256"), "patches/ssh2+1.17.0.patch is not applied (run npm install)");
		const constants = require("ssh2/lib/protocol/constants.js") as { DEFAULT_KEX: string[] };
		assert.equal(constants.DEFAULT_KEX[0], "mlkem768x25519-sha256");
		const config = loadConfig({ env: {}, overrides: { data_dir: tmpdir() } });
		assert.equal((serverAlgorithms(config).kex as string[])[0], "mlkem768x25519-sha256");
		assert.equal((targetAlgorithms(config).kex as string[])[0], "mlkem768x25519-sha256");
		const pqOnly = loadConfig({ env: { PORTCULLIS_SSH__PQ_ONLY: "true" }, overrides: { data_dir: tmpdir() } });
		assert.deepEqual(serverAlgorithms(pqOnly).kex, ["mlkem768x25519-sha256", "sntrup761x25519-sha512", "sntrup761x25519-sha512@openssh.com"]);
		// pq_only is about users' clients: targets keep the classical fallback.
		assert.ok((targetAlgorithms(pqOnly).kex as string[]).includes("curve25519-sha256"));
	});

	test("scripts/apply-patches.js: idempotent, applies to a clean ssh2, refuses another version", () => {
		const dir = mkdtempSync(join(tmpdir(), "portcullis-patches-"));
		try {
			const ssh2Dir = join(dir, "node_modules", "ssh2");
			mkdirSync(join(dir, "scripts"), { recursive: true });
			cpSync(join(ROOT, "scripts", "apply-patches.js"), join(dir, "scripts", "apply-patches.js"));
			cpSync(join(ROOT, "patches"), join(dir, "patches"), { recursive: true });
			cpSync(join(ROOT, "node_modules", "ssh2", "package.json"), join(ssh2Dir, "package.json"));
			cpSync(join(ROOT, "node_modules", "ssh2", "lib"), join(ssh2Dir, "lib"), { recursive: true });
			const patched = readFileSync(join(ssh2Dir, "lib", "protocol", "kex.js"), "utf8");
			const run = () => spawnSync(process.execPath, [join(dir, "scripts", "apply-patches.js")], { cwd: dir, encoding: "utf8" });

			const again = run();
			assert.equal(again.status, 0, again.stderr);
			assert.match(again.stdout, /ssh2\+1\.17\.0\.patch already applied/);

			// Back to the pristine ssh2 1.17.0, then the script applies the patch again.
			const reverse = spawnSync("patch", ["-p1", "--force", "--silent", "--reverse", "-i", join(dir, "patches", "ssh2+1.17.0.patch")], { cwd: ssh2Dir });
			assert.equal(reverse.status, 0, String(reverse.stderr));
			assert.doesNotMatch(readFileSync(join(ssh2Dir, "lib", "protocol", "kex.js"), "utf8"), /mlkem|sntrup/);
			assert.doesNotMatch(readFileSync(join(ssh2Dir, "lib", "protocol", "constants.js"), "utf8"), /mlkem|sntrup/);
			const patchedGyp = readFileSync(join(ROOT, "node_modules", "ssh2", "lib", "protocol", "crypto", "binding.gyp"), "utf8");
			assert.doesNotMatch(readFileSync(join(ssh2Dir, "lib", "protocol", "crypto", "binding.gyp"), "utf8"), /sntrup761/);
			const applied = run();
			assert.equal(applied.status, 0, applied.stderr);
			assert.match(applied.stdout, /ssh2\+1\.17\.0\.patch applied/);
			assert.equal(readFileSync(join(ssh2Dir, "lib", "protocol", "kex.js"), "utf8"), patched);
			// The sntrup761 addon's target and its vendored sources come back with the patch.
			assert.equal(readFileSync(join(ssh2Dir, "lib", "protocol", "crypto", "binding.gyp"), "utf8"), patchedGyp);
			assert.ok(readFileSync(join(ssh2Dir, "lib", "protocol", "crypto", "src", "sntrup761", "sntrup761.c")).length > 50_000);

			const manifest = JSON.parse(readFileSync(join(ssh2Dir, "package.json"), "utf8")) as { version: string };
			writeFileSync(join(ssh2Dir, "package.json"), JSON.stringify({ ...manifest, version: "1.18.0" }));
			const other = run();
			assert.notEqual(other.status, 0);
			assert.match(other.stderr, /installed ssh2 is 1\.18\.0, the patch is for 1\.17\.0/);
		} finally {
			rmSync(dir, { recursive: true, force: true });
		}
	});
});

describe("mlkem768x25519-sha256 key encapsulation (known answers)", () => {
	const keys = kem.keysFromSeeds(hex("mlkemSeed"), hex("x25519ClientPrivate"));
	const server = kem.keysFromSeeds(null, hex("x25519ServerPrivate")).x25519 as KeyPair;

	test("C_INIT from the seeded keys: ML-KEM-768 encapsulation key (1184) || X25519 public (32)", () => {
		const init = new kem.Client(keys).init();
		assert.equal(init.length, 1184 + 32);
		assert.equal(sha256(init).toString("hex"), KAT.cInitSha256);
		const x25519Public = createPublicKey(createPrivateKey({ key: hex("x25519ClientPrivate"), format: "raw-private", asymmetricKeyType: "x25519" }));
		assert.deepEqual(init.subarray(1184), x25519Public.export({ format: "raw-public" }));
	});

	test("K from the recorded S_REPLY, and the same K recomputed independently", () => {
		const sReply = hex("sReply");
		assert.equal(sReply.length, 1088 + 32);
		const k = new kem.Client(keys).secret(sReply);
		assert.equal(k.toString("hex"), KAT.k);
		// Independently: K_PQ = ML-KEM-768.Decaps(dk, c) (FIPS 203 §7.3), K_CL = X25519(a, B) (RFC 7748 §6.1).
		const decapsulationKey = createPrivateKey({ key: hex("mlkemSeed"), format: "raw-seed", asymmetricKeyType: "ml-kem-768" });
		const kPq = decapsulate(decapsulationKey, sReply.subarray(0, 1088));
		const kCl = diffieHellman({
			privateKey: createPrivateKey({ key: hex("x25519ClientPrivate"), format: "raw-private", asymmetricKeyType: "x25519" }),
			publicKey: createPublicKey({ key: sReply.subarray(1088), format: "raw-public", asymmetricKeyType: "x25519" }),
		});
		assert.equal(sha256(Buffer.concat([kPq, kCl])).toString("hex"), KAT.k);
		// The server's X25519 half of S_REPLY is the recorded server scalar's public key.
		assert.deepEqual(sReply.subarray(1088), (server.publicKey as ReturnType<typeof createPublicKey>).export({ format: "raw-public" }));
	});

	test("both halves agree with fresh randomness; the server's reply for the seeded C_INIT decapsulates to its K", () => {
		for (let round = 0; round < 5; round++) {
			const client = new kem.Client();
			const { reply, secret } = kem.serverReply(client.init());
			assert.equal(reply.length, 1120);
			assert.deepEqual(client.secret(reply), secret);
		}
		const seeded = new kem.Client(keys);
		const { reply, secret } = kem.serverReply(seeded.init(), server);
		assert.deepEqual(new kem.Client(keys).secret(reply), secret);
	});

	test("malformed C_INIT and S_REPLY are refused (lengths, an invalid ML-KEM key, a low-order X25519 point)", () => {
		const init = new kem.Client().init();
		assert.throws(() => kem.serverReply(init.subarray(1)), /C_INIT must be 1216 bytes/);
		assert.throws(() => kem.serverReply(Buffer.concat([init, Buffer.alloc(1)])), /C_INIT must be 1216 bytes/);
		// FIPS 203 §7.2 modulus check: coefficients of 0xfff are >= q = 3329.
		assert.throws(() => kem.serverReply(Buffer.concat([Buffer.alloc(1184, 0xff), init.subarray(1184)])));
		// RFC 7748 §6.1: the all-zero point gives an all-zero shared secret.
		assert.throws(() => kem.serverReply(Buffer.concat([init.subarray(0, 1184), Buffer.alloc(32)])));
		const client = new kem.Client();
		const { reply } = kem.serverReply(client.init());
		assert.throws(() => client.secret(reply.subarray(1)), /S_REPLY must be 1120 bytes/);
		assert.throws(() => client.secret(Buffer.concat([reply.subarray(0, 1088), Buffer.alloc(32)])));
	});
});

describe("ssh2 client and server over mlkem768x25519-sha256", () => {
	const hostKey = ssh2.utils.generateKeyPairSync("ed25519").private;

	function serve(kex: string[]): Promise<{ server: ssh2.Server; port: number; negotiated: Promise<string> }> {
		let resolveKex: (name: string) => void = () => undefined;
		const negotiated = new Promise<string>((resolve) => (resolveKex = resolve));
		const server = new ssh2.Server({ hostKeys: [hostKey], algorithms: { kex: kex as ssh2.KexAlgorithm[] } }, (client) => {
			client.on("handshake", (info) => resolveKex(info.kex));
			client.on("authentication", (context) => context.accept());
			client.on("error", () => undefined);
		});
		return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve({ server, port: (server.address() as { port: number }).port, negotiated })));
	}

	test("negotiated first by default on both sides; the connection authenticates (keys derived alike)", async () => {
		const { server, port, negotiated } = await serve([...(require("ssh2/lib/protocol/constants.js") as { DEFAULT_KEX: string[] }).DEFAULT_KEX]);
		try {
			const client = new ssh2.Client();
			const clientKex = new Promise<string>((resolve) => client.on("handshake", (info) => resolve(info.kex)));
			await new Promise<void>((resolve, reject) => {
				client.on("ready", () => resolve());
				client.on("error", reject);
				client.connect({ host: "127.0.0.1", port, username: "u", password: "p" });
			});
			client.end();
			assert.equal(await clientKex, "mlkem768x25519-sha256");
			assert.equal(await negotiated, "mlkem768x25519-sha256");
		} finally {
			server.close();
		}
	});

	test("a KEX_ECDH_INIT whose C_INIT is too short ends the connection with a key-exchange error, the server keeps serving", async () => {
		const { server, port } = await serve(["mlkem768x25519-sha256"]);
		const errors: string[] = [];
		server.on("connection", (connection) => connection.on("error", (error: Error) => errors.push(error.message)));
		try {
			const client = new ssh2.Client();
			// Send a short C_INIT through the patched exchange: the client's own half, truncated.
			const original = kem.Client.prototype.init;
			kem.Client.prototype.init = function init(this: { init(): Buffer }) {
				return original.call(this).subarray(0, 100);
			};
			const closed = new Promise<string>((resolve) => {
				client.on("error", (error: Error) => resolve(error.message));
				client.on("close", () => resolve("closed"));
			});
			client.connect({ host: "127.0.0.1", port, username: "u", password: "p", algorithms: { kex: ["mlkem768x25519-sha256" as ssh2.KexAlgorithm] } });
			const outcome = await closed;
			kem.Client.prototype.init = original;
			assert.notEqual(outcome, "ready");
			// A well-formed client still gets through afterwards.
			const ok = new ssh2.Client();
			await new Promise<void>((resolve, reject) => {
				ok.on("ready", () => resolve());
				ok.on("error", reject);
				ok.connect({ host: "127.0.0.1", port, username: "u", password: "p", algorithms: { kex: ["mlkem768x25519-sha256" as ssh2.KexAlgorithm] } });
			});
			ok.end();
			assert.ok(
				errors.some((message) => /C_INIT must be 1216 bytes/.test(message)),
				errors.join("; "),
			);
		} finally {
			server.close();
		}
	});
});
