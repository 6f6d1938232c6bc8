/**
 * YubiKey in Yubico OTP mode as a second factor (docs/threat-model.md, Yubico OTP; docs/security-matrix.md E4).
 *
 * Enrolment: the user touches the key once. The OTP's public id (the part before the last 32
 * ModHex characters, 12 characters on a factory key) is bound to this user; a public id already
 * bound to any account is refused. In offline mode the user (or the admin, from `ykman otp
 * yubiotp` output) also enters the key's AES secret (32 hex) and private id (12 hex); the OTP must
 * verify with them before anything is stored, and they are sealed per factor.
 *
 * Login: the OTP's public id must be one of THIS user's enrolled keys (another key's valid OTP is
 * refused before it is even sent anywhere). Then:
 *   - offline: AES decrypt, CRC, private id (offline-validator.ts), and the combined counter must
 *     strictly rise, compare-and-set in the shared database (FactorStore.advanceCounter);
 *   - cloud: the Validation Protocol 2.0 client (cloud-client.ts) must see a signed status=OK with
 *     our OTP and nonce echoed. When the signed answer carries the key's counters (timestamp=1:
 *     sessioncounter/sessionuse, YubiCloud sends them) they are compare-and-set here too, so a
 *     replay is caught even across validation servers that do not share state; when it carries
 *     none we rely on the validation server's own replay check (REPLAYED_OTP).
 *
 * Outcomes: bad OTPs, other keys, BAD_OTP and REPLAYED_* are values (charged to the user);
 * unreachable, unsigned, mis-signed or mismatched answers and server-side errors throw
 * ERR_METHOD_UNAVAILABLE (fail closed, refunded, audited by the flow).
 */
import type { Clock } from "../../core/clock.ts";
import { PortcullisError, isPortcullisError } from "../../core/errors.ts";
import type { Random } from "../../core/random.ts";
import type { SecretBox } from "../../crypto/secret-box.ts";
import type { FactorStore } from "../../storage/factor-store.ts";
import type {
	ChallengeStart,
	EnrollmentBegin,
	EnrollmentComplete,
	EnrollmentRequest,
	FactorRecord,
	SecondFactorMethod,
	VerifyRequest,
	VerifyResult,
} from "../method.ts";
import { ENROLMENT_WITHDRAWN } from "../method.ts";
import type { MethodSettingsStore, YubikeyOtpSettings } from "../method-settings.ts";
import { YubicoCloudClient, type YubicoCloudResult } from "./cloud-client.ts";
import { validateOtpOffline } from "./offline-validator.ts";
import { parseOtp } from "./otp-parse.ts";

export const YUBIKEY_PROMPT = "YubiKey: touch your key";

export interface YubikeyOtpMethodDeps {
	readonly settings: MethodSettingsStore;
	readonly factors: FactorStore;
	readonly box: SecretBox;
	readonly random: Random;
	readonly clock: Clock;
}

interface StoredKey {
	readonly aesKey: string;
	readonly privateId: string;
}

const factorContext = (factorId: string): string => `yubikey-otp:${factorId}`;

/** "0011 2233 …" or "00:11:…" as printed by tools → lower-case hex of exactly `bytes` bytes, or null. */
export function parseHexField(raw: string | undefined, bytes: number): Buffer | null {
	if (typeof raw !== "string" || raw.length > bytes * 4) return null;
	const compact = raw.replace(/[\s:-]/g, "").toLowerCase();
	if (!new RegExp(`^[0-9a-f]{${bytes * 2}}$`).test(compact)) return null;
	return Buffer.from(compact, "hex");
}

function unavailable(message: string, cause?: unknown): PortcullisError {
	return new PortcullisError("ERR_METHOD_UNAVAILABLE", `YubiKey: ${message}`, cause === undefined ? undefined : { cause });
}

export function cloudClient(
	settings: Extract<YubikeyOtpSettings, { mode: "cloud" }>,
	random: Random,
	urls: readonly string[] = settings.urls,
): YubicoCloudClient {
	try {
		return new YubicoCloudClient({
			clientId: settings.clientId,
			apiKey: settings.apiKey,
			urls,
			random,
			timeoutMs: settings.timeoutMs,
			...(settings.caPem !== undefined ? { ca: settings.caPem } : {}),
		});
	} catch (error) {
		throw unavailable("the validation server settings are unusable", error);
	}
}

