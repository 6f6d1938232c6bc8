/**
 * contrib/portcullis.service (docs/operations.md "Running under systemd") and the nightly backup,
 * contrib/portcullis-backup.service + .timer ("Backup and restore"): `systemd-analyze verify`
 * accepts them with no complaint about the units, they keep their hardening, and `systemd-analyze
 * security --offline` scores each service's exposure at or below 3.0 ("OK"). The negative twins prove the
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

const BACKUP_UNITS = ["portcullis-backup.service", "portcullis-backup.timer"];

/** A unit as installed, with this checkout as the install prefix, written under its own name in a fresh folder. */
function unitCopy(edit: (text: string) => string = (text) => text, name = "portcullis.service"): { file: string; dir: string; cleanup(): void } {
	const dir = mkdtempSync(join(tmpdir(), "portcullis-unit-"));
	const file = join(dir, name);
	for (const other of [name, ...BACKUP_UNITS.filter((unit) => unit !== name)]) {
		const text = readFileSync(join(ROOT, "contrib", other), "utf8").replaceAll("/opt/portcullis", ROOT);
		writeFileSync(join(dir, other), other === name ? edit(text) : text);
	}
	return { file, dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** stderr lines about the units under test (verify also loads system units, whose own warnings are not ours). */
function complaints(stderr: string, dir: string): string[] {
	return stderr.split("\n").filter((line) => line.includes(dir) || line.startsWith("portcullis"));
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

test("the units keep their hardening lines", () => {
	const lines = readFileSync(UNIT, "utf8").split("\n");
	for (const line of HARDENING) assert.ok(lines.includes(line), line);
	const backup = readFileSync(join(ROOT, "contrib", "portcullis-backup.service"), "utf8").split("\n");
	for (const line of [...HARDENING.filter((line) => !line.startsWith("RestrictAddressFamilies=") && !line.startsWith("StateDirectory=")), "PrivateNetwork=yes"])
		assert.ok(backup.includes(line), `backup: ${line}`);
	assert.ok(backup.includes("StateDirectory=portcullis portcullis-backups"));
});

test("systemd-analyze verify accepts contrib/portcullis.service and the backup service and timer without a complaint", async (t) => {
	if (!requireSystemdAnalyze(t)) return;
	const unit = unitCopy();
	try {
		const result = await analyze(["verify", unit.file, ...BACKUP_UNITS.map((name) => join(unit.dir, name))]);
		assert.equal(result.code, 0, result.stderr);
		assert.deepEqual(complaints(result.stderr, unit.dir), []);
	} finally {
		unit.cleanup();
	}
});

test("negative twin: verify reports a misspelled hardening key and an invalid value", async (t) => {
	if (!requireSystemdAnalyze(t)) return;
	const unit = unitCopy((text) => text.replace("NoNewPrivileges=yes", "NoNewPrivilege=yes").replace("ProtectSystem=strict", "ProtectSystem=strictest"));
	try {
		const result = await analyze(["verify", unit.file]);
		const found = complaints(result.stderr, unit.dir).join("\n");
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
		const backup = await analyze(["security", "--offline=yes", "--threshold=30", join(unit.dir, "portcullis-backup.service")]);
		assert.equal(backup.code, 0, backup.stdout + backup.stderr);
	} finally {
		unit.cleanup();
		bare.cleanup();
	}
});
