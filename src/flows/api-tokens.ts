/**
 * REST API tokens and service accounts (docs/api.md): making, listing and revoking tokens, and the
 * one check every API call passes (`authenticate`) and the one rights rule (`permits`). The web
 * adapter's API routes only map HTTP onto these; they decide nothing.
 *
 * Not a side door (docs/api.md "Not a side door"):
 * - a personal token is made only from a console session that has just proven a second factor
 *   (the route is step-up gated), and it carries that factor and the owner's session epoch, so the
 *   live-policy check of every web request (session-check.ts, channel "api") runs on every call:
 *   a disabled or locked owner, a bumped epoch (password change, 2FA reset, logout everywhere) or a
 *   policy that now demands a factor the token did not prove ends it at once, on every node;
 * - a token never exceeds its owner: admin routes need the owner to be an administrator now;
 * - no scope or route manages second factors, passwords or tokens.
 */
import type { Actor } from "../core/actor.ts";
import { API_SCOPES, API_TOKEN_MAX_DAYS, isApiScope, parseScopes, type ApiScope } from "../core/api-scopes.ts";
import type { Clock } from "../core/clock.ts";
import { PortcullisError } from "../core/errors.ts";
import { canonicalUsername } from "../core/username.ts";
import type { ApiTokenRow, ApiTokenStore } from "../storage/api-token-store.ts";
import type { AuditLog } from "../storage/audit-log.ts";
import type { UnitOfWork } from "../storage/unit-of-work.ts";
import { accountDisabled, type UserRow, type UserStore } from "../storage/user-store.ts";
import type { LoginFlow } from "./login-flow.ts";

const DAY_MS = 86_400_000;
const LAST_USED_GRANULARITY_MS = 60_000;
const NAME_PATTERN = /^[\p{L}\p{N} ._:@/-]{1,64}$/u;

export interface ApiTokenServiceDeps {
	readonly tokens: ApiTokenStore;
	readonly users: Pick<UserStore, "findById" | "findByUsername" | "list">;
	readonly login: Pick<LoginFlow, "checkSession">;
	readonly audit: Pick<AuditLog, "record">;
	readonly work: Pick<UnitOfWork, "run">;
	readonly clock: Clock;
}

export interface TokenRequest {
	readonly name: string;
	readonly scopes: readonly string[];
	/** Epoch ms; required, in the future, at most API_TOKEN_MAX_DAYS ahead. */
	readonly expiresAt: number;
}

/** What a console session proves about its holder when it makes a personal token. */
export interface SessionProof {
	readonly userId: string;
	readonly sessionEpoch: number;
	/** The second factor the session proved (null: none was required when it logged in). */
	readonly secondFactorMethod: string | null;
}

/** A token as lists show it: never the token or its hash. */
export interface TokenView {
	readonly id: string;
	readonly username: string;
	readonly name: string;
	readonly scopes: ApiScope[];
	readonly createdAt: number;
	readonly createdBy: string;
	readonly expiresAt: number;
	readonly lastUsedAt: number | null;
	readonly lastUsedSource: string | null;
	readonly revokedAt: number | null;
	readonly state: "active" | "expired" | "revoked";
}

/** Who is calling, after `authenticate` admitted the token. */
export interface ApiPrincipal {
	readonly user: UserRow;
	readonly tokenId: string;
	readonly scopes: readonly ApiScope[];
	/** The second factor the console session proved when it made the token (null: none, or a host-made service-account token). */
	readonly secondFactorMethod: string | null;
}

export type ApiAuthResult =
	| { readonly kind: "ok"; readonly principal: ApiPrincipal }
	| { readonly kind: "refused"; readonly reason: "unknown" | "revoked-by-policy" | "step-up" | "password-change" };

/** What a route needs: a scope, and for admin routes an owner who is an administrator now. */
export interface RouteRights {
	readonly scope: ApiScope | null;
	readonly admin: boolean;
	/**
	 * What the console guards with a fresh step-up (ending a live SSH connection): the token must
	 * have been made with a proven second factor, or be a host-made service-account token
	 * (docs/api.md "What stands in for the step-up"; Decision in docs/decisions.md).
	 */
	readonly provenFactor?: boolean;
}

