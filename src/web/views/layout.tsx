/**
 * Page chrome: header with the product, navigation, the signed-in user and a logout button.
 * Server-rendered with preact-render-to-string, which escapes every text and attribute value.
 * No inline script or style anywhere (the CSP forbids both).
 */
import type { ComponentChildren } from "preact";
import { CSRF_FIELD } from "../forms.ts";
import { useEchoedField } from "./form-echo.tsx";

export interface PageContext {
	/** The signed-in user (half or full session), for the header. */
	readonly user: { readonly username: string; readonly isAdmin: boolean } | null;
	/** "full" shows the navigation; "half" only the logout button. */
	readonly state: "none" | "half" | "full";
	readonly csrf: string;
	/** Current path, to mark the active navigation link. */
	readonly path: string;
	/** Staged rollout: "set up a second factor within N days", shown on every page until the user enrols. */
	readonly nudge?: { readonly message: string; readonly daysLeft: number } | null;
}

export function CsrfField({ ctx }: { ctx: PageContext }) {
	return <input type="hidden" name={CSRF_FIELD} value={ctx.csrf} />;
}

export function Alert({ kind, children }: { kind: "error" | "info" | "success" | "warning"; children: ComponentChildren }) {
	return (
		<div class={`alert alert-${kind}`} role={kind === "error" ? "alert" : "status"}>
			{children}
		</div>
	);
}

function NavLink({ ctx, href, children }: { ctx: PageContext; href: string; children: ComponentChildren }) {
	const active = ctx.path === href || ctx.path.startsWith(`${href}/`);
	return (
		<a href={href} class={active ? "active" : undefined} aria-current={active ? "page" : undefined}>
			{children}
		</a>
	);
}

export function Layout({
	ctx,
	title,
	children,
	narrow,
	refresh,
}: {
	ctx: PageContext;
	title: string;
	children: ComponentChildren;
	narrow?: boolean;
	refresh?: string;
}) {
	return (
		<html lang="en">
			<head>
				<meta charset="utf-8" />
				<meta name="viewport" content="width=device-width, initial-scale=1" />
				{/* Navigation without script (strict CSP) and outside form-action: the Duo Universal Prompt hops (routes/duo-universal.tsx). */}
				{refresh !== undefined ? <meta http-equiv="refresh" content={`0;url=${refresh}`} /> : null}
				<title>{`${title} · Portcullis`}</title>
				<link rel="stylesheet" href="/static/app.css" />
				<link rel="icon" href="/static/favicon.svg" type="image/svg+xml" />
			</head>
			<body>
				<a class="skip" href="#main">
					Skip to content
				</a>
				<header class="topbar">
					<div class="topbar-inner">
						<a class="brand" href="/">
							<span class="brand-mark" aria-hidden="true">
								▦
							</span>{" "}
							Portcullis
						</a>
						{ctx.state === "full" && ctx.user ? (
							<nav aria-label="Main">
								<NavLink ctx={ctx} href="/account">
									My account
								</NavLink>
								<NavLink ctx={ctx} href="/terminal">
									Terminal
								</NavLink>
								{ctx.user.isAdmin ? (
									<>
										<NavLink ctx={ctx} href="/admin/users">
											Users
										</NavLink>
										<NavLink ctx={ctx} href="/admin/groups">
											Groups
										</NavLink>
										<NavLink ctx={ctx} href="/admin/enrolment">
											Enrolment
										</NavLink>
										<NavLink ctx={ctx} href="/admin/servers">
											Servers
										</NavLink>
										<NavLink ctx={ctx} href="/admin/network">
											Networks
										</NavLink>
										<NavLink ctx={ctx} href="/admin/identity">
											Identity sources
										</NavLink>
										<NavLink ctx={ctx} href="/admin/recordings">
											Recordings
										</NavLink>
										<NavLink ctx={ctx} href="/admin/live">
											Live sessions
										</NavLink>
										<NavLink ctx={ctx} href="/admin/settings">
											Settings
										</NavLink>
										<NavLink ctx={ctx} href="/admin/methods">
											Methods
										</NavLink>
										<NavLink ctx={ctx} href="/admin/audit">
											Audit log
										</NavLink>
									</>
								) : null}
							</nav>
						) : null}
						{ctx.user ? (
							<div class="whoami">
								<span>
									Signed in as <strong>{ctx.user.username}</strong>
									{ctx.state === "half" ? " (login not finished)" : ""}
								</span>
								<form method="post" action="/logout" class="inline">
									<CsrfField ctx={ctx} />
									<button type="submit" class="button-link">
										Log out
									</button>
								</form>
							</div>
						) : null}
					</div>
				</header>
				<main id="main" class={narrow ? "narrow" : undefined}>
					{ctx.nudge ? (
						<div class="alert alert-warning rollout-nudge" role="status" data-days-left={String(ctx.nudge.daysLeft)}>
							{ctx.nudge.message} <a href="/account">Set up a second factor now</a>
						</div>
					) : null}
					<h1>{title}</h1>
					{children}
				</main>
				<footer class="footer">Portcullis · SSH jump server with enforced two-factor authentication</footer>
			</body>
		</html>
	);
}

