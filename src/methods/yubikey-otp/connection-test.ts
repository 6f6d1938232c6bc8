/**
 * "Test connection" for the YubiKey validation servers: a random, syntactically valid OTP that no
 * key produced goes to each URL; a signed BAD_OTP (or REPLAYED) answer means the server is
 * reachable and signs with our API key (Validation Protocol 2.0).
 */
import type { Random } from "../../core/random.ts";
import type { ConnectionCheck, ConnectionTest } from "../settings-spec.ts";
import { MODHEX_ALPHABET } from "./modhex.ts";
import type { YubikeyOtpSettings } from "./settings.ts";
import { cloudClient } from "./yubikey-otp-method.ts";

/** A random, syntactically valid Yubico OTP (12-character public id + 32 ModHex): no key produced it. */
export function dummyOtp(random: Random): string {
	let otp = "";
	for (let index = 0; index < 44; index++) otp += MODHEX_ALPHABET[random.int(0, 16)];
	return otp;
}

export const testYubikeyOtpConnection: ConnectionTest<YubikeyOtpSettings> = async (settings, deps) => {
	if (settings.mode === "offline")
		return [{ target: "yubikey-otp offline", ok: true, message: "offline mode: each key is checked with its own AES secret; there is no server to contact" }];
	const checks: ConnectionCheck[] = [];
	for (const url of settings.urls) {
		const target = `yubico ${url}`;
		try {
			const result = await cloudClient(settings, deps.random, [url]).verify(dummyOtp(deps.random));
			if (result.kind === "valid") {
				checks.push({ target, ok: false, message: "the server ACCEPTED a random OTP: it is not a trustworthy validation server" });
			} else if ((result.reason === "rejected" && result.status === "BAD_OTP") || result.reason === "replayed") {
				checks.push({ target, ok: true, message: `reachable; answered ${result.status} for a dummy OTP, signed with our API key` });
			} else if (result.reason === "rejected" && result.status === "NO_SUCH_CLIENT") {
				checks.push({ target, ok: false, message: "the server does not know this client id" });
			} else if (result.reason === "rejected" && result.status === "BAD_SIGNATURE") {
				checks.push({ target, ok: false, message: "the server says our request signature is wrong: check the API key" });
			} else if (result.reason === "missing-signature" || result.reason === "bad-signature") {
				checks.push({
					target,
					ok: false,
					message: `the answer is ${result.reason === "missing-signature" ? "unsigned" : "not signed with our API key"}: check the API key (answers are never trusted unsigned)`,
				});
			} else {
				checks.push({
					target,
					ok: false,
					message: `unexpected answer (${result.reason}${result.status ? `, status ${result.status}` : ""}${result.httpStatus ? `, HTTP ${result.httpStatus}` : ""})`,
				});
			}
		} catch (error) {
			checks.push({ target, ok: false, message: `unreachable: ${error instanceof Error ? error.message.slice(0, 240) : "failed"}` });
		}
	}
	return checks;
};
