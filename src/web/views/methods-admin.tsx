/**
 * The /admin/methods page: the backend settings forms (YubiKey validation, Duo, RADIUS), their
 * "test connection" results, and the page around them. Secrets are never rendered: a secret field
 * left empty keeps the stored secret.
 */
import type { JSX } from "preact";
import type { ConfigurableMethod, RedactedSettingsMap } from "../../methods/method-settings.ts";
import type { ConnectionTestResult, MethodSettingsView, MethodSettingsViewOf } from "../../methods/method-admin.ts";
import { Alert, CsrfField, Field, Layout, type PageContext } from "./layout.tsx";
import { NoticeBox, type Notice } from "./login.tsx";

/** How many RADIUS server rows the form offers. */
export const MAX_RADIUS_ROWS = 5;

function TextArea({ id, name, label, hint, value, rows }: { id: string; name: string; label: string; hint?: string; value?: string; rows: number }) {
	const hintId = hint ? `${id}-hint` : undefined;
	return (
		<div class="field">
			<label for={id}>{label}</label>
			{hint ? (
				<p class="hint" id={hintId}>
					{hint}
				</p>
			) : null}
			<textarea id={id} name={name} rows={rows} cols={60} aria-describedby={hintId}>
				{value ?? ""}
			</textarea>
		</div>
	);
}

function SecretHint(set: boolean, what: string): string {
	return set ? `A ${what} is stored (never shown). Leave empty to keep it.` : `Required. Stored encrypted; never shown again.`;
}

function CaFields({ prefix, set }: { prefix: string; set: boolean }) {
	return (
		<>
			<TextArea
				id={`${prefix}-ca`}
				name="caPem"
				label="Private CA certificate (optional, PEM)"
				hint={
					set
						? "A private CA is stored and replaces the system roots for this method. Leave empty to keep it."
						: "Only for a server whose certificate is not from a public CA. Replaces the system roots for this method."
				}
				rows={3}
			/>
			{set ? (
				<div class="check">
					<input type="checkbox" id={`${prefix}-clear-ca`} name="clearCa" />
					<label for={`${prefix}-clear-ca`}>Remove the private CA (use the system roots again)</label>
				</div>
			) : null}
		</>
	);
}

function TestResult({ result }: { result: ConnectionTestResult | null }) {
	if (result === null) return null;
	return (
		<div role="status" class="test-result">
			<Alert kind={result.ok ? "success" : "error"}>{result.ok ? "Connection test passed." : "Connection test failed."}</Alert>
			<ul>
				{result.checks.map((check) => (
					<li>
						<span class={check.ok ? "tag tag-good" : "tag tag-bad"}>{check.ok ? "ok" : "problem"}</span> <strong>{check.target}</strong>: {check.message}
					</li>
				))}
			</ul>
		</div>
	);
}

/** A method's settings form, filled from its redacted settings (null: not configured or unreadable). */
interface SettingsFormProps<M extends ConfigurableMethod> {
	readonly ctx: PageContext;
	readonly settings: RedactedSettingsMap[M] | null;
}