/** Why a call is refused by the rights rule, or null when it is permitted. */
export type RightsRefusal = "admin" | "scope" | "second-factor" | null;

export class ApiTokenService {
	constructor(private readonly deps: ApiTokenServiceDeps) {}

	private validate(input: TokenRequest): { name: string; scopes: ApiScope[]; expiresAt: number } {
		const name = typeof input.name === "string" ? input.name.trim() : "";
		if (!NAME_PATTERN.test(name)) throw new PortcullisError("ERR_INPUT", "A token name is 1-64 letters, digits, spaces or . _ : @ / -.");
		const unknown = input.scopes.filter((scope) => !isApiScope(scope));
		if (unknown.length > 0) throw new PortcullisError("ERR_INPUT", `Unknown scope: ${unknown.join(", ").slice(0, 100)} (known: ${API_SCOPES.join(", ")}).`);
		const scopes = [...new Set(input.scopes as ApiScope[])];
		if (scopes.length === 0) throw new PortcullisError("ERR_INPUT", "Choose at least one scope.");
		const now = this.deps.clock.now().getTime();
		if (!Number.isSafeInteger(input.expiresAt) || input.expiresAt <= now) throw new PortcullisError("ERR_INPUT", "An expiry date in the future is required.");
		if (input.expiresAt > now + API_TOKEN_MAX_DAYS * DAY_MS) throw new PortcullisError("ERR_INPUT", `A token lives at most ${API_TOKEN_MAX_DAYS} days.`);
		return { name, scopes, expiresAt: input.expiresAt };
	}

	/**
	 * A personal token, from a console session that has just proven a second factor (the web route
	 * is step-up gated: web/routes/account-tokens.tsx). Shown once: the caller gets the token here
	 * and nowhere else.
	 */
	async createPersonal(actor: Actor, proof: SessionProof, input: TokenRequest): Promise<{ token: string; view: TokenView }> {
		const valid = this.validate(input);
		return this.deps.work.run(async (work) => {
			const user = await work.users.findById(proof.userId);
			if (user === undefined || accountDisabled(user) || user.service_account === 1 || Number(user.session_epoch) !== proof.sessionEpoch)
				throw new PortcullisError("ERR_CONFLICT", "This account cannot make a token now.");
			const made = await work.apiTokens.create({
				userId: user.id,
				name: valid.name,
				scopes: valid.scopes,
				createdBy: actor.name,
				expiresAt: valid.expiresAt,
				sessionEpoch: proof.sessionEpoch,
				secondFactorMethod: proof.secondFactorMethod,
			});
			this.audit(work, actor, "api-token.created", user, made.row);
			return { token: made.token, view: view(made.row, user.username, this.now()) };
		});
	}

	/** A service account's token, made on the host (`portcullis token create`). */
	async createForService(actor: Actor, rawUsername: string, input: TokenRequest): Promise<{ token: string; view: TokenView }> {
		const valid = this.validate(input);
		return this.deps.work.run(async (work) => {
			const user = await this.requireServiceAccount(rawUsername, work.users);
			const made = await work.apiTokens.create({
				userId: user.id,
				name: valid.name,
				scopes: valid.scopes,
				createdBy: actor.name,
				expiresAt: valid.expiresAt,
				sessionEpoch: Number(user.session_epoch),
				secondFactorMethod: null,
			});
			this.audit(work, actor, "api-token.created", user, made.row);
			return { token: made.token, view: view(made.row, user.username, this.now()) };
		});
	}