/** Maps a cloud denial to a user-charged value, or throws when the service (not the user) failed. */
function judgeCloudDenial(result: Extract<YubicoCloudResult, { kind: "invalid" }>): VerifyResult {
	switch (result.reason) {
		case "malformed-otp":
			return { kind: "invalid", reason: "malformed" };
		case "unknown-public-id":
			return { kind: "invalid", reason: "wrong" };
		case "replayed":
			return { kind: "invalid", reason: "replayed" };
		case "rejected":
			if (result.status === "BAD_OTP") return { kind: "invalid", reason: "wrong" };
			throw unavailable(`validation server ${result.url ?? "?"} answered ${result.status ?? "an error"}`);
		default:
			// Unsigned, mis-signed, cut'n'paste (otp/nonce mismatch), garbage, HTTP errors: nothing in
			// the answer is believed, and it is not the user's fault either (docs/security-matrix.md E4).
			throw unavailable(
				`validation server ${result.url ?? "?"} gave an untrustworthy answer (${result.reason}${result.status ? `, status ${result.status}` : ""})`,
			);
	}
}

export function createYubikeyOtpMethod(deps: YubikeyOtpMethodDeps): SecondFactorMethod {
	function openKey(factor: FactorRecord): { aesKey: Buffer; privateId: Buffer } | null {
		if (factor.secretEnc === null) return null;
		const stored = JSON.parse(deps.box.open(factor.secretEnc, factorContext(factor.id)).toString("utf8")) as StoredKey;
		const aesKey = parseHexField(stored.aesKey, 16);
		const privateId = parseHexField(stored.privateId, 6);
		return aesKey === null || privateId === null ? null : { aesKey, privateId };
	}

	return {
		id: "yubikey-otp",
		interaction: "code",

		async startChallenge(): Promise<ChallengeStart> {
			// The OTP is a one-time value guarded by its counter; no per-attempt state is needed.
			return { prompt: YUBIKEY_PROMPT, echo: false, state: null };
		},

		async verifyResponse(request: VerifyRequest): Promise<VerifyResult> {
			const parsed = parseOtp(request.response.trim());
			if (!parsed.ok) return { kind: "invalid", reason: "malformed" };
			const settings = await deps.settings.require("yubikey-otp");
			const own = request.factors.filter((factor) => factor.publicId === parsed.publicId);
			// Binding (docs/threat-model.md, Yubico OTP): an OTP of a key not enrolled by THIS user never counts.
			if (own.length === 0) return { kind: "invalid", reason: "wrong" };

			if (settings.mode === "offline") {
				let replayed = false;
				for (const factor of own) {
					const key = openKey(factor);
					if (key === null) continue;
					const result = validateOtpOffline(parsed.otp, { publicId: factor.publicId!, aesKey: key.aesKey, privateId: key.privateId });
					if (result.kind !== "valid") continue;
					// Strictly rising, atomically, across nodes and channels (Decision 7).
					if (await deps.factors.advanceCounter(factor.id, result.counter)) return { kind: "valid", factorId: factor.id };
					replayed = true;
				}
				return { kind: "invalid", reason: replayed ? "replayed" : "wrong" };
			}

			const client = cloudClient(settings, deps.random);
			let result: YubicoCloudResult;
			try {
				result = await client.verify(parsed.otp, { allowedPublicIds: request.factors.map((factor) => factor.publicId ?? "").filter((id) => id !== "") });
			} catch (error) {
				if (isPortcullisError(error, "ERR_METHOD_UNAVAILABLE")) throw error;
				throw unavailable("validation failed", error);
			}
			if (result.kind === "invalid") return judgeCloudDenial(result);
			const factor = own.find((candidate) => candidate.publicId === result.publicId);
			if (factor === undefined) return { kind: "invalid", reason: "wrong" };
			if (result.counter !== null) {
				if (!(await deps.factors.advanceCounter(factor.id, result.counter))) return { kind: "invalid", reason: "replayed" };
			} else {
				await deps.factors.touch(factor.id);
			}
			return { kind: "valid", factorId: factor.id };
		},

		async beginEnrollment(request: EnrollmentRequest): Promise<EnrollmentBegin> {
			const parsed = parseOtp((request.input.otp ?? "").trim());
			if (!parsed.ok) return { kind: "rejected", message: "That is not a YubiKey OTP. Click into the field and touch your key once." };
			let settings: YubikeyOtpSettings;
			try {
				settings = await deps.settings.require("yubikey-otp");
			} catch {
				return { kind: "rejected", message: "YubiKeys cannot be set up right now: the administrator has not finished configuring them." };
			}
			const bound = (await deps.factors.findByPublicId("yubikey-otp", parsed.publicId)).filter((factor) => factor.status === "active");
			if (bound.some((factor) => factor.userId === request.user.id)) return { kind: "rejected", message: "This YubiKey is already set up for your account." };
			if (bound.length > 0) return { kind: "rejected", message: "This YubiKey is already registered to another account." };

			const factorId = deps.factors.newFactorId();
			if (settings.mode === "offline") {
				const aesKey = parseHexField(request.input.aesKey, 16);
				const privateId = parseHexField(request.input.privateId, 6);
				if (aesKey === null) return { kind: "rejected", message: "Enter the key's AES secret: 32 hexadecimal characters, as shown by `ykman otp yubiotp`." };
				if (privateId === null) return { kind: "rejected", message: "Enter the key's private id: 12 hexadecimal characters, as shown by `ykman otp yubiotp`." };
				const result = validateOtpOffline(parsed.otp, { publicId: parsed.publicId, aesKey, privateId });
				if (result.kind !== "valid") {
					return { kind: "rejected", message: "The OTP does not match this AES secret and private id. Check both values and touch the key again." };
				}
				const sealed = deps.box.seal(
					JSON.stringify({ aesKey: aesKey.toString("hex"), privateId: privateId.toString("hex") } satisfies StoredKey),
					factorContext(factorId),
				);
				// The enrolment OTP's counter is spent: it cannot be replayed at login.
				if (
					(await deps.factors.insert(
						{
							id: factorId,
							userId: request.user.id,
							method: "yubikey-otp",
							label: request.label,
							status: "active",
							secretEnc: sealed,
							publicId: parsed.publicId,
							lastUsedCounter: result.counter,
						},
						request.guard,
					)) === null
				) {
					return { kind: "rejected", message: ENROLMENT_WITHDRAWN };
				}
				return { kind: "active", factorId, display: { publicId: parsed.publicId } };
			}

			let result: YubicoCloudResult;
			try {
				result = await cloudClient(settings, deps.random).verify(parsed.otp, { allowedPublicIds: [parsed.publicId] });
			} catch {
				return { kind: "rejected", message: "The YubiKey validation server cannot be reached right now. Try again later." };
			}
			if (result.kind === "invalid") {
				if (result.reason === "replayed") return { kind: "rejected", message: "That OTP was already used. Touch the key again." };
				if (result.reason === "rejected" && result.status === "BAD_OTP")
					return { kind: "rejected", message: "The validation server does not accept this key's OTP. Is the key registered with it?" };
				return { kind: "rejected", message: "The YubiKey validation server gave no trustworthy answer. Try again later or ask an administrator." };
			}
			if (
				(await deps.factors.insert(
					{
						id: factorId,
						userId: request.user.id,
						method: "yubikey-otp",
						label: request.label,
						status: "active",
						secretEnc: null,
						publicId: parsed.publicId,
						lastUsedCounter: result.counter,
					},
					request.guard,
				)) === null
			) {
				return { kind: "rejected", message: ENROLMENT_WITHDRAWN };
			}
			return { kind: "active", factorId, display: { publicId: parsed.publicId } };
		},

		async completeEnrollment(): Promise<EnrollmentComplete> {
			// Enrolment finishes in beginEnrollment (one touch); there is never a pending factor.
			return { kind: "expired" };
		},
	};
}
