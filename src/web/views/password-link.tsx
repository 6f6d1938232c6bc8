/** The page behind a one-time password link (routes/password-link.tsx): choose a new password, twice. */
import { CsrfField, Field, Layout, type PageContext } from "./layout.tsx";
import { NoticeBox, type Notice } from "./login.tsx";

export function PasswordLinkPage({ ctx, action, username, notice }: { ctx: PageContext; action: string; username: string; notice: Notice }) {
	return (
		<Layout ctx={ctx} title="Choose a new password" narrow>
			<NoticeBox notice={notice} />
			<form method="post" action={action} class="card stack">
				<CsrfField ctx={ctx} />
				<p>
					New password for <strong>{username}</strong>. This link works once. Your second factors stay as they are: log in with the new password and your second
					factor afterwards.
				</p>
				{/* For password managers: the account the new password belongs to. */}
				<input type="hidden" name="username" value={username} autocomplete="username" />
				<Field
					id="password"
					name="password"
					label="New password"
					type="password"
					autocomplete="new-password"
					hint="At least 10 characters."
					required
					maxLength={1024}
					autofocus
				/>
				<Field id="confirm" name="confirm" label="New password again" type="password" autocomplete="new-password" required maxLength={1024} />
				<button type="submit" class="primary">
					Set the new password
				</button>
			</form>
		</Layout>
	);
}
