/**
 * Login, second-factor and forced-enrolment pages. They render LoginStep values from LoginFlow;
 * which methods are offered, and why, comes from the flow.
 */
import { METHOD_INFO, type MethodId } from "../../core/method-id.ts";
import { Alert, CsrfField, Field, Layout, type PageContext } from "./layout.tsx";
import { MethodEnrollLinks, LINKED_ENROLLABLE } from "./method-links.tsx";
import { WebauthnAssertionForm } from "./webauthn.tsx";
import { DUO_UNIVERSAL_PROMPT } from "../../methods/duo/duo-universal.ts";

export type Notice = { readonly kind: "error" | "info" | "success" | "warning"; readonly text: string } | null;

export function NoticeBox({ notice }: { notice: Notice }) {
	return notice ? <Alert kind={notice.kind}>{notice.text}</Alert> : null;
}

export function LoginPage({ ctx, notice, username }: { ctx: PageContext; notice: Notice; username?: string }) {
	return (
		<Layout ctx={ctx} title="Log in" narrow>
			<NoticeBox notice={notice} />
			<form method="post" action="/login" class="card stack">
				<CsrfField ctx={ctx} />
				<Field id="username" name="username" label="Username" autocomplete="username" required maxLength={64} value={username} autofocus />
				<Field id="password" name="password" label="Password" type="password" autocomplete="current-password" required maxLength={1024} />
				<button type="submit" class="primary">
					Log in
				</button>
			</form>
		</Layout>
	);
}

const CODE_HINTS: Partial<Record<MethodId, string>> = {
	"yubikey-otp": "Click here and touch your YubiKey: it types a 44-character one-time password.",
	duo: "A passcode from Duo Mobile, a text message or a token, or the number of an option (for example 1 for a push).",
};

/**
 * "Continue to Duo" (POST with the CSRF token): the server checks Duo's health, stores a fresh
 * state on this attempt and sends the browser to Duo's Universal Prompt, which returns to
 * /login/duo/callback.
 */
export function DuoContinueForm({ ctx, action, extraHidden }: { ctx: PageContext; action: string; extraHidden?: Record<string, string> }) {
	return (
		<form method="post" action={action} class="card stack" id="duo-universal">
			<CsrfField ctx={ctx} />
			{Object.entries(extraHidden ?? {}).map(([name, value]) => (
				<input type="hidden" name={name} value={value} />
			))}
			<p>
				Duo asks you to approve this login on its own page (a push to Duo Mobile, a passcode, a security key or whatever your organisation set up there). You
				come back here afterwards.
			</p>
			<button type="submit" class="primary">
				Continue to Duo
			</button>
		</form>
	);
}

/** "Access keyword: characters 2, 5 and 9" → [2, 5, 9] (display only; the flow holds the positions). */
export function keywordPositions(prompt: string): number[] {
	const list = prompt.slice(prompt.indexOf(":") + 1);
	return (list.match(/\d+/g) ?? []).map(Number).slice(0, 3);
}

