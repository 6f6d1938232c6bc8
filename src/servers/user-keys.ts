/**
 * Management of the SSH public keys that authenticate users on the gateway (first factor), shared
 * by the CLI (`portcullis user add-key/list-keys/remove-key`) and the account page. Every change
 * is audited (Decision 12) with the actor who made it.
 */
import type { Actor } from "../core/actor.ts";
import { isPortcullisError } from "../core/errors.ts";
import type { AuditLog } from "../storage/audit-log.ts";
import { parsePublicKeyLine, type SshKeyStore, type UserKeyRow } from "../storage/ssh-key-store.ts";

/** The stores these functions use; the app object satisfies it, so callers pass theirs. */
export interface UserKeyDeps {
	readonly stores: { readonly sshKeys: SshKeyStore; readonly audit: Pick<AuditLog, "write"> };
}

export type AddKeyResult = { readonly ok: true; readonly key: UserKeyRow } | { readonly ok: false; readonly message: string };

export async function addUserKey(app: UserKeyDeps, actor: Actor, user: { id: string; username: string }, line: unknown): Promise<AddKeyResult> {
	const parsed = parsePublicKeyLine(line);
	if (!parsed.ok) {
		await app.stores.audit.write({ event: "ssh-key.add", outcome: "failure", userId: user.id, username: user.username, actor: actor.name, channel: actor.channel, source: actor.source, detail: { reason: parsed.message.slice(0, 120) } });
		return parsed;
	}
	try {
		const key = await app.stores.sshKeys.add(user.id, parsed.key);
		await app.stores.audit.write({ event: "ssh-key.add", outcome: "success", userId: user.id, username: user.username, actor: actor.name, channel: actor.channel, source: actor.source, detail: { fingerprint: key.fingerprint, algo: key.algo } });
		return { ok: true, key };
	} catch (error) {
		if (isPortcullisError(error, "ERR_CONFLICT")) return { ok: false, message: error.message };
		throw error;
	}
}

export async function listUserKeys(app: UserKeyDeps, userId: string): Promise<UserKeyRow[]> {
	return app.stores.sshKeys.list(userId);
}

/** Removes by fingerprint ("SHA256:..."; the "SHA256:" prefix may be omitted). False when absent. */
export async function removeUserKey(app: UserKeyDeps, actor: Actor, user: { id: string; username: string }, rawFingerprint: string): Promise<boolean> {
	const fingerprint = rawFingerprint.trim().startsWith("SHA256:") ? rawFingerprint.trim() : `SHA256:${rawFingerprint.trim()}`;
	const removed = await app.stores.sshKeys.remove(user.id, fingerprint);
	await app.stores.audit.write({ event: "ssh-key.remove", outcome: removed ? "success" : "failure", userId: user.id, username: user.username, actor: actor.name, channel: actor.channel, source: actor.source, detail: { fingerprint: fingerprint.slice(0, 80) } });
	return removed;
}
