/**
 * Channels of an authenticated SSH connection (RFC 4254). First version: refuses everything, so
 * the gateway can import the seam while the menu, relay and ProxyJump land.
 */
import type ssh2 from "ssh2";
import type { AuthenticatedSsh, ChannelDeps } from "./authenticated-ssh.ts";

export function attachChannels(client: ssh2.Connection, session: AuthenticatedSsh, deps: ChannelDeps): void {
	void session;
	void deps;
	client.on("session", (_accept, reject) => reject());
	client.on("tcpip", (_accept, reject) => reject());
	client.on("openssh.streamlocal", (_accept, reject) => reject());
	client.on("request", (_accept, reject) => reject?.());
}
