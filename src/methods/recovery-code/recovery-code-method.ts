/**
 * Recovery codes: 10 single-use codes, each 50 bits from the CSPRNG (NIST SP 800-63B §5.1.2 asks
 * for at least 20), stored as argon2id hashes (Decision 9), shown once. They are a backup: never
 * the default method and never enough on their own to satisfy forced enrolment.
 */
import type { Random } from "../../core/random.ts";
import { hashPassword, verifyPassword } from "../../crypto/password-hash.ts";
import type { RecoveryCodeStore } from "../../storage/recovery-code-store.ts";
import type { ChallengeStart, EnrollmentBegin, EnrollmentComplete, EnrollmentRequest, SecondFactorMethod, VerifyRequest, VerifyResult } from "../method.ts";

export const RECOVERY_CODE_COUNT = 10;
/** Crockford-style alphabet without look-alikes (0/o, 1/l/i). 32 symbols = 5 bits each. */
const ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789";
const CODE_LENGTH = 10;

export function generateRecoveryCode(random: Random): string {
	let code = "";
	for (let index = 0; index < CODE_LENGTH; index++) code += ALPHABET[random.int(0, ALPHABET.length)];
	return `${code.slice(0, 5)}-${code.slice(5)}`;
}

export function normaliseRecoveryCode(raw: string): string | null {
	if (typeof raw !== "string" || raw.length > 64) return null;
	const compact = raw.toLowerCase().replace(/[\s-]/g, "");
	if (compact.length !== CODE_LENGTH) return null;
	for (const char of compact) if (!ALPHABET.includes(char)) return null;
	return compact;
}

export interface RecoveryCodeDeps {
	readonly codes: RecoveryCodeStore;
	readonly random: Random;
}

export function createRecoveryCodeMethod(deps: RecoveryCodeDeps): SecondFactorMethod {
	return {
		id: "recovery-code",
		interaction: "code",

		async startChallenge(): Promise<ChallengeStart> {
			// Not echoed: a recovery code is a long-lived secret until used.
			return { prompt: "Recovery code", echo: false, state: null };
		},

		async verifyResponse(request: VerifyRequest): Promise<VerifyResult> {
			const code = normaliseRecoveryCode(request.response);
			if (code === null) return { kind: "invalid", reason: "malformed" };
			for (const candidate of await deps.codes.unused(request.user.id)) {
				if (await verifyPassword(candidate.codeHash, code)) {
					return (await deps.codes.consume(candidate.id)) ? { kind: "valid", factorId: null } : { kind: "invalid", reason: "replayed" };
				}
			}
			return { kind: "invalid", reason: "wrong" };
		},

		/** "Enrolling" recovery codes issues a fresh set of 10 and invalidates the old set. */
		async beginEnrollment(request: EnrollmentRequest): Promise<EnrollmentBegin> {
			const codes = Array.from({ length: RECOVERY_CODE_COUNT }, () => generateRecoveryCode(deps.random));
			const hashes = await Promise.all(codes.map((code) => hashPassword(code.replace("-", ""))));
			// The flow's event for the new set (the guard's `activated`) commits with it.
			await deps.codes.replace(request.user.id, hashes, request.guard.activated);
			return { kind: "active", factorId: "", display: { codes: codes.join("\n") } };
		},

		async completeEnrollment(): Promise<EnrollmentComplete> {
			return { kind: "invalid", message: "Recovery codes are issued in one step." };
		},
	};
}
