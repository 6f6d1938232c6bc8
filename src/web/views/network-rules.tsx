/** Admin page: trusted networks of the 2FA policy (docs/decisions.md "Network rules"). */
import type { StoredNetworkRule } from "../../storage/network-rule-store.ts";
import { CsrfField, formatTime, Layout, type PageContext } from "./layout.tsx";
import { NoticeBox, type Notice } from "./login.tsx";

const MODE_TEXT: Record<StoredNetworkRule["mode"], string> = {
	"deny-outside": "Deny login from outside",
	"require-2fa-outside": "Always require 2FA from outside",
};

export function NetworkRulesPage(props: { ctx: PageContext; rules: readonly StoredNetworkRule[]; groups: readonly string[]; notice: Notice }) {
	const { ctx } = props;
	return (
		<Layout ctx={ctx} title="Network rules">
			<NoticeBox notice={props.notice} />
			<section class="card" aria-labelledby="rules-heading">
				<h2 id="rules-heading">Trusted networks</h2>
				<p>
					Outside its trusted networks a rule either refuses the login or requires a second factor. The stricter rule wins, and no rule can switch 2FA off:
					being inside a trusted network never exempts anyone.
				</p>
				{props.rules.length === 0 ? (
					<p class="muted">No network rules: the client's address plays no part in the policy.</p>
				) : (
					<table>
						<thead>
							<tr>
								<th scope="col">Applies to</th>
								<th scope="col">Rule</th>
								<th scope="col">Trusted networks</th>
								<th scope="col">Changed</th>
								<th scope="col">Remove</th>
							</tr>
						</thead>
						<tbody>
							{props.rules.map((rule) => (
								<tr>
									<td>{rule.group === null ? "everyone" : `group ${rule.group}`}</td>
									<td>{MODE_TEXT[rule.mode]}</td>
									<td>{rule.trusted.join(", ")}</td>
									<td class="nowrap">{formatTime(rule.updatedAt)}</td>
									<td>
										<form method="post" action="/admin/network/clear" class="inline">
											<CsrfField ctx={ctx} />
											<input type="hidden" name="scope" value={rule.group ?? ""} />
											<input type="hidden" name="mode" value={rule.mode} />
											<button type="submit">Remove</button>
										</form>
									</td>
								</tr>
							))}
						</tbody>
					</table>
				)}
			</section>
			<section class="card" aria-labelledby="set-heading">
				<h2 id="set-heading">Set a rule</h2>
				<form method="post" action="/admin/network/set" class="stack narrow-form">
					<CsrfField ctx={ctx} />
					<div class="field">
						<label for="network-scope">Applies to</label>
						<select id="network-scope" name="scope">
							<option value="">Everyone (global)</option>
							{props.groups.map((group) => (
								<option value={group}>Group {group}</option>
							))}
						</select>
					</div>
					<div class="field">
						<label for="network-mode">Outside the trusted networks</label>
						<select id="network-mode" name="mode">
							<option value="require-2fa-outside">{MODE_TEXT["require-2fa-outside"]}</option>
							<option value="deny-outside">{MODE_TEXT["deny-outside"]}</option>
						</select>
					</div>
					<div class="field">
						<label for="network-list">Trusted networks</label>
						<p class="hint" id="network-list-hint">
							One CIDR block per line (or separated by commas or spaces), IPv4 or IPv6: 192.0.2.0/24, 2001:db8:1::/48. Replaces this rule's list.
						</p>
						<textarea id="network-list" name="networks" rows={4} cols={60} aria-describedby="network-list-hint"></textarea>
					</div>
					<button type="submit" class="primary">
						Save
					</button>
				</form>
			</section>
		</Layout>
	);
}
