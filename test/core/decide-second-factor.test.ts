/**
 * One row per policy rule (docs/product-decisions.md "Policy semantics" and Decisions 2-4).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import {
	decideSecondFactor,
	describeNudge,
	describeReasons,
	enrollableMethods,
	fallbackMethods,
	REMEMBER_MAX_MINUTES,
	rememberWindowMinutes,
	sessionSatisfies,
	type GroupTwoFactorRule,
	type SecondFactorPolicyInput,
} from "../../src/core/decide-second-factor.ts";
import type { MethodId } from "../../src/core/method-id.ts";
import {
	decideServerAccess,
	describeServerStepUp,
	type NetworkRule,
	type ServerAccessInput,
	type ServerStepUpRule,
} from "../../src/core/decide-second-factor.ts";
import { addressInCidr, formatCidr, parseCidr } from "../../src/core/cidr.ts";

const ALL: MethodId[] = ["totp", "webauthn", "yubikey-otp", "duo", "radius", "access-keyword", "recovery-code"];
const SSH_CAPABLE: MethodId[] = ["totp", "yubikey-otp", "duo", "radius", "access-keyword", "recovery-code"];
const group = (name: string, forceTwoFactor: boolean, allowedMethods: MethodId[] | null = null): GroupTwoFactorRule => ({
	name,
	forceTwoFactor,
	allowedMethods,
});

function input(overrides: Partial<SecondFactorPolicyInput>): SecondFactorPolicyInput {
	return {
		channel: "web",
		settings: { forceTwoFactor: false, enabledMethods: ["totp", "access-keyword", "recovery-code"] },
		groups: [],
		enrolledMethods: [],
		lastWebMethod: null,
		channelMethods: ALL,
		...overrides,
	};
}

const rows: { rule: string; input: SecondFactorPolicyInput; expect: Record<string, unknown> }[] = [
	{ rule: "nothing forced, nothing enrolled → not required", input: input({}), expect: { kind: "not-required" } },
	{
		rule: "global force, no factor → enrol, reason global",
		input: input({ settings: { forceTwoFactor: true, enabledMethods: ["totp", "access-keyword"] } }),
		expect: { kind: "enroll", allowedMethods: ["totp", "access-keyword"], reasons: [{ source: "global" }] },
	},
	{
		rule: "group force applies to members only",
		input: input({ groups: [group("ops", true), group("dev", false)] }),
		expect: { kind: "enroll", reasons: [{ source: "group", group: "ops" }] },
	},
	{
		rule: "a non-forcing group changes nothing",
		input: input({ groups: [group("dev", false)] }),
		expect: { kind: "not-required" },
	},
	{
		rule: "voluntary enrolment: an enrolled factor is always asked for",
		input: input({ enrolledMethods: ["totp"] }),
		expect: { kind: "challenge", methods: ["totp"], defaultMethod: "totp", reasons: [{ source: "enrolled" }] },
	},
	{
		rule: "Decision 2: method disabled after voluntary enrolment → must enrol an allowed method, never password-only",
		input: input({ settings: { forceTwoFactor: false, enabledMethods: ["access-keyword"] }, enrolledMethods: ["totp"] }),
		expect: { kind: "enroll", allowedMethods: ["access-keyword"], reasons: [{ source: "enrolled" }] },
	},
	{
		rule: "Decision 4: a group narrows the allowed methods (intersection)",
		input: input({
			settings: { forceTwoFactor: true, enabledMethods: ["totp", "access-keyword"] },
			groups: [group("admins", false, ["totp"])],
			enrolledMethods: ["access-keyword"],
		}),
		expect: { kind: "enroll", allowedMethods: ["totp"] },
	},
	{
		rule: "every restricting group narrows further",
		input: input({
			settings: { forceTwoFactor: true, enabledMethods: ["totp", "access-keyword", "yubikey-otp"] },
			groups: [group("a", false, ["totp", "yubikey-otp"]), group("b", false, ["yubikey-otp", "access-keyword"])],
		}),
		expect: { kind: "enroll", allowedMethods: ["yubikey-otp"] },
	},
	{
		rule: "empty intersection while required → misconfigured (fail closed)",
		input: input({
			settings: { forceTwoFactor: true, enabledMethods: ["access-keyword"] },
			groups: [group("admins", true, ["totp"])],
			enrolledMethods: ["totp"],
		}),
		expect: { kind: "misconfigured" },
	},
	{
		rule: "only recovery codes enabled while forced → misconfigured",
		input: input({ settings: { forceTwoFactor: true, enabledMethods: ["recovery-code"] } }),
		expect: { kind: "misconfigured" },
	},
	{
		rule: "empty intersection when nothing requires 2FA → not required",
		input: input({ groups: [group("x", false, ["webauthn"])] }),
		expect: { kind: "not-required" },
	},
	{
		rule: "last web method is the SSH default",
		input: input({ channel: "ssh", enrolledMethods: ["totp", "access-keyword"], lastWebMethod: "access-keyword", channelMethods: SSH_CAPABLE }),
		expect: { kind: "challenge", defaultMethod: "access-keyword", methods: ["access-keyword", "totp"] },
	},
	{
		rule: "last web method no longer allowed → first usable in the fixed order",
		input: input({
			channel: "ssh",
			settings: { forceTwoFactor: false, enabledMethods: ["totp"] },
			enrolledMethods: ["totp", "access-keyword"],
			lastWebMethod: "access-keyword",
			channelMethods: SSH_CAPABLE,
		}),
		expect: { kind: "challenge", defaultMethod: "totp", methods: ["totp"] },
	},
	{
		rule: "SSH-unusable method: a WebAuthn-only user on a gateway without browser approval",
		input: input({
			channel: "ssh",
			settings: { forceTwoFactor: true, enabledMethods: ["webauthn", "totp"] },
			enrolledMethods: ["webauthn"],
			lastWebMethod: "webauthn",
			channelMethods: SSH_CAPABLE,
		}),
		expect: { kind: "unusable-on-channel", usableMethods: ["webauthn"] },
	},
	{
		rule: "SSH-unusable last web method falls back to another usable method on SSH",
		input: input({
			channel: "ssh",
			settings: { forceTwoFactor: true, enabledMethods: ["webauthn", "totp"] },
			enrolledMethods: ["webauthn", "totp"],
			lastWebMethod: "webauthn",
			channelMethods: SSH_CAPABLE,
		}),
		expect: { kind: "challenge", defaultMethod: "totp", methods: ["totp"] },
	},
	{
		rule: "recovery codes are offered last, never as the default",
		input: input({ enrolledMethods: ["recovery-code", "totp"] }),
		expect: { kind: "challenge", defaultMethod: "totp", methods: ["totp", "recovery-code"] },
	},
	{
		rule: "recovery codes alone never satisfy a forced policy",
		input: input({ settings: { forceTwoFactor: true, enabledMethods: ["totp", "recovery-code"] }, enrolledMethods: ["recovery-code"] }),
		expect: { kind: "enroll", allowedMethods: ["totp"] },
	},
	{
		rule: "recovery codes disabled by the admin are not offered",
		input: input({ settings: { forceTwoFactor: false, enabledMethods: ["totp"] }, enrolledMethods: ["totp", "recovery-code"] }),
		expect: { kind: "challenge", methods: ["totp"] },
	},
	{
		rule: "group excludes the knowledge factor: keyword not usable for its members",
		input: input({
			settings: { forceTwoFactor: false, enabledMethods: ["totp", "access-keyword"] },
			groups: [group("ops", true, ["totp"])],
			enrolledMethods: ["access-keyword", "totp"],
			lastWebMethod: "access-keyword",
		}),
		expect: { kind: "challenge", methods: ["totp"], defaultMethod: "totp" },
	},
	{
		rule: "global and group reasons are both reported",
		input: input({ settings: { forceTwoFactor: true, enabledMethods: ["totp"] }, groups: [group("ops", true)], enrolledMethods: ["totp"] }),
		expect: { kind: "challenge", reasons: [{ source: "global" }, { source: "group", group: "ops" }] },
	},
	{
		rule: "service account on the API under global force → not required (its token was minted on the host: docs/api.md)",
		input: input({ channel: "api", serviceAccount: true, settings: { forceTwoFactor: true, enabledMethods: ["totp"] } }),
		expect: { kind: "not-required" },
	},
	{
		rule: "the same account as a person on the API under global force → enrol (the twin)",
		input: input({ channel: "api", serviceAccount: false, settings: { forceTwoFactor: true, enabledMethods: ["totp"] } }),
		expect: { kind: "enroll" },
	},
	{
		rule: "service account outside a deny-outside network → network-denied (network rules still apply)",
		input: input({
			channel: "api",
			serviceAccount: true,
			sourceAddress: "203.0.113.9",
			networkRules: [{ group: null, mode: "deny-outside", trusted: ["192.0.2.0/24"] }],
		}),
		expect: { kind: "network-denied" },
	},
	{
		rule: "service account on the web under force → not exempt (the flow refuses it before deciding anyway)",
		input: input({ channel: "web", serviceAccount: true, settings: { forceTwoFactor: true, enabledMethods: ["totp"] } }),
		expect: { kind: "enroll" },
	},
];

// ---- Staged rollout: enrolment deadline (issue 8 section 1) ----
const NOW = Date.UTC(2027, 0, 10, 12, 0, 0);
const DAY = 86_400_000;
const forced = (deadline: number | null) => ({ forceTwoFactor: true, enabledMethods: ["totp", "recovery-code"] as MethodId[], enrolmentDeadline: deadline });
const groupWithDeadline = (name: string, deadline: number | null): GroupTwoFactorRule => ({ ...group(name, true), enrolmentDeadline: deadline });

rows.push(
	{
		rule: "rollout: global force with a future deadline, no factor → enroll-nudge with days left (rounded up)",
		input: input({ now: NOW, settings: forced(NOW + 13 * DAY + 1) }),
		expect: { kind: "enroll-nudge", deadline: NOW + 13 * DAY + 1, daysLeft: 14, reasons: [{ source: "global" }], allowedMethods: ["totp"] },
	},
	{
		rule: "rollout: the deadline has passed → enrol, as without a deadline",
		input: input({ now: NOW, settings: forced(NOW) }),
		expect: { kind: "enroll", reasons: [{ source: "global" }] },
	},
	{
		rule: "rollout: no deadline → enforce now (enrol)",
		input: input({ now: NOW, settings: forced(null) }),
		expect: { kind: "enroll" },
	},
	{
		rule: "rollout: no clock given → every deadline counts as passed (fail closed)",
		input: input({ settings: forced(NOW + DAY) }),
		expect: { kind: "enroll" },
	},
	{
		rule: "rollout: the last day counts as 1 day left",
		input: input({ now: NOW, settings: forced(NOW + 1000) }),
		expect: { kind: "enroll-nudge", daysLeft: 1 },
	},
	{
		rule: "rollout: a group's own deadline applies to its members",
		input: input({ now: NOW, groups: [groupWithDeadline("ops", NOW + 3 * DAY)] }),
		expect: { kind: "enroll-nudge", daysLeft: 3, reasons: [{ source: "group", group: "ops" }] },
	},
	{
		rule: "rollout: stricter wins: one forcing rule without a deadline enforces now",
		input: input({ now: NOW, settings: forced(NOW + 30 * DAY), groups: [groupWithDeadline("ops", null)] }),
		expect: { kind: "enroll" },
	},
	{
		rule: "rollout: stricter wins: the earliest deadline of the forcing rules applies",
		input: input({ now: NOW, settings: forced(NOW + 30 * DAY), groups: [groupWithDeadline("ops", NOW + 2 * DAY)] }),
		expect: { kind: "enroll-nudge", deadline: NOW + 2 * DAY, daysLeft: 2 },
	},
	{
		rule: "rollout: the deadline of a group that does not force is ignored",
		input: input({ now: NOW, settings: forced(NOW + 30 * DAY), groups: [{ ...group("dev", false), enrolmentDeadline: NOW + DAY }] }),
		expect: { kind: "enroll-nudge", daysLeft: 30 },
	},
	{
		rule: "rollout: Decision 2 (enrolled factor no longer allowed) is never deferred by a deadline",
		input: input({ now: NOW, settings: { ...forced(NOW + 30 * DAY), forceTwoFactor: false, enabledMethods: ["access-keyword"] }, enrolledMethods: ["totp"] }),
		expect: { kind: "enroll", reasons: [{ source: "enrolled" }] },
	},
	{
		rule: "rollout: a user with a usable factor is challenged as usual before the deadline",
		input: input({ now: NOW, settings: forced(NOW + 30 * DAY), enrolledMethods: ["totp"] }),
		expect: { kind: "challenge", methods: ["totp"] },
	},
	{
		rule: "rollout: recovery codes alone do not count as enrolled: nudged",
		input: input({ now: NOW, settings: forced(NOW + 30 * DAY), enrolledMethods: ["recovery-code"] }),
		expect: { kind: "enroll-nudge" },
	},
	{
		rule: "rollout: a deadline never rescues a misconfigured policy",
		input: input({ now: NOW, settings: { forceTwoFactor: true, enabledMethods: ["recovery-code"], enrolmentDeadline: NOW + DAY } }),
		expect: { kind: "misconfigured" },
	},
);

test("rollout: a nudged session may continue; the same session after the deadline steps up", () => {
	assert.equal(sessionSatisfies(decideSecondFactor(input({ now: NOW, settings: forced(NOW + DAY) })), null), true);
	assert.equal(sessionSatisfies(decideSecondFactor(input({ now: NOW + DAY, settings: forced(NOW + DAY) })), null), false);
});

test("rollout: the nudge names the reason, the days left, the date and where to set up", () => {
	const decision = decideSecondFactor(input({ now: NOW, settings: forced(NOW + 2 * DAY) }));
	assert.equal(decision.kind, "enroll-nudge");
	if (decision.kind !== "enroll-nudge") return;
	assert.equal(
		describeNudge(decision, "https://gw.example/account"),
		"Two-factor authentication is required for everyone. Set up a second factor at https://gw.example/account within 2 days (by 2027-01-12); after that you cannot log in without one.",
	);
});
// ---- end of staged rollout rows ----

// ---- SSH remember window (issue 8 section 3) ----
const sshTotp = (overrides: Partial<SecondFactorPolicyInput>) =>
	input({ channel: "ssh", channelMethods: SSH_CAPABLE, enrolledMethods: ["totp"], rememberedGrant: true, ...overrides });
rows.push(
	{
		rule: "remember: a live grant on SSH with the global window open → remembered (no challenge)",
		input: sshTotp({ settings: { forceTwoFactor: true, enabledMethods: ["totp"], rememberMinutes: 60 } }),
		expect: { kind: "remembered", methods: ["totp"], reasons: [{ source: "global" }] },
	},
	{
		rule: "remember: off by default (no window) → challenge even with a grant",
		input: sshTotp({ settings: { forceTwoFactor: true, enabledMethods: ["totp"] } }),
		expect: { kind: "challenge" },
	},
	{
		rule: "remember: never on the web console",
		input: sshTotp({ channel: "web", channelMethods: ALL, settings: { forceTwoFactor: true, enabledMethods: ["totp"], rememberMinutes: 60 } }),
		expect: { kind: "challenge" },
	},
	{
		rule: "remember: no live grant → challenge",
		input: sshTotp({ rememberedGrant: false, settings: { forceTwoFactor: true, enabledMethods: ["totp"], rememberMinutes: 60 } }),
		expect: { kind: "challenge" },
	},
	{
		rule: "remember: a group's own window allows it while the global setting is off",
		input: sshTotp({ groups: [{ ...group("ops", true), rememberMinutes: 30 }] }),
		expect: { kind: "remembered" },
	},
	{
		rule: "remember: a group's 0 switches it off for members while the global window is open",
		input: sshTotp({
			settings: { forceTwoFactor: false, enabledMethods: ["totp"], rememberMinutes: 60 },
			groups: [{ ...group("ops", true), rememberMinutes: 0 }],
		}),
		expect: { kind: "challenge" },
	},
	{
		rule: "remember: several groups set a window → the shortest wins (0 anywhere = off)",
		input: sshTotp({
			groups: [
				{ ...group("a", true), rememberMinutes: 30 },
				{ ...group("b", false), rememberMinutes: 0 },
			],
		}),
		expect: { kind: "challenge" },
	},
	{
		rule: "remember: a grant never replaces enrolment (no usable factor)",
		input: sshTotp({ enrolledMethods: [], settings: { forceTwoFactor: true, enabledMethods: ["totp"], rememberMinutes: 60 } }),
		expect: { kind: "enroll" },
	},
	{
		rule: "remember: nothing required → not required (the grant is irrelevant)",
		input: sshTotp({ enrolledMethods: [], settings: { forceTwoFactor: false, enabledMethods: ["totp"], rememberMinutes: 60 } }),
		expect: { kind: "not-required" },
	},
);

test("remember: the window is capped at 12 hours and inherits the global setting when no group sets one", () => {
	assert.equal(rememberWindowMinutes({ forceTwoFactor: false, enabledMethods: [], rememberMinutes: 5000 }, []), REMEMBER_MAX_MINUTES);
	assert.equal(
		rememberWindowMinutes({ forceTwoFactor: false, enabledMethods: [], rememberMinutes: 45 }, [{ ...group("x", false), rememberMinutes: null }]),
		45,
	);
	assert.equal(rememberWindowMinutes({ forceTwoFactor: false, enabledMethods: [] }, []), 0);
	// A live session proven through a remembered grant carries the grant's method and stays valid while it is offered.
	assert.equal(sessionSatisfies(decideSecondFactor(sshTotp({ settings: { forceTwoFactor: true, enabledMethods: ["totp"] } })), "totp"), true);
});
// ---- end of remember window rows ----

for (const row of rows) {
	test(row.rule, () => {
		const decision = decideSecondFactor(row.input) as unknown as Record<string, unknown>;
		for (const [key, value] of Object.entries(row.expect)) assert.deepEqual(decision[key], value, `${key} of ${JSON.stringify(decision)}`);
	});
}

test("the decision is pure: same input, same output, input untouched", () => {
	const frozen = Object.freeze(input({ enrolledMethods: Object.freeze(["totp"]) as MethodId[] }));
	assert.deepEqual(decideSecondFactor(frozen), decideSecondFactor(frozen));
});

test("explanations name the scope", () => {
	assert.equal(describeReasons([{ source: "group", group: "ops" }]), "Two-factor authentication is required by group ops.");
	assert.equal(describeReasons([{ source: "global" }]), "Two-factor authentication is required for everyone.");
});

const challenge = (methods: MethodId[], allowed: MethodId[]) =>
	decideSecondFactor(input({ settings: { forceTwoFactor: true, enabledMethods: allowed }, enrolledMethods: methods }));

const sessionRows: { rule: string; decision: ReturnType<typeof decideSecondFactor>; proven: string | null; expect: boolean }[] = [
	{ rule: "live session: nothing required any more → continues", decision: decideSecondFactor(input({})), proven: null, expect: true },
	{ rule: "live session: 2FA now required, session proved none → step up", decision: challenge(["totp"], ["totp"]), proven: null, expect: false },
	{ rule: "live session: proved a method still asked for → continues", decision: challenge(["totp"], ["totp"]), proven: "totp", expect: true },
	{
		rule: "live session: proved a method no longer allowed → step up",
		decision: challenge(["totp", "access-keyword"], ["access-keyword"]),
		proven: "totp",
		expect: false,
	},
	{
		rule: "live session: proved with the last recovery code (spent) → continues while recovery codes are allowed",
		decision: challenge(["totp"], ["totp", "recovery-code"]),
		proven: "recovery-code",
		expect: true,
	},
	{
		rule: "live session: proved with a recovery code, recovery codes no longer allowed → step up (issue 7, finding 4)",
		decision: challenge(["totp", "recovery-code"], ["totp"]),
		proven: "recovery-code",
		expect: false,
	},
	{
		rule: "live session: policy now says enrol → step up",
		decision: decideSecondFactor(input({ settings: { forceTwoFactor: true, enabledMethods: ["totp"] } })),
		proven: "totp",
		expect: false,
	},
	{
		rule: "live session: misconfigured policy → step up (fail closed)",
		decision: decideSecondFactor(input({ settings: { forceTwoFactor: true, enabledMethods: [] } })),
		proven: "totp",
		expect: false,
	},
];

for (const row of sessionRows) {
	test(row.rule, () => {
		assert.equal(sessionSatisfies(row.decision, row.proven), row.expect);
	});
}

test("enrolment: allowed standalone methods the deployment can enrol on the web, in method order; never recovery codes", () => {
	assert.deepEqual(enrollableMethods(["access-keyword", "totp", "recovery-code", "duo"], ["totp", "duo", "access-keyword", "recovery-code"]), [
		"totp",
		"duo",
		"access-keyword",
	]);
});

test("enrolment: a method not implemented or not usable on the web is not offered", () => {
	assert.deepEqual(enrollableMethods(["totp", "webauthn", "radius"], ["totp"]), ["totp"]);
	assert.deepEqual(enrollableMethods(["totp"], []), []);
});

test("fallback: a method that cannot be used right now leaves the remaining methods in the decision's order", () => {
	assert.deepEqual(fallbackMethods(["duo", "totp", "recovery-code"], "duo"), { methods: ["totp", "recovery-code"], next: "totp" });
	assert.deepEqual(fallbackMethods(["totp", "duo", "recovery-code"], "duo"), { methods: ["totp", "recovery-code"], next: "totp" });
});

test("fallback: when the only method cannot be used, nothing is left (the login is refused)", () => {
	assert.equal(fallbackMethods(["radius"], "radius"), null);
});

// ---- Per-server step-up and network rules (docs/decisions.md "Per-server step-up", "Network rules") ----

const dbProd: ServerStepUpRule = { server: "db-prod", requireTwoFactor: true, freshMinutes: null };
const office: NetworkRule = { group: null, mode: "require-2fa-outside", trusted: ["192.0.2.0/24", "2001:db8:1::/48"] };
const vpnOnly: NetworkRule = { group: "ops", mode: "deny-outside", trusted: ["198.51.100.0/24"] };

const stepUpRows: { rule: string; input: SecondFactorPolicyInput; expect: Record<string, unknown> }[] = [
	{
		rule: "step-up server named by the login: 2FA asked even though nothing forces it, reason server",
		input: input({ channel: "ssh", enrolledMethods: ["totp"], targetServer: dbProd }),
		expect: { kind: "challenge", reasons: [{ source: "server", server: "db-prod", freshMinutes: null }] },
	},
	{
		rule: "step-up server, user without a factor → enrol (refused on SSH with the reason)",
		input: input({ channel: "ssh", targetServer: dbProd }),
		expect: { kind: "enroll", reasons: [{ source: "server", server: "db-prod", freshMinutes: null }] },
	},
	{
		rule: "a named server that requires nothing adds nothing",
		input: input({ channel: "ssh", targetServer: { server: "db1", requireTwoFactor: false, freshMinutes: null } }),
		expect: { kind: "not-required" },
	},
	{
		rule: "step-up server and a forcing group: both reasons shown",
		input: input({ channel: "ssh", groups: [group("ops", true)], enrolledMethods: ["totp"], targetServer: dbProd }),
		expect: {
			kind: "challenge",
			reasons: [
				{ source: "group", group: "ops" },
				{ source: "server", server: "db-prod", freshMinutes: null },
			],
		},
	},
	{
		rule: "network: inside the trusted networks of a require rule → nothing added",
		input: input({ sourceAddress: "192.0.2.10", networkRules: [office] }),
		expect: { kind: "not-required" },
	},
	{
		rule: "network: outside a require rule → 2FA required, reason network",
		input: input({ sourceAddress: "203.0.113.5", networkRules: [office], enrolledMethods: ["totp"] }),
		expect: { kind: "challenge", reasons: [{ source: "network", group: null }] },
	},
	{
		rule: "network: IPv4-mapped IPv6 source matches the IPv4 block",
		input: input({ sourceAddress: "::ffff:192.0.2.10", networkRules: [office] }),
		expect: { kind: "not-required" },
	},
	{
		rule: "network: IPv6 inside its /48 → nothing added",
		input: input({ sourceAddress: "2001:db8:1:ffff::7", networkRules: [office] }),
		expect: { kind: "not-required" },
	},
	{
		rule: "network: IPv6 outside → required",
		input: input({ sourceAddress: "2001:db8:2::7", networkRules: [office], enrolledMethods: ["totp"] }),
		expect: { kind: "challenge", reasons: [{ source: "network", group: null }] },
	},
	{
		rule: "network: unknown source (null) is outside every list (fail closed)",
		input: input({ sourceAddress: null, networkRules: [office], enrolledMethods: ["totp"] }),
		expect: { kind: "challenge" },
	},
	{
		rule: "network: a stored block that does not parse trusts nothing",
		input: input({ sourceAddress: "192.0.2.10", networkRules: [{ ...office, trusted: ["192.0.2.0/99"] }], enrolledMethods: ["totp"] }),
		expect: { kind: "challenge" },
	},
	{
		rule: "network: outside a deny rule → login refused, before anything else",
		input: input({ sourceAddress: "203.0.113.5", networkRules: [vpnOnly], enrolledMethods: ["totp"] }),
		expect: { kind: "network-denied", group: "ops" },
	},
	{
		rule: "network: stricter wins — inside the require list but outside the deny list → denied",
		input: input({ sourceAddress: "192.0.2.10", networkRules: [office, vpnOnly] }),
		expect: { kind: "network-denied", group: "ops" },
	},
	{
		rule: "network: inside a deny list, outside a require list → 2FA required",
		input: input({ sourceAddress: "198.51.100.9", networkRules: [office, vpnOnly], enrolledMethods: ["totp"] }),
		expect: { kind: "challenge", reasons: [{ source: "network", group: null }] },
	},
	{
		rule: "network: inside every trusted list never switches 2FA off for a forced user",
		input: input({ sourceAddress: "192.0.2.10", networkRules: [office], groups: [group("ops", true)], enrolledMethods: ["totp"] }),
		expect: { kind: "challenge", reasons: [{ source: "group", group: "ops" }] },
	},
	{
		rule: "network: no rules, no address → as before",
		input: input({ sourceAddress: "203.0.113.5" }),
		expect: { kind: "not-required" },
	},
];

for (const row of stepUpRows) {
	test(row.rule, () => {
		const decision = decideSecondFactor(row.input) as unknown as Record<string, unknown>;
		for (const [key, value] of Object.entries(row.expect)) assert.deepEqual(decision[key], value, `${key} of ${JSON.stringify(decision)}`);
	});
}

const MINUTE = 60_000;
const access = (overrides: Partial<ServerAccessInput>): ServerAccessInput => ({
	server: dbProd,
	provenMethod: null,
	provenAt: null,
	now: 100 * MINUTE,
	...overrides,
});
const accessRows: { rule: string; input: ServerAccessInput; expect: Record<string, unknown> }[] = [
	{
		rule: "server access: a server without step-up is open to any connection",
		input: access({ server: { ...dbProd, requireTwoFactor: false } }),
		expect: { kind: "allowed" },
	},
	{
		rule: "server access: step-up server, connection proved no second factor → refused (none)",
		input: access({}),
		expect: { kind: "step-up-required", problem: "none" },
	},
	{
		rule: "server access: step-up server, connection proved one → allowed",
		input: access({ provenMethod: "totp", provenAt: 10 * MINUTE }),
		expect: { kind: "allowed" },
	},
	{
		rule: "server access: fresh window, factor inside it → allowed",
		input: access({ server: { ...dbProd, freshMinutes: 5 }, provenMethod: "totp", provenAt: 95 * MINUTE }),
		expect: { kind: "allowed" },
	},
	{
		rule: "server access: fresh window, factor older → refused (stale)",
		input: access({ server: { ...dbProd, freshMinutes: 5 }, provenMethod: "totp", provenAt: 94 * MINUTE }),
		expect: { kind: "step-up-required", problem: "stale", reason: { source: "server", server: "db-prod", freshMinutes: 5 } },
	},
	{
		rule: "server access: a proof from the future (clock stepped back) is not fresh",
		input: access({ server: { ...dbProd, freshMinutes: 5 }, provenMethod: "totp", provenAt: 101 * MINUTE }),
		expect: { kind: "step-up-required", problem: "stale" },
	},
	{
		rule: "server access: an open relay is not cut when its factor ages (freshness applies when it opens)",
		input: access({ server: { ...dbProd, freshMinutes: 5 }, provenMethod: "totp", provenAt: 10 * MINUTE, continuing: true }),
		expect: { kind: "allowed" },
	},
	{
		rule: "server access: an open relay without any factor is cut when the server starts requiring one",
		input: access({ continuing: true }),
		expect: { kind: "step-up-required", problem: "none" },
	},
];

for (const row of accessRows) {
	test(row.rule, () => {
		const decision = decideServerAccess(row.input) as unknown as Record<string, unknown>;
		for (const [key, value] of Object.entries(row.expect)) assert.deepEqual(decision[key], value, `${key} of ${JSON.stringify(decision)}`);
	});
}

test("step-up explanations name the server and say how to reconnect", () => {
	assert.equal(
		describeReasons([{ source: "server", server: "db-prod", freshMinutes: null }]),
		"Two-factor authentication is required by server db-prod for every connection.",
	);
	const refused = decideServerAccess(access({}));
	if (refused.kind !== "step-up-required") throw new Error("expected a refusal");
	const message = describeServerStepUp(refused, "alice");
	assert.match(message, /server db-prod requires two-factor authentication for every connection/);
	assert.match(message, /Reconnect as alice\+db-prod/);
	assert.match(describeReasons([{ source: "network", group: "ops" }]), /required from outside the trusted networks of group ops/);
});

test("CIDR blocks: IPv4 and IPv6, host bits cleared, malformed refused", () => {
	assert.equal(formatCidr(parseCidr("10.1.2.3/16")!), "10.1.0.0/16");
	assert.equal(formatCidr(parseCidr("2001:DB8:0:0:1::/64")!), "2001:db8::/64");
	assert.equal(formatCidr(parseCidr("192.0.2.7")!), "192.0.2.7/32");
	assert.equal(formatCidr(parseCidr("::/0")!), "::/0");
	for (const bad of [
		"",
		"10.0.0.0/33",
		"10.0.0.0/",
		"10.0.0/8",
		"2001:db8::/129",
		"10.0.0.0/8/8",
		"example.com/24",
		"10.0.0.0/-1",
		" /8",
		"::ffff:10.0.0.0/104",
	]) {
		assert.equal(parseCidr(bad), null, bad);
	}
	assert.ok(addressInCidr("10.1.255.255", parseCidr("10.1.0.0/16")!));
	assert.ok(!addressInCidr("10.2.0.0", parseCidr("10.1.0.0/16")!));
	assert.ok(addressInCidr("0.0.0.1", parseCidr("0.0.0.0/0")!));
	assert.ok(!addressInCidr("::1", parseCidr("0.0.0.0/0")!), "an IPv6 client is not in an IPv4 block");
	assert.ok(!addressInCidr("not-an-ip", parseCidr("0.0.0.0/0")!));
});

// ---- remember window against per-server step-up and network rules (both ask every time) ----
test("remember: a grant never stands in for a step-up server or a network rule (they ask every time)", () => {
	const grant = { channel: "ssh" as const, channelMethods: SSH_CAPABLE, enrolledMethods: ["totp" as MethodId], rememberedGrant: true };
	const windowOpen = { forceTwoFactor: true, enabledMethods: ["totp" as MethodId], rememberMinutes: 60 };
	// Control: the same login without the server or the rule is remembered.
	assert.equal(decideSecondFactor(input({ ...grant, settings: windowOpen })).kind, "remembered");
	const toServer = decideSecondFactor(input({ ...grant, settings: windowOpen, targetServer: dbProd }));
	assert.equal(toServer.kind, "challenge");
	const outside = decideSecondFactor(input({ ...grant, settings: windowOpen, sourceAddress: "198.51.100.7", networkRules: [office] }));
	assert.equal(outside.kind, "challenge");
	// Inside the trusted network only the global rule asks, so the grant stands in again.
	assert.equal(decideSecondFactor(input({ ...grant, settings: windowOpen, sourceAddress: "192.0.2.7", networkRules: [office] })).kind, "remembered");
});
