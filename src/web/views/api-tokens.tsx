/**
 * The account page for REST API tokens (routes/account-tokens.tsx): the list (never the token
 * itself), the form to make one, and the token shown once right after it was made.
 */
import { API_SCOPES, API_TOKEN_MAX_DAYS } from "../../core/api-scopes.ts";
import type { TokenView } from "../../flows/api-tokens.ts";
import { Alert, CsrfField, formatTime, Layout, type PageContext } from "./layout.tsx";
import { NoticeBox, type Notice } from "./login.tsx";

const SCOPE_TEXT: Record<(typeof API_SCOPES)[number], string> = {
	read: "read users, groups, servers, settings and sessions",
	"users:write": "create, disable and enable users; group members; end sessions",
	"servers:write": "add and remove servers; grant them to groups",
	"settings:write": "change the 2FA settings and group policies",
	"audit:read": "read the audit log; list and download recordings",
};

export function scopeField(scope: string): string {
	return `scope_${scope.replace(":", "_")}`;
}

export function ApiTokensPage({
	ctx,
	tokens,
	notice,
	created,
	isAdmin,
}: {
	ctx: PageContext;
	tokens: readonly TokenView[];
	notice: Notice;
	created: { token: string; name: string } | null;
	isAdmin: boolean;
}) {
	return (
		<Layout ctx={ctx} title="API tokens">
			<NoticeBox notice={notice} />
			<p>
				<a href="/account">Back to my account</a>
			</p>
			{created ? (
				<section class="card" aria-labelledby="new-token-heading">
					<h2 id="new-token-heading">Your new token "{created.name}"</h2>
					<Alert kind="warning">Copy it now: it is shown only this once. Portcullis keeps only a hash of it.</Alert>
					<p>
						<code id="api-token">{created.token}</code>
					</p>
				</section>
			) : null}
			<section class="card" aria-labelledby="tokens-heading">
				<h2 id="tokens-heading">Your API tokens</h2>
				<p class="why">
					A token acts for you on the REST API (docs/api.md), within its scopes and never beyond your own rights. It stops working at once when it is revoked or
					expires, when your account is disabled or locked, when your password or second factors are reset, or when the policy asks for a second factor it did
					not prove.
				</p>
				{tokens.length === 0 ? (
					<p>You have no API tokens.</p>
				) : (
					<table>
						<caption class="visually-hidden">Your API tokens</caption>
						<thead>
							<tr>
								<th scope="col">Name</th>
								<th scope="col">Scopes</th>
								<th scope="col">Created</th>
								<th scope="col">Expires</th>
								<th scope="col">Last used</th>
								<th scope="col">State</th>
								<th scope="col">
									<span class="visually-hidden">Actions</span>
								</th>
							</tr>
						</thead>
						<tbody>
							{tokens.map((token) => (
								<tr>
									<td>{token.name}</td>
									<td>{token.scopes.join(", ")}</td>
									<td>{formatTime(token.createdAt)}</td>
									<td>{formatTime(token.expiresAt)}</td>
									<td>
										{formatTime(token.lastUsedAt)}
										{token.lastUsedSource ? ` from ${token.lastUsedSource}` : ""}
									</td>
									<td class="token-state">{token.state}</td>
									<td class="actions">
										{token.state === "active" ? (
											<form method="post" action="/account/tokens/revoke" class="inline">
												<CsrfField ctx={ctx} />
												<input type="hidden" name="tokenId" value={token.id} />
												<button type="submit">Revoke</button>
											</form>
										) : null}
									</td>
								</tr>
							))}
						</tbody>
					</table>
				)}
			</section>
			<section class="card" aria-labelledby="create-token-heading">
				<h2 id="create-token-heading">Create a token</h2>
				<p class="why">
					Making a token needs a fresh confirmation with your second factor.{" "}
					{isAdmin ? "" : "Only administrators' tokens can call the admin routes; yours can read who you are (GET /api/v1/me)."}
				</p>
				<form method="post" action="/account/tokens">
					<CsrfField ctx={ctx} />
					<label for="token-name">Name</label>
					<input id="token-name" name="name" required maxLength={64} />
					<fieldset>
						<legend>Scopes</legend>
						{API_SCOPES.map((scope) => (
							<label>
								<input type="checkbox" name={scopeField(scope)} value="on" /> <code>{scope}</code>: {SCOPE_TEXT[scope]}
							</label>
						))}
					</fieldset>
					<label for="token-days">Expires in (days, at most {API_TOKEN_MAX_DAYS})</label>
					<input id="token-days" name="days" type="number" required min={1} max={API_TOKEN_MAX_DAYS} value="90" />
					<button type="submit">Create token</button>
				</form>
			</section>
		</Layout>
	);
}
