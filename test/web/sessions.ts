/**
 * Session fixtures for the route-table tests: one browser per session kind, minted directly in
 * the stores (no password hashing), so every (route × kind) call can use a fresh session.
 */
import type { RouteInfo } from "../../src/web/context.ts";
import type { UserRow } from "../../src/storage/user-store.ts";
import { ADMIN_ACTOR, Browser, enrolTotp, PASSWORD, type WebTest } from "./helpers.ts";

export const SESSION_KINDS = ["anonymous", "half-enroll", "half-2fa", "full", "must-change", "admin"] as const;
export type SessionKind = (typeof SESSION_KINDS)[number];

export interface Fixture {
	users: Record<Exclude<SessionKind, "anonymous">, UserRow>;
	mint(kind: SessionKind): Promise<Browser>;
}

export async function createFixture(w: WebTest): Promise<Fixture> {
	const { app } = w;
	await app.admin.createGroup(ADMIN_ACTOR, { name: "ops", forceTwoFactor: true, allowedMethods: null });
	const make = (username: string, extra: { isAdmin?: boolean; groups?: string[]; mustChangePassword?: boolean } = {}) =>
		app.admin.createUser(ADMIN_ACTOR, {
			username,
			password: PASSWORD,
			isAdmin: extra.isAdmin ?? false,
			groups: extra.groups ?? [],
			mustChangePassword: extra.mustChangePassword ?? false,
		});
	const users = {
		"half-enroll": await make("hal", { groups: ["ops"] }),
		"half-2fa": await make("tina", { groups: ["ops"] }),
		full: await make("fred"),
		"must-change": await make("mona", { mustChangePassword: true }),
		admin: await make("ada", { isAdmin: true }),
	};
	await enrolTotp(w, users["half-2fa"].id);

	return {
		users,
		async mint(kind) {
			const browser = new Browser(w.server);
			if (kind === "anonymous") {
				await browser.get("/login");
				return browser;
			}
			const user = users[kind];
			const half = kind === "half-enroll" || kind === "half-2fa";
			const attempt = half
				? await app.stores.attempts.create({ userId: user.id, channel: "web", purpose: "login", source: "test", ttlMs: 300_000, required: true })
				: null;
			const fresh = await app.stores.users.findById(user.id);
			const { token } = await app.stores.sessions.create({
				userId: user.id,
				attemptId: attempt?.id ?? null,
				state: half ? "half" : "full",
				secondFactorMethod: null,
				stepUpAt: half ? null : app.clock.now().getTime(),
				sessionEpoch: fresh?.session_epoch ?? 0,
				source: "test",
				ttlMs: 3_600_000,
			});
			browser.cookies.set("pc_session", token);
			// Any page with the header carries the logout form, hence this session's CSRF token.
			await browser.get("/no-such-page");
			return browser;
		},
	};
}

/** Which session kinds each access class admits. */
export function allowedKinds(route: RouteInfo): readonly SessionKind[] {
	switch (route.access) {
		case "public":
			return SESSION_KINDS;
		case "half":
			return ["half-enroll", "half-2fa"];
		case "full":
			return ["full", "admin"];
		case "password-change":
			return ["full", "admin", "must-change"];
		case "admin":
			return ["admin"];
		default:
			return [];
	}
}

/** A concrete URL for a route pattern (path parameters filled in). */
export function concreteUrl(route: RouteInfo): string {
	return route.url
		.replace(/:token/g, "A".repeat(43))
		.replace(/:[A-Za-z]+/g, "x")
		.replace(/\*/g, "x");
}