/** The answer form for one method: a code field, or three single-character keyword fields. */
export function ChallengeForm(props: {
	ctx: PageContext;
	action: string;
	method: MethodId;
	prompt: string;
	submitLabel: string;
	extraHidden?: Record<string, string>;
}) {
	const { ctx, method, prompt } = props;
	// WebAuthn is a browser ceremony, not a typed answer (src/web/routes/webauthn.tsx).
	if (method === "webauthn")
		return (
			<WebauthnAssertionForm ctx={ctx} action={`${props.action}/webauthn`} prompt={prompt} submitLabel={props.submitLabel} extraHidden={props.extraHidden} />
		);
	// Duo's Universal Prompt runs at Duo: a button that starts the round (src/web/routes/duo-universal.tsx).
	if (method === "duo" && prompt === DUO_UNIVERSAL_PROMPT) return <DuoContinueForm ctx={ctx} action={`${props.action}/duo`} extraHidden={props.extraHidden} />;
	const positions = method === "access-keyword" ? keywordPositions(prompt) : [];
	return (
		<form method="post" action={props.action} class="card stack">
			<CsrfField ctx={ctx} />
			<input type="hidden" name="method" value={method} />
			{Object.entries(props.extraHidden ?? {}).map(([name, value]) => (
				<input type="hidden" name={name} value={value} />
			))}
			{method === "access-keyword" ? (
				<fieldset>
					<legend>{prompt}</legend>
					<p class="hint">Type only the requested characters of your access keyword, one per box.</p>
					<div class="char-row">
						{positions.map((position, index) => (
							<div class="char-field">
								<label for={`c${index + 1}`}>Character {position}</label>
								<input
									id={`c${index + 1}`}
									name={`c${index + 1}`}
									type="password"
									// Two UTF-16 units: one character outside the BMP; the script keeps one character per box.
									maxLength={2}
									size={2}
									autocomplete="off"
									required
									autofocus={index === 0}
									data-keyword-box=""
								/>
							</div>
						))}
					</div>
					<script type="module" src="/static/keyword-boxes.js"></script>
				</fieldset>
			) : method === "recovery-code" ? (
				<Field
					id="code"
					name="code"
					label="Recovery code"
					hint="One of the codes you saved, like abcde-fghjk. Each code works once."
					autocomplete="off"
					required
					maxLength={32}
					autofocus
				/>
			) : method === "totp" ? (
				<Field
					id="code"
					name="code"
					label={prompt}
					hint="The 6-digit code your authenticator app shows now."
					autocomplete="one-time-code"
					inputMode="numeric"
					pattern="[0-9 ]{6,7}"
					required
					maxLength={7}
					autofocus
				/>
			) : (
				// Backend methods answer with their own text (a 44-character YubiKey OTP, a Duo passcode or
				// option number, a RADIUS token code): no TOTP pattern, the form's 64-character limit.
				<Field
					id="code"
					name="code"
					label={prompt}
					hint={CODE_HINTS[method]}
					type={method === "radius" ? "password" : "text"}
					autocomplete="off"
					required
					maxLength={64}
					autofocus
				/>
			)}
			<button type="submit" class="primary">
				{props.submitLabel}
			</button>
		</form>
	);
}

export function MethodPicker({ methods, current, hrefFor }: { methods: readonly MethodId[]; current: MethodId; hrefFor: (method: MethodId) => string }) {
	if (methods.length < 2) return null;
	return (
		<nav class="method-picker" aria-label="Choose a method">
			<span>Use:</span>
			<ul>
				{methods.map((method) => (
					<li>
						{method === current ? <strong aria-current="true">{METHOD_INFO[method].label}</strong> : <a href={hrefFor(method)}>{METHOD_INFO[method].label}</a>}
					</li>
				))}
			</ul>
		</nav>
	);
}

export function SecondFactorPage(props: {
	ctx: PageContext;
	explanation: string;
	methods: readonly MethodId[];
	method: MethodId;
	prompt: string | null;
	notice: Notice;
}) {
	const { ctx, method } = props;
	return (
		<Layout ctx={ctx} title="Second factor" narrow>
			<p class="why">{props.explanation}</p>
			<NoticeBox notice={props.notice} />
			<MethodPicker methods={props.methods} current={method} hrefFor={(other) => `/login/2fa?method=${encodeURIComponent(other)}`} />
			{props.prompt !== null ? <ChallengeForm ctx={ctx} action="/login/2fa" method={method} prompt={props.prompt} submitLabel="Verify" /> : null}
		</Layout>
	);
}

export function KeywordSetupForm({ ctx, action, withLabel }: { ctx: PageContext; action: string; withLabel: boolean }) {
	return (
		<form method="post" action={action} class="stack">
			<CsrfField ctx={ctx} />
			<p class="hint">
				An access keyword is a <strong>knowledge factor</strong>: something you know, like a second password. At login you type three of its characters. Use at
				least 10 characters with at least 4 different ones, and do not reuse your password.
			</p>
			<Field id="keyword" name="keyword" label="Access keyword" type="password" autocomplete="new-password" required maxLength={64} />
			<Field id="confirm" name="confirm" label="Access keyword again" type="password" autocomplete="new-password" required maxLength={64} />
			{withLabel ? <Field id="keyword-label" name="label" label="Label (optional)" maxLength={64} /> : null}
			<button type="submit" class="primary">
				Save access keyword
			</button>
		</form>
	);
}

