/**
 * Admin pages for the SSH relay (issue 3 items 5 and 9): servers and their grants, the gateway's
 * public key (to install in targets' authorized_keys), per-server credentials, trust-on-first-use
 * host keys, and session recordings with a player.
 *
 * Follows the console's rules (routes/admin.tsx): every route declares config.access = "admin",
 * every form declares its fields, changes need a fresh step-up, ServerService refusals become a
 * visible form error. The player is a small ES module (/static/cast-player.js, admin only) that
 * renders the asciicast into a <pre>; no inline script or style (strict CSP).
 * (Owned by the SSH relay work; registered with one line in ./index.ts.)
 */
import { readFileSync } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import type { FastifyReply, FastifyRequest } from "fastify";
import type { ServerCredential, ServerView } from "../../servers/server-service.ts";
import type { RecordingRow } from "../../storage/server-store.ts";
import { pageContext, seeOther, sendPage, type RouteModule } from "../context.ts";
import { req, str } from "../forms.ts";
import { getRoute, postRoute } from "../route-kit.ts";
import { attemptAdminChange, webActor } from "../admin-change.ts";
import { Alert, CsrfField, Field, formatTime, Layout, type PageContext } from "../views/layout.tsx";
import { NoticeBox, type Notice } from "../views/login.tsx";

const PLAYER = readFileSync(new URL("../../servers/cast-player.js", import.meta.url), "utf8");

const DONE: Record<string, string> = {
	created: "Server added.",
	saved: "Saved.",
	granted: "Granted.",
	revoked: "Grant removed.",
	credential: "Credential saved.",
	hostkey: "Host key reset. The next connection trusts the key it sees (or the pinned one).",
	deleted: "Server removed.",
};


function notice(m: string | undefined): Notice {
	return m !== undefined && DONE[m] ? { kind: "success", text: DONE[m] } : null;
}

function portOf(text: string | undefined): number | undefined | null {
	if (text === undefined || text.trim() === "") return undefined;
	return /^[0-9]{1,5}$/.test(text.trim()) ? Number(text.trim()) : null;
}

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

// ---- views ----

