/**
 * Management of the SSH public keys that authenticate users on the gateway (first factor), shared
 * by the CLI (`portcullis user add-key/list-keys/remove-key`) and the account page. Every change
 * is audited (Decision 12) with the actor who made it.
 */
import { isPortcullisError } from "../core/errors.ts";
import type { Actor } from "../core/actor.ts";
import type { AuditLog } from "../storage/audit-log.ts";
import type { UnitOfWork } from "../storage/unit-of-work.ts";
import { parsePublicKeyLine, type SshKeyStore, type UserKeyRow } from "../storage/ssh-key-store.ts";

/** What key management needs (the composition root's app object fits). */
export interface SshKeyDeps {
	/** `work`: a key change and its audit event commit in one transaction (storage/unit-of-work.ts). */
	readonly stores: { readonly sshKeys: SshKeyStore; readonly audit: AuditLog; readonly work: Pick<UnitOfWork, "run"> };
}

/** The same operations bound to their stores, as the web console receives them. */
export interface SshKeyService {
	add(actor: Actor, user: { id: string; username: string }, line: unknown): Promise<AddKeyResult>;
	list(userId: string): Promise<UserKeyRow[]>;
	remove(actor: Actor, user: { id: string; username: string }, rawFingerprint: string): Promise<boolean>;
}

export function sshKeyService(deps: SshKeyDeps): SshKeyService {
	return {
		add: (actor, user, line) => addUserKey(deps, actor, user, line),
		list: (userId) => listUserKeys(deps, userId),
		remove: (actor, user, fingerprint) => removeUserKey(deps, actor, user, fingerprint),
	};
}

export type AddKeyResult = { readonly ok: true; readonly key: UserKeyRow } | { readonly ok: false; readonly message: string };

export async function addUserKey(app: SshKeyDeps, actor: Actor, user: { id: string; username: string }, line: unknown): Promise<AddKeyResult> {
	const parsed = parsePublicKeyLine(line);
	if (!parsed.ok) {
		await app.stores.audit.write({
			event: "ssh-key.add",
			outcome: "failure",
			userId: user.id,
			username: user.username,
			actor: actor.name,
			channel: actor.channel,
			source: actor.source,
			detail: { reason: parsed.message.slice(0, 120) },
		});
		return parsed;
	}
	try {
		const key = await app.stores.work.run(async (work) => {
			const added = await work.sshKeys.add(user.id, parsed.key);
			work.audit({
				event: "ssh-key.add",
				outcome: "success",
				userId: user.id,
				username: user.username,
				actor: actor.name,
				channel: actor.channel,
				source: actor.source,
				detail: { fingerprint: added.fingerprint, algo: added.algo },
			});
			return added;
		});
		return { ok: true, key };
	} catch (error) {
		if (isPortcullisError(error, "ERR_CONFLICT")) return { ok: false, message: error.message };
		throw error;
	}
}

export async function listUserKeys(app: SshKeyDeps, userId: string): Promise<UserKeyRow[]> {
	return app.stores.sshKeys.list(userId);
}

/** Removes by fingerprint ("SHA256:..."; the "SHA256:" prefix may be omitted). False when absent. */
export async function removeUserKey(app: SshKeyDeps, actor: Actor, user: { id: string; username: string }, rawFingerprint: string): Promise<boolean> {
	const fingerprint = rawFingerprint.trim().startsWith("SHA256:") ? rawFingerprint.trim() : `SHA256:${rawFingerprint.trim()}`;
	// The removal and its event (or the refusal's, when there was no such key) commit together.
	return app.stores.work.run(async (work) => {
		const removed = await work.sshKeys.remove(user.id, fingerprint);
		work.audit({
			event: "ssh-key.remove",
			outcome: removed ? "success" : "failure",
			userId: user.id,
			username: user.username,
			actor: actor.name,
			channel: actor.channel,
			source: actor.source,
			detail: { fingerprint: fingerprint.slice(0, 80) },
		});
		return removed;
	});
}
