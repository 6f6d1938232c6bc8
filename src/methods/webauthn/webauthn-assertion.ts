/**
 * Checking a WebAuthn assertion against a user's stored credentials (W3C WebAuthn L2 §7.2), for
 * web logins, step-up and SSH approvals. Split out of createWebauthnMethod.
 */
import type { PublicKeyCredentialRequestOptionsJSON } from "@simplewebauthn/server";
import type { FactorRecord, MethodUser } from "../method.ts";
import {
	bytes,
	CEREMONY_TIMEOUT_MS,
	crossOrigin,
	factorContext,
	parseAssertion,
	type StoredCredential,
	type WebauthnContext,
	webauthnLibrary,
} from "./webauthn-common.ts";
import type { ChallengeScope } from "../../storage/webauthn-store.ts";

export function createAssertions(ctx: WebauthnContext) {
	const { deps, store, relyingParty, audit } = ctx;

	function openCredential(factor: FactorRecord): StoredCredential | null {
		if (factor.secretEnc === null) return null;
		const stored = JSON.parse(deps.box.open(factor.secretEnc, factorContext(factor.id)).toString("utf8")) as StoredCredential;
		return stored.v === 1 && typeof stored.publicKey === "string" ? stored : null;
	}

	function allowCredentials(factors: readonly FactorRecord[]): { id: string; transports?: string[] }[] {
		const list: { id: string; transports?: string[] }[] = [];
		for (const factor of factors) {
			if (factor.method !== "webauthn" || factor.publicId === null) continue;
			const stored = openCredential(factor);
			list.push(stored !== null && stored.transports.length > 0 ? { id: factor.publicId, transports: [...stored.transports] } : { id: factor.publicId });
		}
		return list;
	}

	async function requestOptions(challenge: string, factors: readonly FactorRecord[]): Promise<PublicKeyCredentialRequestOptionsJSON> {
		const rp = relyingParty();
		return (await webauthnLibrary()).generateAuthenticationOptions({
			rpID: rp.id,
			allowCredentials: allowCredentials(factors),
			challenge: bytes(challenge),
			timeout: CEREMONY_TIMEOUT_MS,
			// A second factor after the password: possession (UP) is what counts; no PIN prompt (UV).
			userVerification: "discouraged",
		});
	}

	type AssertionCheck = { kind: "valid"; factorId: string } | { kind: "invalid"; reason: "wrong" | "replayed" | "malformed" };

	/**
	 * W3C WebAuthn L2 §7.2 for one assertion against one expected challenge: the credential must be
	 * one of THIS user's keys (allowCredentials), userHandle (when sent) must be this user's,
	 * type/challenge/origin/rpIdHash/UP/signature are checked by verifyAuthenticationResponse, and
	 * the signature counter must rise (or stay 0 for keys without a counter), stored with
	 * compare-and-set. A regression is refused and audited (possible cloned key).
	 */
	async function checkAssertion(
		user: MethodUser,
		factors: readonly FactorRecord[],
		text: string,
		expectedChallenge: string,
		where: { channel: string; source: string; scope: ChallengeScope },
	): Promise<AssertionCheck> {
		const rp = relyingParty();
		const response = parseAssertion(text);
		if (response === null) return { kind: "invalid", reason: "malformed" };
		if (crossOrigin(response.response.clientDataJSON)) {
			await audit("webauthn.assertion-refused", "failure", user, { scope: where.scope, reason: "made in a cross-origin frame" }, where.channel, where.source);
			return { kind: "invalid", reason: "wrong" };
		}
		const factor = factors.find(
			(candidate) => candidate.method === "webauthn" && candidate.status === "active" && candidate.userId === user.id && candidate.publicId === response.id,
		);
		if (factor === undefined) return { kind: "invalid", reason: "wrong" };
		const stored = openCredential(factor);
		if (stored === null) return { kind: "invalid", reason: "wrong" };
		const userHandle = response.response.userHandle;
		if (typeof userHandle === "string" && userHandle !== "" && userHandle !== stored.userHandle) {
			await audit(
				"webauthn.assertion-refused",
				"failure",
				user,
				{ factorId: factor.id, scope: where.scope, reason: "user handle of another account" },
				where.channel,
				where.source,
			);
			return { kind: "invalid", reason: "wrong" };
		}
		let result;
		try {
			result = await (await webauthnLibrary()).verifyAuthenticationResponse({
				response,
				expectedChallenge,
				expectedOrigin: rp.origin,
				expectedRPID: rp.id,
				expectedType: "webauthn.get",
				// Counter 0 here: the library would judge the counter before the signature; we judge it
				// below, only for a verified signature, so a forgery cannot raise a false clone alarm.
				credential: { id: factor.publicId ?? "", publicKey: bytes(stored.publicKey), counter: 0, transports: [...stored.transports] },
				requireUserVerification: false,
			});
		} catch (error) {
			await audit(
				"webauthn.assertion-refused",
				"failure",
				user,
				{ factorId: factor.id, scope: where.scope, reason: error instanceof Error ? error.message.slice(0, 200) : "unverifiable" },
				where.channel,
				where.source,
			);
			return { kind: "invalid", reason: "wrong" };
		}
		if (!result.verified) {
			await audit(
				"webauthn.assertion-refused",
				"failure",
				user,
				{ factorId: factor.id, scope: where.scope, reason: "bad signature" },
				where.channel,
				where.source,
			);
			return { kind: "invalid", reason: "wrong" };
		}
		const next = result.authenticationInfo.newCounter;
		if (await store.advanceSignCount(factor.id, next)) return { kind: "valid", factorId: factor.id };
		// Refused by the conditional UPDATE: a count at or below the stored one (possible clone, or a
		// parallel login with the same count won), or the key was removed meanwhile.
		const current = await store.currentCounter(factor.id);
		if (current === undefined) return { kind: "invalid", reason: "wrong" };
		await audit(
			"webauthn.sign-count-regression",
			"failure",
			user,
			{ factorId: factor.id, label: factor.label, storedCounter: current ?? 0, receivedCounter: next, scope: where.scope },
			where.channel,
			where.source,
		);
		return { kind: "invalid", reason: "replayed" };
	}

	return { openCredential, allowCredentials, requestOptions, checkAssertion };
}

export type Assertions = ReturnType<typeof createAssertions>;
