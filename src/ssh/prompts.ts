/**
 * Texts of the keyboard-interactive second-factor exchange (RFC 4256 §3.2 INFO_REQUEST: name,
 * instruction, prompts) and the switch commands a user may type instead of an answer.
 *
 * Nothing here decides anything: the methods offered come from LoginFlow's LoginStep, the prompt
 * wording from the method's startChallenge().
 */
import { METHOD_INFO, type MethodId } from "../core/method-id.ts";
import { stripUnsafe } from "../core/untrusted-text.ts";

export const PROMPT_TITLE = "Portcullis two-factor authentication";

/** Words a user types after ":" to switch method. The first one is shown in the instructions. */
export const METHOD_ALIASES: Readonly<Record<MethodId, readonly string[]>> = {
	totp: ["totp", "app", "code"],
	"access-keyword": ["keyword", "access-keyword", "kw"],
	"recovery-code": ["recovery", "recovery-code"],
	"yubikey-otp": ["yubikey", "otp"],
	duo: ["duo"],
	radius: ["radius"],
	webauthn: ["webauthn", "key"],
};

/** Longest answer passed to a method: far above any code, keyword or OTP (YubiKey OTP is 44). */
export const MAX_ANSWER_LENGTH = 1024;

/**
 * Strips what a terminal could execute or misread (C0/C1 controls except newline, bidi overrides)
 * from text we send in INFO_REQUEST. OpenSSH sanitises too; other clients may not.
 */
export function terminalSafe(text: string): string {
	return stripUnsafe(text, { keepNewlines: true });
}

/** "Authenticator app code (TOTP): " — the method's own wording plus the conventional ": ". */
export function promptText(methodPrompt: string): string {
	const base = terminalSafe(methodPrompt).replace(/\n/g, " ").trim().replace(/:$/, "");
	return `${base}: `;
}

export type ParsedAnswer =
	| { readonly kind: "answer"; readonly value: string }
	| { readonly kind: "switch"; readonly method: MethodId }
	| { readonly kind: "unknown-switch"; readonly text: string };

/**
 * ":keyword", ":totp", ":recovery" or ":2" (the method's number in the list) switch method;
 * anything else is an answer for the current one. Switches always start with ":" because a bare
 * digit is a real answer for some methods (Duo's "1 for push").
 */
export function parseAnswer(raw: string, methods: readonly MethodId[]): ParsedAnswer {
	const text = raw.trim();
	const digit = /^:([1-9])$/.exec(text);
	if (digit !== null) {
		const method = methods[Number(digit[1]) - 1];
		return method === undefined ? { kind: "unknown-switch", text } : { kind: "switch", method };
	}
	const word = /^:([a-z][a-z-]{0,20})$/i.exec(text);
	if (word !== null) {
		const wanted = (word[1] as string).toLowerCase();
		const method = methods.find((candidate) => METHOD_ALIASES[candidate].includes(wanted));
		// An unknown ":word" is reported, never verified as an answer (it cannot be one we asked for).
		return method === undefined ? { kind: "unknown-switch", text } : { kind: "switch", method };
	}
	return { kind: "answer", value: raw };
}

/** The instruction block shown above the prompt: why, which method, how to switch, notices. */
export function instructionText(input: {
	readonly explanation: string;
	readonly current: MethodId;
	readonly methods: readonly MethodId[];
	readonly notice?: string | null;
}): string {
	const lines: string[] = [];
	if (input.notice) lines.push(input.notice);
	lines.push(input.explanation);
	const others = input.methods.map((method, index) => ({ method, index })).filter(({ method }) => method !== input.current);
	if (others.length > 0) {
		const choices = others.map(({ method, index }) => `:${METHOD_ALIASES[method][0]} (or :${index + 1}) for ${METHOD_INFO[method].label}`);
		lines.push(`Using ${METHOD_INFO[input.current].label}. To switch, type ${choices.join(", ")}.`);
	}
	return terminalSafe(lines.join("\n"));
}
