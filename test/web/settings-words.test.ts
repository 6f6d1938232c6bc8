/**
 * Method settings refusals in the console's words (src/web/views/methods-admin.tsx): the JSON path
 * MethodAdmin and the CLI use becomes the form's labels; other text passes unchanged.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { settingsErrorInWords } from "../../src/web/views/methods-admin.tsx";

test("field paths read as the form's labels", () => {
	assert.equal(
		settingsErrorInWords("radius.servers[2].secret: must have at least 16 characters; use a long random one"),
		"RADIUS server 2, shared secret: must have at least 16 characters; use a long random one",
	);
	assert.equal(
		settingsErrorInWords("radius.servers[1].host: must be a host name or an IP address"),
		"RADIUS server 1, host: must be a host name or an IP address",
	);
	assert.equal(settingsErrorInWords("radius.timeoutMs: must be between 100 and 10000"), "RADIUS, timeout (ms): must be between 100 and 10000");
	assert.equal(settingsErrorInWords("duo.apiHost: must end in .duosecurity.com"), "Duo, API hostname: must end in .duosecurity.com");
	assert.equal(settingsErrorInWords("yubikey-otp.urls: at least one URL"), "YubiKey, validation URLs: at least one URL");
});

test("text that is not a field path is left as it is; a bare method name is its label", () => {
	assert.equal(settingsErrorInWords("The two keywords do not match."), "The two keywords do not match.");
	assert.equal(settingsErrorInWords("radius: 3 server(s) × 3 transmissions"), "RADIUS: 3 server(s) × 3 transmissions");
});
