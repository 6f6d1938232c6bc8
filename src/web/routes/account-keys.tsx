/**
 * Account page for SSH public keys (issue 3 item 2): list, add (paste a .pub line), remove. A key
 * is a first factor on the SSH gateway, so adding and removing need a fresh second factor like
 * every other credential change (security.md I8/W11); the guard enforces `stepUp`. The page also
 * shows the gateway's host key fingerprint, so users can check it on their first connection.
 */
import type { FastifyReply, FastifyRequest } from "fastify";
import type { Actor } from "../../flows/admin-service.ts";
import type { UserKeyRow } from "../../storage/ssh-key-store.ts";
import { pageContext, seeOther, sendPage, type RouteModule } from "../context.ts";
import { req, str } from "../forms.ts";
import { getRoute, postRoute } from "../route-kit.ts";
import { Alert, CsrfField, formatTime, Layout, type PageContext } from "../views/layout.tsx";
import { NoticeBox, type Notice } from "../views/login.tsx";

const MESSAGES: Record<string, Notice> = {
	added: { kind: "success", text: "The key was added. It still needs your second factor on the gateway wherever 2FA is required." },
	removed: { kind: "success", text: "The key was removed." },
};

export function SshKeysPage({ ctx, keys, hostFingerprint, notice, draft }: { ctx: PageContext; keys: readonly UserKeyRow[]; hostFingerprint: string | null; notice: Notice; draft?: string }) {
	return (
		<Layout ctx={ctx} title="SSH keys">
			<NoticeBox notice={notice} />
			<p>
				<a href="/account">Back to my account</a>
			</p>
			<section class="card" aria-labelledby="keys-heading">
				<h2 id="keys-heading">Your SSH public keys</h2>
				<p class="why">
					A key replaces the password as the first step of an SSH login. If two-factor authentication applies to you, the gateway still asks for your second factor.
				</p>
				{keys.length === 0 ? (
					<p>You have not added an SSH key. You can log in to the gateway with your password.</p>
				) : (
					<table>
						<caption class="visually-hidden">Your SSH public keys</caption>
						<thead>
							<tr>
								<th scope="col">Fingerprint</th>
								<th scope="col">Type</th>
								<th scope="col">Comment</th>
								<th scope="col">Added</th>
								<th scope="col">
									<span class="visually-hidden">Actions</span>
								</th>
							</tr>
						</thead>
						<tbody>
							{keys.map((key) => (
								<tr>
									<td>
										<code>{key.fingerprint}</code>
									</td>
									<td>{key.algo}</td>
									<td>{key.comment || "-"}</td>
									<td>{formatTime(Number(key.created_at))}</td>
									<td class="actions">
										<form method="post" action="/account/ssh-keys/remove" class="inline">
											<CsrfField ctx={ctx} />
											<input type="hidden" name="fingerprint" value={key.fingerprint} />
											<button type="submit" class="danger small" aria-label={`Remove key ${key.fingerprint}`}>
												Remove
											</button>
										</form>
									</td>
								</tr>
							))}
						</tbody>
					</table>
				)}
			</section>
			<section class="card" aria-labelledby="add-key-heading">
				<h2 id="add-key-heading">Add a key</h2>
				<form method="post" action="/account/ssh-keys">
					<CsrfField ctx={ctx} />
					<div class="field">
						<label for="public-key">Public key</label>
						<p class="hint" id="public-key-hint">
							Paste the contents of your <code>.pub</code> file, for example <code>~/.ssh/id_ed25519.pub</code>. Ed25519, ECDSA and RSA (2048 bits or more) keys are accepted; security-key (sk-) keys and certificates are not.
						</p>
						<textarea id="public-key" name="publicKey" rows={4} required maxLength={8192} aria-describedby="public-key-hint" spellcheck={false}>
							{draft ?? ""}
						</textarea>
					</div>
					<button type="submit">Add key</button>
				</form>
			</section>
			{hostFingerprint !== null ? (
				<section class="card" aria-labelledby="host-key-heading">
					<h2 id="host-key-heading">Gateway host key</h2>
					<Alert kind="info">
						On your first connection, SSH shows the gateway's key fingerprint. Continue only if it is <code id="host-fingerprint">{hostFingerprint}</code> (ED25519).
					</Alert>
				</section>
			) : null}
		</Layout>
	);
}

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
		return sendPage(reply, status, <SshKeysPage ctx={pageContext(request)} keys={keys} hostFingerprint={hostFingerprint ?? null} notice={notice} draft={draft} />);
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
		if (!(await services.sshKeys.remove(actor(request), owner(request), form.fingerprint))) return page(request, reply, { kind: "error", text: "That key does not exist (any more)." }, 404);
		return seeOther(reply, "/account/ssh-keys?m=removed");
	});
};
