/**
 * TOTP (RFC 6238) with the parameters authenticator apps assume: HMAC-SHA1, 6 digits, 30 s steps,
 * T0 = 0, and ±1 step of drift (RFC 6238 §5.2/§6). A code is accepted once: the accepted time step
 * is stored with a compare-and-set on the factor row (FactorStore.advanceCounter), so a code used on
 * the web cannot be reused on SSH, on another node, or twice in parallel.
 */
import { Secret, TOTP } from "otpauth";
import type { Clock } from "../../core/clock.ts";
import type { Random } from "../../core/random.ts";
import type { SecretBox } from "../../crypto/secret-box.ts";
import type { FactorStore } from "../../storage/factor-store.ts";
import type {
	ChallengeStart,
	EnrollmentBegin,
	EnrollmentComplete,
	EnrollmentDisplay,
	EnrollmentRequest,
	SecondFactorMethod,
	VerifyRequest,
	VerifyResult,
} from "../method.ts";

export const TOTP_PERIOD_SECONDS = 30;
export const TOTP_DIGITS = 6;
/** RFC 4226 §4 R6: at least 128 bits; 160 recommended (the HMAC-SHA1 output length). */
export const TOTP_SECRET_BYTES = 20;
const CODE_PATTERN = /^[0-9]{6}$/;

export interface TotpDeps {
	readonly factors: FactorStore;
	readonly box: SecretBox;
	readonly clock: Clock;
	readonly random: Random;
	readonly issuer: string;
}

/** Normalises what a person types ("123 456") and rejects everything that is not 6 ASCII digits. */
export function parseTotpCode(raw: string): string | null {
	if (typeof raw !== "string" || raw.length > 32) return null;
	const compact = raw.replace(/[\s-]/g, "");
	return CODE_PATTERN.test(compact) ? compact : null;
}

function totpFor(secret: Buffer, label = "", issuer = ""): TOTP {
	return new TOTP({
		issuer,
		label,
		algorithm: "SHA1",
		digits: TOTP_DIGITS,
		period: TOTP_PERIOD_SECONDS,
		secret: new Secret({ buffer: Uint8Array.from(secret).buffer }),
	});
}

/** Returns the matching time step (RFC 6238 T) within ±1 of now, or null. */
export function matchingStep(secret: Buffer, code: string, nowMs: number): number | null {
	const delta = totpFor(secret).validate({ token: code, timestamp: nowMs, window: 1 });
	if (delta === null) return null;
	return Math.floor(nowMs / 1000 / TOTP_PERIOD_SECONDS) + delta;
}

export function totpCodeAt(secret: Buffer, nowMs: number): string {
	return totpFor(secret).generate({ timestamp: nowMs });
}

export function createTotpMethod(deps: TotpDeps): SecondFactorMethod {
	const context = (factorId: string) => `totp:${factorId}`;

	/** The key, its otpauth URI and the QR code of a setup page (shown at the start, and again on a reload or a wrong code). */
	async function setupDisplay(secret: Buffer, username: string): Promise<EnrollmentDisplay> {
		const totp = totpFor(secret, username, deps.issuer);
		const uri = totp.toString();
		// qrcode (with its PNG encoder) is loaded on the first enrolment, not by every process.
		const { default: QRCode } = await import("qrcode");
		const qrSvg = await QRCode.toString(uri, { type: "svg", errorCorrectionLevel: "M", margin: 2 });
		return { secret: totp.secret.base32.replace(/(.{4})/g, "$1 ").trim(), uri, qrSvg };
	}

	return {
		id: "totp",
		interaction: "code",

		async startChallenge(): Promise<ChallengeStart> {
			// Not echoed: a TOTP code is a secret while it is valid (shoulder surfing, screen sharing, scrollback).
			return { prompt: "Authenticator app code (TOTP)", echo: false, state: null };
		},

		async verifyResponse(request: VerifyRequest): Promise<VerifyResult> {
			const code = parseTotpCode(request.response);
			if (code === null) return { kind: "invalid", reason: "malformed" };
			const nowMs = deps.clock.now().getTime();
			let matchedButReplayed = false;
			for (const factor of request.factors) {
				if (factor.secretEnc === null) continue;
				const secret = deps.box.open(factor.secretEnc, context(factor.id));
				const step = matchingStep(secret, code, nowMs);
				if (step === null) continue;
				if (await deps.factors.advanceCounter(factor.id, step)) return { kind: "valid", factorId: factor.id };
				matchedButReplayed = true;
			}
			// Keycloak #13607 review: the user-facing message must not say a replayed code was valid;
			// the reason is kept for the audit log only.
			return { kind: "invalid", reason: matchedButReplayed ? "replayed" : "wrong" };
		},

		async beginEnrollment(request: EnrollmentRequest): Promise<EnrollmentBegin> {
			const secret = deps.random.bytes(TOTP_SECRET_BYTES);
			const factorId = deps.factors.newFactorId();
			await deps.factors.insert(
				{
					id: factorId,
					userId: request.user.id,
					method: "totp",
					label: request.label,
					status: "pending",
					secretEnc: deps.box.seal(secret, context(factorId)),
				},
				request.guard,
			);
			return { kind: "pending", factorId, display: await setupDisplay(secret, request.user.username) };
		},

		async showPending(factor, user): Promise<EnrollmentDisplay | null> {
			if (factor.secretEnc === null) return null;
			return setupDisplay(deps.box.open(factor.secretEnc, context(factor.id)), user.username);
		},

		async completeEnrollment(request: EnrollmentRequest & { factorId: string }): Promise<EnrollmentComplete> {
			const factor = await deps.factors.get(request.factorId);
			if (factor === null || factor.userId !== request.user.id || factor.method !== "totp" || factor.status !== "pending") {
				return { kind: "expired" };
			}
			const expiresAt = await deps.factors.pendingExpiresAt(factor.id);
			if (expiresAt === null || expiresAt <= deps.clock.now().getTime()) return { kind: "expired" };
			const code = parseTotpCode(request.input.code ?? "");
			if (code === null || factor.secretEnc === null) return { kind: "invalid", message: "Enter the 6-digit code your app shows." };
			const step = matchingStep(deps.box.open(factor.secretEnc, context(factor.id)), code, deps.clock.now().getTime());
			if (step === null) return { kind: "invalid", message: "That code is not valid. Check the time on your phone and try again." };
			// The enrolment code's step becomes the last used step, so it cannot be replayed at login.
			const activated = await deps.factors.activate(factor.id, request.user.id, step, request.guard);
			return activated ? { kind: "active", factorId: factor.id } : { kind: "expired" };
		},
	};
}
