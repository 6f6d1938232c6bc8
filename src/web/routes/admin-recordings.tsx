/**
 * Session recordings for admins: the list, the player page (a small ES module,
 * /static/cast-player.js, admin only, that renders the asciicast into a <pre> under the strict
 * CSP) and the asciicast download, which is audited. Every node serves every recording: the text
 * is streamed from the shared database (storage/recording-store.ts), a page of chunks at a time;
 * a running session's recording is served up to its last flush.
 */
import { readFileSync } from "node:fs";
import { Readable } from "node:stream";
import type { FastifyReply, FastifyRequest } from "fastify";
import type { RecordingRow } from "../../storage/recording-store.ts";
import { pageContext, sendPage, type RouteModule } from "../context.ts";
import { str } from "../forms.ts";
import { getRoute } from "../route-kit.ts";
import { Alert, Layout } from "../views/layout.tsx";
import { PlayerPage, RecordingsPage } from "../views/servers.tsx";

const PLAYER = readFileSync(new URL("../../servers/cast-player.js", import.meta.url), "utf8");

export const adminRecordingRoutes: RouteModule = (server, web) => {
	const { services } = web;

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
		const rows = await services.recordings.list({ limit: 500, ...(user !== "" ? { username: user } : {}) });
		return sendPage(reply, 200, <RecordingsPage ctx={pageContext(request)} items={rows.map((row) => ({ row, servers: parseServers(row) }))} user={user} />);
	});

	async function findRecording(id: string): Promise<RecordingRow | undefined> {
		return /^[0-9a-f]{32}$/.test(id) ? services.recordings.find(id) : undefined;
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

	/** Every download of a recording or a captured file is audited (who, from where, which one). */
	async function auditViewed(request: FastifyRequest, row: RecordingRow, extra: Record<string, unknown>): Promise<void> {
		await services.audit.write({
			event: "ssh.recording-viewed",
			outcome: "info",
			actor: request.web.user?.username ?? null,
			channel: "web",
			source: request.ip,
			username: row.username,
			userId: row.user_id,
			detail: { recording: row.id, ...extra },
		});
	}

	server.get<{ Params: { id: string } }>("/admin/recordings/:id/cast", { config: { access: "admin", query: {} } }, async (request, reply) => {
		const row = await findRecording(request.params.id);
		if (row === undefined) return notFound(request, reply);
		// The first piece is read before the headers go out: a recording that cannot be read at all
		// (its old file is gone, the database fails) is a 404 page, not a broken download.
		const pieces = services.recordings.read(row);
		let first: IteratorResult<string>;
		try {
			first = await pieces.next();
		} catch {
			return notFound(request, reply);
		}
		await auditViewed(request, row, {});
		async function* body(): AsyncGenerator<string> {
			if (first.done) return;
			yield first.value;
			yield* pieces;
		}
		return reply
			.header("cache-control", "no-store")
			.header("content-disposition", `attachment; filename="portcullis-${row.username}-${row.id.slice(0, 8)}.cast"`)
			.type("application/x-asciicast; charset=utf-8")
			.send(Readable.from(body(), { objectMode: false }));
	});

	/**
	 * A captured SFTP file (src/ssh/sftp-capture.ts): the bytes of its data chunks in the order they
	 * passed, decoded a page of chunks at a time (never the whole file in memory). Audited like a
	 * recording download. A capture cut at ssh.sftp_capture_max_bytes says so in a header.
	 */
	server.get<{ Params: { id: string } }>("/admin/recordings/:id/content", { config: { access: "admin", query: {} } }, async (request, reply) => {
		const row = await findRecording(request.params.id);
		if (row === undefined || row.kind !== "sftp-file") return notFound(request, reply);
		let header: { path?: unknown };
		let truncated = false;
		try {
			const [first, last] = await Promise.all([services.recordings.read(row).next(), services.recordings.lastChunk(row)]);
			header = first.done ? {} : (JSON.parse(first.value) as { path?: unknown });
			truncated = last !== undefined && (JSON.parse(last) as { truncated?: unknown }).truncated === true;
		} catch {
			return notFound(request, reply);
		}
		await auditViewed(request, row, { kind: row.kind, path: typeof header.path === "string" ? header.path : null, truncated });
		async function* body(): AsyncGenerator<Buffer> {
			for await (const piece of services.recordings.read(row!)) {
				const chunk = JSON.parse(piece) as { data?: unknown };
				if (typeof chunk.data === "string") yield Buffer.from(chunk.data, "base64");
			}
		}
		const base = typeof header.path === "string" ? header.path.split("/").pop() || "file" : "file";
		const filename = base.replace(/[^A-Za-z0-9._-]/g, "_").slice(0, 100);
		return reply
			.header("cache-control", "no-store")
			.header("x-portcullis-capture", truncated ? "truncated" : "complete")
			.header("content-disposition", `attachment; filename="portcullis-${row.id.slice(0, 8)}-${filename}"`)
			.type("application/octet-stream")
			.send(Readable.from(body()));
	});

	server.get("/static/cast-player.js", { config: { access: "admin", asset: true, query: {} } }, async (_request, reply) =>
		reply.header("cache-control", "private, max-age=3600").type("text/javascript; charset=utf-8").send(PLAYER),
	);
};
