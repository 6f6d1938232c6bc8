/**
 * The admin "Live sessions" page (routes/admin-live.tsx): every authenticated SSH connection of
 * every node from the shared registry (flows/live-sessions.ts), with its channels, byte counts as
 * of the owning node's last flush, and how the second factor was satisfied. Ending a connection or
 * a channel takes a reason (audited with the admin's name) and a fresh step-up.
 */
import { type LiveConnectionView, MAX_REASON_LENGTH, secondFactorLabel } from "../../flows/live-sessions.ts";
import { CsrfField, formatTime, Layout, type PageContext } from "./layout.tsx";
import { NoticeBox, type Notice } from "./login.tsx";

function formatBytes(bytes: number): string {
	if (bytes < 1024) return `${bytes} B`;
	if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
	return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

const KIND_TEXT: Record<string, string> = {
	menu: "menu",
	session: "session",
	tunnel: "-J tunnel (ssh, scp or sftp)",
	"web-terminal": "web terminal",
};

function TerminateForm({ ctx, connection, channel, label }: { ctx: PageContext; connection: string; channel?: string; label: string }) {
	const id = `reason-${connection}${channel === undefined ? "" : `-${channel}`}`;
	return (
		<form method="post" action="/admin/live/terminate" class="inline">
			<CsrfField ctx={ctx} />
			<input type="hidden" name="connection" value={connection} />
			{channel === undefined ? null : <input type="hidden" name="channel" value={channel} />}
			<label for={id} class="visually-hidden">
				Reason
			</label>
			<input id={id} class="reason-inline" name="reason" required maxLength={MAX_REASON_LENGTH} placeholder="reason" />
			<button type="submit" class="danger small">
				{label}
			</button>
		</form>
	);
}

export function LiveSessionsPage({ ctx, connections, notice }: { ctx: PageContext; connections: readonly LiveConnectionView[]; notice: Notice }) {
	return (
		<Layout ctx={ctx} title="Live sessions">
			<NoticeBox notice={notice} />
			<p class="muted">
				Every authenticated SSH connection on every node. Byte counts are as of the node's last update (every few seconds). Ending a connection or a channel
				asks for a fresh second factor and a reason; the node holding it ends it within about a second.
			</p>
			<section class="card">
				{connections.length === 0 ? (
					<p>No live SSH connections.</p>
				) : (
					<div class="table-wrap">
						<table>
							<caption class="visually-hidden">Live SSH connections, oldest first</caption>
							<thead>
								<tr>
									<th scope="col">User</th>
									<th scope="col">From</th>
									<th scope="col">Node</th>
									<th scope="col">Since</th>
									<th scope="col">Second factor</th>
									<th scope="col">Bytes in / out</th>
									<th scope="col">End</th>
								</tr>
							</thead>
							<tbody>
								{connections.map((connection) => (
									<>
										<tr id={`connection-${connection.id}`}>
											<td>{connection.username}</td>
											<td class="nowrap">{connection.source}</td>
											<td>
												{connection.nodeName} <span class="muted">({connection.nodeId.slice(0, 8)})</span>
											</td>
											<td class="nowrap">{formatTime(connection.startedAt)}</td>
											<td>
												{secondFactorLabel(connection)}
												<br />
												<span class="muted">first factor: {connection.firstFactor}</span>
											</td>
											<td class="nowrap">
												{formatBytes(connection.bytesIn)} / {formatBytes(connection.bytesOut)}
											</td>
											<td>
												<TerminateForm ctx={ctx} connection={connection.id} label="End connection" />
											</td>
										</tr>
										{connection.channels.map((channel) => (
											<tr id={`channel-${channel.id}`} class="sub-row">
												<td colspan={3} class="muted">
													↳ {KIND_TEXT[channel.kind] ?? channel.kind}
													{channel.server === null ? "" : ` → ${channel.server}`}
												</td>
												<td class="nowrap">{formatTime(channel.startedAt)}</td>
												<td />
												<td class="nowrap">
													{formatBytes(channel.bytesIn)} / {formatBytes(channel.bytesOut)}
												</td>
												<td>
													<TerminateForm ctx={ctx} connection={connection.id} channel={channel.id} label="End channel" />
												</td>
											</tr>
										))}
									</>
								))}
							</tbody>
						</table>
					</div>
				)}
			</section>
		</Layout>
	);
}
