/**
 * Servers and grants, shared by the admin web pages and the `portcullis server`
 * CLI. Like AdminService, every change is audited with the acting admin (docs/product-decisions.md Decision 12).
 *
 * A group grants its servers to its members; a user may reach exactly the servers granted to any
 * of their groups, by menu, by `ssh gw NAME`, and by ProxyJump (direct-tcpip) to the server's
 * configured host:port or NAME:port.
 */
import type { Actor } from "../core/actor.ts";
import { PortcullisError } from "../core/errors.ts";
import type { SecretBox } from "../crypto/secret-box.ts";
import type { AdminService } from "../flows/admin-service.ts";
import type { AuditLog } from "../storage/audit-log.ts";
import type { ServerRow, ServerStore } from "../storage/server-store.ts";
import type { SettingsStore } from "../storage/settings-store.ts";
import { decodeRecordingMode, effectiveRecordingMode, isRecordingMode, RECORDING_MODES, type RecordingMode } from "../core/recording-mode.ts";
import type { UnitOfWork, Work } from "../storage/unit-of-work.ts";
import { sshFingerprint } from "../storage/ssh-key-store.ts";
import { stripUnsafe } from "../core/untrusted-text.ts";

/** Server names follow the group-name alphabet: no spaces, "@", ":" or "/" that `ssh gw NAME` or -J could misread. */
export const SERVER_NAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;
/** A DNS name, an IPv4 address, or an IPv6 address (without brackets). */
const HOST_PATTERN = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\.[A-Za-z0-9-]{1,63})*\.?|[0-9a-fA-F:.]*:[0-9a-fA-F:.]*)$/;
/** POSIX portable user names, plus the characters common on real systems ("." and "-"). */
const LOGIN_PATTERN = /^[A-Za-z_][A-Za-z0-9._-]{0,31}$/;

/** Settings row of the global recording mode (src/core/recording-mode.ts). */
export const RECORDING_MODE_SETTING = "recording_mode";

/** What an admin may type for a server's recording mode: a mode, or "default" to follow the global one. */
export const SERVER_RECORDING_CHOICES = [...RECORDING_MODES, "default"] as const;

export type ServerCredential = { kind: "password"; password: string } | { kind: "key"; privateKey: string; passphrase?: string };

export interface ServerView {
	readonly id: string;
	readonly name: string;
	readonly host: string;
	readonly port: number;
	/** Empty: the gateway logs in as the Portcullis username of the connecting user. */
	readonly loginUser: string;
	readonly description: string;
	readonly groups: readonly string[];
	readonly credential: "gateway-key" | "password" | "key";
	/** SHA256:… of the trusted target host key, or null before the first contact. */
	readonly hostKeyFingerprint: string | null;
	readonly createdAt: number;
	/** When recording fails on this server; null: the global setting applies. */
	readonly recordingMode: RecordingMode | null;
	/** Per-server step-up: every relay needs a second factor proven by the connection's own login. */
	readonly requireTwoFactor: boolean;
	/** With requireTwoFactor: the factor must be at most this many minutes old (null: any age). */
	readonly freshMinutes: number | null;
	/** The content of files moved through relayed SFTP is stored (docs/ssh-relay.md "Content capture"). */
	readonly captureSftpContent: boolean;
}

export interface ServerInput {
	name: string;
	host: string;
	port?: number;
	loginUser?: string;
	description?: string;
	groups?: readonly string[];
	/** "strict", "best-effort", or "default" (follow the global setting). */
	recordingMode?: string;
	requireTwoFactor?: boolean;
	freshMinutes?: number | null;
	/** Store the content of files moved through relayed SFTP (default off). */
	captureSftpContent?: boolean;
}

/** The longest freshness window: a day. Longer is "any age" (leave it unset). */
export const MAX_FRESH_MINUTES = 1440;

/** Changes of a server's step-up rule; undefined leaves a field as it is. */
export interface StepUpChange {
	requireTwoFactor?: boolean;
	freshMinutes?: number | null;
}

export function canonicalServerName(raw: string): string | null {
	if (typeof raw !== "string" || raw.length === 0 || raw.length > 256) return null;
	const name = raw.normalize("NFKC").toLowerCase();
	return SERVER_NAME_PATTERN.test(name) ? name : null;
}

