/**
 * The one sanitiser for untrusted text (usernames, labels, key comments, backend messages, server
 * descriptions) before it reaches a terminal, a page, the audit log or a prompt. One character set
 * everywhere, so no path is weaker than another:
 *
 *   - C0 controls, DEL and C1 controls (U+0000–001F, U+007F–009F): ECMA-48 escape and control
 *     sequences could move the cursor, rewrite a prompt or retitle the terminal;
 *   - bidi embeddings, overrides and isolates (U+202A–202E, U+2066–2069) and the zero-width and
 *     direction marks (U+200B–200F), BOM (U+FEFF): text that reads differently from what it is
 *     (CVE-2021-42574, "Trojan Source"; Unicode TR#36 §2).
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point of this set
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]/g;
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point of this set
const UNSAFE_TEST = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]/;

export interface StripOptions {
	/** What replaces each unsafe character ("" drops it; "?" shows that something was there). */
	readonly replacement?: string;
	/** Keep "\n" (multi-line prompts); "\r\n" and "\r" become "\n" first. */
	readonly keepNewlines?: boolean;
}

/** The text with every unsafe character replaced (see the header for the set). */
export function stripUnsafe(text: string, options: StripOptions = {}): string {
	const replacement = options.replacement ?? "";
	if (options.keepNewlines === true) return text.replace(/\r\n?/g, "\n").replace(UNSAFE, (char) => (char === "\n" ? char : replacement));
	return text.replace(UNSAFE, replacement);
}

/**
 * The text with every unsafe character written as a visible `\uXXXX` escape: for evidence (audit
 * details such as file paths), where what was really there matters and dropping it would hide it.
 */
export function escapeUnsafe(text: string): string {
	return text.replace(UNSAFE, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/**
 * A JSON Schema `pattern` (ECMA-262 syntax) for plain text with at least one visible character and
 * none of the unsafe set: request validation that refuses such text before it reaches a flow.
 */
export const PLAIN_TEXT_PATTERN = `^[^${UNSAFE.source.slice(1, -1)}]*\\S[^${UNSAFE.source.slice(1, -1)}]*$`;

/** True when the text holds a character stripUnsafe would remove (validation that refuses instead). */
export function hasUnsafe(text: string): boolean {
	return UNSAFE_TEST.test(text);
}
