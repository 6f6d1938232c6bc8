/** Admin page: identity sources (LDAP / Active Directory; docs/identity.md). */
import type { TestLogin } from "../../flows/directory-accounts.ts";
import type { DirectoryTest } from "../../net/ldap-directory.ts";
import type { WebIdentitySources } from "../services.ts";
import { Alert, CsrfField, Layout, type PageContext } from "./layout.tsx";
import { NoticeBox, type Notice } from "./login.tsx";

const OUTCOME_TEXT: Record<TestLogin["outcome"], string> = {
	ok: "The password is right: this user can log in.",
	"wrong-password": "The directory refused the password.",
	"unknown-user": "No (single) directory entry matches this username.",
	disabled: "The password is right, but the account is disabled in the directory: it cannot log in.",
	unavailable: "The directory could not be reached.",
};

export function IdentitySourcesPage(props: {
	ctx: PageContext;
	sources: WebIdentitySources["ldap"] | null;
	notice: Notice;
	connection?: DirectoryTest;
	testLogin?: { username: string; result: TestLogin };
}) {
	const { ctx, sources } = props;
	return (
		<Layout ctx={ctx} title="Identity sources">
			<NoticeBox notice={props.notice} />
			<section class="card" aria-labelledby="ldap-heading">
				<h2 id="ldap-heading">LDAP / Active Directory</h2>
				{sources === null ? (
					<p class="muted">No directory is configured: every account is local. Add an [ldap] table to the configuration file (docs/identity.md).</p>
				) : (
					<>
						{sources.insecure ? (
							<Alert kind="error">Insecure: plain LDAP without TLS. Directory passwords cross the network in clear. Use ldaps:// or start_tls.</Alert>
						) : null}
						<dl>
							<dt>Server</dt>
							<dd>
								<code>{sources.url}</code> ({sources.transport}
								{sources.insecure ? "" : ", certificate verified"})
							</dd>
							<dt>Users</dt>
							<dd>
								<code>{sources.userFilter}</code> under <code>{sources.userBase}</code>
							</dd>
							<dt>Deadline</dt>
							<dd>{sources.timeoutMs} ms per directory exchange</dd>
							<dt>Sync</dt>
							<dd>{sources.syncMinutes === 0 ? "at login only" : `at login and every ${sources.syncMinutes} minutes`}</dd>
						</dl>
						<h3>Group mapping</h3>
						{sources.groupMap.length === 0 ? (
							<p class="muted">No directory group is mapped: directory users belong to no group unless an admin adds them.</p>
						) : (
							<table>
								<thead>
									<tr>
										<th scope="col">Directory group</th>
										<th scope="col">Portcullis group</th>
									</tr>
								</thead>
								<tbody>
									{sources.groupMap.map((map) => (
										<tr>
											<td>
												<code>{map.directoryGroup}</code>
											</td>
											<td>{map.group}</td>
										</tr>
									))}
								</tbody>
							</table>
						)}
						<form method="post" action="/admin/identity/test-connection" class="inline">
							<CsrfField ctx={ctx} />
							<button type="submit">Test connection</button>
						</form>
						{props.connection === undefined ? null : props.connection.ok ? (
							<Alert kind="success">Connection works. {props.connection.detail}</Alert>
						) : (
							<Alert kind="error">Connection failed: {props.connection.reason}</Alert>
						)}
					</>
				)}
			</section>
			{sources === null ? null : (
				<section class="card" aria-labelledby="test-login-heading">
					<h2 id="test-login-heading">Test login</h2>
					<p>
						Checks a directory user's password by binding as them and shows the entry and the groups it maps to. Nothing is created or changed; the test is
						audited.
					</p>
					<form method="post" action="/admin/identity/test-login" class="stack narrow-form">
						<CsrfField ctx={ctx} />
						<div class="field">
							<label for="test-username">Username</label>
							<input id="test-username" name="username" autocomplete="off" required />
						</div>
						<div class="field">
							<label for="test-password">Password</label>
							<input id="test-password" name="password" type="password" autocomplete="off" required />
						</div>
						<button type="submit">Test login</button>
					</form>
					{props.testLogin === undefined ? null : (
						<div id="test-login-result">
							<Alert kind={props.testLogin.result.outcome === "ok" ? "success" : "error"}>
								{props.testLogin.username}: {OUTCOME_TEXT[props.testLogin.result.outcome]}
								{props.testLogin.result.reason === undefined ? "" : ` (${props.testLogin.result.reason})`}
							</Alert>
							{props.testLogin.result.dn === undefined ? null : (
								<dl>
									<dt>DN</dt>
									<dd>
										<code>{props.testLogin.result.dn}</code>
									</dd>
									<dt>Directory groups</dt>
									<dd>{(props.testLogin.result.directoryGroups ?? []).length === 0 ? "none" : (props.testLogin.result.directoryGroups ?? []).join("; ")}</dd>
									<dt>Portcullis groups</dt>
									<dd>{(props.testLogin.result.mappedGroups ?? []).length === 0 ? "none" : (props.testLogin.result.mappedGroups ?? []).join(", ")}</dd>
								</dl>
							)}
						</div>
					)}
				</section>
			)}
		</Layout>
	);
}
