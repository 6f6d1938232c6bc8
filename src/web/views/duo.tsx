/**
 * The two hop pages of Duo's Universal Prompt on the web (routes/duo-universal.tsx).
 */
import { Layout, type PageContext } from "./layout.tsx";

/** "Continue to Duo": a page whose meta refresh opens Duo (CSP form-action also covers redirects). */
export function GoToDuoPage({ ctx, url }: { ctx: PageContext; url: string }) {
	return (
		<Layout ctx={ctx} title="Continue to Duo" narrow refresh={url}>
			<div class="card stack">
				<p>Opening Duo…</p>
				<p>
					If nothing happens, <a href={url}>continue to Duo</a>.
				</p>
			</div>
		</Layout>
	);
}

/** Back from Duo without the SameSite=Strict cookie: repeat the request from this origin. */
export function BouncePage({ ctx, url }: { ctx: PageContext; url: string }) {
	return (
		<Layout ctx={ctx} title="Back from Duo" narrow refresh={url}>
			<div class="card stack">
				<p>Finishing your login…</p>
				<p>
					If nothing happens, <a href={url}>continue</a>.
				</p>
			</div>
		</Layout>
	);
}
