/** The built-in methods (TOTP, access keyword, recovery codes) pass the shared conformance suite. */
import { PortcullisError } from "../../src/core/errors.ts";
import type { MethodId } from "../../src/core/method-id.ts";
import type { SecondFactorMethod } from "../../src/methods/method.ts";
import { totpCodeAt } from "../../src/methods/totp/totp-method.ts";
import type { TestApp } from "../helpers/test-app.ts";
import { methodConformance } from "./conformance.ts";
import { base32Decode } from "../helpers/base32.ts";

const secrets = new Map<TestApp, Buffer>();

const context = { channel: "web", source: "test", duringLogin: false } as const;

/** Replaces a method in the registry by one whose backend is down (registry is a Map at runtime). */
function breakMethod(t: TestApp, id: MethodId): void {
	const registry = t.app.methods as Map<MethodId, SecondFactorMethod>;
	const real = registry.get(id)!;
	registry.set(id, {
		...real,
		verifyResponse: async () => {
			throw new PortcullisError("ERR_METHOD_UNAVAILABLE", "backend unreachable (test)");
		},
	});
}

methodConformance({
	method: "totp",
	channels: ["web", "ssh"],
	replay: "new-attempt",
	async enroll(t, userId) {
		const begin = await t.app.enrollment.begin(userId, "totp", "phone", {}, context);
		if (begin.kind !== "pending") throw new Error(JSON.stringify(begin));
		const secret = base32Decode(begin.display.secret!);
		secrets.set(t, secret);
		const done = await t.app.enrollment.complete(userId, begin.factorId, { code: totpCodeAt(secret, t.clock.now().getTime()) }, context);
		if (done.kind !== "active") throw new Error(JSON.stringify(done));
		t.clock.advance(30_000); // the enrolment code's step is spent
	},
	async answer(t) {
		return totpCodeAt(secrets.get(t)!, t.clock.now().getTime());
	},
	wrongAnswer: () => "000000",
	async breakBackend(t) {
		breakMethod(t, "totp");
	},
});

const KEYWORD = "Portcullis-Gate-42";

methodConformance({
	method: "access-keyword",
	channels: ["web", "ssh"],
	replay: "challenge",
	async enroll(t, userId) {
		const begin = await t.app.enrollment.begin(userId, "access-keyword", "keyword", { keyword: KEYWORD, confirm: KEYWORD }, context);
		if (begin.kind !== "active") throw new Error(JSON.stringify(begin));
	},
	async answer(_t, prompt) {
		const positions = (prompt.match(/\d+/g) ?? []).map(Number);
		return positions.map((position) => Array.from(KEYWORD)[position - 1]).join("");
	},
	wrongAnswer: () => "\u2603\u2603\u2603",
});

const codes = new Map<TestApp, string[]>();

methodConformance({
	method: "recovery-code",
	channels: ["web", "ssh"],
	replay: "new-attempt",
	async enroll(t, userId) {
		// Recovery codes come with a real factor: enrol TOTP first, then issue codes.
		const begin = await t.app.enrollment.begin(userId, "totp", "phone", {}, context);
		if (begin.kind !== "pending") throw new Error(JSON.stringify(begin));
		const secret = base32Decode(begin.display.secret!);
		await t.app.enrollment.complete(userId, begin.factorId, { code: totpCodeAt(secret, t.clock.now().getTime()) }, context);
		const issued = await t.app.enrollment.regenerateRecoveryCodes(userId, context);
		if (issued.kind === "rejected") throw new Error(issued.message);
		codes.set(t, issued.display.codes!.split("\n"));
	},
	async answer(t) {
		return codes.get(t)!.shift()!;
	},
	wrongAnswer: () => "aaaaa-aaaaa",
});