/** Lower-cases a host name for comparison; IPv6 brackets (as in `-J` or direct-tcpip) are dropped. */
export function normalizeHost(host: string): string {
	const trimmed = host
		.trim()
		.replace(/^\[(.*)\]$/, "$1")
		.toLowerCase();
	return trimmed.endsWith(".") ? trimmed.slice(0, -1) : trimmed;
}

/** What ServerService needs, handed in by the composition root (src/app/portcullis.ts). */
export interface ServerServiceDeps {
	readonly store: ServerStore;
	readonly audit: Pick<AuditLog, "write">;
	readonly groups: Pick<AdminService, "requireGroup">;
	readonly box: SecretBox;
	/** The global recording mode lives in the settings table. */
	readonly settings: Pick<SettingsStore, "get" | "set">;
	/** Every change and its audit event commit in one transaction (storage/unit-of-work.ts). */
	readonly work: Pick<UnitOfWork, "run">;
}

/** The app's one ServerService (built by the composition root). */
export function serverService(app: { readonly servers: ServerService }): ServerService {
	return app.servers;
}

export class ServerService {
	readonly store: ServerStore;
	constructor(private readonly deps: ServerServiceDeps) {
		this.store = deps.store;
	}

	/** `field`: the form field at fault (the console marks it: src/web/views/form-echo.tsx). */
	private input(message: string, field?: string): PortcullisError {
		return new PortcullisError("ERR_INPUT", message, field === undefined ? undefined : { field });
	}

	/** Records the change's event in its unit of work: both commit, or neither (fail closed). */
	private audit(work: Pick<Work, "audit">, actor: Actor, event: string, detail: Record<string, unknown>): void {
		work.audit({ event, outcome: "success", actor: actor.name, channel: actor.channel, source: actor.source, detail });
	}

	private validateHost(host: string): string {
		const value = host.trim();
		if (value.length === 0 || value.length > 253 || !HOST_PATTERN.test(value)) throw this.input("The host must be a DNS name or an IP address.", "host");
		return value;
	}

	private validatePort(port: number | undefined): number {
		const value = port ?? 22;
		if (!Number.isInteger(value) || value < 1 || value > 65535) throw this.input("The port must be a number from 1 to 65535.", "port");
		return value;
	}

	private validateLogin(login: string | undefined): string {
		const value = (login ?? "").trim();
		if (value !== "" && !LOGIN_PATTERN.test(value))
			throw this.input("The login user must be 1-32 characters: letters, digits, '.', '_' and '-', not starting with a digit.", "login");
		return value;
	}

	private validateDescription(description: string | undefined): string {
		// Descriptions are printed on the users' terminals: no control characters (escape sequences).
		const value = stripUnsafe(description ?? "", { replacement: " " }).trim();
		if (value.length > 200) throw this.input("The description must have at most 200 characters.", "description");
		return value;
	}

	/** "default" → null (follow the global mode); anything but a known mode is refused. */
	private validateRecordingMode(value: string): RecordingMode | null {
		const mode = value.trim().toLowerCase();
		if (mode === "default") return null;
		if (!isRecordingMode(mode)) throw this.input("The recording mode must be strict, best-effort or default.");
		return mode;
	}

	/** The global mode; an unreadable setting is strict, and so is a database that cannot be read (fail closed). */
	async globalRecordingMode(): Promise<RecordingMode> {
		try {
			return decodeRecordingMode(await this.deps.settings.get(RECORDING_MODE_SETTING));
		} catch {
			return "strict";
		}
	}

	/** The mode for a session on `server` (null: the menu, before a server is chosen). */
	async recordingModeFor(server: Pick<ServerRow, "recording_mode"> | null): Promise<RecordingMode> {
		return effectiveRecordingMode(await this.globalRecordingMode(), server);
	}

	async setGlobalRecordingMode(actor: Actor, raw: string): Promise<void> {
		const mode = raw.trim().toLowerCase();
		if (!isRecordingMode(mode)) throw this.input("The recording mode must be strict or best-effort.");
		await this.deps.work.run(async (work) => {
			const before = decodeRecordingMode(await work.settings.get(RECORDING_MODE_SETTING));
			await work.settings.set(RECORDING_MODE_SETTING, mode);
			this.audit(work, actor, "recording.mode-changed", { scope: "global", before, after: mode });
		});
	}

