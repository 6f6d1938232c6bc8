/**
 * Pages and forms of the WebAuthn method: key registration, the "use your security key" form of
 * the second-factor and step-up pages, and the SSH approval page. No inline script: the forms
 * carry their options as data attributes (or an options URL) and /static/webauthn.js drives them.
 */
import type { PublicKeyCredentialCreationOptionsJSON, PublicKeyCredentialRequestOptionsJSON } from "@simplewebauthn/server";
import type { FactorRecord } from "../../methods/method.ts";
import type { ApprovalDetails } from "../../methods/webauthn/webauthn-method.ts";
import { Alert, CsrfField, Field, formatTime, Layout, type PageContext } from "./layout.tsx";

type Notice = { readonly kind: "error" | "info" | "success" | "warning"; readonly text: string } | null;

export const WEBAUTHN_SCRIPT = "/static/webauthn.js";

function NoticeBox({ notice }: { notice: Notice }) {
	return notice ? <Alert kind={notice.kind}>{notice.text}</Alert> : null;
}

function Script() {
	return <script type="module" src={WEBAUTHN_SCRIPT}></script>;
}

function Status() {
	return <p class="hint" data-webauthn-status="" role="status" aria-live="polite"></p>;
}

/** "2026-11-28 09:00:05 UTC": seconds matter on an approval page. */
export function formatSeconds(ms: number): string {
	return `${new Date(ms).toISOString().slice(0, 19).replace("T", " ")} UTC`;
}

/**
 * The answer form for the second-factor and step-up pages (views/login.tsx ChallengeForm renders
 * it for method "webauthn"): the options of the attempt's challenge are fetched from
 * `${action}/options`, the signed answer is posted to `${action}`.
 */
export function WebauthnAssertionForm(props: { ctx: PageContext; action: string; prompt: string; submitLabel: string; extraHidden?: Record<string, string> }) {
	return (
		<form method="post" action={props.action} class="card stack" data-webauthn="authenticate" data-options-url={`${props.action}/options`}>
			<CsrfField ctx={props.ctx} />
			{Object.entries(props.extraHidden ?? {}).map(([name, value]) => (
				<input type="hidden" name={name} value={value} />
			))}
			<input type="hidden" name="response" value="" />
			<p>{props.prompt}</p>
			<p class="hint">Press the button, then insert or touch your security key (or confirm the passkey) when the browser asks.</p>
			<button type="submit" class="primary" data-webauthn-start="">
				{props.submitLabel === "Verify" ? "Use security key" : `${props.submitLabel} with security key`}
			</button>
			<Status />
			<Script />
		</form>
	);
}

export function RegisterKeyPage(props: {
	ctx: PageContext;
	action: string;
	backHref: string;
	notice: Notice;
	registration: { challengeId: string; options: PublicKeyCredentialCreationOptionsJSON } | null;
	keys: readonly FactorRecord[];
	forced: boolean;
}) {
	const { ctx, registration } = props;
	return (
		<Layout ctx={ctx} title="Register a security key" narrow>
			<NoticeBox notice={props.notice} />
			{props.forced ? <p>Register a security key to finish logging in; nothing else is available until it is verified.</p> : null}
			<section class="card" aria-labelledby="webauthn-heading">
				<h2 id="webauthn-heading">Security key / passkey (WebAuthn)</h2>
				<ol class="steps">
					<li>Give the key a name, so you can tell your keys apart later.</li>
					<li>
						Press <strong>Register security key</strong>, then insert or touch the key (or confirm the passkey) when the browser asks.
					</li>
					<li>
						On the web you log in with a touch of the key. Over SSH the prompt prints a link: open it here, approve with the key, then press Enter in the
						terminal.
					</li>
				</ol>
				{registration !== null ? (
					<form
						method="post"
						action={props.action}
						class="stack"
						data-webauthn="register"
						data-options={JSON.stringify(registration.options)}
						autocomplete="off"
					>
						<CsrfField ctx={ctx} />
						<input type="hidden" name="challengeId" value={registration.challengeId} />
						<input type="hidden" name="response" value="" />
						<Field id="webauthn-label" name="label" label="Name of the key" hint="For example: blue YubiKey, laptop passkey" maxLength={64} autofocus />
						<button type="submit" class="primary" data-webauthn-start="">
							Register security key
						</button>
						<Status />
						<Script />
					</form>
				) : null}
			</section>
			{props.keys.length > 0 ? (
				<section class="card" aria-labelledby="webauthn-keys">
					<h2 id="webauthn-keys">Your registered keys</h2>
					<ul id="webauthn-key-list">
						{props.keys.map((key) => (
							<li>
								<strong>{key.label}</strong>{" "}
								<span class="hint-inline">
									(added {formatTime(key.verifiedAt ?? key.createdAt)}, last used {formatTime(key.lastUsedAt)})
								</span>
							</li>
						))}
					</ul>
				</section>
			) : null}
			<p>
				<a href={props.backHref}>Back</a>
			</p>
		</Layout>
	);
}

