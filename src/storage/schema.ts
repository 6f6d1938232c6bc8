/**
 * Table types for Kysely. Portable column types only (text, integer, bigint); time is stored as
 * integer milliseconds since the epoch, JSON as text. See docs/architecture.md "Storage".
 */
import type { Generated } from "kysely";

export interface UsersTable {
	id: string;
	username: string;
	password_hash: string | null;
	is_admin: number;
	disabled: number;
	must_change_password: number;
	/** Method of the last successful web login: what the SSH gateway asks for. */
	ssh_method: string | null;
	created_at: number;
	/** Bumped to revoke every web session and SSH connection of the user. */
	session_epoch: number;
	tfa_failures: number;
	tfa_window_start: number;
	tfa_locked_until: number;
	tfa_lock_count: number;
	pw_failures: number;
	pw_window_start: number;
	pw_locked_until: number;
	/** Answers reserved on each counter and not yet settled, and the time of the latest reservation (migration 0011). */
	tfa_inflight: number;
	tfa_inflight_at: number;
	pw_inflight: number;
	pw_inflight_at: number;
	/** Admin reset (Decision 11): hash of a one-time enrolment token, and its expiry. */
	enroll_token_hash: string | null;
	enroll_token_expires_at: number | null;
	/** Bumped by every admin 2FA reset; a factor begun under an older generation never activates. */
	tfa_generation: number;
	/** One-time password link (migration 0019): SHA-256 of the token and its expiry; cleared when used or replaced. */
	pw_link_hash: string | null;
	pw_link_expires_at: number | null;
	/** 'local' or 'ldap' (migration 0023): where the password is checked. */
	source: string;
	/** The directory entry's DN at the last search (directory users only). */
	directory_dn: string | null;
	/** 1: disabled in or removed from the directory (kept apart from `disabled`, the admin's switch). */
	directory_disabled: number;
	/** 1: a service account (migration 0016): API tokens only, never an interactive login. */
	service_account: number;
}

export interface GroupsTable {
	id: string;
	name: string;
	force_2fa: number;
	/** JSON array of method ids, or null for "no restriction". */
	allowed_methods: string | null;
	created_at: number;
	/** Staged rollout: epoch ms until which force-2FA only nudges; null = enforce now (migration 0014). */
	enrol_deadline: number | null;
	/** SSH remember window in minutes; null = the global setting, 0 = off (migration 0014). */
	remember_minutes: number | null;
	/** 1 = remembered grants cover only the same server; null = the global setting. */
	remember_per_target: number | null;
}

export interface RememberedGrantsTable {
	id: string;
	user_id: string;
	source: string;
	/** Server id, or "" for a grant not scoped to one server. */
	target: string;
	method: string;
	created_at: number;
	expires_at: number;
	session_epoch: number;
	policy_version: number;
}

export interface GroupMembersTable {
	group_id: string;
	user_id: string;
}

export interface SettingsTable {
	key: string;
	value: string;
}

export interface FactorsTable {
	id: string;
	user_id: string;
	method: string;
	label: string;
	/** "pending" factors never count; only an atomic UPDATE to "active" after a valid proof does. */
	status: string;
	/** Method secret, AES-256-GCM sealed (crypto/secret-box.ts). */
	secret_enc: string | null;
	/** Public identifier (YubiKey public id, WebAuthn credential id) where a method has one. */
	public_id: string | null;
	/** Replay guard: last accepted TOTP step / OTP counter. Advanced by compare-and-set only. */
	last_used_counter: number | null;
	created_at: number;
	verified_at: number | null;
	last_used_at: number | null;
	pending_expires_at: number | null;
	/** Who began the enrolment: "attempt:<id>" or "session:<sha256>" (null: a trusted in-process caller). */
	origin: string | null;
	/** users.tfa_generation when the enrolment began. */
	generation: number | null;
}

export interface RecoveryCodesTable {
	id: string;
	user_id: string;
	code_hash: string;
	created_at: number;
	used_at: number | null;
}