	/**
	 * The step-up rule after a change, validated (docs/decisions.md "Per-server step-up"): a
	 * freshness window only with the requirement, whole minutes from 1 to MAX_FRESH_MINUTES.
	 * Turning the requirement off drops the window with it.
	 */
	private stepUpRule(current: { require: boolean; fresh: number | null }, change: StepUpChange): { require: boolean; fresh: number | null } {
		const require = change.requireTwoFactor ?? current.require;
		let fresh = change.freshMinutes !== undefined ? change.freshMinutes : current.fresh;
		if (fresh !== null && (!Number.isInteger(fresh) || fresh < 1 || fresh > MAX_FRESH_MINUTES))
			throw this.input(`The freshness window must be a whole number of minutes from 1 to ${MAX_FRESH_MINUTES}.`);
		if (!require) {
			if (change.freshMinutes !== undefined && change.freshMinutes !== null)
				throw new PortcullisError("ERR_POLICY_INVALID", "A freshness window needs the server to require 2FA: give --require-2fa too.");
			fresh = null;
		}
		return { require, fresh };
	}

	/** `store` defaults to the app's; inside a unit of work pass its bound store (`work.servers`). */
	async requireServer(rawName: string, store: Pick<ServerStore, "findByName"> = this.store): Promise<ServerRow> {
		const name = canonicalServerName(rawName);
		const server = name === null ? undefined : await store.findByName(name);
		if (server === undefined) throw new PortcullisError("ERR_NOT_FOUND", `no server named ${JSON.stringify(String(rawName).slice(0, 64))}`);
		return server;
	}

	async add(actor: Actor, input: ServerInput): Promise<ServerRow> {
		const name = canonicalServerName(input.name);
		if (name === null) throw this.input("Server names are 1-64 characters: letters, digits, '.', '_' and '-', starting with a letter or digit.", "name");
		const host = this.validateHost(input.host);
		const port = this.validatePort(input.port);
		const loginUser = this.validateLogin(input.loginUser);
		const description = this.validateDescription(input.description);
		const recordingMode = input.recordingMode === undefined ? null : this.validateRecordingMode(input.recordingMode);
		const stepUp = this.stepUpRule(
			{ require: false, fresh: null },
			{
				...(input.requireTwoFactor !== undefined ? { requireTwoFactor: input.requireTwoFactor } : {}),
				...(input.freshMinutes !== undefined ? { freshMinutes: input.freshMinutes } : {}),
			},
		);
		return this.deps.work.run(async (work) => {
			if (await work.servers.findByName(name)) throw new PortcullisError("ERR_CONFLICT", `a server named ${name} already exists`, { field: "name" });
			const groups = [];
			for (const group of input.groups ?? []) groups.push(await this.deps.groups.requireGroup(group, work.groups));
			const server = await work.servers.create({
				name,
				host,
				port,
				loginUser,
				description,
				recordingMode,
				requireTwoFactor: stepUp.require,
				freshMinutes: stepUp.fresh,
				captureSftpContent: input.captureSftpContent === true,
			});
			for (const group of groups) await work.servers.grant(server.id, group.id);
			this.audit(work, actor, "server.created", {
				server: name,
				host,
				port,
				loginUser,
				groups: groups.map((group) => group.name),
				recordingMode: recordingMode ?? "default",
				requireTwoFactor: stepUp.require,
				freshMinutes: stepUp.fresh,
				captureSftpContent: input.captureSftpContent === true,
			});
			return server;
		});
	}

