/**
 * The account page for SSH public keys (routes/account-keys.tsx), with the gateway's host key
 * fingerprint users check on their first connection.
 */
import type { UserKeyRow } from "../../storage/ssh-key-store.ts";
import { Alert, CsrfField, formatTime, Layout, type PageContext } from "./layout.tsx";
import { NoticeBox, type Notice } from "./login.tsx";

export function SshKeysPage({
	ctx,
	keys,
	hostFingerprint,
	notice,
	draft,
}: {
	ctx: PageContext;
	keys: readonly UserKeyRow[];
	hostFingerprint: string | null;
	notice: Notice;
	draft?: string;
}) {
	return (
		<Layout ctx={ctx} title="SSH keys">
			<NoticeBox notice={notice} />
			<p>
				<a href="/account">Back to my account</a>
			</p>
			<section class="card" aria-labelledby="keys-heading">
				<h2 id="keys-heading">Your SSH public keys</h2>
				<p class="why">
					A key replaces the password as the first step of an SSH login. If two-factor authentication applies to you, the gateway still asks for your second
					factor.
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
							Paste the contents of your <code>.pub</code> file, for example <code>~/.ssh/id_ed25519.pub</code>. Ed25519, ECDSA and RSA (2048 bits or more) keys
							are accepted; security-key (sk-) keys and certificates are not.
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
						On your first connection, SSH shows the gateway's key fingerprint. Continue only if it is <code id="host-fingerprint">{hostFingerprint}</code>{" "}
						(ED25519).
					</Alert>
				</section>
			) : null}
		</Layout>
	);
}
