/**
 * The password policy (src/core/password-policy.ts, NIST SP 800-63B §5.1.1.2): each refusal has
 * a row, and beside it an accepted twin that differs only in what the rule looks at.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { commonPasswords, PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH, passwordProblem } from "../../src/core/password-policy.ts";

const GOOD = "correct horse battery";

test("the shipped common-password list is the zxcvbn-ts breach list, tens of thousands of entries, lower case", () => {
	const list = commonPasswords();
	assert.ok(list.size > 40_000, `${list.size} entries`);
	for (const known of ["123456", "password", "qwertyuiop", "password123", "1q2w3e4r5t"]) assert.ok(list.has(known), known);
	assert.ok([...list].every((entry) => entry === entry.toLowerCase()));
});

test("length: at least the minimum (in characters, not bytes), at most the maximum, which is at least 64", () => {
	assert.equal(PASSWORD_MIN_LENGTH, 10);
	assert.ok(PASSWORD_MAX_LENGTH >= 64);
	assert.match(passwordProblem("horse cat") ?? "", /at least 10 characters/);
	assert.equal(passwordProblem("horse cats"), null);
	// Ten characters outside the BMP are ten characters.
	assert.equal(passwordProblem("🐴🦄🐎🐄🐖🐏🐑🦙🐐🦌"), null);
	assert.match(passwordProblem("🐴🦄🐎🐄🐖🐏🐑🦙🐐") ?? "", /at least/);
	const words = "staple horse battery correct ".repeat(40);
	assert.equal(passwordProblem(words.slice(0, 64)), null, "64 characters are accepted");
	assert.equal(passwordProblem(`${words}`.repeat(2).slice(0, PASSWORD_MAX_LENGTH)), null);
	assert.match(passwordProblem(`${words}`.repeat(2).slice(0, PASSWORD_MAX_LENGTH + 1)) ?? "", /at most 1024/);
	assert.equal(passwordProblem(undefined), "The password is missing.");
	assert.equal(passwordProblem(""), "The password is missing.");
});

test("no composition rules: lower-case letters and spaces only are fine; digits and symbols are not required", () => {
	assert.equal(passwordProblem(GOOD), null);
	assert.equal(passwordProblem("ukulele marmalade"), null);
});

test("common and breached passwords are refused, ignoring case, and with the usual suffix of digits or symbols", () => {
	for (const bad of ["password123", "Password123", "PASSWORD1234", "qwertyuiop", "1q2w3e4r5t", "Basketball", "dragon2024!!", "Monkey12345", "sunshine!!!"]) {
		assert.match(passwordProblem(bad) ?? "", /list of common or breached passwords/, bad);
	}
	// The message does not repeat the password.
	assert.ok(!(passwordProblem("password123") ?? "").includes("password123"));
	// Twins: the same shapes, not on the list.
	for (const fine of ["marmalade-ukulele", "Zyxomma petiolatum", "quokka2024!!"]) assert.equal(passwordProblem(fine), null, fine);
});

test("the username inside the password is refused, ignoring case; another user's name is fine", () => {
	assert.match(passwordProblem("my name is Alice!", { username: "alice" }) ?? "", /must not contain the username/);
	assert.match(passwordProblem("xxALICExx-horse", { username: "alice" }) ?? "", /username/);
	assert.match(passwordProblem("ｍｙ ａｌｉｃｅ ｐａｓｓ", { username: "alice" }) ?? "", /username/, "full-width letters fold (NFKC) like usernames do");
	assert.equal(passwordProblem("my name is Alice!", { username: "bob" }), null);
	assert.equal(passwordProblem("my name is Alice!"), null);
	// Two-letter usernames are not searched for: "al" is inside too many words.
	assert.equal(passwordProblem("totally fine words", { username: "al" }), null);
});

test("the service name, repeated and sequential characters are refused", () => {
	assert.match(passwordProblem("my Portcullis pass") ?? "", /name of this service/);
	for (const bad of ["aaaaaaaaaaaa", "abcabcabcabc", "1212121212", "abcdefghijkl", "9876543210", "qwe!qwe!qwe!"]) {
		assert.match(passwordProblem(bad) ?? "", /repeated or sequential/, bad);
	}
	for (const fine of ["abcdefghijkz horse", "aaaaaaaaaab horse"]) assert.equal(passwordProblem(fine), null, fine);
});