const CLOSED: Record<ApprovalDetails["status"], { kind: "success" | "info" | "warning" | "error"; text: string }> = {
	pending: { kind: "info", text: "This login is waiting for your approval." },
	approved: { kind: "success", text: "Approved. Go back to your terminal and press Enter." },
	consumed: { kind: "info", text: "This login was approved and has finished. The link cannot be used again." },
	denied: { kind: "warning", text: "You denied this login. The SSH connection will be refused." },
	superseded: { kind: "info", text: "This link was replaced by a newer one for the same connection. Use the link your terminal shows now." },
	expired: { kind: "warning", text: "This link has expired. Start the SSH login again to get a new one." },
};

export function ApprovalPage(props: {
	ctx: PageContext;
	username: string;
	token: string;
	details: ApprovalDetails;
	pending: { challengeId: string; options: PublicKeyCredentialRequestOptionsJSON } | null;
	notice: Notice;
}) {
	const { ctx, details, pending } = props;
	const state = CLOSED[details.status];
	return (
		<Layout ctx={ctx} title="Approve SSH login" narrow>
			<NoticeBox notice={props.notice} />
			<section class="card" aria-labelledby="approval-heading">
				<h2 id="approval-heading">
					SSH login as <span id="approval-user">{props.username}</span> from <span id="approval-source">{details.source}</span>
				</h2>
				<dl class="facts">
					<dt>What you approve</dt>
					<dd>One SSH connection to this gateway, now waiting at its two-factor prompt.</dd>
					<dt>Requested</dt>
					<dd id="approval-time">{formatSeconds(details.createdAt)}</dd>
					<dt>Link valid until</dt>
					<dd>{formatSeconds(details.expiresAt)}</dd>
				</dl>
				{pending === null ? (
					<Alert kind={state.kind}>
						<span id="approval-status">{state.text}</span>
					</Alert>
				) : (
					<>
						<p>
							If this is you, approve with your security key, then press Enter in your terminal. If you did not start this login, deny it and change your
							password.
						</p>
						<form method="post" action={`/approve/${props.token}`} class="stack" data-webauthn="authenticate" data-options={JSON.stringify(pending.options)}>
							<CsrfField ctx={ctx} />
							<input type="hidden" name="challengeId" value={pending.challengeId} />
							<input type="hidden" name="response" value="" />
							<button type="submit" class="primary" data-webauthn-start="">
								Approve with security key
							</button>
							<Status />
							<Script />
						</form>
						<form method="post" action={`/approve/${props.token}/deny`} class="inline">
							<CsrfField ctx={ctx} />
							<button type="submit" class="danger">
								Deny: this was not me
							</button>
						</form>
					</>
				)}
			</section>
		</Layout>
	);
}
