/**
 * Duo's Universal Prompt (web) through the real LoginFlow and Duo's own SDK, against the fake's
 * OIDC endpoints (HTTPS with the test CA; client_assertion and request JWTs checked, codes single
 * use, HS512 id_tokens): allow, deny, bypass with and without the opt-in, replayed codes, state
 * mismatch and reuse, an id_token for another Duo user, tampered id_tokens, an unreachable or
 * broken Duo (fail closed, audited, not charged), the Web SDK settings (both or neither, sealed,
 * redacted), and SSH still on the Auth API. On SQLite and PostgreSQL (the round lives on the
 * login attempt row: conditional updates on both engines).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { MethodId } from "../../../src/core/method-id.ts";
import { createDuoMethod } from "../../../src/methods/duo/duo-method.ts";
import { decideUniversalResult } from "../../../src/methods/duo/duo-policy.ts";
import { DUO_UNIVERSAL_PROMPT, sameState, waitingUniversalState, type UniversalState } from "../../../src/methods/duo/duo-universal.ts";
import type { SecondFactorMethod } from "../../../src/methods/method.ts";
import { createMethodAdmin } from "../../../src/methods/method-admin.ts";
import { MethodSettingsStore, validateMethodSettings } from "../../../src/methods/method-settings.ts";
import {
	DUO_IKEY,
	DUO_SKEY,
	DUO_WEB_CLIENT_ID,
	DUO_WEB_CLIENT_SECRET,
	type FakeDuoFault,
	type FakeDuoServer,
	startFakeDuoServer,
	type UniversalTamper,
	visitAuthorize,
} from "../../helpers/fake-duo-server.ts";
import { ENROL, challenge, lastAudit, loginWith, makeUser } from "../../helpers/method-login.ts";
import { ADMIN_ACTOR, SSH, WEB, createTestApp, type TestApp } from "../../helpers/test-app.ts";
import { deadTcpPort } from "../../helpers/dead-ports.ts";
import { makeTestCa, opensslAvailable, opensslSkip, sharedTestCa } from "../../helpers/test-ca.ts";

const skip = opensslSkip();

describe("Duo Universal Prompt settings", () => {
	const base = { apiHost: "api-12345678.duosecurity.com", integrationKey: DUO_IKEY, secretKey: DUO_SKEY };

	test("the Web SDK pair: both or neither; lengths; not the Auth API keys", () => {
		assert.equal(DUO_WEB_CLIENT_ID.length, 20);
		assert.equal(DUO_WEB_CLIENT_SECRET.length, 40);
		const both = validateMethodSettings("duo", { ...base, webClientId: DUO_WEB_CLIENT_ID, webClientSecret: DUO_WEB_CLIENT_SECRET }, null);
		assert.equal(both.webClientId, DUO_WEB_CLIENT_ID);
		assert.equal(both.webClientSecret, DUO_WEB_CLIENT_SECRET);
		const neither = validateMethodSettings("duo", base, null);
		assert.equal(neither.webClientId, undefined);
		assert.equal(neither.webClientSecret, undefined);
		assert.throws(
			() => validateMethodSettings("duo", { ...base, webClientId: DUO_WEB_CLIENT_ID }, null),
			(error: Error & { code?: string }) => error.code === "ERR_POLICY_INVALID" && /client secret/.test(error.message),
		);
		assert.throws(
			() => validateMethodSettings("duo", { ...base, webClientSecret: DUO_WEB_CLIENT_SECRET }, null),
			(error: Error & { code?: string }) => error.code === "ERR_POLICY_INVALID" && /client ID/.test(error.message),
		);
		assert.throws(() => validateMethodSettings("duo", { ...base, webClientId: "DISHORT", webClientSecret: DUO_WEB_CLIENT_SECRET }, null), /webClientId/);
		assert.throws(() => validateMethodSettings("duo", { ...base, webClientId: DUO_WEB_CLIENT_ID, webClientSecret: "short" }, null), /webClientSecret/);
		assert.throws(
			() => validateMethodSettings("duo", { ...base, webClientId: "DIWJ8X6AEYOR5OMC6TQ1", webClientSecret: DUO_WEB_CLIENT_SECRET }, null),
			/integration key/,
		);
		assert.throws(
			() =>
				validateMethodSettings(
					"duo",
					{ ...base, secretKey: DUO_WEB_CLIENT_SECRET, webClientId: DUO_WEB_CLIENT_ID, webClientSecret: DUO_WEB_CLIENT_SECRET },
					null,
				),
			/Auth API secret key/,
		);
		assert.throws(() => validateMethodSettings("duo", { ...base, webClientId: DUO_WEB_CLIENT_ID, webClientSecret: 7 }, null), /webClientSecret/);
	});

	test("an omitted secret is kept only for the same client ID; omitting the client ID removes the Web SDK", () => {
		const current = validateMethodSettings("duo", { ...base, webClientId: DUO_WEB_CLIENT_ID, webClientSecret: DUO_WEB_CLIENT_SECRET }, null);
		assert.equal(
			validateMethodSettings("duo", { ...base, secretKey: undefined, webClientId: DUO_WEB_CLIENT_ID }, current).webClientSecret,
			DUO_WEB_CLIENT_SECRET,
		);
		assert.throws(() => validateMethodSettings("duo", { ...base, webClientId: "DIANOTHERWEBSDKAPP01" }, current), /needs its client secret/);
		assert.equal(validateMethodSettings("duo", base, current).webClientSecret, undefined);
	});

	test("auth_result decisions: only allow/allow; bypass only with the opt-in; unknown values deny; garbage is malformed", () => {
		const off = { honourDuoBypass: false };
		const on = { honourDuoBypass: true };
		assert.deepEqual(decideUniversalResult({ result: "allow", status: "allow" }, off), { kind: "allow", bypass: false });
		assert.deepEqual(decideUniversalResult({ result: "allow", status: "bypass" }, off), { kind: "deny", status: "bypass-not-allowed" });
		assert.deepEqual(decideUniversalResult({ result: "allow", status: "bypass" }, on), { kind: "allow", bypass: true });
		assert.equal(decideUniversalResult({ result: "allow", status: "maybe" }, on).kind, "deny");
		assert.equal(decideUniversalResult({ result: "deny", status: "allow" }, on).kind, "deny");
		assert.equal(decideUniversalResult({ result: "ALLOW", status: "allow" }, on).kind, "deny");
		for (const garbage of [undefined, null, "allow", { result: "allow" }, { result: 1, status: "allow" }])
			assert.equal(decideUniversalResult(garbage, on).kind, "malformed");
	});

	test("state comparison is exact", () => {
		assert.equal(sameState("a".repeat(36), "a".repeat(36)), true);
		assert.equal(sameState("a".repeat(36), `${"a".repeat(35)}b`), false);
		assert.equal(sameState("a".repeat(36), "a".repeat(37)), false);
		assert.equal(sameState("", ""), true);
	});
});

for (const engine of ["sqlite", "postgres"] as const) {
	describe(`Duo Universal Prompt against the fake Duo (${engine})`, { skip }, () => {
		let t: TestApp;
		let duo: FakeDuoServer;
		const ca = opensslAvailable() ? sharedTestCa() : { caCert: "", serverCert: "", serverKey: "" };

		async function settings(extra: Record<string, unknown> = {}): Promise<void> {
			await createMethodAdmin(t.app).update(ADMIN_ACTOR, "duo", {
				apiHost: `localhost:${duo.port}`,
				integrationKey: DUO_IKEY,
				secretKey: DUO_SKEY,
				timeoutMs: 1000,
				caPem: ca.caCert,
				webClientId: DUO_WEB_CLIENT_ID,
				webClientSecret: DUO_WEB_CLIENT_SECRET,
				...extra,
			});
		}

		/** Password on the web, "Continue to Duo" (startChallenge), and the browser's visit at Duo. */
		async function atDuo(username: string) {
			const { attemptId, prompt } = await challenge(t, username, "duo", WEB);
			assert.ok(prompt.kind === "prompt" && prompt.prompt === DUO_UNIVERSAL_PROMPT, JSON.stringify(prompt));
			const attempt = await t.app.stores.attempts.getLive(attemptId);
			const round = waitingUniversalState(attempt, attempt!.user_id);
			assert.ok(round !== null, "a Universal round waits on the attempt");
			const back = await visitAuthorize(round.url, ca.caCert);
			assert.equal(back.status, 302, JSON.stringify(back));
			return { attemptId, round, code: back.duoCode ?? "", state: back.state ?? "", location: back.location ?? "" };
		}

		const answer = (state: string, code: string): string => JSON.stringify({ state, code });
		const failures = async (username: string): Promise<number> => Number((await t.app.stores.users.findByUsername(username))!.tfa_failures);

		before(async () => {
			t = await createTestApp({ engine });
			duo = await startFakeDuoServer({
				ikey: DUO_IKEY,
				skey: DUO_SKEY,
				webClientId: DUO_WEB_CLIENT_ID,
				webClientSecret: DUO_WEB_CLIENT_SECRET,
				tls: { cert: ca.serverCert, key: ca.serverKey },
				clock: t.clock,
				users: {
					alice: { passcodes: ["123456"] },
					bob: { universal: "deny" },
					"duo.carol": {},
					dave: {},
					erin: { universal: "bypass" },
					gus: {},
				},
			});
			await settings();
			await t.app.admin.updateSettings(ADMIN_ACTOR, { enabledMethods: ["totp", "duo", "recovery-code"] });
			for (const [name, duoName] of [
				["alice", "alice"],
				["bob", "bob"],
				["carol", "duo.carol"],
				["dave", "dave"],
				["erin", "erin"],
				["gus", "gus"],
			] as const) {
				const id = await makeUser(t, name);
				const begin = await t.app.enrollment.begin(id, "duo", "Duo", duoName === name ? {} : { username: duoName }, ENROL);
				assert.equal(begin.kind, "active", `${name}: ${JSON.stringify(begin)}`);
			}
		});
		after(async () => {
			await duo?.close();
			await t?.cleanup();
		});

		test("settings: the client secret is sealed at rest and never shown; the client ID is", async () => {
			const raw = await t.app.stores.settings.get("method-settings:duo");
			assert.ok(raw !== undefined && !raw.includes(DUO_WEB_CLIENT_SECRET) && raw.includes(DUO_WEB_CLIENT_ID));
			const view = await createMethodAdmin(t.app).get("duo");
			assert.ok(view.settings !== null && "webClientId" in view.settings);
			assert.equal(view.settings.webClientId, DUO_WEB_CLIENT_ID);
			assert.equal(view.settings.webClientSecretSet, true);
			assert.ok(!JSON.stringify(view).includes(DUO_WEB_CLIENT_SECRET));
			const audit = await t.app.stores.audit.query({ event: "method.settings-changed" });
			assert.ok(audit.some((row) => (JSON.parse(row.detail ?? "{}").secretsChanged ?? []).includes("webClientSecret")));
			assert.ok(!JSON.stringify(audit).includes(DUO_WEB_CLIENT_SECRET));
		});

		test("start: health check, then Duo's URL for the ENROLLED Duo username, redirecting to this console's callback", async () => {
			duo.requests.length = 0;
			const { round, location, attemptId } = await atDuo("carol");
			assert.ok(duo.requests.some((request) => request.path === "/oauth/v1/health_check"));
			const url = new URL(round.url);
			assert.equal(url.origin, `https://localhost:${duo.port}`);
			assert.equal(url.pathname, "/oauth/v1/authorize");
			assert.equal(url.searchParams.get("redirect_uri"), `${t.app.consoleUrl}/login/duo/callback`);
			assert.match(round.duoState, /^[0-9a-f]{36}$/);
			assert.ok(location.startsWith(`${t.app.consoleUrl}/login/duo/callback?`));
			const [code] = [...duo.universal.codes].at(-1)!;
			assert.equal(duo.universal.codes.get(code)!.username, "duo.carol");
			assert.deepEqual(duo.universal.refusals, []);
			await t.app.login.abandon(attemptId);
		});

		test("allow: the code is exchanged once and the login is authenticated", async () => {
			const { attemptId, state, code } = await atDuo("alice");
			const result = await t.app.login.submitSecondFactor(attemptId, "duo", answer(state, code));
			assert.equal(result.kind, "authenticated", JSON.stringify(result));
			assert.equal(duo.universal.codes.get(code)?.used, true);
			assert.equal((await lastAudit(t, "alice", "login.success"))?.secondFactor, "duo");
			assert.ok(
				duo.requests.every((request) => !request.path.startsWith("/auth/v2/auth")),
				"the web login never used the Auth API /auth",
			);
		});

		test("deny at Duo: a wrong answer, charged to the user's counter", async () => {
			const { attemptId, state, code } = await atDuo("bob");
			const result = await t.app.login.submitSecondFactor(attemptId, "duo", answer(state, code));
			assert.equal(result.kind, "invalid", JSON.stringify(result));
			assert.equal(await failures("bob"), 1);
			assert.equal((await lastAudit(t, "bob", "second-factor.failure"))?.reason, "wrong");
		});

		test("replays: the same answer twice on one attempt; an old duo_code on a new round (Duo refuses it)", async () => {
			const first = await atDuo("dave");
			assert.equal((await t.app.login.submitSecondFactor(first.attemptId, "duo", answer(first.state, first.code))).kind, "authenticated");

			// The round was consumed with the first answer: a second submission on the same attempt is refused.
			const again = await atDuo("dave");
			const ok = await t.app.login.submitSecondFactor(again.attemptId, "duo", answer(again.state, "0".repeat(32)));
			assert.equal(ok.kind, "invalid");
			const replay = await t.app.login.submitSecondFactor(again.attemptId, "duo", answer(again.state, again.code));
			assert.equal(replay.kind, "invalid", "the round is used up");
			assert.equal((await lastAudit(t, "dave", "second-factor.failure"))?.reason, "expired");
			assert.equal(duo.universal.codes.get(again.code)?.used, false, "the code never reached Duo");

			// The first (already used) code with a fresh round's correct state: Duo answers invalid_grant.
			const third = await atDuo("dave");
			const reused = await t.app.login.submitSecondFactor(third.attemptId, "duo", answer(third.state, first.code));
			assert.equal(reused.kind, "invalid", JSON.stringify(reused));
			assert.match(duo.universal.refusals.at(-1) ?? "", /code already used/);
			assert.equal((await lastAudit(t, "dave", "duo.universal-refused"))?.reason, "code-refused");
			await t.app.admin.unlock(ADMIN_ACTOR, "dave");
		});

		test("state mismatch: refused, audited, and the round is spent (the right state afterwards is refused too)", async () => {
			const { attemptId, state, code } = await atDuo("gus");
			const forged = await t.app.login.submitSecondFactor(attemptId, "duo", answer(`${state.slice(0, -1)}${state.endsWith("0") ? "1" : "0"}`, code));
			assert.equal(forged.kind, "invalid");
			assert.equal((await lastAudit(t, "gus", "duo.universal-refused"))?.reason, "state-mismatch");
			assert.equal(duo.universal.codes.get(code)?.used, false, "nothing was exchanged");
			const late = await t.app.login.submitSecondFactor(attemptId, "duo", answer(state, code));
			assert.equal(late.kind, "invalid");
			await t.app.admin.unlock(ADMIN_ACTOR, "gus");
		});

		test("a typed answer (the Auth API prompt) is not accepted on the web while the Web SDK is configured", async () => {
			const { attemptId } = await challenge(t, "alice", "duo", WEB);
			const before = duo.requests.filter((request) => request.path === "/auth/v2/auth").length;
			const typed = await t.app.login.submitSecondFactor(attemptId, "duo", "123456");
			assert.equal(typed.kind, "invalid");
			assert.equal(duo.requests.filter((request) => request.path === "/auth/v2/auth").length, before);
			assert.equal((await lastAudit(t, "alice", "second-factor.failure"))?.reason, "malformed");
			await t.app.admin.unlock(ADMIN_ACTOR, "alice");
		});

		test("an id_token for another Duo user is refused (preferred_username), charged and audited", async () => {
			duo.setUniversalTamper("other-username");
			try {
				const { attemptId, state, code } = await atDuo("gus");
				const result = await t.app.login.submitSecondFactor(attemptId, "duo", answer(state, code));
				assert.equal(result.kind, "invalid", JSON.stringify(result));
				assert.equal((await lastAudit(t, "gus", "duo.universal-refused"))?.reason, "other-duo-user");
			} finally {
				duo.setUniversalTamper("none");
				await t.app.admin.unlock(ADMIN_ACTOR, "gus");
			}
		});

		const broken: UniversalTamper[] = ["wrong-secret", "expired", "wrong-audience", "wrong-issuer", "no-auth-result", "bad-token-type"];
		for (const tamper of broken) {
			test(`a tampered id_token (${tamper}) fails closed: denied, audited, not charged`, async () => {
				duo.setUniversalTamper(tamper);
				try {
					const { attemptId, state, code } = await atDuo("gus");
					const before = await failures("gus");
					const result = await t.app.login.submitSecondFactor(attemptId, "duo", answer(state, code));
					assert.ok(result.kind === "denied" && result.reason === "unavailable", JSON.stringify(result));
					assert.equal(await failures("gus"), before);
					assert.match((await t.app.stores.audit.query({ username: "gus", event: "login.error", limit: 1 }))[0]?.detail ?? "", /ERR_METHOD_UNAVAILABLE/);
				} finally {
					duo.setUniversalTamper("none");
				}
			});
		}

		test("an unknown auth_result status with result allow is a denial, never an allow", async () => {
			duo.setUniversalTamper("unknown-status");
			try {
				const { attemptId, state, code } = await atDuo("gus");
				assert.equal((await t.app.login.submitSecondFactor(attemptId, "duo", answer(state, code))).kind, "invalid");
			} finally {
				duo.setUniversalTamper("none");
				await t.app.admin.unlock(ADMIN_ACTOR, "gus");
			}
		});

		test("Duo bypass (status bypass) is refused unless the admin opted in; then accepted and audited", async () => {
			const refused = await atDuo("erin");
			assert.equal((await t.app.login.submitSecondFactor(refused.attemptId, "duo", answer(refused.state, refused.code))).kind, "invalid");
			await settings({ honourDuoBypass: true });
			try {
				const accepted = await atDuo("erin");
				assert.equal((await t.app.login.submitSecondFactor(accepted.attemptId, "duo", answer(accepted.state, accepted.code))).kind, "authenticated");
				assert.equal((await lastAudit(t, "erin", "duo.bypass-honoured"))?.prompt, "universal");
			} finally {
				await settings();
			}
		});

		const downFaults: FakeDuoFault[] = ["hang", "html-502", "garbage-json", "stat-fail", "huge", "json-500"];
		for (const fault of downFaults) {
			test(`Duo unreachable or broken at the health check (${fault}): denied as unavailable, audited with the user`, async () => {
				duo.setFault(fault, ["/oauth/v1/health_check"]);
				try {
					const { prompt, attemptId } = await challenge(t, "gus", "duo", WEB);
					assert.ok(prompt.kind === "denied" && prompt.reason === "unavailable", JSON.stringify(prompt));
					assert.equal((await lastAudit(t, "gus", "duo.unavailable"))?.stage, "health-check");
					assert.equal(
						waitingUniversalState(await t.app.stores.attempts.getLive(attemptId), (await t.app.stores.users.findByUsername("gus"))!.id),
						null,
						"no round is stored",
					);
				} finally {
					duo.setFault("none");
				}
			});
		}

		test("the token endpoint down: not charged, the round is given back, and the same answer works once Duo is back", async () => {
			const { attemptId, state, code } = await atDuo("gus");
			duo.setFault("hang", ["/oauth/v1/token"]);
			const before = await failures("gus");
			try {
				const result = await t.app.login.submitSecondFactor(attemptId, "duo", answer(state, code));
				assert.ok(result.kind === "denied" && result.reason === "unavailable", JSON.stringify(result));
				assert.equal(await failures("gus"), before);
			} finally {
				duo.setFault("none");
			}
			assert.equal((await t.app.login.submitSecondFactor(attemptId, "duo", answer(state, code))).kind, "authenticated");
		});

		test("a server certificate from another CA, or a wrong client secret, fails closed at the start", async () => {
			await settings({ caPem: makeTestCa("Some Other CA").caCert });
			try {
				const { prompt } = await challenge(t, "gus", "duo", WEB);
				assert.ok(prompt.kind === "denied" && prompt.reason === "unavailable");
			} finally {
				await settings();
			}
			await settings({ webClientSecret: "w".repeat(40) });
			try {
				const { prompt } = await challenge(t, "gus", "duo", WEB);
				assert.ok(prompt.kind === "denied" && prompt.reason === "unavailable");
				assert.match(duo.universal.refusals.at(-1) ?? "", /health_check: client_assertion signature invalid/);
			} finally {
				await settings();
			}
		});

		test("HTTPS_PROXY in the environment is ignored (DUO-PSA-2017-002): Duo is reached directly", async () => {
			const saved = {
				HTTPS_PROXY: process.env.HTTPS_PROXY,
				https_proxy: process.env.https_proxy,
				NO_PROXY: process.env.NO_PROXY,
				no_proxy: process.env.no_proxy,
			};
			const dead = await deadTcpPort();
			process.env.HTTPS_PROXY = `http://127.0.0.1:${dead}`;
			process.env.https_proxy = `http://127.0.0.1:${dead}`;
			delete process.env.NO_PROXY;
			delete process.env.no_proxy;
			try {
				const { attemptId, state, code } = await atDuo("alice");
				assert.equal((await t.app.login.submitSecondFactor(attemptId, "duo", answer(state, code))).kind, "authenticated");
			} finally {
				for (const [name, value] of Object.entries(saved)) {
					if (value === undefined) delete process.env[name];
					else process.env[name] = value;
				}
			}
		});

		test("the Web SDK removed while the user is at Duo: the answer fails closed (not charged)", async () => {
			const { attemptId, state, code } = await atDuo("gus");
			await settings({ webClientId: undefined, webClientSecret: undefined });
			try {
				const before = await failures("gus");
				const result = await t.app.login.submitSecondFactor(attemptId, "duo", answer(state, code));
				assert.ok(result.kind === "denied" && result.reason === "unavailable", JSON.stringify(result));
				assert.equal(await failures("gus"), before);
				// And the web is back on the typed Auth API prompt.
				const typed = await challenge(t, "gus", "duo", WEB);
				assert.match(typed.prompt.kind === "prompt" ? typed.prompt.prompt : "", /^Duo: enter a passcode/);
				await t.app.login.abandon(typed.attemptId);
			} finally {
				await settings();
			}
		});

		test("SSH still uses the Auth API (pam_duo-like prompt, push), never the Universal Prompt", async () => {
			duo.requests.length = 0;
			const { prompt, attemptId } = await challenge(t, "alice", "duo", SSH);
			assert.match(prompt.kind === "prompt" ? prompt.prompt : "", /^Duo: enter a passcode, or 1 for push/);
			assert.equal((await t.app.login.submitSecondFactor(attemptId, "duo", "1")).kind, "authenticated");
			assert.equal((await loginWith(t, "alice", "duo", "123456", SSH)).kind, "authenticated");
			assert.ok(duo.requests.some((request) => request.path === "/auth/v2/auth"));
			assert.ok(
				duo.requests.every((request) => !request.path.startsWith("/oauth/")),
				"no OIDC request for SSH",
			);
		});

		test("without a console URL the method cannot build a redirect: fail closed", async () => {
			const registry = t.app.methods as Map<MethodId, SecondFactorMethod>;
			const original = registry.get("duo")!;
			registry.set(
				"duo",
				createDuoMethod({ settings: new MethodSettingsStore(t.app.stores.settings, t.app.box), factors: t.app.stores.factors, clock: t.clock }),
			);
			try {
				const { prompt } = await challenge(t, "gus", "duo", WEB);
				assert.ok(prompt.kind === "denied" && prompt.reason === "unavailable");
			} finally {
				registry.set("duo", original);
			}
		});

		test("test connection: the Auth API check and the Web SDK health check; a wrong client secret is reported", async () => {
			const admin = createMethodAdmin(t.app);
			const ok = await admin.testConnection(ADMIN_ACTOR, "duo");
			assert.equal(ok.ok, true, JSON.stringify(ok));
			assert.equal(ok.checks.length, 2);
			assert.match(ok.checks[1]!.target, /Web SDK/);
			await settings({ webClientSecret: "v".repeat(40) });
			try {
				const bad = await admin.testConnection(ADMIN_ACTOR, "duo");
				assert.equal(bad.ok, false);
				assert.equal(bad.checks[0]!.ok, true);
				assert.equal(bad.checks[1]!.ok, false);
			} finally {
				await settings();
			}
		});

		test("the stored round is well-formed and bound to the attempt's user", async () => {
			const { attemptId, round } = await atDuo("gus");
			const attempt = await t.app.stores.attempts.getLive(attemptId);
			assert.equal(waitingUniversalState(attempt, "someone-else"), null);
			const stored = JSON.parse(attempt!.challenge_json ?? "null") as UniversalState;
			assert.deepEqual(stored, round);
			await t.app.login.abandon(attemptId);
		});
	});
}
