import assert from "node:assert/strict";
import { test } from "node:test";
import ssh2 from "ssh2";
import { generateEd25519Key } from "../../src/crypto/generate-key.ts";

test("every generated ed25519 key is readable by ssh2 (its own generator is not, ~0.3 % of the time)", () => {
	for (let index = 0; index < 1500; index++) {
		const { privateKey } = generateEd25519Key("t");
		const parsed = ssh2.utils.parseKey(privateKey);
		assert.ok(!(parsed instanceof Error) && !Array.isArray(parsed) && parsed.isPrivateKey());
	}
});