function YubikeyForm({ ctx, settings }: SettingsFormProps<"yubikey-otp">) {
	const cloud = settings?.mode === "cloud" ? settings : null;
	const offline = settings?.mode === "offline";
	return (
		<form method="post" action="/admin/methods/yubikey-otp#settings-yubikey-otp" class="stack" autocomplete="off">
			<CsrfField ctx={ctx} />
			<div class="field">
				<label for="yk-mode">Validation</label>
				<p class="hint" id="yk-mode-hint">
					Cloud: a YubiCloud-compatible validation server checks each OTP (signed requests and answers). Offline: each key's AES secret is entered at enrolment
					and Portcullis checks OTPs itself.
				</p>
				<select id="yk-mode" name="mode" aria-describedby="yk-mode-hint">
					<option value="cloud" selected={!offline}>
						Validation server (YubiCloud or self-hosted)
					</option>
					<option value="offline" selected={offline}>
						Offline (AES secret per key)
					</option>
				</select>
			</div>
			<TextArea
				id="yk-urls"
				name="urls"
				label="Validation URLs (cloud mode; one per line, tried in order)"
				hint="For YubiCloud: https://api.yubico.com/wsapi/2.0/verify. Plain http:// only to a server on this host."
				value={cloud?.urls.join("\n") ?? ""}
				rows={2}
			/>
			<Field id="yk-client" name="clientId" label="Client id (cloud mode)" value={cloud?.clientId ?? ""} maxLength={64} autocomplete="off" />
			<Field
				id="yk-key"
				name="apiKey"
				label="API key (cloud mode, base64)"
				type="password"
				hint={SecretHint(cloud?.apiKeySet === true, "key")}
				maxLength={256}
				autocomplete="off"
			/>
			<Field
				id="yk-timeout"
				name="timeoutMs"
				label="Timeout per server (ms)"
				value={cloud ? String(cloud.timeoutMs) : ""}
				hint="Default 5000."
				maxLength={9}
				inputMode="numeric"
			/>
			<CaFields prefix="yk" set={cloud?.caPemSet === true} />
			<button type="submit" class="primary">
				Save YubiKey settings
			</button>
		</form>
	);
}

function DuoForm({ ctx, settings: duo }: SettingsFormProps<"duo">) {
	return (
		<form method="post" action="/admin/methods/duo#settings-duo" class="stack" autocomplete="off">
			<CsrfField ctx={ctx} />
			<p class="hint">From the Duo Admin Panel: Applications → Protect an Application → "Auth API".</p>
			<Field
				id="duo-host"
				name="apiHost"
				label="API hostname"
				value={duo?.apiHost ?? ""}
				hint="For example api-xxxxxxxx.duosecurity.com (no https://)."
				maxLength={260}
				autocomplete="off"
			/>
			<Field id="duo-ikey" name="integrationKey" label="Integration key" value={duo?.integrationKey ?? ""} maxLength={64} autocomplete="off" />
			<Field
				id="duo-skey"
				name="secretKey"
				label="Secret key"
				type="password"
				hint={SecretHint(duo?.secretKeySet === true, "secret key")}
				maxLength={256}
				autocomplete="off"
			/>
			<div class="check">
				<input type="checkbox" id="duo-bypass" name="honourDuoBypass" checked={duo?.honourDuoBypass === true} />
				<label for="duo-bypass">
					Honour Duo bypass
					<span class="hint-block">
						Off by default. When on, users whom Duo lets through without a device ("bypass" status) pass the second factor. Every such login is audited.
					</span>
				</label>
			</div>
			<Field
				id="duo-timeout"
				name="timeoutMs"
				label="Timeout per request (ms)"
				value={duo ? String(duo.timeoutMs) : ""}
				hint="Default 10000. A push waits up to 60 s for the user."
				maxLength={9}
				inputMode="numeric"
			/>
			<CaFields prefix="duo" set={duo?.caPemSet === true} />
			<fieldset>
				<legend>Universal Prompt for web logins (optional)</legend>
				<p class="hint">
					From the Duo Admin Panel: Applications → Protect an Application → "Web SDK", on the same API hostname. With it, web logins open Duo's own page (push,
					passcode, security key, Duo's policies); SSH keeps the prompt above. Without it, the web shows the same typed prompt as SSH.
				</p>
				<Field
					id="duo-web-client"
					name="webClientId"
					label="Client ID"
					value={duo?.webClientId ?? ""}
					hint="20 characters. Leave empty to use the typed prompt on the web."
					maxLength={64}
					autocomplete="off"
				/>
				<Field
					id="duo-web-secret"
					name="webClientSecret"
					label="Client secret"
					type="password"
					hint={
						duo?.webClientSecretSet === true
							? "A client secret is stored (never shown). Leave empty to keep it."
							: "40 characters. Required with a client ID. Stored encrypted; never shown again."
					}
					maxLength={256}
					autocomplete="off"
				/>
			</fieldset>
			<button type="submit" class="primary">
				Save Duo settings
			</button>
		</form>
	);
}

