/**
 * A throw-away certificate authority and a server certificate for 127.0.0.1 / localhost, made with
 * the `openssl` CLI in a mkdtemp folder (docs/dependencies.md, Duo). Only the PEM
 * texts are returned; the folder is removed again. EC P-256 keeps generation fast.
 *
 * When openssl is missing, `requireOpenssl(t)` skips the calling test, or FAILS it when
 * PORTCULLIS_STRICT_PEERS=1 (docs/briefs/README.md: a missing peer never silently skips in CI).
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface TestCa {
	/** The CA certificate: give it to clients as `ca`. */
	readonly caCert: string;
	/** Server certificate (SAN DNS:localhost, IP:127.0.0.1) signed by the CA, and its key. */
	readonly serverCert: string;
	readonly serverKey: string;
}

/**
 * The `skip` option for tests whose fake servers need a test-ca.ts certificate: false when openssl
 * is there; a reason to skip otherwise, except under PORTCULLIS_STRICT_PEERS=1 where it throws.
 */
export function opensslSkip(): false | string {
	if (opensslAvailable()) return false;
	if (process.env.PORTCULLIS_STRICT_PEERS === "1") throw new Error("openssl is required for these tests (PORTCULLIS_STRICT_PEERS=1)");
	return "openssl not installed";
}

export function opensslAvailable(): boolean {
	try {
		execFileSync("openssl", ["version"], { stdio: "ignore" });
		return true;
	} catch {
		return false;
	}
}

/**
 * Call at the top of a test (or `before`) that needs openssl. Returns false when the test was
 * skipped; throws when PORTCULLIS_STRICT_PEERS=1 so the run fails instead.
 */
export function requireOpenssl(context: { skip(message?: string): void }): boolean {
	if (opensslAvailable()) return true;
	if (process.env.PORTCULLIS_STRICT_PEERS === "1") {
		throw new Error("openssl is not installed but PORTCULLIS_STRICT_PEERS=1 requires it");
	}
	context.skip("openssl not installed");
	return false;
}

function openssl(cwd: string, args: readonly string[]): void {
	execFileSync("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
}

/** Makes a new, independent CA and server certificate each call (two calls = two unrelated CAs). */
export function makeTestCa(commonName = "Portcullis Test CA"): TestCa {
	const dir = mkdtempSync(join(tmpdir(), "portcullis-test-ca-"));
	try {
		const ecKey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
		openssl(dir, [
			"req",
			"-x509",
			...ecKey,
			"-keyout",
			"ca.key",
			"-out",
			"ca.pem",
			"-days",
			"2",
			"-subj",
			`/CN=${commonName}`,
			"-addext",
			"basicConstraints=critical,CA:TRUE",
			"-addext",
			"keyUsage=critical,keyCertSign,cRLSign",
		]);
		openssl(dir, ["req", "-new", ...ecKey, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"]);
		writeFileSync(
			join(dir, "server.ext"),
			[
				"basicConstraints=critical,CA:FALSE",
				"keyUsage=critical,digitalSignature,keyEncipherment",
				"extendedKeyUsage=serverAuth",
				"subjectAltName=DNS:localhost,IP:127.0.0.1",
				"",
			].join("\n"),
		);
		openssl(dir, [
			"x509",
			"-req",
			"-in",
			"server.csr",
			"-CA",
			"ca.pem",
			"-CAkey",
			"ca.key",
			"-CAcreateserial",
			"-out",
			"server.pem",
			"-days",
			"2",
			"-sha256",
			"-extfile",
			"server.ext",
		]);
		return {
			caCert: readFileSync(join(dir, "ca.pem"), "utf8"),
			serverCert: readFileSync(join(dir, "server.pem"), "utf8"),
			serverKey: readFileSync(join(dir, "server.key"), "utf8"),
		};
	} finally {
		rmSync(dir, { recursive: true, force: true });
	}
}

let shared: TestCa | undefined;
/** One CA per test process, for tests that only need "some trusted certificate". */
export function sharedTestCa(): TestCa {
	shared ??= makeTestCa();
	return shared;
}
