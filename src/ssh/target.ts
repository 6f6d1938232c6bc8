/**
 * Connections from the gateway to target servers.
 *
 * - Credentials: the gateway's own ed25519 key (config.ssh.target_key_file, default
 *   <data_dir>/gateway_ed25519_key, created 0600 on first start; admins install the public half in
 *   the targets' authorized_keys), or a per-server password/private key sealed at rest.
 * - Target host keys: trust on first use, stored per server; a changed key is refused and audited
 *   (ssh.target-hostkey-changed) until an admin forgets or pins the key (ServerService.resetHostKey).
 *   RFC 4251 §4.1 leaves the binding of host keys to names to the client; TOFU is OpenSSH's default.
 * - Key exchange: ssh.kex, mlkem768x25519-sha256 first, then sntrup761x25519-sha512 (algorithms.ts).
 * - Nagle is disabled on the upstream socket (docs/dependencies.md, Relay behaviour: 40 ms stalls per round trip).
 */
import type { Socket } from "node:net";
import { coalesceWrites } from "./coalesce-writes.ts";
import ssh2 from "ssh2";
import type { ServerRow } from "../storage/server-store.ts";
import { sshFingerprint } from "../storage/ssh-key-store.ts";
import { loadOrCreateGatewayKey } from "../servers/gateway-key.ts";
import { targetAlgorithms } from "./algorithms.ts";
import type { SshServices } from "./ssh-services.ts";

const { Client } = ssh2;

/** The gateway key lives with the servers it logs into; re-exported for the relay's callers. */
export { gatewayKeyFile, loadOrCreateGatewayKey, type GatewayKey } from "../servers/gateway-key.ts";

export type TargetFailure = "unreachable" | "host-key-changed" | "auth-failed" | "credential-unreadable";

export type TargetConnection = { ok: true; client: ssh2.Client; loginUser: string } | { ok: false; reason: TargetFailure; message: string };

export interface TargetContext {
	/** Portcullis username of the connecting user: the login name when the server sets none. */
	readonly username: string;
	readonly userId: string;
	readonly connectionId: string;
	readonly sourceAddress: string;
}

export interface TargetOptions {
	readonly readyTimeoutMs?: number;
}

/**
 * Opens an authenticated ssh2 Client to the server. Expected failures (down, wrong key, changed
 * host key) are values with a message fit for the user's terminal.
 */
export async function connectTarget(
	services: Pick<SshServices, "config" | "audit" | "servers">,
	server: ServerRow,
	context: TargetContext,
	options: TargetOptions = {},
): Promise<TargetConnection> {
	const servers = services.servers;
	const loginUser = server.login_user !== "" ? server.login_user : context.username;
	const auditBase = { userId: context.userId, username: context.username, channel: "ssh", source: context.sourceAddress };
	let auth: Partial<ssh2.ConnectConfig>;
	try {
		const credential = servers.credentialOf(server);
		if (credential === null) auth = { privateKey: loadOrCreateGatewayKey(services.config).privateKey };
		else if (credential.kind === "password") auth = { password: credential.password };
		else auth = { privateKey: credential.privateKey, ...(credential.passphrase ? { passphrase: credential.passphrase } : {}) };
	} catch {
		await services.audit.write({
			...auditBase,
			event: "ssh.target-credential-error",
			outcome: "failure",
			detail: { server: server.name, connection: context.connectionId },
		});
		return { ok: false, reason: "credential-unreadable", message: "The gateway's credential for this server cannot be read. Tell your administrator." };
	}

	let hostKeyProblem: { seen: string } | null = null;
	const verifyHostKey = (key: Buffer, verify: (valid: boolean) => void): void => {
		const seen = key.toString("base64");
		void (async () => {
			const current = await servers.store.findById(server.id);
			if (current === undefined) return false;
			let trusted = current.host_key;
			if (trusted === null) {
				if (await servers.store.setHostKeyIfUnset(server.id, seen)) {
					await services.audit.write({
						...auditBase,
						event: "ssh.target-hostkey-learned",
						outcome: "info",
						detail: { server: server.name, fingerprint: sshFingerprint(key) },
					});
					return true;
				}
				// Lost the race to another first contact: compare with what it stored.
				trusted = (await servers.store.findById(server.id))?.host_key ?? null;
			}
			if (trusted === seen) return true;
			hostKeyProblem = { seen };
			await services.audit.write({
				...auditBase,
				event: "ssh.target-hostkey-changed",
				outcome: "failure",
				detail: {
					server: server.name,
					expected: trusted === null ? null : sshFingerprint(Buffer.from(trusted, "base64")),
					seen: sshFingerprint(key),
					connection: context.connectionId,
				},
			});
			return false;
		})().then(verify, () => verify(false));
	};

	const client = new Client();
	return new Promise<TargetConnection>((resolvePromise) => {
		let settled = false;
		const settle = (result: TargetConnection) => {
			if (settled) return;
			settled = true;
			resolvePromise(result);
		};
		client.once("ready", () => {
			client.setNoDelay(true);
			// One writev per turn of the event loop towards the target (coalesce-writes.ts). ssh2 keeps
			// its socket in the private `_sock` (the ssh2 version is pinned, like protocol-guard.ts).
			const socket = (client as unknown as { _sock?: Socket })._sock;
			if (socket !== undefined && typeof socket.cork === "function") coalesceWrites(socket);
			settle({ ok: true, client, loginUser });
		});
		client.on("error", (error: Error & { level?: string }) => {
			if (settled) return;
			client.end();
			if (hostKeyProblem !== null) {
				settle({
					ok: false,
					reason: "host-key-changed",
					message: `The host key of ${server.name} has changed; the connection was refused. Tell your administrator (they can accept the new key).`,
				});
			} else if (error.level === "client-authentication") {
				void services.audit.write({
					...auditBase,
					event: "ssh.target-auth-failed",
					outcome: "failure",
					detail: { server: server.name, loginUser, connection: context.connectionId },
				});
				settle({ ok: false, reason: "auth-failed", message: `The gateway could not log in to ${server.name} as ${loginUser}. Tell your administrator.` });
			} else {
				settle({
					ok: false,
					reason: "unreachable",
					message: `${server.name} (${server.host}:${server.port}) cannot be reached: ${error.message.slice(0, 200)}`,
				});
			}
		});
		client.once("close", () => settle({ ok: false, reason: "unreachable", message: `${server.name} closed the connection.` }));
		client.connect({
			host: server.host,
			port: server.port,
			username: loginUser,
			...auth,
			hostVerifier: verifyHostKey,
			// ssh.kex, ML-KEM first: post-quantum on this leg too when the target has it (algorithms.ts).
			algorithms: targetAlgorithms(services.config),
			readyTimeout: options.readyTimeoutMs ?? 15_000,
			// Targets behind the gateway answer fast; keep-alives catch a dead target on a long idle session.
			keepaliveInterval: 60_000,
			keepaliveCountMax: 3,
		});
		// Before the socket connects, Node remembers the flag and applies it on connect.
		client.setNoDelay(true);
	});
}