export interface LoginAttemptsTable {
	id: string;
	user_id: string;
	channel: string;
	purpose: string;
	source: string;
	created_at: number;
	expires_at: number;
	/** pending → done | failed; moved by conditional UPDATEs only. */
	status: string;
	/** 1 once any policy evaluation required 2FA: an attempt never finishes under a weaker policy. */
	required_2fa: number;
	method_done: string | null;
	challenge_method: string | null;
	challenge_json: string | null;
	challenge_used: number;
	/** The server the login named (SSH `alice+db-prod`, migration 0015): its step-up rule applies on every re-evaluation. */
	target_server: string | null;
}

export interface WebSessionsTable {
	id_hash: string;
	user_id: string;
	attempt_id: string | null;
	/** "half" (first factor only, or enrolment pending) or "full". */
	state: string;
	second_factor_method: string | null;
	step_up_at: number | null;
	session_epoch: number;
	created_at: number;
	last_seen_at: number;
	expires_at: number;
	source: string;
	/** policy_version.version when this session last passed the full policy check (0: never). */
	policy_version: number;
}

/** One row (id 1): bumped by triggers with every global policy input change (migration 0010). */
export interface PolicyVersionTable {
	id: number;
	version: number;
}

/** Password throttling per (account, source): migration 0006, password-throttle-store.ts. */
export interface PasswordThrottleTable {
	user_id: string;
	source_key: string;
	failures: number;
	last_failure_at: number;
	blocked_until: number;
	/** Passwords of this pair being checked now, and the time of the latest reservation (migration 0011). */
	inflight: number;
	inflight_at: number;
}

export interface AuditEventsTable {
	id: Generated<number>;
	at: number;
	event: string;
	outcome: string;
	user_id: string | null;
	username: string | null;
	actor: string | null;
	channel: string | null;
	method: string | null;
	source: string | null;
	detail: string | null;
	/** Position in the global audit chain (migration 0012); null only for events written before it. */
	chain_seq: number | null;
	/** `hash` of the event at chain_seq - 1 (or the chain's genesis value). */
	prev_hash: string | null;
	/** HMAC-SHA-256 over prev_hash, chain_seq and every field above (storage/audit-chain.ts). */
	hash: string | null;
}

/** One row (id 1): the audit chain's head, taken by every writer (migration 0012). */
export interface AuditChainTable {
	id: number;
	seq: number;
	hash: string;
	/** The highest event id written before the chain began; such events are "legacy", unchained. */
	legacy_max_id: number;
}

/** REST API tokens (migration 0016, storage/api-token-store.ts). Only the token's SHA-256 is stored. */
export interface ApiTokensTable {
	id: string;
	user_id: string;
	name: string;
	token_hash: string;
	/** Space-separated scopes (core/api-scopes.ts). */
	scopes: string;
	created_at: number;
	/** Who made it: `user:<name>` (console) or the host actor (CLI). */
	created_by: string;
	expires_at: number;
	/** users.session_epoch when the token was made: bumping it (password change, 2FA reset, disable) ends the token. */
	session_epoch: number;
	/** The second factor proven by the step-up that made the token (null: none was required, or a service account). */
	second_factor_method: string | null;
	last_used_at: number | null;
	last_used_source: string | null;
	revoked_at: number | null;
}

export interface Database {
	users: UsersTable;
	groups: GroupsTable;
	group_members: GroupMembersTable;
	settings: SettingsTable;
	factors: FactorsTable;
	recovery_codes: RecoveryCodesTable;
	login_attempts: LoginAttemptsTable;
	web_sessions: WebSessionsTable;
	audit_events: AuditEventsTable;
	audit_chain: AuditChainTable;
	password_throttle: PasswordThrottleTable;
	policy_version: PolicyVersionTable;
	remembered_grants: RememberedGrantsTable;
	api_tokens: ApiTokensTable;
}