function RadiusForm({ ctx, settings: radius }: SettingsFormProps<"radius">) {
	const rows = Array.from({ length: MAX_RADIUS_ROWS }, (_, index) => radius?.servers[index] ?? null);
	return (
		<form method="post" action="/admin/methods/radius#settings-radius" class="stack" autocomplete="off">
			<CsrfField ctx={ctx} />
			<p class="hint">
				Servers are tried in order. Every request carries Message-Authenticator and every reply must carry a valid one (BlastRADIUS, CVE-2024-3596), unless a
				server is marked legacy. Shared secrets: at least 16 random characters.
			</p>
			{rows.map((server, index) => {
				const row = index + 1;
				return (
					<fieldset>
						<legend>Server {row}</legend>
						<Field
							id={`radius-host-${row}`}
							name={`host_${row}`}
							label="Host"
							value={server?.host ?? ""}
							hint={row === 1 ? "Leave a row empty to not use it." : undefined}
							maxLength={253}
							autocomplete="off"
						/>
						<Field
							id={`radius-port-${row}`}
							name={`port_${row}`}
							label="Port"
							value={server ? String(server.port) : ""}
							hint="Default 1812."
							maxLength={5}
							inputMode="numeric"
						/>
						<Field
							id={`radius-secret-${row}`}
							name={`secret_${row}`}
							label="Shared secret"
							type="password"
							hint={server ? SecretHint(server.secretSet, "secret") : "Required for a new server."}
							maxLength={256}
							autocomplete="off"
						/>
						<div class="check">
							<input type="checkbox" id={`radius-legacy-${row}`} name={`legacy_${row}`} checked={server?.legacyNoMessageAuthenticator === true} />
							<label for={`radius-legacy-${row}`}>
								Legacy server: accept replies without Message-Authenticator
								<span class="hint-block">A downgrade (BlastRADIUS): only for a server that cannot be upgraded yet. Every unsigned reply is audited.</span>
							</label>
						</div>
					</fieldset>
				);
			})}
			<Field
				id="radius-timeout"
				name="timeoutMs"
				label="Timeout per transmission (ms)"
				value={radius ? String(radius.timeoutMs) : ""}
				hint="Default 2000."
				maxLength={9}
				inputMode="numeric"
			/>
			<Field
				id="radius-retries"
				name="retries"
				label="Retransmissions per server"
				value={radius ? String(radius.retries) : ""}
				hint="Default 2."
				maxLength={2}
				inputMode="numeric"
			/>
			<Field
				id="radius-nas"
				name="nasIdentifier"
				label="NAS-Identifier"
				value={radius?.nasIdentifier ?? ""}
				hint="Default portcullis."
				maxLength={253}
				autocomplete="off"
			/>
			<button type="submit" class="primary">
				Save RADIUS settings
			</button>
		</form>
	);
}

/** Each configurable method's form (a mapped type: a method without one does not compile). */
const SETTINGS_FORMS: { readonly [M in ConfigurableMethod]: (props: SettingsFormProps<M>) => JSX.Element } = {
	"yubikey-otp": YubikeyForm,
	duo: DuoForm,
	radius: RadiusForm,
};

function SettingsForm<M extends ConfigurableMethod>({ ctx, view }: { ctx: PageContext; view: MethodSettingsViewOf<M> }) {
	const Form: (props: SettingsFormProps<M>) => JSX.Element = SETTINGS_FORMS[view.method];
	return <Form ctx={ctx} settings={view.settings} />;
}

/**
 * Field names of the settings (as MethodAdmin and the CLI's JSON spell them) → the form's labels,
 * so a refusal reads "RADIUS server 2, shared secret: …", not "radius.servers[2].secret: …".
 */
const FIELD_WORDS: Readonly<Record<string, string>> = {
	servers: "server",
	host: "host",
	port: "port",
	secret: "shared secret",
	legacyNoMessageAuthenticator: "legacy server",
	timeoutMs: "timeout (ms)",
	retries: "retransmissions per server",
	nasIdentifier: "NAS-Identifier",
	mode: "validation",
	urls: "validation URLs",
	clientId: "client id",
	apiKey: "API key",
	caPem: "private CA certificate",
	apiHost: "API hostname",
	integrationKey: "integration key",
	secretKey: "secret key",
	honourDuoBypass: "honour Duo bypass",
	webClientId: "Web SDK client ID",
	webClientSecret: "Web SDK client secret",
};

