/**
 * Setup pages of the backend methods (YubiKey OTP, Duo, RADIUS) for the account page and forced
 * enrolment (routes/methods-enroll.tsx).
 */
import type { ComponentChildren } from "preact";
import { METHOD_INFO } from "../../core/method-id.ts";
import { CsrfField, Field, Layout, type PageContext } from "./layout.tsx";
import { NoticeBox, type Notice } from "./login.tsx";
import { ENROL_TITLES as TITLES, type WebEnrollable as Enrollable } from "./method-links.tsx";

function LabelField({ id }: { id: string }) {
	return <Field id={`${id}-label`} name="label" label="Label (optional)" hint="A name for this factor, for example: blue key" maxLength={64} />;
}

export function YubikeySetupForm({ ctx, action, offline }: { ctx: PageContext; action: string; offline: boolean }) {
	return (
		<form method="post" action={action} class="stack" autocomplete="off">
			<CsrfField ctx={ctx} />
			<ol class="steps">
				<li>Plug in your YubiKey.</li>
				{offline ? (
					<li>Enter the AES secret and private id your administrator gave you (the values `ykman otp yubiotp` printed when the key was programmed).</li>
				) : null}
				<li>Click into the OTP field and touch the key once: it types a one-time password.</li>
			</ol>
			{offline ? (
				<>
					<Field id="yk-aes" name="aesKey" label="AES secret" hint="32 hexadecimal characters" maxLength={64} required autocomplete="off" />
					<Field id="yk-private" name="privateId" label="Private id" hint="12 hexadecimal characters" maxLength={24} required autocomplete="off" />
				</>
			) : null}
			<Field
				id="yk-otp"
				name="otp"
				label="YubiKey OTP"
				hint="Touch your key; it types 44 characters and presses Enter."
				maxLength={64}
				required
				autocomplete="off"
				autofocus={!offline}
			/>
			<LabelField id="yk" />
			<button type="submit" class="primary">
				Add YubiKey
			</button>
		</form>
	);
}

export function DuoSetupForm({ ctx, action, username }: { ctx: PageContext; action: string; username: string }) {
	return (
		<form method="post" action={action} class="stack">
			<CsrfField ctx={ctx} />
			<p class="hint">
				Portcullis asks Duo whether your Duo account has a device (Duo Mobile, a phone or a token). At login you then approve a push, take a call, or type a Duo
				passcode; in the browser this may happen on Duo's own page.
			</p>
			<Field
				id="duo-username"
				name="username"
				label="Duo username (optional)"
				hint={`Leave empty to use your Portcullis username (${username}).`}
				maxLength={256}
				autocomplete="off"
			/>
			<LabelField id="duo" />
			<button type="submit" class="primary">
				Add Duo
			</button>
		</form>
	);
}

export function RadiusSetupForm({ ctx, action, username }: { ctx: PageContext; action: string; username: string }) {
	return (
		<form method="post" action={action} class="stack" autocomplete="off">
			<CsrfField ctx={ctx} />
			<p class="hint">
				Your organisation's RADIUS server (for example a token or OTP server) checks one login now. If it asks a further question, you answer it on the next
				page.
			</p>
			<Field
				id="radius-username"
				name="username"
				label="RADIUS username (optional)"
				hint={`Leave empty to use your Portcullis username (${username}).`}
				maxLength={253}
				autocomplete="off"
			/>
			<Field id="radius-password" name="password" label="RADIUS password or token code" type="password" maxLength={256} required autocomplete="off" />
			<LabelField id="radius" />
			<button type="submit" class="primary">
				Add RADIUS
			</button>
		</form>
	);
}

export function RadiusChallengeForm({ ctx, action, factorId, prompt }: { ctx: PageContext; action: string; factorId: string; prompt: string }) {
	return (
		<form method="post" action={action} class="stack" autocomplete="off">
			<CsrfField ctx={ctx} />
			<input type="hidden" name="factorId" value={factorId} />
			<p class="why" id="radius-prompt">
				The RADIUS server asks: <strong>{prompt}</strong>
			</p>
			<Field id="radius-code" name="code" label="Your answer" type="password" maxLength={256} autocomplete="off" autofocus />
			<button type="submit" class="primary">
				Confirm
			</button>
		</form>
	);
}

export function MethodSetupPage(props: { ctx: PageContext; method: Enrollable; notice: Notice; backHref: string; children: ComponentChildren }) {
	return (
		<Layout ctx={props.ctx} title={TITLES[props.method]} narrow>
			<NoticeBox notice={props.notice} />
			<section class="card" aria-labelledby="setup-heading">
				<h2 id="setup-heading">{METHOD_INFO[props.method].label}</h2>
				{props.children}
			</section>
			<p>
				<a href={props.backHref}>Back</a>
			</p>
		</Layout>
	);
}
