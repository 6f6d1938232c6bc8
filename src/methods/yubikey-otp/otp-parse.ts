/**
 * Splits a typed Yubico OTP into its public identity and its 32-character ciphertext.
 *
 * Yubico "Getting Started Writing Clients", "Binding an OTP to an Identity": the identity is the
 * OTP minus its last 32 characters, 2..16 ModHex characters, and must be lower-cased because the
 * validation server is case-insensitive (caps lock would otherwise yield a second identity).
 * docs/threat-model.md, Yubico OTP: the caller binds that public id to the user before trusting the OTP.
 *
 * Everything that is not such a string is a value ({ ok: false }), never an exception: this runs
 * on attacker-supplied input (1 MB strings, Unicode look-alikes, control characters).
 */

export const OTP_CIPHERTEXT_LENGTH = 32;
export const PUBLIC_ID_MIN_LENGTH = 2;
export const PUBLIC_ID_MAX_LENGTH = 16;
export const OTP_MIN_LENGTH = PUBLIC_ID_MIN_LENGTH + OTP_CIPHERTEXT_LENGTH;
export const OTP_MAX_LENGTH = PUBLIC_ID_MAX_LENGTH + OTP_CIPHERTEXT_LENGTH;

export interface ParsedOtp {
	readonly ok: true;
	/** The whole OTP, lower-cased: this exact string is what a validation server must echo back. */
	readonly otp: string;
	/** Lower-case ModHex public id (the part that is the same in every OTP of one key). */
	readonly publicId: string;
	/** The 32 lower-case ModHex characters of the AES block. */
	readonly ciphertext: string;
}

export type OtpParseFailureReason = "not-a-string" | "too-short" | "too-long" | "not-modhex" | "odd-public-id";

export interface OtpParseFailure {
	readonly ok: false;
	readonly reason: OtpParseFailureReason;
}

// Both cases are accepted so caps lock works; only ASCII letters, so Unicode look-alikes that
// String#toLowerCase would fold into the alphabet (e.g. KELVIN SIGN U+212A -> "k") are rejected.
const CASE_INSENSITIVE_MODHEX = /^[cbdefghijklnrtuvCBDEFGHIJKLNRTUV]+$/;

export function parseOtp(input: unknown): ParsedOtp | OtpParseFailure {
	if (typeof input !== "string") return { ok: false, reason: "not-a-string" };
	// Length first, so a 1 MB answer costs nothing more than a length read.
	if (input.length < OTP_MIN_LENGTH) return { ok: false, reason: "too-short" };
	if (input.length > OTP_MAX_LENGTH) return { ok: false, reason: "too-long" };
	if (!CASE_INSENSITIVE_MODHEX.test(input)) return { ok: false, reason: "not-modhex" };
	const otp = input.toLowerCase();
	const publicId = otp.slice(0, otp.length - OTP_CIPHERTEXT_LENGTH);
	// A public id is ModHex of whole bytes, so it always has even length.
	if (publicId.length % 2 !== 0) return { ok: false, reason: "odd-public-id" };
	return { ok: true, otp, publicId, ciphertext: otp.slice(publicId.length) };
}

/** True for a lower-case, even-length public id of 2..16 ModHex characters (enrolment input check). */
export function isValidPublicId(value: unknown): value is string {
	return (
		typeof value === "string" &&
		value.length >= PUBLIC_ID_MIN_LENGTH &&
		value.length <= PUBLIC_ID_MAX_LENGTH &&
		value.length % 2 === 0 &&
		/^[cbdefghijklnrtuv]+$/.test(value)
	);
}