	/** Creates a service account: no password, no factor, tokens only (docs/api.md "Service accounts"). */
	async createServiceAccount(actor: Actor, rawUsername: string, isAdmin: boolean): Promise<UserRow> {
		const username = canonicalUsername(rawUsername);
		if (username === null)
			throw new PortcullisError("ERR_INPUT", "Usernames are 1-64 characters: letters, digits, '.', '_' and '-', starting with a letter or digit.");
		return this.deps.work.run(async (work) => {
			if (await work.users.findByUsername(username)) throw new PortcullisError("ERR_CONFLICT", `a user named ${username} already exists`);
			const user = await work.users.create({ username, passwordHash: null, isAdmin, mustChangePassword: false, serviceAccount: true });
			work.audit({
				event: "user.created",
				outcome: "success",
				actor: actor.name,
				channel: actor.channel,
				source: actor.source,
				userId: user.id,
				username: user.username,
				detail: { admin: isAdmin, serviceAccount: true, groups: [] },
			});
			return user;
		});
	}

	async listOwn(userId: string): Promise<TokenView[]> {
		const user = await this.deps.users.findById(userId);
		if (user === undefined) return [];
		const now = this.now();
		return (await this.deps.tokens.listOfUser(userId)).map((row) => view(row, user.username, now));
	}

	/** Tokens of one service account, or of every service account (the host's `portcullis token list`). */
	async listService(rawUsername?: string): Promise<TokenView[]> {
		const users =
			rawUsername === undefined
				? (await this.deps.users.list()).filter((user) => user.service_account === 1)
				: [await this.requireServiceAccount(rawUsername, this.deps.users)];
		const now = this.now();
		const out: TokenView[] = [];
		for (const user of users) for (const row of await this.deps.tokens.listOfUser(user.id)) out.push(view(row, user.username, now));
		return out;
	}

	/** Revokes a user's own token (console). False when it is not theirs or not live. */
	async revokeOwn(actor: Actor, userId: string, tokenId: string): Promise<boolean> {
		return this.revoke(actor, tokenId, (row, user) => row.user_id === userId && user.id === userId);
	}

	/** Revokes a service account's token (host). False when it is not a live service-account token. */
	async revokeService(actor: Actor, tokenId: string): Promise<boolean> {
		return this.revoke(actor, tokenId, (_row, user) => user.service_account === 1);
	}

	private async revoke(actor: Actor, tokenId: string, allowed: (row: ApiTokenRow, user: UserRow) => boolean): Promise<boolean> {
		if (typeof tokenId !== "string" || !/^[0-9a-f]{32}$/.test(tokenId)) return false;
		return this.deps.work.run(async (work) => {
			const row = await work.apiTokens.findById(tokenId);
			const user = row === undefined ? undefined : await work.users.findById(row.user_id);
			if (row === undefined || user === undefined || !allowed(row, user)) return false;
			if (!(await work.apiTokens.revoke(tokenId))) return false;
			this.audit(work, actor, "api-token.revoked", user, row);
			return true;
		});
	}

	/**
	 * The check of every API call, in the shared database (no cache): the token is live (not
	 * revoked, not expired), and its owner passes the same live-policy check as a web session
	 * (session-check.ts, channel "api") with the factor the token proved. Refusals are audited.
	 */
	async authenticate(rawToken: string, source: string): Promise<ApiAuthResult> {
		const token = await this.deps.tokens.findLive(rawToken);
		if (token === undefined) {
			await this.deps.audit.record({ event: "api.refused", outcome: "failure", channel: "api", source, detail: { reason: "unknown-token" } });
			return { kind: "refused", reason: "unknown" };
		}
		const user = await this.deps.users.findById(token.user_id);
		const verdict =
			user === undefined
				? "revoked"
				: await this.deps.login.checkSession({
						userId: token.user_id,
						sessionEpoch: Number(token.session_epoch),
						secondFactorMethod: token.second_factor_method,
						channel: "api",
						user,
						sourceAddress: source,
					});
		let reason: "revoked-by-policy" | "step-up" | "password-change" | null =
			verdict === "revoked" ? "revoked-by-policy" : verdict === "step-up" ? "step-up" : null;
		// A one-time password opens the console's change-password page and nothing else.
		if (reason === null && user?.must_change_password === 1) reason = "password-change";
		if (reason !== null || user === undefined) {
			await this.deps.audit.record({
				event: "api.refused",
				outcome: "failure",
				userId: token.user_id,
				username: user?.username ?? null,
				channel: "api",
				source,
				detail: { reason: reason ?? "revoked-by-policy", tokenId: token.id },
			});
			return { kind: "refused", reason: reason ?? "revoked-by-policy" };
		}
		// "Last used" to the minute: a write per call would serialise every call on SQLite (bench:api),
		// and the audit log has every call anyway. A new source address is written at once.
		const lastUsed = token.last_used_at === null ? null : Number(token.last_used_at);
		if (lastUsed === null || this.now() - lastUsed >= LAST_USED_GRANULARITY_MS || token.last_used_source !== source.slice(0, 100))
			await this.deps.tokens.markUsed(token.id, source);
		return { kind: "ok", principal: { user, tokenId: token.id, scopes: parseScopes(token.scopes), secondFactorMethod: token.second_factor_method } };
	}

