/**
 * Weak transport algorithms found by a scanner (docs/threat-model.md, "SSH pre-authentication surface": zlib
 * before authentication, hmac-sha1 and encrypt-and-MAC offered): ssh-audit (the Debian package) is
 * run against a real gateway and any "fail"-level finding that is not in the documented allow-list
 * (docs/ssh-relay.md "Transport hardening") fails the test.
 *
 * ssh-audit 2.5 (Debian bookworm) prints levels only in its text output, so levels come from batch
 * mode (-b) and the offered lists from the JSON output (-j); both formats are stable across 2.x/3.x.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { after, before, describe, test, type TestContext } from "node:test";
import { startSshGateway, type SshGateway } from "../../src/ssh/gateway.ts";
import { createTestApp, type TestApp } from "../helpers/test-app.ts";

const SSH_AUDIT = "/usr/bin/ssh-audit";

/**
 * "fail" findings we accept, each documented in docs/ssh-relay.md. None since the gateway offers
 * mlkem768x25519-sha256 (patches/ssh2+1.17.0.patch): newer ssh-audit releases (3.3+) fail a server
 * without a post-quantum hybrid, which is now a real finding again.
 */
const DOCUMENTED_FAILS: readonly RegExp[] = [];

function requireSshAudit(t: TestContext): boolean {
	try {
		accessSync(SSH_AUDIT, constants.X_OK);
		return true;
	} catch {
		const message = `${SSH_AUDIT} is missing: install the ssh-audit package`;
		if (process.env.PORTCULLIS_STRICT_PEERS === "1") throw new Error(message);
		t.skip(message);
		return false;
	}
}

function run(args: string[]): Promise<string> {
	// ssh-audit exits non-zero whenever it has any warning; the output is what counts.
	return new Promise((resolve) => execFile(SSH_AUDIT, args, { maxBuffer: 4 * 1024 * 1024 }, (_error, stdout) => resolve(String(stdout))));
}

interface Finding {
	readonly category: string;
	readonly algorithm: string;
	readonly level: "fail" | "warn" | "info";
	readonly text: string;
}

function findings(batch: string): Finding[] {
	const out: Finding[] = [];
	for (const line of batch.split("\n")) {
		const match = /^\((\w+)\) (.+?) -- \[(fail|warn|info)\] (.*)$/.exec(line.trim());
		if (match) out.push({ category: match[1] as string, algorithm: match[2] as string, level: match[3] as Finding["level"], text: match[4] as string });
	}
	return out;
}

describe("ssh-audit against the gateway", () => {
	let t: TestApp;
	let gateway: SshGateway;
	before(async () => {
		t = await createTestApp();
		gateway = await startSshGateway(t.app.ssh, { listen: "127.0.0.1:0" });
	});
	after(async () => {
		await gateway?.close();
		await t?.cleanup();
	});

	test("no fail-level finding outside the documented allow-list; compression and MACs as hardened", async (context) => {
		if (!requireSshAudit(context)) return;
		const target = ["-t", "60", "-p", String(gateway.address.port), "127.0.0.1"];
		const batch = await run(["-b", "-n", ...target]);
		const all = findings(batch);
		assert.ok(
			all.some((finding) => finding.category === "kex"),
			`ssh-audit produced no findings:\n${batch}`,
		);
		const fails = all.filter((finding) => finding.level === "fail" && !DOCUMENTED_FAILS.some((allowed) => allowed.test(finding.text)));
		assert.deepEqual(fails, [], batch);

		const report = JSON.parse(await run(["-j", ...target])) as { compression?: string[]; mac?: string[]; kex?: { algorithm: string }[] };
		assert.deepEqual(report.compression, ["none", "zlib@openssh.com"]);
		assert.deepEqual(report.mac, ["hmac-sha2-256-etm@openssh.com", "hmac-sha2-512-etm@openssh.com"]);
		// Post-quantum hybrid first (draft-ietf-sshm-mlkem-hybrid-kex), as src/core/ssh-kex.ts orders it.
		// Then sntrup761x25519-sha512 under both names (RFC 9941, same patch), still before Curve25519.
		assert.deepEqual(
			report.kex?.slice(0, 3).map((kex) => kex.algorithm),
			["mlkem768x25519-sha256", "sntrup761x25519-sha512", "sntrup761x25519-sha512@openssh.com"],
			JSON.stringify(report.kex),
		);
		assert.ok(
			report.kex?.some((kex) => kex.algorithm === "kex-strict-s-v00@openssh.com"),
			"strict key exchange (Terrapin, CVE-2023-48795)",
		);
	});
});
