/**
 * RFC 4648 §6 base32 decoding for tests and the benchmark: turns the TOTP secret a page or the
 * enrolment flow shows ("ABCD EFGH …", spaces and padding allowed) back into key bytes. Written out
 * here rather than taken from otpauth, so tests do not decode with the library that encoded.
 */
export function base32Decode(text: string): Buffer {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
	let bits = "";
	for (const char of text.replace(/[\s=]/g, "").toUpperCase()) {
		const value = alphabet.indexOf(char);
		if (value < 0) throw new Error(`not base32: ${JSON.stringify(char)}`);
		bits += value.toString(2).padStart(5, "0");
	}
	const bytes: number[] = [];
	for (let index = 0; index + 8 <= bits.length; index += 8) bytes.push(parseInt(bits.slice(index, index + 8), 2));
	return Buffer.from(bytes);
}
