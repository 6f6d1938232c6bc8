/**
 * The start-up banner names the console where users reach it: http.public_url when it is
 * set, with the listen address beside it; the listen address alone otherwise.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { consoleLines } from "../../src/cli/commands/serve.ts";

test("with http.public_url the banner names it first, and where this process listens second", () => {
	assert.deepEqual(consoleLines("https://bastion.example.org", "0.0.0.0", 8080), [
		"Portcullis console: https://bastion.example.org/",
		"Portcullis console listening on: http://127.0.0.1:8080/ (http.listen; users open http.public_url)",
	]);
	assert.equal(consoleLines("https://bastion.example.org/portcullis/", "10.0.0.5", 8080)[0], "Portcullis console: https://bastion.example.org/portcullis/");
});

test("without http.public_url the banner names the listen address (0.0.0.0 and :: shown as 127.0.0.1, IPv6 in brackets)", () => {
	assert.deepEqual(consoleLines(undefined, "0.0.0.0", 8080), ["Portcullis console: http://127.0.0.1:8080/"]);
	assert.deepEqual(consoleLines(undefined, "::", 8080), ["Portcullis console: http://127.0.0.1:8080/"]);
	assert.deepEqual(consoleLines(undefined, "::1", 9000), ["Portcullis console: http://[::1]:9000/"]);
});
