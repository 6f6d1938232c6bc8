/**
 * The terminal half of password-input without a terminal: a fake stdin records the order of
 * raw-mode switches and prompt writes. Echo must be off before the prompt is visible, or a fast
 * typist (or a loaded machine) gets the password echoed and Ctrl-C turned into a bare SIGINT.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { PassThrough, Writable } from "node:stream";
import { readNewPassword } from "../../src/cli/password-input.ts";
import { UsageError } from "../../src/cli/errors.ts";
import type { CliInput, CliIo } from "../../src/cli/io.ts";

function fakeTerminal(events: string[]): { io: CliIo; stdin: PassThrough } {
	const stdin = new PassThrough() as PassThrough & CliInput;
	stdin.isTTY = true;
	stdin.setRawMode = (mode: boolean) => events.push(`raw:${mode}`);
	const stderr = new Writable({
		write(chunk, _encoding, done) {
			events.push(`write:${String(chunk)}`);
			done();
		},
	});
	return { io: { stdin, stdout: new PassThrough(), stderr }, stdin };
}

test("raw mode is on before each prompt is written, and off again after the line", async () => {
	const events: string[] = [];
	const { io, stdin } = fakeTerminal(events);
	const answer = readNewPassword(io, "erin");
	stdin.write("secret words\rsecret words\r");
	assert.equal(await answer, "secret words");
	const first = events.indexOf("write:New password for erin: ");
	const second = events.indexOf("write:Repeat the password: ");
	assert.ok(first > 0 && second > first, events.join(" | "));
	assert.equal(events[first - 1], "raw:true", events.join(" | "));
	assert.equal(events[second - 1], "raw:true", events.join(" | "));
	assert.equal(events.filter((event) => event === "raw:false").length, 2, events.join(" | "));
});

test("Ctrl-C typed at the prompt cancels with the interrupted exit code and leaves raw mode", async () => {
	const events: string[] = [];
	const { io, stdin } = fakeTerminal(events);
	const answer = readNewPassword(io, "erin");
	stdin.write("half\u0003");
	await assert.rejects(answer, (error: unknown) => error instanceof UsageError && error.exitCode === 130 && /cancelled/.test(error.message));
	assert.equal(events.at(-2), "raw:false", events.join(" | "));
});
