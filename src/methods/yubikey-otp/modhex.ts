/**
 * ModHex: the hex variant a YubiKey types, using only keys that sit in the same place on most
 * keyboard layouts (yubico-c test-vectors.txt "Modhex"; alphabet YUBIKEY_MODHEX_MAP in yubikey.h).
 * Digit 0..15 maps to "cbdefghijklnrtuv"[digit].
 *
 * Decoding is strict and returns null rather than throwing: only lower-case alphabet characters,
 * even length. Case folding is the OTP parser's job (otp-parse.ts), not this codec's.
 */

export const MODHEX_ALPHABET = "cbdefghijklnrtuv";
const HEX_ALPHABET = "0123456789abcdef";

const MODHEX_PATTERN = /^[cbdefghijklnrtuv]*$/;

/** True when `text` is a non-empty, even-length, lower-case ModHex string. */
export function isModhex(text: string): boolean {
	return typeof text === "string" && text.length > 0 && text.length % 2 === 0 && MODHEX_PATTERN.test(text);
}

export function modhexEncode(bytes: Uint8Array): string {
	let out = "";
	for (const byte of bytes) {
		out += MODHEX_ALPHABET[byte >> 4]! + MODHEX_ALPHABET[byte & 0x0f]!;
	}
	return out;
}

/** Strict decode: null for odd length, empty input or any character outside the lower-case alphabet. */
export function modhexDecode(text: string): Buffer | null {
	if (!isModhex(text)) return null;
	const out = Buffer.alloc(text.length / 2);
	for (let i = 0; i < out.length; i++) {
		const high = MODHEX_ALPHABET.indexOf(text[2 * i]!);
		const low = MODHEX_ALPHABET.indexOf(text[2 * i + 1]!);
		out[i] = (high << 4) | low;
	}
	return out;
}

/** Hex (as printed by YubiKey personalisation tools) to ModHex; null when `hex` is not even-length lower/upper hex. */
export function hexToModhex(hex: string): string | null {
	if (typeof hex !== "string" || hex.length === 0 || hex.length % 2 !== 0 || !/^[0-9a-fA-F]+$/.test(hex)) return null;
	let out = "";
	for (const char of hex.toLowerCase()) out += MODHEX_ALPHABET[HEX_ALPHABET.indexOf(char)]!;
	return out;
}

/** ModHex to lower-case hex; null when `text` is not strict ModHex. */
export function modhexToHex(text: string): string | null {
	if (!isModhex(text)) return null;
	let out = "";
	for (const char of text) out += HEX_ALPHABET[MODHEX_ALPHABET.indexOf(char)]!;
	return out;
}
