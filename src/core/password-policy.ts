/**
 * The password policy, one pure function for every place a password is chosen: the console (admin
 * pages, the user's own change, the forced change), the CLI (`user add`, `user passwd`), the
 * initial admin and anything that creates users through AdminService (imports). It follows NIST
 * SP 800-63B §5.1.1.2 ("Memorized Secret Verifiers"): a minimum length, a maximum of at least 64,
 * no composition rules, and a refusal of values "known to be commonly-used, expected, or
 * compromised": breach corpuses, repetitive or sequential characters, context words (the
 * username, the service name). Choices and their reasons: docs/decisions.md "Password policy".
 *
 * The common-password list is the one zxcvbn-ts ships (@zxcvbn-ts/language-common,
 * "passwords-common": about 49,000 entries, lower case, taken from breach corpuses); it is in the
 * package, so no network lookup is ever made. It is decompressed once, on first use.
 */
import { dictionary } from "@zxcvbn-ts/language-common";

/** Ten, above the eight SP 800-63B asks when the password is one factor of two (docs/decisions.md). */
export const PASSWORD_MIN_LENGTH = 10;
/** SP 800-63B: verifiers SHOULD permit at least 64 characters; argon2id hashes any length. */
export const PASSWORD_MAX_LENGTH = 1024;
/** A username this short is not looked for inside the password ("al" is in too many words). */
export const USERNAME_MIN_CONTEXT = 3;
/** The service's own name is a context word (SP 800-63B §5.1.1.2, "context-specific words"). */
const SERVICE_NAME = "portcullis";

let common: ReadonlySet<string> | undefined;

/** The shipped list of common and breached passwords, lower case (built on first use). */
export function commonPasswords(): ReadonlySet<string> {
	common ??= new Set(dictionary["passwords-common"] as readonly string[]);
	return common;
}

export interface PasswordContext {
	/** The account the password is for; refused inside the password, ignoring case. */
	readonly username?: string | null;
}

/** Every character the same step from the one before: "abcdefghij", "9876543210", "aaaaaaaaaa". */
function sequential(chars: readonly string[]): boolean {
	const codes = chars.map((char) => char.codePointAt(0) ?? 0);
	const step = (codes[1] ?? 0) - (codes[0] ?? 0);
	if (Math.abs(step) > 1) return false;
	return codes.every((code, index) => index === 0 || code - (codes[index - 1] ?? 0) === step);
}

/** A short unit repeated: "abcabcabca", "1212121212", "qwe!qwe!qwe!". */
function repetitive(chars: readonly string[]): boolean {
	for (let unit = 1; unit <= 4 && unit < chars.length; unit++) {
		if (chars.every((char, index) => char === chars[index % unit])) return true;
	}
	return false;
}

/**
 * Why a new password is refused, in words a user can act on, or null when it is accepted. The
 * message never repeats the password. `context.username` is compared ignoring case (and NFKC
 * forms, as usernames are canonicalised: src/core/username.ts).
 */
export function passwordProblem(password: unknown, context: PasswordContext = {}): string | null {
	if (typeof password !== "string" || password.length === 0) return "The password is missing.";
	const chars = Array.from(password);
	if (chars.length < PASSWORD_MIN_LENGTH) return `The password must have at least ${PASSWORD_MIN_LENGTH} characters.`;
	if (chars.length > PASSWORD_MAX_LENGTH) return `The password must have at most ${PASSWORD_MAX_LENGTH} characters.`;
	const folded = password.normalize("NFKC").toLowerCase();
	const username = context.username?.normalize("NFKC").toLowerCase() ?? "";
	if (username.length >= USERNAME_MIN_CONTEXT && folded.includes(username)) return "The password must not contain the username.";
	if (folded.includes(SERVICE_NAME)) return `The password must not contain the name of this service (${SERVICE_NAME}).`;
	if (sequential(chars) || repetitive(chars)) return "The password is a repeated or sequential pattern; choose one that is harder to guess.";
	const list = commonPasswords();
	// The list holds lower-case entries; "Password1!" is "password" with a suffix people add to pass composition rules.
	const base = folded.replace(/[^\p{L}]+$/u, "");
	if (list.has(folded) || (base.length >= 4 && list.has(base))) {
		return "This password is on a list of common or breached passwords; choose another (a few unrelated words make a good one).";
	}
	return null;
}
