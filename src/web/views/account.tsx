/** Account pages: factors, recovery codes, password, step-up. */
import { METHOD_INFO, type MethodId } from "../../core/method-id.ts";
import type { FactorRecord } from "../../methods/method.ts";
import { Alert, CsrfField, Field, formatTime, Layout, type PageContext } from "./layout.tsx";
import { ChallengeForm, KeywordSetupForm, MethodPicker, NoticeBox, TotpStartForm, type Notice } from "./login.tsx";
import { hasMethodEnrollLinks, MethodEnrollLinks } from "./method-links.tsx";
import { describeEvent, methodWords, whereWords } from "./event-words.ts";

export interface AccountView {
	readonly factors: readonly FactorRecord[];
	readonly recoveryCodesLeft: number;
	readonly enrollable: readonly MethodId[];
	readonly explanation: string;
	readonly required: boolean;
	readonly sshLine: string;
	/** Until when management actions work without another step-up; null when stale. */
	readonly freshUntil: number | null;
	/** The user's latest security events, newest first. */
	readonly events: readonly SecurityEvent[];
	/** Live SSH remember-window grants: SSH logins from these addresses skip the second factor until then. */
	readonly remembered: readonly {
		readonly id: string;
		readonly source: string;
		readonly method: string;
		readonly createdAt: number;
		readonly expiresAt: number;
	}[];
}

export interface SecurityEvent {
	readonly at: number;
	readonly event: string;
	readonly outcome: string;
	readonly channel: string | null;
	readonly method: string | null;
	readonly source: string | null;
}

function SecurityEvents({ events }: { events: readonly SecurityEvent[] }) {
	if (events.length === 0) return <p>No events yet.</p>;
	return (
		<table>
			<thead>
				<tr>
					<th scope="col">When</th>
					<th scope="col">What</th>
					<th scope="col">Where</th>
				</tr>
			</thead>
			<tbody>
				{events.map((event) => (
					<tr class={event.outcome === "failure" ? "failure" : undefined}>
						<td>{formatTime(event.at)}</td>
						<td>
							{describeEvent(event.event, event.outcome)}
							{event.method ? ` · ${methodWords(event.method)}` : ""}
						</td>
						<td>{whereWords(event.channel, event.source)}</td>
					</tr>
				))}
			</tbody>
		</table>
	);
}

