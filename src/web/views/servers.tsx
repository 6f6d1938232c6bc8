/**
 * Admin pages of the SSH relay: servers and their grants, the gateway's keys, a server's
 * credential and host key, session recordings and the player page (routes/admin-servers.tsx).
 */
import type { RecordingMode } from "../../core/recording-mode.ts";
import type { ServerView } from "../../servers/server-service.ts";
import type { RecordingRow } from "../../storage/recording-store.ts";
import { CsrfField, Field, formatTime, Layout, type PageContext } from "./layout.tsx";
import { NoticeBox, type Notice } from "./login.tsx";
import { PostForm, Select } from "./form-echo.tsx";

function formatBytes(bytes: number): string {
	if (bytes < 1024) return `${bytes} B`;
	if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
	return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

function formatDuration(ms: number | null): string {
	if (ms === null || ms < 0) return "running";
	const seconds = Math.round(ms / 1000);
	if (seconds < 60) return `${seconds} s`;
	const minutes = Math.floor(seconds / 60);
	return minutes < 60 ? `${minutes} min ${seconds % 60} s` : `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

const MODE_TEXT: Record<RecordingMode, string> = {
	strict: "Strict: refuse new sessions and end open ones when they cannot be recorded",
	"best-effort": "Best effort: let sessions go on unrecorded (audited as recording.failed)",
};

/** The global recording mode: what happens to a session whose recording cannot be written. */
function RecordingModeCard({ ctx, mode }: { ctx: PageContext; mode: RecordingMode }) {
	return (
		<section class="card" aria-labelledby="recording-mode-heading">
			<h2 id="recording-mode-heading">Session recording</h2>
			<p>
				Interactive sessions are recorded into the database. When a recording cannot be written (database failure), this decides what happens, unless a server
				has its own setting.
			</p>
			<form method="post" action="/admin/recordings/mode" class="inline-form">
				<CsrfField ctx={ctx} />
				<label for="recording-mode">When recording fails</label>
				<select id="recording-mode" name="mode">
					{(["strict", "best-effort"] as const).map((value) => (
						<option value={value} selected={value === mode}>
							{MODE_TEXT[value]}
						</option>
					))}
				</select>
				<button type="submit">Save</button>
			</form>
		</section>
	);
}

function GatewayKeys({ publicKey, fingerprint, hostFingerprint }: { publicKey: string; fingerprint: string; hostFingerprint: string | null }) {
	return (
		<section class="card" aria-labelledby="gateway-key">
			<h2 id="gateway-key">Gateway key</h2>
			<p>
				The gateway logs in to servers with this key unless a server has its own credential. Add this line to <code>~/.ssh/authorized_keys</code> of the login
				user on each server (or print it with <code>portcullis server pubkey</code>).
			</p>
			<p class="uri" id="gateway-public-key">
				{publicKey}
			</p>
			<dl class="facts">
				<dt>Key fingerprint</dt>
				<dd>{fingerprint}</dd>
				<dt>Gateway host key (what users' ssh shows)</dt>
				<dd>{hostFingerprint ?? "not started yet"}</dd>
			</dl>
		</section>
	);
}

export function ServersPage(props: {
	ctx: PageContext;
	servers: readonly ServerView[];
	groups: readonly string[];
	gateway: { publicKey: string; fingerprint: string; hostFingerprint: string | null };
	recordingMode: RecordingMode;
	notice: Notice;
}) {
	const { ctx, servers, groups } = props;
	return (
		<Layout ctx={ctx} title="Servers">
			<NoticeBox notice={props.notice} />
			<section class="card">
				{servers.length === 0 ? (
					<p>No servers yet.</p>
				) : (
					<div class="table-wrap">
						<table>
							<caption class="visually-hidden">Servers reachable through the gateway</caption>
							<thead>
								<tr>
									<th scope="col">Server</th>
									<th scope="col">Address</th>
									<th scope="col">Login</th>
									<th scope="col">Granted to</th>
									<th scope="col">Credential</th>
									<th scope="col">Host key</th>
									<th scope="col">2FA</th>
									<th scope="col">Description</th>
								</tr>
							</thead>
							<tbody>
								{servers.map((server) => (
									<tr>
										<td>
											<a href={`/admin/server?name=${encodeURIComponent(server.name)}`}>{server.name}</a>
										</td>
										<td class="nowrap">{`${server.host}:${server.port}`}</td>
										<td>{server.loginUser || <span class="muted">user's own name</span>}</td>
										<td>{server.groups.length === 0 ? <span class="muted">nobody</span> : server.groups.join(", ")}</td>
										<td>{server.credential}</td>
										<td class="nowrap">{server.hostKeyFingerprint ?? <span class="muted">first use</span>}</td>
										<td>{stepUpText(server) ?? <span class="muted">user's policy</span>}</td>
										<td>{server.description}</td>
									</tr>
								))}
							</tbody>
						</table>
					</div>
				)}
			</section>
			<section class="card" aria-labelledby="add-server">
				<h2 id="add-server">Add a server</h2>
				<PostForm action="/admin/servers/create" class="stack narrow-form">
					<CsrfField ctx={ctx} />
					<Field
						id="server-name"
						name="name"
						label="Name"
						required
						maxLength={64}
						autocomplete="off"
						hint="What users choose in the menu and type in ssh gw NAME or ssh -J gw login@NAME."
					/>
					<Field id="server-host" name="host" label="Host (DNS name or IP address)" required maxLength={253} autocomplete="off" />
					<Field id="server-port" name="port" label="SSH port" value="22" maxLength={5} inputMode="numeric" pattern="[0-9]{1,5}" />
					<Field
						id="server-login"
						name="login"
						label="Login user"
						maxLength={32}
						autocomplete="off"
						hint="Empty: the Portcullis username of whoever connects."
					/>
					<Field id="server-description" name="description" label="Description" maxLength={200} autocomplete="off" />
					<div class="field">
						<label for="server-group">Grant to group</label>
						<Select id="server-group" name="group" options={[{ value: "", label: "(none yet)" }, ...groups.map((group) => ({ value: group, label: group }))]} />
					</div>
					<button type="submit" class="primary">
						Add server
					</button>
				</PostForm>
			</section>
			<RecordingModeCard ctx={ctx} mode={props.recordingMode} />
			<GatewayKeys {...props.gateway} />
		</Layout>
	);
}

export function ServerPage(props: { ctx: PageContext; server: ServerView; groups: readonly string[]; notice: Notice }) {
	const { ctx, server } = props;
	const grantable = props.groups.filter((group) => !server.groups.includes(group));
	const hidden = <input type="hidden" name="name" value={server.name} />;
	return (
		<Layout ctx={ctx} title={`Server ${server.name}`}>
			<p>
				<a href="/admin/servers">← All servers</a>
			</p>
			<NoticeBox notice={props.notice} />
			<section class="card" aria-labelledby="grants-heading">
				<h2 id="grants-heading">Granted to</h2>
				{server.groups.length === 0 ? <p class="muted">No group: nobody can reach this server.</p> : null}
				<ul class="chips">
					{server.groups.map((group) => (
						<li>
							<a href={`/admin/group?name=${encodeURIComponent(group)}`}>{group}</a>
							<form method="post" action="/admin/servers/revoke" class="inline">
								<CsrfField ctx={ctx} />
								{hidden}
								<input type="hidden" name="group" value={group} />
								<button type="submit" class="small" aria-label={`Revoke ${server.name} from ${group}`}>
									Revoke
								</button>
							</form>
						</li>
					))}
				</ul>
				{grantable.length > 0 ? (
					<form method="post" action="/admin/servers/grant" class="inline-form">
						<CsrfField ctx={ctx} />
						{hidden}
						<label for="grant-group">Grant to group</label>
						<select id="grant-group" name="group">
							{grantable.map((group) => (
								<option value={group}>{group}</option>
							))}
						</select>
						<button type="submit">Grant</button>
					</form>
				) : null}
			</section>
			<section class="card" aria-labelledby="settings-heading">
				<h2 id="settings-heading">Address and login</h2>
				<PostForm action="/admin/servers/update" class="stack narrow-form">
					<CsrfField ctx={ctx} />
					{hidden}
					<Field id="edit-host" name="host" label="Host" value={server.host} required maxLength={253} autocomplete="off" />
					<Field id="edit-port" name="port" label="SSH port" value={String(server.port)} required maxLength={5} inputMode="numeric" pattern="[0-9]{1,5}" />
					<Field
						id="edit-login"
						name="login"
						label="Login user"
						value={server.loginUser}
						maxLength={32}
						autocomplete="off"
						hint="Empty: the Portcullis username of whoever connects."
					/>
					<Field id="edit-description" name="description" label="Description" value={server.description} maxLength={200} autocomplete="off" />
					<p class="hint">A new host or port forgets the stored host key.</p>
					<button type="submit" class="primary">
						Save
					</button>
				</PostForm>
			</section>
			<section class="card" aria-labelledby="server-recording-heading">
				<h2 id="server-recording-heading">Session recording</h2>
				<form method="post" action="/admin/servers/recording-mode" class="inline-form">
					<CsrfField ctx={ctx} />
					{hidden}
					<label for="server-recording-mode">When recording fails</label>
					<select id="server-recording-mode" name="mode">
						<option value="default" selected={server.recordingMode === null}>
							The global setting
						</option>
						{(["strict", "best-effort"] as const).map((value) => (
							<option value={value} selected={value === server.recordingMode}>
								{MODE_TEXT[value]}
							</option>
						))}
					</select>
					<button type="submit">Save</button>
				</form>
			</section>
			<section class="card" aria-labelledby="sftp-capture-heading">
				<h2 id="sftp-capture-heading">SFTP file content</h2>
				<p>
					Every SFTP operation is audited with its path and bytes. The content of the files is{" "}
					<strong>{server.captureSftpContent ? "captured" : "not kept"}</strong>
					{server.captureSftpContent ? " (downloadable from Recordings, kept as long as recordings)." : "."}
				</p>
				<form method="post" action="/admin/servers/sftp-capture" class="stack narrow-form">
					<CsrfField ctx={ctx} />
					{hidden}
					<div class="check">
						<input type="checkbox" id="sftp-capture" name="capture" checked={server.captureSftpContent} />
						<label for="sftp-capture">Store the content of files read and written through SFTP on this server</label>
					</div>
					<button type="submit">Save</button>
				</form>
			</section>
			<section class="card" aria-labelledby="step-up-heading">
				<h2 id="step-up-heading">Second factor for this server</h2>
				<p>
					Now: <strong>{stepUpText(server) ?? "as the user's policy says"}</strong>.
				</p>
				<form method="post" action="/admin/servers/step-up" class="stack narrow-form">
					<CsrfField ctx={ctx} />
					{hidden}
					<div class="check">
						<input type="checkbox" id="step-up-require" name="require" checked={server.requireTwoFactor} />
						<label for="step-up-require">
							<strong>Require 2FA for every connection</strong>
							<span class="hint-block">
								Every relay to this server (menu, <code>ssh gw {server.name}</code>, ProxyJump) needs a second factor proven by the connection's own login, even
								for users the policy does not force. Users log in as <code>USER+{server.name}</code> to be asked for it.
							</span>
						</label>
					</div>
					<Field
						id="step-up-fresh"
						name="fresh"
						label="Fresh within (minutes)"
						value={server.freshMinutes === null ? "" : String(server.freshMinutes)}
						maxLength={4}
						inputMode="numeric"
						pattern="[0-9]{1,4}"
						hint="Empty: a second factor of any age on the connection. 1-1440: it must be at most that old when a relay opens."
					/>
					<button type="submit" class="primary">
						Save
					</button>
				</form>
			</section>
			<section class="card" aria-labelledby="credential-heading">
				<h2 id="credential-heading">Credential</h2>
				<p>
					Now: <strong>{server.credential === "gateway-key" ? "the gateway key" : server.credential === "password" ? "a password" : "a private key"}</strong>.
					Stored encrypted; never shown again.
				</p>
				<form method="post" action="/admin/servers/credential" class="stack narrow-form">
					<CsrfField ctx={ctx} />
					{hidden}
					<div class="field">
						<label for="credential-kind">Log in with</label>
						<select id="credential-kind" name="kind">
							<option value="gateway-key">the gateway key</option>
							<option value="password">this password</option>
							<option value="key">this private key</option>
						</select>
					</div>
					<Field id="credential-password" name="password" type="password" label="Password" maxLength={1024} autocomplete="new-password" />
					<div class="field">
						<label for="credential-key">Private key (OpenSSH or PEM, unencrypted)</label>
						<textarea id="credential-key" name="privateKey" rows={6} cols={64} maxLength={8192} autocomplete="off" spellcheck={false}></textarea>
					</div>
					<button type="submit">Save credential</button>
				</form>
			</section>
			<section class="card" aria-labelledby="hostkey-heading">
				<h2 id="hostkey-heading">Host key</h2>
				<p>
					{server.hostKeyFingerprint === null ? (
						"Not known yet: the gateway trusts the key it sees at the next connection (trust on first use)."
					) : (
						<>
							Trusted: <code>{server.hostKeyFingerprint}</code>. A different key is refused (and audited) until you reset it here.
						</>
					)}
				</p>
				<form method="post" action="/admin/servers/forget-hostkey" class="stack narrow-form">
					<CsrfField ctx={ctx} />
					{hidden}
					<Field
						id="hostkey-pin"
						name="pin"
						label="Pin this key instead (optional)"
						maxLength={4096}
						autocomplete="off"
						hint="A line from ssh-keyscan or the server's /etc/ssh/ssh_host_ed25519_key.pub."
					/>
					<button type="submit">Reset host key</button>
				</form>
			</section>
			<section class="card" aria-labelledby="delete-heading">
				<h2 id="delete-heading">Remove server</h2>
				<form method="post" action="/admin/servers/delete" class="inline">
					<CsrfField ctx={ctx} />
					{hidden}
					<button type="submit" class="danger">
						Remove server {server.name}
					</button>
				</form>
			</section>
		</Layout>
	);
}

export interface RecordingItem {
	readonly row: RecordingRow;
	readonly servers: readonly string[];
}

export function RecordingsPage({ ctx, items, user }: { ctx: PageContext; items: readonly RecordingItem[]; user: string }) {
	return (
		<Layout ctx={ctx} title="Session recordings">
			<form method="get" action="/admin/recordings" class="inline-form">
				<label for="recordings-user">User</label>
				<input id="recordings-user" name="user" value={user} maxLength={64} />
				<button type="submit">Filter</button>
			</form>
			<section class="card">
				{items.length === 0 ? (
					<p>No recordings{user !== "" ? ` for ${user}` : ""}.</p>
				) : (
					<div class="table-wrap">
						<table>
							<caption class="visually-hidden">Interactive SSH sessions, newest first</caption>
							<thead>
								<tr>
									<th scope="col">Started</th>
									<th scope="col">User</th>
									<th scope="col">Servers</th>
									<th scope="col">Duration</th>
									<th scope="col">Size</th>
									<th scope="col">Replay / download</th>
								</tr>
							</thead>
							<tbody>
								{items.map(({ row, servers }) => (
									<tr>
										<td class="nowrap">{formatTime(row.started_at)}</td>
										<td>{row.username}</td>
										<td>{servers.length === 0 ? <span class="muted">menu only</span> : servers.join(", ")}</td>
										<td>{formatDuration(row.ended_at === null ? null : Number(row.ended_at) - Number(row.started_at))}</td>
										<td class="nowrap">{formatBytes(Number(row.bytes))}</td>
										<td>
											{row.kind === "sftp-file" ? (
												<a href={`/admin/recordings/${row.id}/content`} download>
													SFTP file
												</a>
											) : (
												<a href={`/admin/recordings/${row.id}`}>Play</a>
											)}
										</td>
									</tr>
								))}
							</tbody>
						</table>
					</div>
				)}
			</section>
		</Layout>
	);
}

export function PlayerPage({ ctx, row, servers }: { ctx: PageContext; row: RecordingRow; servers: readonly string[] }) {
	return (
		<Layout ctx={ctx} title="Session recording">
			<p>
				<a href="/admin/recordings">← All recordings</a>
			</p>
			<dl class="facts">
				<dt>User</dt>
				<dd>{row.username}</dd>
				<dt>Servers</dt>
				<dd>{servers.length === 0 ? "menu only" : servers.join(", ")}</dd>
				<dt>Started</dt>
				<dd>{formatTime(row.started_at)}</dd>
				<dt>Ended</dt>
				<dd>{row.ended_at === null ? "still running" : formatTime(row.ended_at)}</dd>
			</dl>
			<section class="card" aria-label="Player">
				<div class="inline-form">
					<button type="button" id="cast-play" class="primary">
						Play
					</button>
					<button type="button" id="cast-restart">
						Restart
					</button>
					<button type="button" id="cast-end">
						Jump to end
					</button>
					<label for="cast-speed">Speed</label>
					<select id="cast-speed">
						<option value="1">1×</option>
						<option value="2">2×</option>
						<option value="4">4×</option>
						<option value="16">16×</option>
					</select>
					<span id="cast-time" class="muted" aria-live="off">
						0:00
					</span>
				</div>
				{/* biome-ignore lint/a11y/useAriaPropsSupportedByRole: a focusable, scrollable <pre> needs a name for screen readers (WCAG 2.1.1) */}
				<pre id="cast-screen" data-src={`/admin/recordings/${row.id}/cast`} aria-label="Terminal output" tabindex={0}>
					Loading…
				</pre>
				<p class="hint">
					Output only (what the user saw; keystrokes are not recorded), rendered as plain text. <a href={`/admin/recordings/${row.id}/cast`}>Download</a> the
					asciicast v2 file to play it with <code>asciinema play</code>.
				</p>
			</section>
			<script type="module" src="/static/cast-player.js"></script>
		</Layout>
	);
}

/** How a server's step-up rule reads on the console; null when the server adds nothing to the user's policy. */
function stepUpText(server: ServerView): string | null {
	if (!server.requireTwoFactor) return null;
	return server.freshMinutes === null ? "required for every connection" : `required for every connection, within ${server.freshMinutes} minutes`;
}