const METHOD_WORDS: Readonly<Record<string, string>> = { radius: "RADIUS", duo: "Duo", "yubikey-otp": "YubiKey", yubikey: "YubiKey" };

/** "radius.servers[2].secret: must …" → "RADIUS server 2, shared secret: must …"; other text is returned as it is. */
export function settingsErrorInWords(message: string): string {
	const match = /^(radius|duo|yubikey-otp|yubikey)((?:\.[A-Za-z]+|\[\d+\])*)(:\s*)/.exec(message);
	if (match === null) return message;
	const [whole, method = "", path = "", colon = ": "] = match;
	const parts: string[] = [];
	for (const step of path.match(/\.[A-Za-z]+|\[\d+\]/g) ?? []) {
		if (step.startsWith("[")) parts[parts.length - 1] = `${parts[parts.length - 1] ?? "item"} ${step.slice(1, -1)}`;
		else parts.push(FIELD_WORDS[step.slice(1)] ?? step.slice(1));
	}
	const head = [METHOD_WORDS[method] ?? method, ...parts].join(", ").replace(/^(RADIUS|Duo|YubiKey), server/, "$1 server");
	return `${head}${colon}${message.slice(whole.length)}`;
}

export function AdminMethodsPage({
	ctx,
	views,
	notice,
	tested,
	focus,
}: {
	ctx: PageContext;
	views: readonly MethodSettingsView[];
	notice: Notice;
	tested: ConnectionTestResult | null;
	/** The method the admin just acted on: its section is open and carries the notice. */
	focus?: ConfigurableMethod | null;
}) {
	const acted = focus ?? tested?.method ?? null;
	return (
		<Layout ctx={ctx} title="Methods">
			{acted === null ? <NoticeBox notice={notice} /> : null}
			<p class="why">
				YubiKey, Duo and RADIUS check second factors against a server. Configure them here, then enable them under <a href="/admin/settings">Settings</a>. Users
				can then set them up on their account page. Authenticator apps, access keywords and recovery codes need no settings. Open a method to see or change its
				settings.
			</p>
			{views.map((view) => (
				// One collapsible section per method (no script): open when acted on or when something needs the admin's attention.
				<details
					class="card stack method-section"
					id={`settings-${view.method}`}
					open={acted === view.method || view.problem !== null || (views.length === 1 && acted === null)}
				>
					<summary>
						<h2 id={`method-${view.method}`}>
							{view.label} <span class={view.configured ? "tag tag-good" : "tag"}>{view.configured ? "configured" : "not configured"}</span>{" "}
							<span class={view.enabled ? "tag tag-good" : "tag"}>{view.enabled ? "enabled" : "disabled"}</span>
						</h2>
					</summary>
					{acted === view.method && notice !== null ? <NoticeBox notice={{ ...notice, text: settingsErrorInWords(notice.text) }} /> : null}
					{view.problem !== null ? <Alert kind="error">{settingsErrorInWords(view.problem)}</Alert> : null}
					{view.downgrades.map((text) => (
						<Alert kind="warning">{text}</Alert>
					))}
					<SettingsForm ctx={ctx} view={view} />
					{view.configured ? (
						<div class="test-connection" id={`test-${view.method}`}>
							<div class="button-row">
								<form method="post" action={`/admin/methods/${view.method}/test#test-${view.method}`} class="inline">
									<CsrfField ctx={ctx} />
									<button type="submit">Test connection</button>
								</form>
								<form method="post" action={`/admin/methods/${view.method}/clear#settings-${view.method}`} class="inline">
									<CsrfField ctx={ctx} />
									<button type="submit" class="danger">
										Remove settings
									</button>
								</form>
							</div>
							{tested !== null && tested.method === view.method ? <TestResult result={tested} /> : null}
						</div>
					) : null}
				</details>
			))}
		</Layout>
	);
}
