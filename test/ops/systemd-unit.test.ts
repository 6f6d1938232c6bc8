/**
 * contrib/portcullis.service (docs/operations.md "Running under systemd"): `systemd-analyze verify`
 * accepts it with no complaint about the unit, it keeps its hardening, and `systemd-analyze
 * security --offline` scores its exposure at or below 3.0 ("OK"). The negative twins prove the
 * checks can fail: a misspelled hardening key and an invalid value are reported, and the unit with
 * its hardening removed scores above the threshold.
 *
 * verify checks that ExecStart's program exists, so the unit is checked from a copy whose install
 * prefix /opt/portcullis is replaced by this checkout (nothing else is changed).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { TestContext } from "node:test";

const ROOT = fileURLToPath(new URL("../../", import.meta.url)).replace(/\/$/, "");
const UNIT = join(ROOT, "contrib", "portcullis.service");
const ANALYZE = "/usr/bin/systemd-analyze";

/** True when systemd-analyze is there; otherwise fails (PORTCULLIS_STRICT_PEERS=1) or skips. */
function requireSystemdAnalyze(t: TestContext): boolean {
	try {
		accessSync(ANALYZE, constants.X_OK);
		return true;
	} catch {
		const message = `${ANALYZE} is missing: install the Debian package systemd`;
		if (process.env.PORTCULLIS_STRICT_PEERS === "1") throw new Error(message);
		t.skip(message);
		return false;
	}
}

function analyze(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
	return new Promise((resolve) => {
		execFile(ANALYZE, args, { env: { ...process.env, SYSTEMD_COLORS: "0", SYSTEMD_PAGER: "" } }, (error, stdout, stderr) => {
			const code = error === null ? 0 : typeof error.code === "number" ? error.code : 1;
			resolve({ code, stdout, stderr });
		});
	});
}

/** The unit as installed, with this checkout as the install prefix; written as portcullis.service in a fresh folder. */
function unitCopy(edit: (text: string) => string = (text) => text): { file: string; cleanup(): void } {
	const dir = mkdtempSync(join(tmpdir(), "portcullis-unit-"));
	const file = join(dir, "portcullis.service");
	writeFileSync(file, edit(readFileSync(UNIT, "utf8").replaceAll("/opt/portcullis", ROOT)));
	return { file, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** stderr lines about the unit under test (verify also loads system units, whose own warnings are not ours). */
function complaints(stderr: string, file: string): string[] {
	return stderr.split("\n").filter((line) => line.includes(file) || line.startsWith("portcullis.service"));
}

const HARDENING = [
	"NoNewPrivileges=yes",
	"ProtectSystem=strict",
	"ProtectHome=yes",
	"PrivateTmp=yes",
	"StateDirectory=portcullis",
	"StateDirectoryMode=0700",
	"UMask=0077",
	"CapabilityBoundingSet=",
	"RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
];

test("the unit keeps its hardening lines", () => {
	const lines = readFileSync(UNIT, "utf8").split("\n");
	for (const line of HARDENING) assert.ok(lines.includes(line), line);
});

test("systemd-analyze verify accepts contrib/portcullis.service without a complaint", async (t) => {
	if (!requireSystemdAnalyze(t)) return;
	const unit = unitCopy();
	try {
		const result = await analyze(["verify", unit.file]);
		assert.equal(result.code, 0, result.stderr);
		assert.deepEqual(complaints(result.stderr, unit.file), []);
	} finally {
		unit.cleanup();
	}
});

test("negative twin: verify reports a misspelled hardening key and an invalid value", async (t) => {
	if (!requireSystemdAnalyze(t)) return;
	const unit = unitCopy((text) => text.replace("NoNewPrivileges=yes", "NoNewPrivilege=yes").replace("ProtectSystem=strict", "ProtectSystem=strictest"));
	try {
		const result = await analyze(["verify", unit.file]);
		const found = complaints(result.stderr, unit.file).join("\n");
		assert.match(found, /Unknown key 'NoNewPrivilege'/);
		assert.match(found, /strictest/);
	} finally {
		unit.cleanup();
	}
});

test("systemd-analyze security: exposure at most 3.0 (OK); without its hardening the unit scores worse", async (t) => {
	if (!requireSystemdAnalyze(t)) return;
	const unit = unitCopy();
	// Every line from "# Hardening." to the [Install] section removed.
	const bare = unitCopy((text) => text.replace(/# Hardening\.[\s\S]*?(?=\[Install\])/, ""));
	try {
		const hardened = await analyze(["security", "--offline=yes", "--threshold=30", unit.file]);
		assert.equal(hardened.code, 0, hardened.stdout + hardened.stderr);
		assert.match(hardened.stdout, /Overall exposure level for portcullis\.service: [0-2]\.\d|Overall exposure level for portcullis\.service: 3\.0/);
		const weak = await analyze(["security", "--offline=yes", "--threshold=30", bare.file]);
		assert.notEqual(weak.code, 0, weak.stdout);
	} finally {
		unit.cleanup();
		bare.cleanup();
	}
});