	/**
	 * The rights rule: the token holds the route's scope, and an admin route's owner is an
	 * administrator now (a token never exceeds its owner, whatever its scopes say).
	 */
	permits(principal: ApiPrincipal, rights: RouteRights): boolean {
		return this.refusal(principal, rights) === null;
	}

	/**
	 * The rights rule with its reason. A step-up-class route (`provenFactor`) also needs a token made
	 * with a proven second factor: a personal token made by an owner to whom 2FA did not apply (who
	 * confirmed only the password) lists but does not end SSH connections. A service account's
	 * host-made token passes: access to the host stands in for its second factor (docs/api.md
	 * "Service accounts").
	 */
	refusal(principal: ApiPrincipal, rights: RouteRights): RightsRefusal {
		if (rights.admin && principal.user.is_admin !== 1) return "admin";
		if (rights.scope !== null && !principal.scopes.includes(rights.scope)) return "scope";
		if (rights.provenFactor === true && principal.secondFactorMethod === null && principal.user.service_account !== 1) return "second-factor";
		return null;
	}

	/** The actor of changes made through the API: the owner and the token id, for the audit log. */
	actorOf(principal: ApiPrincipal, source: string): Actor {
		return { name: `api:${principal.user.username}:token:${principal.tokenId}`, channel: "api", source };
	}

	private async requireServiceAccount(rawUsername: string, users: Pick<UserStore, "findByUsername">): Promise<UserRow> {
		const name = canonicalUsername(rawUsername);
		const user = name === null ? undefined : await users.findByUsername(name);
		if (user === undefined) throw new PortcullisError("ERR_NOT_FOUND", `no user named ${JSON.stringify(rawUsername.slice(0, 64))}`);
		if (user.service_account !== 1)
			throw new PortcullisError("ERR_INPUT", `${user.username} is not a service account; personal tokens are made in the console with a fresh second factor`);
		return user;
	}

	private audit(work: { audit(event: Parameters<AuditLog["record"]>[0]): void }, actor: Actor, event: string, user: UserRow, row: ApiTokenRow): void {
		work.audit({
			event,
			outcome: "success",
			actor: actor.name,
			channel: actor.channel,
			source: actor.source,
			userId: user.id,
			username: user.username,
			detail: { tokenId: row.id, name: row.name, scopes: parseScopes(row.scopes), expiresAt: Number(row.expires_at) },
		});
	}

	private now(): number {
		return this.deps.clock.now().getTime();
	}
}

function view(row: ApiTokenRow, username: string, now: number): TokenView {
	const revokedAt = row.revoked_at === null ? null : Number(row.revoked_at);
	const expiresAt = Number(row.expires_at);
	return {
		id: row.id,
		username,
		name: row.name,
		scopes: parseScopes(row.scopes),
		createdAt: Number(row.created_at),
		createdBy: row.created_by,
		expiresAt,
		lastUsedAt: row.last_used_at === null ? null : Number(row.last_used_at),
		lastUsedSource: row.last_used_source,
		revokedAt,
		state: revokedAt !== null ? "revoked" : expiresAt <= now ? "expired" : "active",
	};
}