	async update(
		actor: Actor,
		rawName: string,
		changes: { host?: string; port?: number; loginUser?: string; description?: string; recordingMode?: string; captureSftpContent?: boolean } & StepUpChange,
	): Promise<void> {
		await this.deps.work.run(async (work) => {
			const server = await this.requireServer(rawName, work.servers);
			const set: Partial<
				Pick<
					ServerRow,
					"host" | "port" | "login_user" | "description" | "host_key" | "recording_mode" | "require_2fa" | "fresh_minutes" | "capture_sftp_content"
				>
			> = {};
			if (changes.captureSftpContent !== undefined) set.capture_sftp_content = changes.captureSftpContent ? 1 : 0;
			if (changes.recordingMode !== undefined) set.recording_mode = this.validateRecordingMode(changes.recordingMode);
			if (changes.host !== undefined) set.host = this.validateHost(changes.host);
			if (changes.port !== undefined) set.port = this.validatePort(changes.port);
			if (changes.loginUser !== undefined) set.login_user = this.validateLogin(changes.loginUser);
			if (changes.description !== undefined) set.description = this.validateDescription(changes.description);
			const before = { requireTwoFactor: server.require_2fa === 1, freshMinutes: server.fresh_minutes };
			let stepUpChanged = false;
			if (changes.requireTwoFactor !== undefined || changes.freshMinutes !== undefined) {
				const rule = this.stepUpRule({ require: before.requireTwoFactor, fresh: before.freshMinutes }, changes);
				stepUpChanged = rule.require !== before.requireTwoFactor || rule.fresh !== before.freshMinutes;
				set.require_2fa = rule.require ? 1 : 0;
				set.fresh_minutes = rule.fresh;
			}
			// A new address is a new machine as far as trust goes: its host key is learned again.
			if ((set.host !== undefined && set.host !== server.host) || (set.port !== undefined && set.port !== server.port)) set.host_key = null;
			await work.servers.update(server.id, set);
			const { require_2fa: _require, fresh_minutes: _fresh, capture_sftp_content: capture, ...plain } = set;
			this.audit(work, actor, "server.updated", {
				server: server.name,
				changes: {
					...plain,
					host_key: set.host_key === null ? "forgotten" : undefined,
					recording_mode: set.recording_mode === undefined ? undefined : (set.recording_mode ?? "default"),
					captureSftpContent: capture === undefined ? undefined : capture === 1,
				},
				...(stepUpChanged ? { stepUp: { before, after: { requireTwoFactor: set.require_2fa === 1, freshMinutes: set.fresh_minutes ?? null } } } : {}),
			});
		});
	}

	async remove(actor: Actor, rawName: string): Promise<void> {
		await this.deps.work.run(async (work) => {
			const server = await this.requireServer(rawName, work.servers);
			await work.servers.remove(server.id);
			this.audit(work, actor, "server.deleted", { server: server.name });
		});
	}

	async grant(actor: Actor, serverName: string, groupName: string): Promise<boolean> {
		return this.deps.work.run(async (work) => {
			const server = await this.requireServer(serverName, work.servers);
			const group = await this.deps.groups.requireGroup(groupName, work.groups);
			const changed = await work.servers.grant(server.id, group.id);
			if (changed) this.audit(work, actor, "server.granted", { server: server.name, group: group.name });
			return changed;
		});
	}

	async revoke(actor: Actor, serverName: string, groupName: string): Promise<boolean> {
		return this.deps.work.run(async (work) => {
			const server = await this.requireServer(serverName, work.servers);
			const group = await this.deps.groups.requireGroup(groupName, work.groups);
			const changed = await work.servers.revoke(server.id, group.id);
			if (changed) this.audit(work, actor, "server.revoked", { server: server.name, group: group.name });
			return changed;
		});
	}

	/** Per-server credential instead of the gateway key; null goes back to the gateway key. Never logged. */
	async setCredential(actor: Actor, rawName: string, credential: ServerCredential | null): Promise<void> {
		const server = await this.requireServer(rawName);
		if (credential !== null) {
			if (credential.kind === "password" && (credential.password.length === 0 || credential.password.length > 1024))
				throw this.input("The password must have 1-1024 characters.");
			if (credential.kind === "key" && !/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(credential.privateKey))
				throw this.input("The key must be a private key in OpenSSH or PEM format.");
		}
		const sealed = credential === null ? null : this.deps.box.seal(JSON.stringify(credential), `server:${server.id}`);
		await this.deps.work.run(async (work) => {
			await this.requireServer(server.name, work.servers);
			await work.servers.update(server.id, { credential_enc: sealed });
			this.audit(work, actor, "server.credential-set", { server: server.name, kind: credential?.kind ?? "gateway-key" });
		});
	}

