/**
 * Account page for SSH public keys: list, add (paste a .pub line), remove. A key
 * is a first factor on the SSH gateway, so adding and removing need a fresh second factor like
 * every other credential change (docs/threat-model.md I8/W11); the guard enforces `stepUp`. The page also
 * shows the gateway's host key fingerprint, so users can check it on their first connection.
 */
import type { FastifyReply, FastifyRequest } from "fastify";
import type { Actor } from "../../flows/admin-service.ts";
import { pageContext, seeOther, sendPage, type RouteModule } from "../context.ts";
import { req, str } from "../forms.ts";
import { getRoute, postRoute } from "../route-kit.ts";
import type { Notice } from "../views/login.tsx";
import { SshKeysPage } from "../views/ssh-keys.tsx";

const MESSAGES: Record<string, Notice> = {
	added: { kind: "success", text: "The key was added. It still needs your second factor on the gateway wherever 2FA is required." },
	removed: { kind: "success", text: "The key was removed." },
};

export const accountKeysRoutes: RouteModule = (server, web) => {
	const { services } = web;
	const fresh = { access: "full" as const, stepUp: true, stepUpReturn: "/account/ssh-keys" };

	function owner(request: FastifyRequest): { id: string; username: string } {
		return { id: request.web.session?.user_id ?? "", username: request.web.user?.username ?? "" };
	}

	function actor(request: FastifyRequest): Actor {
		return { name: `user:${request.web.user?.username ?? "?"}`, channel: "web", source: request.ip };
	}

	async function page(request: FastifyRequest, reply: FastifyReply, notice: Notice, status = 200, draft?: string): Promise<FastifyReply> {
		const [keys, hostFingerprint] = await Promise.all([services.sshKeys.list(owner(request).id), services.gateway.hostFingerprint()]);
		return sendPage(
			reply,
			status,
			<SshKeysPage ctx={pageContext(request)} keys={keys} hostFingerprint={hostFingerprint ?? null} notice={notice} draft={draft} />,
		);
	}

	getRoute(server, "/account/ssh-keys", { access: "full", fields: { m: str(16) } }, async (request, reply, query) =>
		page(request, reply, query.m !== undefined ? (MESSAGES[query.m] ?? null) : null),
	);

	postRoute(server, "/account/ssh-keys", { ...fresh, fields: { publicKey: req(8192) } }, async (request, reply, form) => {
		const result = await services.sshKeys.add(actor(request), owner(request), form.publicKey);
		if (!result.ok) return page(request, reply, { kind: "error", text: result.message }, 400, form.publicKey.slice(0, 8192));
		return seeOther(reply, "/account/ssh-keys?m=added");
	});

	postRoute(server, "/account/ssh-keys/remove", { ...fresh, fields: { fingerprint: req(100) } }, async (request, reply, form) => {
		if (!(await services.sshKeys.remove(actor(request), owner(request), form.fingerprint)))
			return page(request, reply, { kind: "error", text: "That key does not exist (any more)." }, 404);
		return seeOther(reply, "/account/ssh-keys?m=removed");
	});
};
