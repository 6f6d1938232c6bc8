/**
 * Builds the method registry from the composition root. A new method (YubiKey, WebAuthn, Duo,
 * RADIUS) is one more entry here plus its folder; flows and adapters do not change.
 */
import type { Clock } from "../core/clock.ts";
import type { MethodId } from "../core/method-id.ts";
import type { Random } from "../core/random.ts";
import type { SecretBox } from "../crypto/secret-box.ts";
import type { FactorStore } from "../storage/factor-store.ts";
import type { RecoveryCodeStore } from "../storage/recovery-code-store.ts";
import { createAccessKeywordMethod } from "./access-keyword/access-keyword-method.ts";
import type { MethodRegistry, SecondFactorMethod } from "./method.ts";
import { createRecoveryCodeMethod } from "./recovery-code/recovery-code-method.ts";
import { createTotpMethod } from "./totp/totp-method.ts";

export interface RegistryDeps {
	readonly factors: FactorStore;
	readonly recoveryCodes: RecoveryCodeStore;
	readonly box: SecretBox;
	readonly clock: Clock;
	readonly random: Random;
	readonly totpIssuer: string;
}

export function createMethodRegistry(deps: RegistryDeps): MethodRegistry {
	const methods: SecondFactorMethod[] = [
		createTotpMethod({ factors: deps.factors, box: deps.box, clock: deps.clock, random: deps.random, issuer: deps.totpIssuer }),
		createAccessKeywordMethod({ factors: deps.factors, box: deps.box, clock: deps.clock, random: deps.random }),
		createRecoveryCodeMethod({ codes: deps.recoveryCodes, random: deps.random }),
	];
	return new Map<MethodId, SecondFactorMethod>(methods.map((method) => [method.id, method]));
}
