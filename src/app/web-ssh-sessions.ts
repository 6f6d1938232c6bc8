/**
 * The REST API's view of live SSH sessions (docs/api.md "Live SSH sessions"): the seam
 * WebSshSessions (src/web/services.ts) over the cross-node registry the console and the CLI use
 * (src/flows/live-sessions.ts). It only maps: who may end a connection is the API's rights rule
 * (flows/api-tokens.ts `refusal`), and LiveSessionService validates the request, commits it with
 * its `ssh.terminate-requested` audit event (the actor names the token) and the owning node ends
 * the connection within its poll interval.
 */
import { secondFactorLabel, type LiveConnectionView, type LiveSessionService } from "../flows/live-sessions.ts";
import type { SshSessionView, WebSshSessions } from "../web/services.ts";

export function sshSessionView(view: LiveConnectionView): SshSessionView {
	const servers = [...new Set(view.channels.map((channel) => channel.server).filter((server): server is string => server !== null))];
	return {
		id: view.id,
		username: view.username,
		source: view.source,
		node: view.nodeName,
		nodeId: view.nodeId,
		startedAt: view.startedAt,
		firstFactor: view.firstFactor,
		secondFactor: view.secondFactor,
		secondFactorNote: view.secondFactorNote,
		secondFactorLabel: secondFactorLabel(view),
		bytesIn: view.bytesIn,
		bytesOut: view.bytesOut,
		updatedAt: view.updatedAt,
		servers,
		channels: view.channels.map((channel) => ({ ...channel })),
	};
}

export function webSshSessions(live: Pick<LiveSessionService, "list" | "terminate">): WebSshSessions {
	return {
		list: async () => (await live.list()).map(sshSessionView),
		terminate: (actor, request) => live.terminate(actor, { connectionId: request.id, channelId: request.channelId, reason: request.reason }),
	};
}
