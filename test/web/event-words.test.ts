/**
 * A user's "Recent security events" are in words, not event names. Every event name the
 * source writes either has its sentence (src/web/views/event-words.ts) or is listed here as one a
 * user's own log never shows (admin-only: about servers, settings, the log itself); a new event
 * name fails this test until it is classified.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { describeEvent, EVENT_TEXT, eventNameInWords, methodWords, whereWords } from "../../src/web/views/event-words.ts";

/** Written without a user, or about things other than a user's account: the admin audit page shows them by name. */
const NOT_ABOUT_A_USER = new Set([
	"audit.exported",
	"directory.sync",
	"directory.test-connection",
	"directory.test-login",
	"group.created",
	"group.deleted",
	"group.updated",
	"method.connection-tested",
	"method.settings-changed",
	"policy.misconfigured",
	"policy.network-rule-cleared",
	"policy.network-rule-set",
	"policy.settings-changed",
	"radius.unsigned-reply-accepted",
	"recording.deleted",
	"recording.failed",
	"recording.mode-changed",
	"server.created",
	"server.credential-set",
	"server.deleted",
	"server.hostkey-reset",
	"server.updated",
	"ssh.channel-error",
	"ssh.protocol-violation",
	"ssh.proxy-header-refused",
	"ssh.recording-finished",
	"ssh.recording-viewed",
	"ssh.target-credential-error",
	"ssh.target-hostkey-changed",
	"ssh.target-hostkey-learned",
]);

function sourceFiles(dir: string): string[] {
	return readdirSync(dir).flatMap((name) => {
		const path = join(dir, name);
		return statSync(path).isDirectory() ? sourceFiles(path) : /\.tsx?$/.test(name) ? [path] : [];
	});
}

/** Event names as the code writes them: `event: "x.y"` (or `"x.y"` handed to the audit log through a variable, as most are). */
function writtenEventNames(): Set<string> {
	const names = new Set<string>();
	for (const file of sourceFiles(new URL("../../src", import.meta.url).pathname)) {
		if (file.endsWith("event-words.ts")) continue;
		const text = readFileSync(file, "utf8");
		for (const match of text.matchAll(/\bevent: "([a-z0-9-]+(?:\.[a-z0-9-]+)*)"/g)) names.add(match[1]!);
	}
	return names;
}

test("every event the code writes about a user has a sentence (or is classified as not about a user)", () => {
	const names = writtenEventNames();
	assert.ok(names.has("second-factor.failure") && names.has("login.success"), "the scan finds event names");
	const missing = [...names].filter((name) => !(name in EVENT_TEXT) && !NOT_ABOUT_A_USER.has(name));
	assert.deepEqual(missing, [], "add a sentence to EVENT_TEXT in src/web/views/event-words.ts, or list the event here as not about a user");
});

test("events read as words: sentences, failures marked once, names without a sentence turned into words", () => {
	assert.equal(describeEvent("second-factor.failure", "failure"), "Wrong second-factor answer");
	assert.equal(describeEvent("login.success", "success"), "Logged in");
	assert.equal(describeEvent("step-up.password", "failure"), "Identity confirmed with the password (failed)");
	assert.equal(eventNameInWords("ssh.target-hostkey-learned"), "SSH: target hostkey learned");
	assert.doesNotMatch(describeEvent("something.new-thing", "info"), /\./);
	assert.equal(methodWords("totp"), "Authenticator app (TOTP)");
	assert.equal(whereWords("ssh", "192.0.2.7"), "Over SSH from 192.0.2.7");
	assert.equal(whereWords("web", null), "On the web");
});