function GatewayKeys({ publicKey, fingerprint, hostFingerprint }: { publicKey: string; fingerprint: string; hostFingerprint: string | null }) {
	return (
		<section class="card" aria-labelledby="gateway-key">
			<h2 id="gateway-key">Gateway key</h2>
			<p>
				The gateway logs in to servers with this key unless a server has its own credential. Add this line to <code>~/.ssh/authorized_keys</code> of the login user on each server
				(or print it with <code>portcullis server pubkey</code>).
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

function ServersPage(props: { ctx: PageContext; servers: readonly ServerView[]; groups: readonly string[]; gateway: { publicKey: string; fingerprint: string; hostFingerprint: string | null }; notice: Notice }) {
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
				<form method="post" action="/admin/servers/create" class="stack narrow-form">
					<CsrfField ctx={ctx} />
					<Field id="server-name" name="name" label="Name" required maxLength={64} autocomplete="off" hint="What users choose in the menu and type in ssh gw NAME or ssh -J gw login@NAME." />
					<Field id="server-host" name="host" label="Host (DNS name or IP address)" required maxLength={253} autocomplete="off" />
					<Field id="server-port" name="port" label="SSH port" value="22" maxLength={5} inputMode="numeric" pattern="[0-9]{1,5}" />
					<Field id="server-login" name="login" label="Login user" maxLength={32} autocomplete="off" hint="Empty: the Portcullis username of whoever connects." />
					<Field id="server-description" name="description" label="Description" maxLength={200} autocomplete="off" />
					<div class="field">
						<label for="server-group">Grant to group</label>
						<select id="server-group" name="group">
							<option value="">(none yet)</option>
							{groups.map((group) => (
								<option value={group}>{group}</option>
							))}
						</select>
					</div>
					<button type="submit" class="primary">
						Add server
					</button>
				</form>
			</section>
			<GatewayKeys {...props.gateway} />
		</Layout>
	);
}

function ServerPage(props: { ctx: PageContext; server: ServerView; groups: readonly string[]; notice: Notice }) {
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
				<form method="post" action="/admin/servers/update" class="stack narrow-form">
					<CsrfField ctx={ctx} />
					{hidden}
					<Field id="edit-host" name="host" label="Host" value={server.host} required maxLength={253} autocomplete="off" />
					<Field id="edit-port" name="port" label="SSH port" value={String(server.port)} required maxLength={5} inputMode="numeric" pattern="[0-9]{1,5}" />
					<Field id="edit-login" name="login" label="Login user" value={server.loginUser} maxLength={32} autocomplete="off" hint="Empty: the Portcullis username of whoever connects." />
					<Field id="edit-description" name="description" label="Description" value={server.description} maxLength={200} autocomplete="off" />
					<p class="hint">A new host or port forgets the stored host key.</p>
					<button type="submit" class="primary">
						Save
					</button>
				</form>
			</section>
			<section class="card" aria-labelledby="credential-heading">
				<h2 id="credential-heading">Credential</h2>
				<p>
					Now: <strong>{server.credential === "gateway-key" ? "the gateway key" : server.credential === "password" ? "a password" : "a private key"}</strong>. Stored encrypted; never shown again.
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
					<Field id="hostkey-pin" name="pin" label="Pin this key instead (optional)" maxLength={4096} autocomplete="off" hint="A line from ssh-keyscan or the server's /etc/ssh/ssh_host_ed25519_key.pub." />
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

interface RecordingItem {
	readonly row: RecordingRow;
	readonly servers: readonly string[];
}

function RecordingsPage({ ctx, items, user }: { ctx: PageContext; items: readonly RecordingItem[]; user: string }) {
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
									<th scope="col">Replay</th>
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
											<a href={`/admin/recordings/${row.id}`}>Play</a>
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

function PlayerPage({ ctx, row, servers }: { ctx: PageContext; row: RecordingRow; servers: readonly string[] }) {
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
				<pre id="cast-screen" data-src={`/admin/recordings/${row.id}/cast`} aria-label="Terminal output" tabindex={0}>
					Loading…
				</pre>
				<p class="hint">
					Output only (what the user saw; keystrokes are not recorded), rendered as plain text. <a href={`/admin/recordings/${row.id}/cast`}>Download</a> the asciicast v2 file to play it
					with <code>asciinema play</code>.
				</p>
			</section>
			<script type="module" src="/static/cast-player.js"></script>
		</Layout>
	);
}

// ---- routes ----

export const adminServersRoutes: RouteModule = (server, web) => {
	const { services } = web;
	const { servers } = services;
	const change = (back: string) => ({ access: "admin" as const, stepUp: true, stepUpReturn: back });

	const actor = webActor;

	const attempt = attemptAdminChange;

	async function groupNames(): Promise<string[]> {
		return (await services.directory.groups.list()).map((group) => group.name);
	}

	async function serversPage(request: FastifyRequest, reply: FastifyReply, shown: Notice, status = 200): Promise<FastifyReply> {
		const key = services.gateway.targetKey();
		const hostFingerprint = await services.gateway.hostFingerprint();
		return sendPage(
			reply,
			status,
			<ServersPage ctx={pageContext(request)} servers={await servers.list()} groups={await groupNames()} gateway={{ publicKey: key.publicKey, fingerprint: key.fingerprint, hostFingerprint }} notice={shown} />,
		);
	}

	async function serverPage(request: FastifyRequest, reply: FastifyReply, name: string, shown: Notice, status = 200): Promise<FastifyReply> {
		const view = (await servers.list()).find((candidate) => candidate.name === name.toLowerCase());
		if (view === undefined) return serversPage(request, reply, { kind: "error", text: "There is no such server." }, 404);
		return sendPage(reply, status, <ServerPage ctx={pageContext(request)} server={view} groups={await groupNames()} notice={shown} />);
	}

	const back = (name: string, m: string) => `/admin/server?name=${encodeURIComponent(name.toLowerCase())}&m=${m}`;

	getRoute(server, "/admin/servers", { access: "admin", fields: { m: str(32) } }, async (request, reply, query) => serversPage(request, reply, notice(query.m)));
	getRoute(server, "/admin/server", { access: "admin", fields: { name: req(256), m: str(32) } }, async (request, reply, query) => serverPage(request, reply, query.name, notice(query.m)));

	postRoute(
		server,
		"/admin/servers/create",
		{ ...change("/admin/servers"), fields: { name: req(256), host: req(253), port: str(5), login: str(64), description: str(200), group: str(64) } },
		async (request, reply, form) => {
			const port = portOf(form.port);
			if (port === null) return serversPage(request, reply, { kind: "error", text: "The port must be a number from 1 to 65535." }, 400);
			let created = "";
			const failed = await attempt(
				async () => {
					const row = await servers.add(actor(request), {
						name: form.name,
						host: form.host,
						...(port !== undefined ? { port } : {}),
						...(form.login !== undefined ? { loginUser: form.login } : {}),
						...(form.description !== undefined ? { description: form.description } : {}),
						groups: form.group !== undefined && form.group !== "" ? [form.group] : [],
					});
					created = row.name;
				},
				(shown, status) => serversPage(request, reply, shown, status),
			);
			return failed ?? seeOther(reply, back(created, "created"));
		},
	);

	postRoute(
		server,
		"/admin/servers/update",
		{ ...change("/admin/servers"), fields: { name: req(256), host: req(253), port: req(5), login: str(64), description: str(200) } },
		async (request, reply, form) => {
			const port = portOf(form.port);
			if (port === null || port === undefined) return serverPage(request, reply, form.name, { kind: "error", text: "The port must be a number from 1 to 65535." }, 400);
			const failed = await attempt(
				() => servers.update(actor(request), form.name, { host: form.host, port, loginUser: form.login ?? "", description: form.description ?? "" }),
				(shown, status) => (status === 404 ? serversPage(request, reply, shown, status) : serverPage(request, reply, form.name, shown, status)),
			);
			return failed ?? seeOther(reply, back(form.name, "saved"));
		},
	);

	for (const [url, granting] of [
		["/admin/servers/grant", true],
		["/admin/servers/revoke", false],
	] as const) {
		postRoute(server, url, { ...change("/admin/servers"), fields: { name: req(256), group: req(64) } }, async (request, reply, form) => {
			const failed = await attempt(
				async () => {
					if (granting) await servers.grant(actor(request), form.name, form.group);
					else await servers.revoke(actor(request), form.name, form.group);
				},
				(shown, status) => serverPage(request, reply, form.name, shown, status),
			);
			return failed ?? seeOther(reply, back(form.name, granting ? "granted" : "revoked"));
		});
	}

	postRoute(
		server,
		"/admin/servers/credential",
		{ ...change("/admin/servers"), fields: { name: req(256), kind: req(16), password: str(1024), privateKey: str(8192) } },
		async (request, reply, form) => {
			let credential: ServerCredential | null;
			if (form.kind === "gateway-key") credential = null;
			else if (form.kind === "password") credential = { kind: "password", password: form.password ?? "" };
			else if (form.kind === "key") credential = { kind: "key", privateKey: (form.privateKey ?? "").replace(/\r\n/g, "\n") };
			else return serverPage(request, reply, form.name, { kind: "error", text: "Choose how the gateway logs in." }, 400);
			const failed = await attempt(
				() => servers.setCredential(actor(request), form.name, credential),
				(shown, status) => serverPage(request, reply, form.name, shown, status),
			);
			return failed ?? seeOther(reply, back(form.name, "credential"));
		},
	);

	postRoute(server, "/admin/servers/forget-hostkey", { ...change("/admin/servers"), fields: { name: req(256), pin: str(4096) } }, async (request, reply, form) => {
		const pin = form.pin !== undefined && form.pin.trim() !== "" ? form.pin : null;
		const failed = await attempt(
			() => servers.resetHostKey(actor(request), form.name, pin),
			(shown, status) => serverPage(request, reply, form.name, shown, status),
		);
		return failed ?? seeOther(reply, back(form.name, "hostkey"));
	});

	postRoute(server, "/admin/servers/delete", { ...change("/admin/servers"), fields: { name: req(256) } }, async (request, reply, form) => {
		const failed = await attempt(
			() => servers.remove(actor(request), form.name),
			(shown, status) => serversPage(request, reply, shown, status),
		);
		return failed ?? seeOther(reply, "/admin/servers?m=deleted");
	});

	// ---- recordings ----

	const parseServers = (row: RecordingRow): string[] => {
		try {
			const parsed: unknown = JSON.parse(row.servers);
			return Array.isArray(parsed) ? parsed.filter((name): name is string => typeof name === "string") : [];
		} catch {
			return [];
		}
	};

	getRoute(server, "/admin/recordings", { access: "admin", fields: { user: str(256) } }, async (request, reply, query) => {
		const user = (query.user ?? "").trim().toLowerCase();
		const rows = await servers.store.listRecordings({ limit: 500, ...(user !== "" ? { username: user } : {}) });
		return sendPage(reply, 200, <RecordingsPage ctx={pageContext(request)} items={rows.map((row) => ({ row, servers: parseServers(row) }))} user={user} />);
	});

	async function findRecording(id: string): Promise<RecordingRow | undefined> {
		return /^[0-9a-f]{32}$/.test(id) ? servers.store.findRecording(id) : undefined;
	}

	const notFound = (request: FastifyRequest, reply: FastifyReply) =>
		sendPage(
			reply,
			404,
			<Layout ctx={pageContext(request)} title="Recording not found" narrow>
				<Alert kind="error">There is no such recording.</Alert>
				<p>
					<a href="/admin/recordings">All recordings</a>
				</p>
			</Layout>,
		);

	server.get<{ Params: { id: string } }>("/admin/recordings/:id", { config: { access: "admin", query: {} } }, async (request, reply) => {
		const row = await findRecording(request.params.id);
		if (row === undefined) return notFound(request, reply);
		return sendPage(reply, 200, <PlayerPage ctx={pageContext(request)} row={row} servers={parseServers(row)} />);
	});

	server.get<{ Params: { id: string } }>("/admin/recordings/:id/cast", { config: { access: "admin", query: {} } }, async (request, reply) => {
		const row = await findRecording(request.params.id);
		if (row === undefined) return notFound(request, reply);
		let text: string;
		try {
			const path = services.gateway.recordingFile(row.file);
			if ((await stat(path)).size > 512 * 1024 * 1024) return notFound(request, reply);
			text = await readFile(path, "utf8");
		} catch {
			return notFound(request, reply);
		}
		await services.audit.write({
			event: "ssh.recording-viewed",
			outcome: "info",
			actor: request.web.user?.username ?? null,
			channel: "web",
			source: request.ip,
			username: row.username,
			userId: row.user_id,
			detail: { recording: row.id },
		});
		return reply
			.header("cache-control", "no-store")
			.header("content-disposition", `attachment; filename="portcullis-${row.username}-${row.id.slice(0, 8)}.cast"`)
			.type("application/x-asciicast; charset=utf-8")
			.send(text);
	});

	server.get("/static/cast-player.js", { config: { access: "admin", query: {} } }, async (_request, reply) =>
		reply.header("cache-control", "private, max-age=3600").type("text/javascript; charset=utf-8").send(PLAYER),
	);
};