export function AccountPage({ ctx, view, notice }: { ctx: PageContext; view: AccountView; notice: Notice }) {
	const hasKeyword = view.factors.some((factor) => factor.method === "access-keyword");
	const canAddTotp = view.enrollable.includes("totp");
	const canAddKeyword = view.enrollable.includes("access-keyword") && !hasKeyword;
	return (
		<Layout ctx={ctx} title="My account">
			<NoticeBox notice={notice} />
			<section class="card" aria-labelledby="policy-heading">
				<h2 id="policy-heading">Two-factor authentication</h2>
				<p class="why">{view.explanation}</p>
				<p>
					<strong>SSH logins will ask for:</strong> <span id="ssh-method">{view.sshLine}</span>
				</p>
				{view.freshUntil !== null ? (
					<p class="hint">You confirmed your identity recently. You can change your factors and password until {formatTime(view.freshUntil)}.</p>
				) : (
					<Alert kind="info">
						Changing factors, recovery codes or your password needs a fresh confirmation. <a href="/account/step-up?next=%2Faccount">Confirm it is you</a>
					</Alert>
				)}
			</section>

			<section class="card" aria-labelledby="factors-heading">
				<h2 id="factors-heading">Your second factors</h2>
				{view.factors.length === 0 ? (
					<p>You have not set up a second factor.</p>
				) : (
					<table>
						<caption class="visually-hidden">Your second factors</caption>
						<thead>
							<tr>
								<th scope="col">Method</th>
								<th scope="col">Label</th>
								<th scope="col">Added</th>
								<th scope="col">Last used</th>
								<th scope="col">
									<span class="visually-hidden">Actions</span>
								</th>
							</tr>
						</thead>
						<tbody>
							{view.factors.map((factor) => (
								<tr>
									<td>
										{METHOD_INFO[factor.method].label}
										{METHOD_INFO[factor.method].kind === "knowledge" ? <span class="tag">knowledge factor</span> : null}
									</td>
									<td>{factor.label}</td>
									<td>{formatTime(factor.verifiedAt ?? factor.createdAt)}</td>
									<td>{formatTime(factor.lastUsedAt)}</td>
									<td class="actions">
										<form method="post" action="/account/factors/remove" class="inline">
											<CsrfField ctx={ctx} />
											<input type="hidden" name="factorId" value={factor.id} />
											<button type="submit" class="danger small" aria-label={`Remove ${METHOD_INFO[factor.method].label} ${factor.label}`}>
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

			{canAddTotp || canAddKeyword || hasMethodEnrollLinks(view.enrollable) ? (
				<section class="card" aria-labelledby="add-heading">
					<h2 id="add-heading">Add a second factor</h2>
					<div class="grid">
						{canAddTotp ? (
							<div>
								<h3>{METHOD_INFO.totp.label}</h3>
								<TotpStartForm ctx={ctx} action="/account/factors/totp" />
							</div>
						) : null}
						{canAddKeyword ? (
							<div>
								<h3>{METHOD_INFO["access-keyword"].label}</h3>
								<KeywordSetupForm ctx={ctx} action="/account/factors/keyword" withLabel />
							</div>
						) : null}
					</div>
					<MethodEnrollLinks methods={view.enrollable} base="/account/factors" />
				</section>
			) : null}

			<section class="card" aria-labelledby="recovery-heading">
				<h2 id="recovery-heading">Recovery codes</h2>
				<p>
					{view.recoveryCodesLeft === 0
						? "You have no unused recovery codes."
						: `You have ${view.recoveryCodesLeft} unused recovery code${view.recoveryCodesLeft === 1 ? "" : "s"}.`}{" "}
					Recovery codes let you log in once each if you lose your other factors.
				</p>
				<form method="post" action="/account/recovery-codes" class="inline">
					<CsrfField ctx={ctx} />
					<button type="submit">{view.recoveryCodesLeft === 0 ? "Create recovery codes" : "Replace recovery codes"}</button>
				</form>
			</section>

			<section class="card" aria-labelledby="events-heading">
				<h2 id="events-heading">Recent security events</h2>
				<p class="hint">If you see a login or a wrong second-factor answer that was not you, change your password and tell your administrator.</p>
				<SecurityEvents events={view.events} />
			</section>

			{view.remembered.length > 0 ? (
				<section class="card" aria-labelledby="remembered-heading">
					<h2 id="remembered-heading">Remembered SSH logins</h2>
					<p class="hint">SSH logins from these addresses skip the second factor until the time shown. Forget one if you did not expect it.</p>
					<table class="remembered-grants">
						<thead>
							<tr>
								<th scope="col">From address</th>
								<th scope="col">Proven with</th>
								<th scope="col">Since</th>
								<th scope="col">Until</th>
								<th scope="col">
									<span class="visually-hidden">Action</span>
								</th>
							</tr>
						</thead>
						<tbody>
							{view.remembered.map((grant) => (
								<tr>
									<td>{grant.source}</td>
									<td>{grant.method in METHOD_INFO ? METHOD_INFO[grant.method as MethodId].label : grant.method}</td>
									<td>{formatTime(grant.createdAt)}</td>
									<td>{formatTime(grant.expiresAt)}</td>
									<td>
										<form method="post" action="/account/remembered/forget" class="inline">
											<CsrfField ctx={ctx} />
											<input type="hidden" name="grantId" value={grant.id} />
											<button type="submit">Forget</button>
										</form>
									</td>
								</tr>
							))}
						</tbody>
					</table>
				</section>
			) : null}

			<section class="card" aria-labelledby="ssh-keys-heading">
				<h2 id="ssh-keys-heading">SSH keys</h2>
				<p>
					Log in to the SSH gateway with a public key instead of your password (your second factor is still asked).{" "}
					<a href="/account/ssh-keys">Manage your SSH keys</a>
				</p>
			</section>

			<section class="card" aria-labelledby="api-tokens-heading">
				<h2 id="api-tokens-heading">API tokens</h2>
				<p>
					Personal tokens for the REST API, with scopes and an expiry. <a href="/account/tokens">Manage your API tokens</a>
				</p>
			</section>

			<section class="card" aria-labelledby="password-heading">
				<h2 id="password-heading">Password</h2>
				<p>
					<a href="/account/password">Change your password</a>
				</p>
			</section>
		</Layout>
	);
}

export function RecoveryOfferPage({ ctx }: { ctx: PageContext }) {
	return (
		<Layout ctx={ctx} title="Your second factor is ready" narrow>
			<Alert kind="success">Your new second factor is set up and verified.</Alert>
			<p>Create recovery codes now: if you lose your phone or forget your keyword, each code lets you log in once.</p>
			<form method="post" action="/account/recovery-codes" class="stack">
				<CsrfField ctx={ctx} />
				<button type="submit" class="primary">
					Create recovery codes
				</button>
			</form>
			<p>
				<a href="/account">Skip for now and go to my account</a>
			</p>
		</Layout>
	);
}

export function RecoveryCodesPage({ ctx, codes }: { ctx: PageContext; codes: readonly string[] }) {
	return (
		<Layout ctx={ctx} title="Your recovery codes" narrow>
			<Alert kind="warning">These codes are shown only once. Store them somewhere safe now; any codes you had before no longer work.</Alert>
			<ol class="codes" id="recovery-codes">
				{codes.map((code) => (
					<li>
						<code>{code}</code>
					</li>
				))}
			</ol>
			<p>
				<a href="/account">I have saved them, go to my account</a>
			</p>
		</Layout>
	);
}

/** What the password policy asks (src/core/password-policy.ts), said before the user types. */
export const PASSWORD_HINT = "At least 10 characters. Not a common or breached password, and not containing your username. Several unrelated words work well.";

export function PasswordPage({
	ctx,
	forced,
	notice,
	action = "/account/password",
}: {
	ctx: PageContext;
	forced: boolean;
	notice: Notice;
	/** /login/password during a first login (before enrolment), /account/password otherwise. */
	action?: string;
}) {
	return (
		<Layout ctx={ctx} title="Change password" narrow>
			{forced ? <Alert kind="warning">You must change your password before you continue.</Alert> : null}
			<NoticeBox notice={notice} />
			<form method="post" action={action} class="card stack">
				<CsrfField ctx={ctx} />
				<Field id="current" name="current" label="Current password" type="password" autocomplete="current-password" required maxLength={1024} autofocus />
				<Field id="password" name="password" label="New password" type="password" autocomplete="new-password" hint={PASSWORD_HINT} required maxLength={1024} />
				<Field id="confirm" name="confirm" label="New password again" type="password" autocomplete="new-password" required maxLength={1024} />
				<button type="submit" class="primary">
					Change password
				</button>
			</form>
		</Layout>
	);
}

export function StepUpPage(props: {
	ctx: PageContext;
	next: string;
	notice: Notice;
	mode: { kind: "second-factor"; explanation: string; methods: readonly MethodId[]; method: MethodId; prompt: string | null } | { kind: "password" };
}) {
	const { ctx, next, mode } = props;
	return (
		<Layout ctx={ctx} title="Confirm it is you" narrow>
			<p>Changing your factors, recovery codes, password or the policy needs a recent confirmation.</p>
			<NoticeBox notice={props.notice} />
			{mode.kind === "password" ? (
				<form method="post" action="/account/step-up" class="card stack">
					<CsrfField ctx={ctx} />
					<input type="hidden" name="next" value={next} />
					<Field id="password" name="password" label="Your password" type="password" autocomplete="current-password" required maxLength={1024} autofocus />
					<button type="submit" class="primary">
						Confirm
					</button>
				</form>
			) : (
				<>
					<MethodPicker
						methods={mode.methods}
						current={mode.method}
						hrefFor={(other) => `/account/step-up?method=${encodeURIComponent(other)}&next=${encodeURIComponent(next)}`}
					/>
					{mode.prompt !== null ? (
						<ChallengeForm ctx={ctx} action="/account/step-up" method={mode.method} prompt={mode.prompt} submitLabel="Confirm" extraHidden={{ next }} />
					) : null}
				</>
			)}
			<p>
				<a href="/account">Cancel</a>
			</p>
		</Layout>
	);
}
