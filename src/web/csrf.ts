/**
 * CSRF protection for the web console (OWASP CSRF Prevention Cheat Sheet: synchronizer token
 * bound to the session, plus Origin verification and SameSite=Strict cookies as defence in depth).
 *
 * token = base64url(HMAC-SHA256(key, kind ":" subject)), where the subject is the session token
 * (authenticated pages) or a random pre-session cookie (login form before any session exists).
 * The key is random, created on first use and kept sealed (the secret box) in the shared settings table,
 * so every node accepts the tokens every other node issued.
 */
import { createHmac, createSecretKey } from "node:crypto";
import { PortcullisError } from "../core/errors.ts";
import type { SecretBox } from "../crypto/secret-box.ts";
import type { Random } from "../core/random.ts";
import type { SettingsStore } from "../storage/settings-store.ts";
import { constantTimeEqual } from "../crypto/tokens.ts";

const SETTINGS_KEY = "web.csrf_key";
const BOX_CONTEXT = "settings:web.csrf_key";

export type CsrfSubjectKind = "session" | "pre";

export interface Csrf {
	tokenFor(kind: CsrfSubjectKind, subject: string): string;
	verify(kind: CsrfSubjectKind, subject: string, token: unknown): boolean;
}

/** Loads the shared key, creating it once; concurrent first starts on two nodes agree (insert-if-absent). */
export async function loadCsrfKey(deps: { settings: Pick<SettingsStore, "get" | "putIfAbsent">; box: SecretBox; random: Random }): Promise<Buffer> {
	let sealed = await deps.settings.get(SETTINGS_KEY);
	if (sealed === undefined) sealed = await deps.settings.putIfAbsent(SETTINGS_KEY, deps.box.seal(deps.random.bytes(32), BOX_CONTEXT));
	if (sealed === undefined) throw new PortcullisError("ERR_DATABASE", "the CSRF key could not be stored");
	const key = deps.box.open(sealed, BOX_CONTEXT);
	if (key.length !== 32) throw new PortcullisError("ERR_SECRET_KEY", "the stored CSRF key is unusable");
	return key;
}

export function createCsrf(key: Buffer): Csrf {
	// One KeyObject for the process: a raw Buffer key is imported into a new KeyObject on every
	// createHmac call (node:crypto prepareSecretKey), a measurable share of each console request.
	const secret = createSecretKey(key);
	const mac = (kind: CsrfSubjectKind, subject: string) => createHmac("sha256", secret).update(`${kind}:${subject}`, "utf8").digest();
	return {
		tokenFor(kind, subject) {
			return mac(kind, subject).toString("base64url");
		},
		verify(kind, subject, token) {
			if (typeof token !== "string" || token.length !== 43 || subject.length === 0) return false;
			// Compare the canonical text, not decoded bytes: base64 ignores the unused low bits of the
			// last character, so decoding would accept several spellings of one token.
			return constantTimeEqual(token, mac(kind, subject).toString("base64url"));
		},
	};
}
