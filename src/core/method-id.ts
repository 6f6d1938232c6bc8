/**
 * The second-factor methods Portcullis knows, and which channels each can serve.
 *
 * This lives in core (not in methods/) so the pure policy function can reason about methods
 * without importing any I/O code.
 */

export const METHOD_IDS = ["totp", "webauthn", "yubikey-otp", "duo", "radius", "access-keyword", "recovery-code"] as const;

export type MethodId = (typeof METHOD_IDS)[number];

export type Channel = "web" | "ssh" | "api";

export function isMethodId(value: unknown): value is MethodId {
	return typeof value === "string" && (METHOD_IDS as readonly string[]).includes(value);
}

/**
 * Fixed, documented order used when no "last web method" applies: possession factors first,
 * knowledge factor (access keyword) next, recovery codes last (a fallback, never a default).
 */
export const METHOD_ORDER: readonly MethodId[] = METHOD_IDS;

export interface MethodInfo {
	readonly label: string;
	/**
	 * Channels on which the method can be answered directly. WebAuthn reaches SSH through browser
	 * approval. On "api" nothing is answered in a call: a personal token carries the factor its
	 * owner proved in the console when making it (docs/api.md), so every web method counts there.
	 */
	readonly channels: readonly Channel[];
	/** "knowledge" factors are flagged in the UI (OWASP: a memorised word is not a second factor). */
	readonly kind: "possession" | "knowledge" | "backup";
	/** Whether a user enrols it as a standalone factor (recovery codes are issued alongside another factor). */
	readonly standalone: boolean;
}

export const METHOD_INFO: Readonly<Record<MethodId, MethodInfo>> = {
	totp: { label: "Authenticator app (TOTP)", channels: ["web", "ssh", "api"], kind: "possession", standalone: true },
	webauthn: { label: "Security key / passkey (WebAuthn)", channels: ["web", "ssh", "api"], kind: "possession", standalone: true },
	"yubikey-otp": { label: "YubiKey (Yubico OTP)", channels: ["web", "ssh", "api"], kind: "possession", standalone: true },
	duo: { label: "Duo", channels: ["web", "ssh", "api"], kind: "possession", standalone: true },
	radius: { label: "RADIUS", channels: ["web", "ssh", "api"], kind: "possession", standalone: true },
	"access-keyword": { label: "Access keyword", channels: ["web", "ssh", "api"], kind: "knowledge", standalone: true },
	"recovery-code": { label: "Recovery code", channels: ["web", "ssh", "api"], kind: "backup", standalone: false },
};

/** Methods implemented in this build. Enabling any other is refused by the settings service. */
export const IMPLEMENTED_METHODS: readonly MethodId[] = ["totp", "webauthn", "yubikey-otp", "duo", "radius", "access-keyword", "recovery-code"];

export function parseMethodList(text: string): MethodId[] | { invalid: string[] } {
	const parts = text
		.split(",")
		.map((part) => part.trim())
		.filter((part) => part.length > 0);
	const invalid = parts.filter((part) => !isMethodId(part));
	if (invalid.length > 0) return { invalid };
	return [...new Set(parts as MethodId[])];
}
