/**
 * Builds the method registry from the composition root. A new method (YubiKey, WebAuthn, Duo,
 * RADIUS) is one more entry here plus its folder; flows and adapters do not change.
 */
import type { UserStore } from "../storage/user-store.ts";
import type { Clock } from "../core/clock.ts";
import type { MethodId } from "../core/method-id.ts";
import type { Random } from "../core/random.ts";
import type { SecretBox } from "../crypto/secret-box.ts";
import type { AuditLog } from "../storage/audit-log.ts";
import type { FactorStore } from "../storage/factor-store.ts";
import type { RecoveryCodeStore } from "../storage/recovery-code-store.ts";
import { createAccessKeywordMethod } from "./access-keyword/access-keyword-method.ts";
import type { KeywordChallengeStore } from "../storage/keyword-challenge-store.ts";
import { createDuoMethod } from "./duo/duo-method.ts";
import type { MethodRegistry, SecondFactorMethod } from "./method.ts";
import type { MethodSettingsStore } from "./method-settings.ts";
import { createRadiusMethod } from "./radius/radius-method.ts";
import { createRecoveryCodeMethod } from "./recovery-code/recovery-code-method.ts";
import { createTotpMethod } from "./totp/totp-method.ts";
import type { RelyingParty } from "./webauthn/relying-party.ts";
import { createWebauthnMethod } from "./webauthn/webauthn-method.ts";
import type { WebauthnStore } from "../storage/webauthn-store.ts";
import { createYubikeyOtpMethod } from "./yubikey-otp/yubikey-otp-method.ts";

export interface RegistryDeps {
	readonly factors: FactorStore;
	readonly recoveryCodes: RecoveryCodeStore;
	readonly box: SecretBox;
	readonly clock: Clock;
	readonly random: Random;
	readonly totpIssuer: string;
	/** Admin settings of the backend methods (YubiKey, Duo, RADIUS), read on every use. */
	/** The sealed per-method settings (built by the composition root). */
	readonly methodSettings: MethodSettingsStore;
	/** Where backend methods report security events (forged RADIUS replies, Duo bypass logins). */
	readonly audit: AuditLog;
	/** WebAuthn: its challenge and approval tables, and the relying party from config (or why it is unusable). */
	/** Usernames for WebAuthn approval pages. */
	readonly users: Pick<UserStore, "findById">;
	readonly webauthn: RelyingParty | { readonly problem: string; readonly consoleUrl: string };
	readonly webauthnStore: WebauthnStore;
	/** The console's public URL (Duo's Universal Prompt redirects the browser back under it). */
	readonly consoleUrl?: string;
	/** Access Keyword: the drawn positions per user (one live challenge, shared by every channel and node). */
	readonly keywordChallenges: KeywordChallengeStore;
}

export function createMethodRegistry(deps: RegistryDeps): MethodRegistry {
	const { methodSettings } = deps;
	const methods: SecondFactorMethod[] = [
		createTotpMethod({ factors: deps.factors, box: deps.box, clock: deps.clock, random: deps.random, issuer: deps.totpIssuer }),
		createAccessKeywordMethod({ factors: deps.factors, box: deps.box, clock: deps.clock, random: deps.random, challenges: deps.keywordChallenges }),
		createRecoveryCodeMethod({ codes: deps.recoveryCodes, random: deps.random }),
		createYubikeyOtpMethod({ settings: methodSettings, factors: deps.factors, box: deps.box, random: deps.random, clock: deps.clock }),
		createDuoMethod({
			settings: methodSettings,
			factors: deps.factors,
			clock: deps.clock,
			onEvent: (event) => deps.audit.record({ ...event, method: "duo" }),
			...(deps.consoleUrl !== undefined ? { consoleUrl: deps.consoleUrl } : {}),
		}),
		createWebauthnMethod({
			users: deps.users,
			store: deps.webauthnStore,
			factors: deps.factors,
			box: deps.box,
			clock: deps.clock,
			random: deps.random,
			audit: deps.audit,
			rp: deps.webauthn,
		}),
		createRadiusMethod({
			settings: methodSettings,
			factors: deps.factors,
			box: deps.box,
			random: deps.random,
			clock: deps.clock,
			onEvent: (event) => void deps.audit.record({ ...event, method: "radius" }),
		}),
	];
	return new Map<MethodId, SecondFactorMethod>(methods.map((method) => [method.id, method]));
}