export function TotpStartForm({ ctx, action }: { ctx: PageContext; action: string }) {
	return (
		<form method="post" action={action} class="stack">
			<CsrfField ctx={ctx} />
			<p class="hint">
				Use an authenticator app such as Google Authenticator, Aegis, FreeOTP or 1Password. You will scan a QR code and type one code to confirm.
			</p>
			<Field id="totp-label" name="label" label="Label (optional)" hint="For example: work phone" maxLength={64} />
			<button type="submit" class="primary">
				Set up authenticator app
			</button>
		</form>
	);
}

export function EnrollChoosePage(props: { ctx: PageContext; explanation: string; methods: readonly MethodId[]; notice: Notice; tokenMissing: boolean }) {
	const { ctx } = props;
	return (
		<Layout ctx={ctx} title="Set up a second factor">
			<p class="why">{props.explanation}</p>
			<p>You have not set up a second factor yet. Set one up now to finish logging in; nothing else is available until it is verified.</p>
			{props.tokenMissing ? (
				<Alert kind="warning">An administrator reset your second factors. Open the one-time enrolment link they gave you, then log in again.</Alert>
			) : null}
			<NoticeBox notice={props.notice} />
			<div class="grid">
				{props.methods.includes("totp") ? (
					<section class="card" aria-labelledby="enrol-totp">
						<h2 id="enrol-totp">{METHOD_INFO.totp.label}</h2>
						<TotpStartForm ctx={ctx} action="/login/enroll/totp" />
					</section>
				) : null}
				{props.methods.includes("access-keyword") ? (
					<section class="card" aria-labelledby="enrol-keyword">
						<h2 id="enrol-keyword">{METHOD_INFO["access-keyword"].label}</h2>
						<KeywordSetupForm ctx={ctx} action="/login/enroll/keyword" withLabel />
					</section>
				) : null}
			</div>
			<MethodEnrollLinks methods={props.methods} base="/login/enroll" />
			{props.methods.filter((method) => method !== "totp" && method !== "access-keyword" && !LINKED_ENROLLABLE.includes(method)).length > 0 ? (
				<p class="hint">Other methods allowed for you cannot be set up in this console yet.</p>
			) : null}
		</Layout>
	);
}

/** TOTP enrolment: QR code (inline SVG from the server), the key as text and the otpauth:// URI, then one code. */
export function TotpSetupPage(props: {
	ctx: PageContext;
	title: string;
	display: { secret?: string; uri?: string; qrSvg?: string } | null;
	factorId: string;
	action: string;
	notice: Notice;
	restartHref: string;
}) {
	const { ctx, display } = props;
	return (
		<Layout ctx={ctx} title={props.title}>
			<NoticeBox notice={props.notice} />
			{display ? (
				<div class="totp-setup card">
					<div class="qr" role="img" aria-label="QR code with your authenticator key" dangerouslySetInnerHTML={{ __html: display.qrSvg ?? "" }} />
					<div class="stack">
						<ol class="steps">
							<li>Open your authenticator app and add an account.</li>
							<li>Scan the QR code, or type the key below.</li>
							<li>Type the 6-digit code the app shows to confirm.</li>
						</ol>
						<div>
							<p class="label" id="totp-key-label">
								Key
							</p>
							<p class="secret" id="totp-key">
								{display.secret}
							</p>
						</div>
						<details>
							<summary>Setup link (otpauth://)</summary>
							<p class="uri" id="totp-uri">
								{display.uri}
							</p>
						</details>
					</div>
				</div>
			) : (
				<p>
					Type the code your authenticator app shows for this account. If you have not added the key to your app yet,{" "}
					<a href={props.restartHref}>start again</a>.
				</p>
			)}
			<form method="post" action={props.action} class="card stack narrow-form">
				<CsrfField ctx={ctx} />
				<input type="hidden" name="factorId" value={props.factorId} />
				<Field
					id="code"
					name="code"
					label="Code from the app"
					hint="6 digits"
					autocomplete="one-time-code"
					inputMode="numeric"
					pattern="[0-9 ]{6,7}"
					required
					maxLength={7}
					autofocus
				/>
				<button type="submit" class="primary">
					Confirm
				</button>
			</form>
		</Layout>
	);
}
