/**
 * Admin pages for the SSH relay (docs/ssh-relay.md): servers and their grants, the gateway's
 * public key (to install in targets' authorized_keys), per-server credentials, trust-on-first-use
 * host keys (session recordings: admin-recordings.tsx).
 *
 * Follows the console's rules (routes/admin.tsx): every route declares config.access = "admin",
 * every form declares its fields, changes need a fresh step-up, ServerService refusals become a
 * visible form error.
 * (Owned by the SSH relay work; registered with one line in ./index.ts.)
 */
import type { FastifyReply, FastifyRequest } from "fastify";
import type { ServerCredential } from "../../servers/server-service.ts";
import { pageContext, seeOther, sendPage, type RouteModule } from "../context.ts";
import { checkbox, req, str } from "../forms.ts";
import { getRoute, postRoute } from "../route-kit.ts";
import { attemptAdminChange, webActor } from "../admin-change.ts";
import type { Notice } from "../views/login.tsx";
import { ServerPage, ServersPage } from "../views/servers.tsx";

const DONE: Record<string, string> = {
	created: "Server added.",
	saved: "Saved.",
	granted: "Granted.",
	revoked: "Grant removed.",
	credential: "Credential saved.",
	hostkey: "Host key reset. The next connection trusts the key it sees (or the pinned one).",
	deleted: "Server removed.",
	recording: "Recording mode saved.",
	capture: "SFTP content capture saved.",
};

function notice(m: string | undefined): Notice {
	return m !== undefined && DONE[m] ? { kind: "success", text: DONE[m] } : null;
}

/** A port that is not a number: the form comes back as typed, the port marked (views/form-echo.tsx). */
function portRefused(request: FastifyRequest): Notice {
	if (request.web.echo) request.web.echo.invalid = "port";
	return { kind: "error", text: "The port must be a number from 1 to 65535." };
}

function portOf(text: string | undefined): number | undefined | null {
	if (text === undefined || text.trim() === "") return undefined;
	return /^[0-9]{1,5}$/.test(text.trim()) ? Number(text.trim()) : null;
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
			<ServersPage
				ctx={pageContext(request)}
				servers={await servers.list()}
				groups={await groupNames()}
				gateway={{ publicKey: key.publicKey, fingerprint: key.fingerprint, hostFingerprint }}
				recordingMode={await servers.globalRecordingMode()}
				notice={shown}
			/>,
		);
	}

	async function serverPage(request: FastifyRequest, reply: FastifyReply, name: string, shown: Notice, status = 200): Promise<FastifyReply> {
		const view = (await servers.list()).find((candidate) => candidate.name === name.toLowerCase());
		if (view === undefined) return serversPage(request, reply, { kind: "error", text: "There is no such server." }, 404);
		return sendPage(reply, status, <ServerPage ctx={pageContext(request)} server={view} groups={await groupNames()} notice={shown} />);
	}

	const back = (name: string, m: string) => `/admin/server?name=${encodeURIComponent(name.toLowerCase())}&m=${m}`;

	getRoute(server, "/admin/servers", { access: "admin", fields: { m: str(32) } }, async (request, reply, query) =>
		serversPage(request, reply, notice(query.m)),
	);
	getRoute(server, "/admin/server", { access: "admin", fields: { name: req(256), m: str(32) } }, async (request, reply, query) =>
		serverPage(request, reply, query.name, notice(query.m)),
	);

	postRoute(
		server,
		"/admin/servers/create",
		{ ...change("/admin/servers"), fields: { name: req(256), host: req(253), port: str(5), login: str(64), description: str(200), group: str(64) } },
		async (request, reply, form) => {
			const port = portOf(form.port);
			if (port === null) return serversPage(request, reply, portRefused(request), 400);
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
				request,
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
			if (port === null || port === undefined) return serverPage(request, reply, form.name, portRefused(request), 400);
			const failed = await attempt(
				() => servers.update(actor(request), form.name, { host: form.host, port, loginUser: form.login ?? "", description: form.description ?? "" }),
				(shown, status) => (status === 404 ? serversPage(request, reply, shown, status) : serverPage(request, reply, form.name, shown, status)),
				request,
			);
			return failed ?? seeOther(reply, back(form.name, "saved"));
		},
	);

	postRoute(
		server,
		"/admin/servers/step-up",
		{ ...change("/admin/servers"), fields: { name: req(256), require: checkbox, fresh: str(4) } },
		async (request, reply, form) => {
			const freshText = (form.fresh ?? "").trim();
			if (freshText !== "" && !/^[0-9]{1,4}$/.test(freshText))
				return serverPage(request, reply, form.name, { kind: "error", text: "The freshness window must be a whole number of minutes." }, 400);
			const failed = await attempt(
				() => servers.update(actor(request), form.name, { requireTwoFactor: form.require, freshMinutes: freshText === "" ? null : Number(freshText) }),
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

	postRoute(
		server,
		"/admin/servers/forget-hostkey",
		{ ...change("/admin/servers"), fields: { name: req(256), pin: str(4096) } },
		async (request, reply, form) => {
			const pin = form.pin !== undefined && form.pin.trim() !== "" ? form.pin : null;
			const failed = await attempt(
				() => servers.resetHostKey(actor(request), form.name, pin),
				(shown, status) => serverPage(request, reply, form.name, shown, status),
			);
			return failed ?? seeOther(reply, back(form.name, "hostkey"));
		},
	);

	postRoute(
		server,
		"/admin/servers/recording-mode",
		{ ...change("/admin/servers"), fields: { name: req(256), mode: req(16) } },
		async (request, reply, form) => {
			const failed = await attempt(
				() => servers.update(actor(request), form.name, { recordingMode: form.mode }),
				(shown, status) => (status === 404 ? serversPage(request, reply, shown, status) : serverPage(request, reply, form.name, shown, status)),
			);
			return failed ?? seeOther(reply, back(form.name, "recording"));
		},
	);

	// SFTP content capture (docs/ssh-relay.md "Content capture"): off unless an admin turns it on here or with the CLI.
	postRoute(
		server,
		"/admin/servers/sftp-capture",
		{ ...change("/admin/servers"), fields: { name: req(256), capture: checkbox } },
		async (request, reply, form) => {
			const failed = await attempt(
				() => servers.update(actor(request), form.name, { captureSftpContent: form.capture }),
				(shown, status) => (status === 404 ? serversPage(request, reply, shown, status) : serverPage(request, reply, form.name, shown, status)),
			);
			return failed ?? seeOther(reply, back(form.name, "capture"));
		},
	);

	postRoute(server, "/admin/recordings/mode", { ...change("/admin/servers"), fields: { mode: req(16) } }, async (request, reply, form) => {
		const failed = await attempt(
			() => servers.setGlobalRecordingMode(actor(request), form.mode),
			(shown, status) => serversPage(request, reply, shown, status),
		);
		return failed ?? seeOther(reply, "/admin/servers?m=recording");
	});

	postRoute(server, "/admin/servers/delete", { ...change("/admin/servers"), fields: { name: req(256) } }, async (request, reply, form) => {
		const failed = await attempt(
			() => servers.remove(actor(request), form.name),
			(shown, status) => serversPage(request, reply, shown, status),
		);
		return failed ?? seeOther(reply, "/admin/servers?m=deleted");
	});
};