	credentialOf(server: ServerRow): ServerCredential | null {
		if (server.credential_enc === null) return null;
		const parsed: unknown = JSON.parse(this.deps.box.open(server.credential_enc, `server:${server.id}`).toString("utf8"));
		const value = parsed as ServerCredential; // sealed by setCredential above (authenticated encryption)
		if (value.kind !== "password" && value.kind !== "key") throw new PortcullisError("ERR_DECRYPT", "unknown credential kind");
		return value;
	}

	/**
	 * Admin override of trust on first use: forget the stored target host key (the next connection
	 * learns the new one), or pin a given key ("ssh-ed25519 AAAA…" line or bare base64 blob).
	 */
	async resetHostKey(actor: Actor, rawName: string, pinned: string | null = null): Promise<void> {
		const server = await this.requireServer(rawName);
		let hostKey: string | null = null;
		if (pinned !== null) {
			const parts = pinned.trim().split(/\s+/);
			const blob = parts.length >= 2 ? parts[1]! : parts[0]!;
			if (!/^[A-Za-z0-9+/]+={0,2}$/.test(blob) || Buffer.from(blob, "base64").length < 20) throw this.input("The host key must be an OpenSSH public key line.");
			hostKey = Buffer.from(blob, "base64").toString("base64");
		}
		await this.deps.work.run(async (work) => {
			const current = await this.requireServer(server.name, work.servers);
			await work.servers.update(server.id, { host_key: hostKey });
			this.audit(work, actor, "server.hostkey-reset", {
				server: server.name,
				before: current.host_key === null ? null : sshFingerprint(Buffer.from(current.host_key, "base64")),
				after: hostKey === null ? null : sshFingerprint(Buffer.from(hostKey, "base64")),
			});
		});
	}

	toView(server: ServerRow, groups: readonly string[]): ServerView {
		let credential: ServerView["credential"] = "gateway-key";
		if (server.credential_enc !== null) {
			try {
				credential = this.credentialOf(server)?.kind ?? "gateway-key";
			} catch {
				credential = "password"; // unreadable: shown as a credential; connecting will fail closed
			}
		}
		return {
			id: server.id,
			name: server.name,
			host: server.host,
			port: server.port,
			loginUser: server.login_user,
			description: server.description,
			groups,
			credential,
			hostKeyFingerprint: server.host_key === null ? null : sshFingerprint(Buffer.from(server.host_key, "base64")),
			createdAt: server.created_at,
			recordingMode: server.recording_mode === null ? null : decodeRecordingMode(server.recording_mode),
			requireTwoFactor: server.require_2fa === 1,
			freshMinutes: server.fresh_minutes,
			captureSftpContent: server.capture_sftp_content === 1,
		};
	}

	async list(): Promise<ServerView[]> {
		const [servers, grants] = await Promise.all([this.store.list(), this.store.grantsByServer()]);
		return servers.map((server) => this.toView(server, grants.get(server.id) ?? []));
	}

	async listForUser(userId: string): Promise<ServerRow[]> {
		return this.store.listForUser(userId);
	}

	/** `ssh gw NAME`: a granted server by name, or undefined (ungranted and unknown look the same). */
	async findForUser(userId: string, rawName: string): Promise<ServerRow | undefined> {
		const name = canonicalServerName(rawName);
		if (name === null) return undefined;
		return (await this.listForUser(userId)).find((server) => server.name === name);
	}

	/**
	 * ProxyJump (direct-tcpip, RFC 4254 §7.2): the granted server whose configured host:port is the
	 * destination, where the host may be given as the server's configured host (exact port) or as
	 * its name (its port, or 22 standing for it). The connection always goes to the configured
	 * host:port, never to the client's string.
	 * The destination is compared as a string, never resolved: a DNS name that happens to point at
	 * a granted address is not a grant (and cannot be used to reach an ungranted port).
	 */
	async resolveForward(userId: string, destHost: string, destPort: number): Promise<ServerRow | undefined> {
		const host = normalizeHost(destHost);
		const granted = await this.listForUser(userId);
		// By address: the configured host and port, exactly.
		const byAddress = granted.find((server) => server.port === destPort && normalizeHost(server.host) === host);
		if (byAddress) return byAddress;
		// By name: its configured port, or 22 (what `ssh -J gw root@db1` asks for) standing for it.
		return granted.find((server) => server.name === host && (destPort === server.port || destPort === 22));
	}
}
