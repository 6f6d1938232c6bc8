/**
 * The web terminal pages: the list of the user's servers, and one server's terminal. No inline
 * script: the terminal is xterm.js (@xterm/xterm, @xterm/addon-fit) and static/web-terminal.js,
 * all served as static files (routes/web-terminal.tsx); the page passes the WebSocket address
 * and the CSRF token in data attributes.
 */
import type { ServerRow } from "../../storage/server-store.ts";
import { Layout, type PageContext } from "./layout.tsx";
import { NoticeBox, type Notice } from "./login.tsx";

export function TerminalListPage({ ctx, servers, notice }: { ctx: PageContext; servers: readonly Pick<ServerRow, "name" | "description">[]; notice: Notice }) {
	return (
		<Layout ctx={ctx} title="Web terminal">
			<h1>Web terminal</h1>
			<NoticeBox notice={notice} />
			{servers.length === 0 ? (
				<p>No server is available to you.</p>
			) : (
				<ul class="server-list">
					{servers.map((server) => (
						<li>
							<a href={`/terminal/${encodeURIComponent(server.name)}`}>{server.name}</a>
							{server.description ? <span class="muted"> {server.description}</span> : null}
						</li>
					))}
				</ul>
			)}
			<p class="muted">
				Each terminal is a connection to the server: it is recorded, listed in the live sessions, and asks for the same second factor an SSH connection would.
			</p>
		</Layout>
	);
}

export function TerminalPage({ ctx, server, socketPath, csrf }: { ctx: PageContext; server: string; socketPath: string; csrf: string }) {
	return (
		<Layout ctx={ctx} title={`Terminal: ${server}`}>
			<link rel="stylesheet" href="/static/xterm.css" />
			<h1>
				Terminal: <code>{server}</code>
			</h1>
			<p id="terminal-status" class="muted" role="status">
				Connecting…
			</p>
			<div id="terminal" class="web-terminal" data-socket={socketPath} data-csrf={csrf} data-server={server}></div>
			<p>
				<a href="/terminal">All servers</a>
			</p>
			<script src="/static/xterm.js"></script>
			<script src="/static/addon-fit.js"></script>
			<script src="/static/web-terminal.js"></script>
		</Layout>
	);
}