/** A page that says only one thing: errors (400/403/404/500), expired steps. */
export function MessagePage({ ctx, title, message, link }: { ctx: PageContext; title: string; message: string; link?: { href: string; text: string } }) {
	return (
		<Layout ctx={ctx} title={title} narrow>
			<p>{message}</p>
			{link ? (
				<p>
					<a href={link.href}>{link.text}</a>
				</p>
			) : null}
		</Layout>
	);
}

/** Labelled text input: the label is tied to the input by id (WCAG 1.3.1, 4.1.2). */
export function Field(props: {
	id: string;
	name: string;
	label: string;
	type?: "text" | "password" | "email" | "search" | "datetime-local";
	value?: string;
	autocomplete?: string;
	required?: boolean;
	maxLength?: number;
	hint?: string;
	inputMode?: "numeric" | "text";
	pattern?: string;
	autofocus?: boolean;
}) {
	const hintId = props.hint ? `${props.id}-hint` : undefined;
	// A refused submission of this field's form: what was typed (never a password), and the field at fault marked.
	const echoed = useEchoedField(props.name);
	const value = echoed !== null && props.type !== "password" && typeof echoed.value === "string" ? echoed.value : props.value;
	const invalid = echoed?.invalid === true;
	return (
		<div class="field">
			<label for={props.id}>{props.label}</label>
			{props.hint ? (
				<p class="hint" id={hintId}>
					{props.hint}
				</p>
			) : null}
			<input
				id={props.id}
				name={props.name}
				// preact's typings narrow attributes per input type; every type used here takes the same attributes.
				type={(props.type ?? "text") as "text"}
				value={value}
				aria-invalid={invalid ? "true" : undefined}
				autocomplete={props.autocomplete}
				required={props.required}
				maxLength={props.maxLength}
				inputMode={props.inputMode}
				pattern={props.pattern}
				autofocus={invalid || props.autofocus}
				aria-describedby={hintId}
			/>
		</div>
	);
}

export function formatTime(ms: number | null | undefined): string {
	if (ms === null || ms === undefined || !Number.isFinite(Number(ms)) || Number(ms) <= 0) return "never";
	return `${new Date(Number(ms)).toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

/** To the second, with the zone named: "2026-11-28 09:00:05 UTC" (the audit log, where order and seconds matter). */
export function formatTimeSeconds(ms: number): string {
	return `${new Date(ms).toISOString().slice(0, 19).replace("T", " ")} UTC`;
}

/** A time a browser and a screen reader can read: the text to the second, the ISO value in `datetime`. */
export function TimeSeconds({ ms }: { ms: number }) {
	if (!Number.isFinite(ms)) return <span>unknown</span>;
	return <time datetime={new Date(ms).toISOString()}>{formatTimeSeconds(ms)}</time>;
}

export function messageView(ctx: PageContext, title: string, message: string, link?: { href: string; text: string }) {
	return <MessagePage ctx={ctx} title={title} message={message} link={link} />;
}
