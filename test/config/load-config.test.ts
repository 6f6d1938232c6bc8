/**
 * config/load-config.ts: defaults < TOML file < environment < CLI overrides; an invalid config
 * stops with ERR_CONFIG_INVALID naming every problem at once. The environment is always passed in
 * explicitly, so these tests never depend on (or change) the real process environment.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../../src/config/load-config.ts";
import { isPortcullisError } from "../../src/core/errors.ts";

function withDir(run: (dir: string) => void): void {
	const dir = mkdtempSync(join(tmpdir(), "portcullis-config-"));
	try {
		run(dir);
	} finally {
		rmSync(dir, { recursive: true, force: true });
	}
}

function problemsOf(run: () => unknown): string[] {
	try {
		run();
	} catch (error) {
		assert.ok(isPortcullisError(error, "ERR_CONFIG_INVALID"), `expected ERR_CONFIG_INVALID, got ${String(error)}`);
		const [head, ...items] = error.message.split("\n");
		assert.equal(head, "invalid configuration:");
		return items.map((line) => line.replace(/^\s+- /, ""));
	}
	assert.fail("the configuration was accepted");
}

test("no file, no environment: the defaults make `npm start` work", () => {
	withDir((dir) => {
		const config = loadConfig({ env: {}, overrides: { data_dir: dir } });
		assert.equal(config.data_dir, dir);
		assert.equal(config.http.listen, "127.0.0.1:8080");
		assert.equal(config.ssh.listen, "127.0.0.1:2222");
		assert.equal(config.database.url, "");
		assert.equal(config.secrets.key, "");
		assert.equal(config.security.lockout_max_failures, 5);
		assert.equal(config.security.lockout_window_seconds, 900);
		assert.equal(config.security.lockout_seconds, 900);
		assert.equal(config.totp.issuer, "Portcullis");
	});
});

test("a TOML file sets values; unset keys keep their defaults", () => {
	withDir((dir) => {
		const file = join(dir, "custom.toml");
		writeFileSync(
			file,
			[
				`data_dir = "${dir}"`,
				"[http]",
				'listen = "0.0.0.0:9443"',
				'public_url = "https://bastion.example.com"',
				'trusted_proxies = ["10.0.0.1"]',
				"[security]",
				"lockout_max_failures = 3",
				"[totp]",
				'issuer = "ACME bastion"',
			].join("\n"),
		);
		const config = loadConfig({ configFile: file, env: {} });
		assert.equal(config.http.listen, "0.0.0.0:9443");
		assert.equal(config.http.public_url, "https://bastion.example.com");
		assert.deepEqual(config.http.trusted_proxies, ["10.0.0.1"]);
		assert.equal(config.security.lockout_max_failures, 3);
		assert.equal(config.security.lockout_seconds, 900, "an unset key in a present section keeps its default");
		assert.equal(config.totp.issuer, "ACME bastion");
		assert.equal(config.ssh.listen, "127.0.0.1:2222");
	});
});

test("the file is found through PORTCULLIS_CONFIG, or as <data_dir>/portcullis.toml", () => {
	withDir((dir) => {
		writeFileSync(join(dir, "elsewhere.toml"), '[http]\nlisten = "127.0.0.1:1111"\n');
		assert.equal(loadConfig({ env: { PORTCULLIS_CONFIG: join(dir, "elsewhere.toml") } }).http.listen, "127.0.0.1:1111");

		writeFileSync(join(dir, "portcullis.toml"), '[http]\nlisten = "127.0.0.1:2222"\n');
		assert.equal(loadConfig({ env: {}, overrides: { data_dir: dir } }).http.listen, "127.0.0.1:2222");
		assert.equal(loadConfig({ env: { PORTCULLIS_DATA_DIR: dir } }).http.listen, "127.0.0.1:2222");
		assert.equal(loadConfig({ env: { PORTCULLIS_DATA_DIR: dir } }).data_dir, dir);
	});
});

test("environment PORTCULLIS_SECTION__KEY overrides the file, with numbers, booleans and JSON arrays coerced", () => {
	withDir((dir) => {
		const file = join(dir, "portcullis.toml");
		writeFileSync(file, '[http]\nlisten = "127.0.0.1:9000"\n[security]\nlockout_max_failures = 3\n');
		const config = loadConfig({
			configFile: file,
			env: {
				PORTCULLIS_HTTP__LISTEN: "127.0.0.1:9001",
				PORTCULLIS_SECURITY__LOCKOUT_MAX_FAILURES: "7",
				PORTCULLIS_HTTP__TRUSTED_PROXIES: '["192.0.2.1","192.0.2.2"]',
				PORTCULLIS_TOTP__ISSUER: "Env issuer",
				// Not a config variable (no "__"): ignored, like the test runner's own switches.
				PORTCULLIS_STRICT_PEERS: "1",
				UNRELATED: "x",
			},
		});
		assert.equal(config.http.listen, "127.0.0.1:9001");
		assert.equal(config.security.lockout_max_failures, 7);
		assert.deepEqual(config.http.trusted_proxies, ["192.0.2.1", "192.0.2.2"]);
		assert.equal(config.totp.issuer, "Env issuer");
	});
});

test("PORTCULLIS_DATABASE_URL selects PostgreSQL and wins over the file", () => {
	withDir((dir) => {
		const file = join(dir, "portcullis.toml");
		writeFileSync(file, '[database]\nurl = "postgres://file@db.example/portcullis"\n');
		assert.equal(loadConfig({ configFile: file, env: {} }).database.url, "postgres://file@db.example/portcullis");
		const config = loadConfig({ configFile: file, env: { PORTCULLIS_DATABASE_URL: "postgresql://env@127.0.0.1:5432/portcullis" } });
		assert.equal(config.database.url, "postgresql://env@127.0.0.1:5432/portcullis");
	});
});

test("CLI overrides (--data, --http, --ssh) win over the environment and the file", () => {
	withDir((dir) => {
		const file = join(dir, "portcullis.toml");
		writeFileSync(file, '[http]\nlisten = "127.0.0.1:9000"\n[ssh]\nlisten = "127.0.0.1:9022"\n');
		const config = loadConfig({
			configFile: file,
			env: { PORTCULLIS_HTTP__LISTEN: "127.0.0.1:9001", PORTCULLIS_DATA_DIR: "/nonexistent/env", PORTCULLIS_DATABASE_URL: "postgres://env@h/db" },
			overrides: { data_dir: dir, http_listen: "127.0.0.1:0", ssh_listen: "[::1]:0", database_url: "" },
		});
		assert.equal(config.http.listen, "127.0.0.1:0");
		assert.equal(config.ssh.listen, "[::1]:0");
		assert.equal(config.data_dir, dir);
		assert.equal(config.database.url, "");
	});
});

test("the result is deeply frozen", () => {
	withDir((dir) => {
		const config = loadConfig({ env: {}, overrides: { data_dir: dir } });
		assert.ok(Object.isFrozen(config));
		assert.ok(Object.isFrozen(config.http));
		assert.ok(Object.isFrozen(config.http.trusted_proxies));
		assert.throws(() => {
			(config.security as { lockout_max_failures: number }).lockout_max_failures = 1000;
		}, TypeError);
	});
});

test("an invalid config lists EVERY problem (file, environment and overrides together)", () => {
	withDir((dir) => {
		const file = join(dir, "portcullis.toml");
		writeFileSync(
			file,
			[
				"colour = 'blue'", // unknown top-level key
				"[http]",
				'listen = "localhost"', // no port
				"[security]",
				"lockout_max_failures = 0", // below 1
				'lockout_seconds = "soon"', // wrong type
				"[totp]",
				'issuer = ""', // too short
			].join("\n"),
		);
		const problems = problemsOf(() =>
			loadConfig({
				configFile: file,
				env: { PORTCULLIS_SSH__LISTEN: "127.0.0.1:70000", PORTCULLIS_DATABASE_URL: "mysql://nope", PORTCULLIS_NOSUCH__KEY: "1" },
			}),
		);
		const expectPath = (prefix: string) =>
			assert.ok(
				problems.some((problem) => problem.startsWith(prefix)),
				`no problem reported for ${prefix}; got:\n${problems.join("\n")}`,
			);
		expectPath("(root): "); // colour and nosuch: unrecognized keys
		assert.ok(
			problems.some((problem) => problem.includes("colour")),
			"the unknown key is named",
		);
		assert.ok(
			problems.some((problem) => problem.includes("nosuch")),
			"the unknown env section is named",
		);
		expectPath("http.listen: must be HOST:PORT");
		expectPath("ssh.listen: port must be 0-65535");
		expectPath("security.lockout_max_failures: ");
		expectPath("security.lockout_seconds: ");
		expectPath("totp.issuer: ");
		expectPath("database.url: must start with postgres://");
		assert.ok(problems.length >= 7, problems.join("\n"));
	});
});

test("a bad database URL and a bad setting are reported together", () => {
	const problems = problemsOf(() =>
		loadConfig({ env: { PORTCULLIS_DATABASE_URL: "mysql://db/portcullis", PORTCULLIS_SECURITY__LOCKOUT_SECONDS: "5" }, overrides: { data_dir: "/tmp/x" } }),
	);
	assert.equal(problems.length, 2, problems.join("\n"));
	assert.ok(problems.some((problem) => problem.startsWith("security.lockout_seconds: ")));
	assert.ok(problems.includes("database.url: must start with postgres:// (or be empty for SQLite)"));
});

test("a TOML syntax error names the file", () => {
	withDir((dir) => {
		const file = join(dir, "broken.toml");
		writeFileSync(file, "[http\nlisten = 1\n");
		const problems = problemsOf(() => loadConfig({ configFile: file, env: {} }));
		assert.equal(problems.length, 1);
		assert.ok(problems[0]?.startsWith(`${file}: `), problems[0]);
	});
});

test("a missing --config file is a problem, not a silent default", () => {
	withDir((dir) => {
		const problems = problemsOf(() => loadConfig({ configFile: join(dir, "absent.toml"), env: {} }));
		assert.ok(problems[0]?.startsWith(join(dir, "absent.toml")), problems[0]);
	});
});

test("env values are converted by the setting's type: a numeric-looking text setting stays text", () => {
	const config = loadConfig({ env: { PORTCULLIS_TOTP__ISSUER: "2024", PORTCULLIS_SECURITY__LOCKOUT_MAX_FAILURES: "7" } });
	assert.equal(config.totp.issuer, "2024");
	assert.equal(config.security.lockout_max_failures, 7);
});

test("ssh.kex: post-quantum first by default; only known names, none twice; pq_only needs a post-quantum name", () => {
	withDir((dir) => {
		const defaults = loadConfig({ env: {}, overrides: { data_dir: dir } });
		assert.deepEqual(defaults.ssh.kex.slice(0, 4), [
			"mlkem768x25519-sha256",
			"sntrup761x25519-sha512",
			"sntrup761x25519-sha512@openssh.com",
			"curve25519-sha256",
		]);
		assert.equal(defaults.ssh.pq_only, false);
		const fromEnv = loadConfig({
			env: { PORTCULLIS_SSH__KEX: '["mlkem768x25519-sha256","curve25519-sha256"]', PORTCULLIS_SSH__PQ_ONLY: "true" },
			overrides: { data_dir: dir },
		});
		assert.deepEqual(fromEnv.ssh.kex, ["mlkem768x25519-sha256", "curve25519-sha256"]);
		assert.equal(fromEnv.ssh.pq_only, true);
		const problems = (kex: string, pqOnly = "false") =>
			problemsOf(() => loadConfig({ env: { PORTCULLIS_SSH__KEX: kex, PORTCULLIS_SSH__PQ_ONLY: pqOnly }, overrides: { data_dir: dir } })).join("\n");
		assert.match(problems('["ecdh-sha2-nistp256"]'), /^ssh\.kex\.0: /m);
		// sntrup4591761 (OpenSSH 8.0–8.4's draft hybrid) is gone from OpenSSH; not a name we offer.
		assert.match(problems('["sntrup4591761x25519-sha512@tinyssh.org"]'), /^ssh\.kex\.0: /m);
		assert.deepEqual(
			loadConfig({ env: { PORTCULLIS_SSH__KEX: '["sntrup761x25519-sha512@openssh.com"]', PORTCULLIS_SSH__PQ_ONLY: "true" }, overrides: { data_dir: dir } }).ssh
				.kex,
			["sntrup761x25519-sha512@openssh.com"],
			"sntrup761 (RFC 9941) alone satisfies pq_only",
		);
		assert.match(problems("[]"), /^ssh\.kex: /m);
		assert.match(problems('["curve25519-sha256","curve25519-sha256"]'), /ssh\.kex: must not repeat a name/);
		assert.match(problems('["curve25519-sha256"]', "true"), /ssh\.pq_only: pq_only needs a post-quantum method/);
	});
});
