/**
 * A tiny test-only ssh2 Server for the relay tests: password authentication against the app's
 * user table (no second factor, no limits) and then attachChannels, exactly as the real gateway
 * does after USERAUTH_SUCCESS. Used until/unless the real gateway is wanted (`useRealGateway`).
 */
import { generateEd25519Key } from "../../src/crypto/generate-key.ts";
import { randomBytes } from "node:crypto";
import type { AddressInfo } from "node:net";
import ssh2 from "ssh2";
import type { Portcullis } from "../../src/app/portcullis.ts";
import { verifyPassword } from "../../src/crypto/password-hash.ts";
import type { AuthenticatedSsh } from "../../src/ssh/authenticated-ssh.ts";
import { attachChannels } from "../../src/ssh/channels.ts";
import { LivePolicy } from "../../src/ssh/live-policy.ts";
import type { LiveConnection } from "../../src/ssh/live-registry.ts";

const { Server } = ssh2;

export interface TestGateway {
	readonly host: string;
	readonly port: number;
	close(): Promise<void>;
}

export async function startTestGateway(app: Portcullis): Promise<TestGateway> {
	const hostKey = generateEd25519Key("relay-test").privateKey;
	const livePolicy = new LivePolicy(app.ssh);
	const server = new Server({ hostKeys: [hostKey] }, (client, info) => {
		// @types/ssh2 lacks Connection#setNoDelay (ssh2 lib/server.js has it); docs/dependencies.md, Relay behaviour.
		(client as unknown as { setNoDelay(on: boolean): void }).setNoDelay(true);
		client.on("error", () => undefined);
		let user: { id: string; username: string; epoch: number } | null = null;
		client.on("authentication", (ctx) => {
			if (ctx.method !== "password") return ctx.reject(["password"]);
			void (async () => {
				const row = await app.stores.users.findByUsername(ctx.username);
				if (row?.password_hash && (await verifyPassword(row.password_hash, ctx.password))) {
					user = { id: row.id, username: row.username, epoch: row.session_epoch };
					ctx.accept();
				} else ctx.reject(["password"]);
			})();
		});
		client.on("ready", () => {
			const listeners: (() => void)[] = [];
			let closed = false;
			client.once("close", () => {
				closed = true;
				for (const listener of listeners.splice(0)) listener();
			});
			const session: AuthenticatedSsh = {
				connectionId: randomBytes(8).toString("hex"),
				userId: user!.id,
				username: user!.username,
				sourceAddress: info.ip,
				secondFactorMethod: null,
				secondFactorRemembered: false,
				publicKeyFingerprint: null,
				sessionEpoch: user!.epoch,
				kex: null,
				authenticatedAt: app.clock.now().getTime(),
				boundServer: null,
				onClose: (listener) => (closed ? listener() : void listeners.push(listener)),
				close: () => client.end(),
				onNotice: () => () => undefined,
			};
			livePolicy.add(session);
			// Not published in the live-session registry: this stand-in gateway tests channels only.
			const liveSession: LiveConnection = { channel: () => ({ id: "", bytes: { in: 0, out: 0 }, setServer: () => undefined, end: () => undefined }) };
			attachChannels(client, session, { services: app.ssh, livePolicy, liveSession });
		});
	});
	await new Promise<void>((resolveListen) => server.listen(0, "127.0.0.1", () => resolveListen()));
	const { port } = server.address() as AddressInfo;
	return {
		host: "127.0.0.1",
		port,
		close: () => {
			livePolicy.stop();
			return new Promise<void>((resolveClose) => server.close(() => resolveClose()));
		},
	};
}
