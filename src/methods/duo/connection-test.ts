/**
 * "Test connection" for Duo: the Auth API's /auth/v2/check (keys, signature, clock) and, with a
 * Web SDK application, the Universal Prompt's /oauth/v1/health_check with its client id and secret.
 */
import { isPortcullisError } from "../../core/errors.ts";
import type { ConnectionCheck, ConnectionTest, ConnectionTestDeps } from "../settings-spec.ts";
import { duoClient } from "./duo-method.ts";
import { callbackUrl, universalClient } from "./duo-universal.ts";
import type { DuoSettings } from "./settings.ts";

async function testAuthApi(settings: DuoSettings, deps: ConnectionTestDeps): Promise<ConnectionCheck> {
	const target = `duo ${settings.apiHost} (Auth API, SSH)`;
	try {
		const { time } = await duoClient(settings, deps.clock).check();
		const skew = Math.round(time - deps.clock.now().getTime() / 1000);
		// Duo refuses requests whose Date is too far off; warn well before that.
		if (Math.abs(skew) > 60) return { target, ok: false, message: `keys and signature accepted, but this server's clock is off by ${skew} s: fix NTP` };
		return { target, ok: true, message: `keys and signature accepted (clock skew ${skew} s)` };
	} catch (error) {
		return { target, ok: false, message: isPortcullisError(error) ? error.message.slice(0, 300) : "check failed" };
	}
}

/** The Universal Prompt's health check: a client_assertion JWT signed with the Web SDK secret. */
async function testWebSdk(settings: DuoSettings, deps: ConnectionTestDeps): Promise<ConnectionCheck> {
	const target = `duo ${settings.apiHost} (Web SDK, Universal Prompt)`;
	try {
		await (await universalClient(settings, callbackUrl(deps.consoleUrl ?? "https://portcullis.invalid"))).healthCheck();
		return { target, ok: true, message: "health check answered OK for this client ID and secret" };
	} catch (error) {
		return { target, ok: false, message: error instanceof Error ? error.message.slice(0, 300) : "health check failed" };
	}
}

export const testDuoConnection: ConnectionTest<DuoSettings> = async (settings, deps) => {
	const checks = [await testAuthApi(settings, deps)];
	if (settings.webClientId !== undefined) checks.push(await testWebSdk(settings, deps));
	return checks;
};
