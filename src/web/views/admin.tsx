/** Admin pages: settings, users, groups, audit log. Every change goes through AdminService. */
import { formatDeadline } from "../../core/enrolment-deadline.ts";
import { METHOD_INFO, type MethodId } from "../../core/method-id.ts";
import type { PolicyImpact, UserPolicyStatus } from "../../flows/admin-service.ts";
import { Alert, CsrfField, Field, formatTime, Layout, type PageContext } from "./layout.tsx";
import { NoticeBox, type Notice } from "./login.tsx";
import { PASSWORD_HINT } from "./account.tsx";
import { Checkbox, PostForm, Select } from "./form-echo.tsx";

function kindNote(method: MethodId): string {
	const kind = METHOD_INFO[method].kind;
	return kind === "knowledge"
		? "knowledge factor (something the user knows)"
		: kind === "backup"
			? "backup codes, issued alongside another factor"
			: "possession factor";
}

export function MethodCheckboxes({
	idPrefix,
	methods,
	checked,
	legend,
}: {
	idPrefix: string;
	methods: readonly MethodId[];
	checked: readonly MethodId[];
	legend: string;
}) {
	return (
		<fieldset>
			<legend>{legend}</legend>
			{methods.map((method) => (
				<div class="check">
					<Checkbox id={`${idPrefix}-${method}`} name={`method_${method}`} checked={checked.includes(method)} />
					<label for={`${idPrefix}-${method}`}>
						{METHOD_INFO[method].label} <span class="hint-inline">({kindNote(method)})</span>
					</label>
				</div>
			))}
		</fieldset>
	);
}

/**
 * The confirm step before saving a change that newly requires 2FA of someone (impact preview):
 * the counts, the list one click away, a warning when the admin forces it on themselves without a
 * factor, and the same form again with confirm=on.
 */
export function ImpactConfirmPage(props: { ctx: PageContext; action: string; fields: Readonly<Record<string, string>>; impact: PolicyImpact; back: string }) {
	const { ctx, impact } = props;
	return (
		<Layout ctx={ctx} title="Confirm the change">
			<section class="card stack impact-preview">
				<p>
					This change requires a second factor of <strong data-count="gaining">{impact.gaining.length}</strong> more user(s).
				</p>
				<ul>
					<li>
						<strong data-count="no-factor">{impact.noFactor.length}</strong> of them have no usable second factor yet.
					</li>
					<li>
						<strong data-count="never-on-web">{impact.neverOnWeb.length}</strong> of those have never logged in on the web console (SSH-only users cannot set up
						a factor over SSH).
					</li>
				</ul>
				<p>
					<a href="/admin/enrolment?filter=not-enrolled">See who is not enrolled</a>
				</p>
				{impact.enforcesNow && impact.noFactor.length > 0 ? (
					<Alert kind="warning">Without an enrolment deadline, users without a factor are stopped at their next login. Consider a deadline.</Alert>
				) : null}
				{impact.selfWithoutFactor ? (
					<Alert kind="warning">
						You are forcing two-factor authentication on yourself and have no usable second factor: set one up on your account page first, or you will be sent
						to enrolment.
					</Alert>
				) : null}
				<form method="post" action={props.action} class="stack">
					<CsrfField ctx={ctx} />
					{Object.entries(props.fields).map(([name, value]) => (
						<input type="hidden" name={name} value={value} />
					))}
					<input type="hidden" name="confirm" value="on" />
					<button type="submit" class="primary">
						Save the change
					</button>{" "}
					<a href={props.back}>Cancel</a>
				</form>
			</section>
		</Layout>
	);
}

/** "Enrolment status": per user, required or not and why, enrolled methods, deadline; filter "not enrolled". */
export function EnrolmentStatusPage(props: { ctx: PageContext; users: readonly UserPolicyStatus[]; notEnrolledOnly: boolean }) {
	const { ctx } = props;
	const shown = props.notEnrolledOnly ? props.users.filter((user) => user.notEnrolled) : props.users;
	return (
		<Layout ctx={ctx} title="Enrolment status">
			<p>
				{props.notEnrolledOnly ? (
					<a href="/admin/enrolment">Show all users</a>
				) : (
					<a href="/admin/enrolment?filter=not-enrolled">Show only users not enrolled</a>
				)}
			</p>
			<section class="card">
				<table class="enrolment-status">
					<caption class="visually-hidden">Second-factor enrolment of each user</caption>
					<thead>
						<tr>
							<th scope="col">User</th>
							<th scope="col">2FA required</th>
							<th scope="col">Why</th>
							<th scope="col">Methods</th>
							<th scope="col">Deadline</th>
							<th scope="col">Web login</th>
						</tr>
					</thead>
					<tbody>
						{shown.map((user) => (
							<tr data-user={user.username}>
								<td>
									<a href={`/admin/user?name=${encodeURIComponent(user.username)}`}>{user.username}</a>
									{user.disabled ? <span class="tag">disabled</span> : null}
								</td>
								<td>{user.required ? user.notEnrolled ? <span class="tag tag-bad">not enrolled</span> : "yes" : "no"}</td>
								<td>{user.required ? user.why : "-"}</td>
								<td>{user.methods.length === 0 ? "none" : user.methods.map((method) => METHOD_INFO[method].label).join(", ")}</td>
								<td>{user.deadline === null ? "-" : formatDeadline(user.deadline)}</td>
								<td>{user.webLogin ? "yes" : "never"}</td>
							</tr>
						))}
					</tbody>
				</table>
			</section>
		</Layout>
	);
}

/** Staged rollout: the enrolment-deadline field of the settings and group forms. */
function DeadlineField({ id, value }: { id: string; value: number | null }) {
	return (
		<Field
			id={id}
			name="deadline"
			label="Enrolment deadline (staged rollout)"
			value={value === null ? "" : formatDeadline(value)}
			maxLength={64}
			hint="Until then, users without a second factor are let in with a reminder (a banner here, one line on SSH); after it, they must set one up. A date (YYYY-MM-DD), a number of days (14d), or empty to enforce now."
		/>
	);
}

/** The SSH remember window field of the settings and group forms. */
function RememberField({ id, value, group }: { id: string; value: number | null; group: boolean }) {
	return (
		<Field
			id={id}
			name="remember"
			label="SSH remember window (minutes)"
			value={value === null ? "" : String(value)}
			maxLength={8}
			inputMode="numeric"
			hint={`After a second factor on SSH, later SSH logins of the same user from the same address skip it for this many minutes (at most 720, 0: off).${group ? " Empty: the global setting applies." : ""} Prefer OpenSSH ControlMaster on the client where you can.`}
		/>
	);
}

export function AdminSettingsPage(props: {
	ctx: PageContext;
	force: boolean;
	enabled: readonly MethodId[];
	deadline: number | null;
	rememberMinutes: number;
	implemented: readonly MethodId[];
	notice: Notice;
}) {
	const { ctx } = props;
	return (
		<Layout ctx={ctx} title="Settings">
			<NoticeBox notice={props.notice} />
			<PostForm action="/admin/settings" class="card stack">
				<CsrfField ctx={ctx} />
				<h2>Two-factor authentication</h2>
				<div class="check">
					<Checkbox id="force" name="force" checked={props.force} />
					<label for="force">
						<strong>Force 2FA for everyone</strong>
						<span class="hint-block">
							Every user must use a second factor on the web console and the SSH gateway. Users without one are made to set one up at their next web login.
						</span>
					</label>
				</div>
				<DeadlineField id="deadline" value={props.deadline} />
				<RememberField id="remember" value={props.rememberMinutes} group={false} />
				<MethodCheckboxes
					idPrefix="enabled"
					legend="Enabled methods (users can only set up enabled methods)"
					methods={props.implemented}
					checked={props.enabled}
				/>
				<button type="submit" class="primary">
					Save settings
				</button>
			</PostForm>
		</Layout>
	);
}

export interface UserListItem {
	readonly username: string;
	readonly disabled: boolean;
	readonly locked: boolean;
	readonly admin: boolean;
	readonly groups: readonly string[];
	readonly factors: number;
	readonly mustChange: boolean;
	/** Where the password is checked (docs/identity.md): the local hash or the directory, with the entry's DN. */
	readonly directoryDn: string | null;
	readonly directory: boolean;
	/** Disabled in or removed from the directory (apart from the admin's own switch). */
	readonly directoryDisabled: boolean;
	/** A service account: API tokens only, never an interactive login (docs/api.md). */
	readonly serviceAccount?: boolean;
}

export interface UserListView {
	readonly q: string;
	readonly page: number;
	readonly pages: number;
	readonly total: number;
	readonly previousHref: string | null;
	readonly nextHref: string | null;
}

export function AdminUsersPage({
	ctx,
	users,
	groups,
	notice,
	list,
}: {
	ctx: PageContext;
	users: readonly UserListItem[];
	groups: readonly string[];
	notice: Notice;
	/** Search text and page of the list (routes/admin-users.tsx). */
	list: UserListView;
}) {
	const pager =
		list.previousHref !== null || list.nextHref !== null ? (
			<nav class="pager" aria-label="User list pages">
				{list.previousHref !== null ? (
					<a href={list.previousHref} rel="prev">
						← Previous
					</a>
				) : (
					<span />
				)}
				<span>
					Page {list.page} of {list.pages}
				</span>
				{list.nextHref !== null ? (
					<a href={list.nextHref} rel="next">
						Next →
					</a>
				) : (
					<span />
				)}
			</nav>
		) : null;
	return (
		<Layout ctx={ctx} title="Users">
			<NoticeBox notice={notice} />
			<section class="card">
				<form method="get" action="/admin/users" class="filters">
					<Field id="user-search" name="q" label="Find users" type="search" value={list.q} maxLength={64} hint="Part of a username." />
					<div class="filter-actions">
						<button type="submit">Search</button>
						{list.q !== "" ? <a href="/admin/users">Show all</a> : null}
					</div>
				</form>
				<p class="hint" id="user-count">
					{list.q === "" ? `${list.total} user${list.total === 1 ? "" : "s"}` : `${list.total} user${list.total === 1 ? "" : "s"} matching “${list.q}”`}
				</p>
				{pager}
				<table>
					<caption class="visually-hidden">Users</caption>
					<thead>
						<tr>
							<th scope="col">User</th>
							<th scope="col">Status</th>
							<th scope="col">Groups</th>
							<th scope="col">Factors</th>
						</tr>
					</thead>
					<tbody>
						{users.map((user) => (
							<tr>
								<td>
									<a href={`/admin/user?name=${encodeURIComponent(user.username)}`}>{user.username}</a>
									{user.admin ? <span class="tag">admin</span> : null}
									{user.directory ? <span class="tag">directory</span> : null}
									{user.serviceAccount ? <span class="tag">service account</span> : null}
								</td>
								<td>
									{user.disabled ? <span class="tag tag-bad">disabled</span> : <span class="tag tag-good">active</span>}
									{user.locked ? <span class="tag tag-bad">locked</span> : null}
									{user.mustChange ? <span class="tag">must change password</span> : null}
									{user.directoryDisabled ? <span class="tag tag-bad">disabled in directory</span> : null}
								</td>
								<td>{user.groups.length > 0 ? user.groups.join(", ") : <span class="muted">none</span>}</td>
								<td>{user.factors}</td>
							</tr>
						))}
					</tbody>
				</table>
				{pager}
			</section>
			<section class="card" aria-labelledby="create-user">
				<h2 id="create-user">Create a user</h2>
				<PostForm action="/admin/users/create" class="stack">
					<CsrfField ctx={ctx} />
					<div class="grid">
						<Field id="new-username" name="username" label="Username" required maxLength={64} autocomplete="off" />
						<Field
							id="new-password"
							name="password"
							label="Initial password"
							type="password"
							hint={PASSWORD_HINT}
							required
							maxLength={1024}
							autocomplete="new-password"
						/>
					</div>
					<div class="field">
						<label for="new-group">Group (optional)</label>
						<Select id="new-group" name="group" options={[{ value: "", label: "No group" }, ...groups.map((group) => ({ value: group, label: group }))]} />
					</div>
					<div class="check">
						<Checkbox id="new-admin" name="admin" checked={false} />
						<label for="new-admin">Administrator</label>
					</div>
					<div class="check">
						<Checkbox id="new-must-change" name="mustChange" checked={false} />
						<label for="new-must-change">Must change the password at first login</label>
					</div>
					<button type="submit" class="primary">
						Create user
					</button>
				</PostForm>
			</section>
			<section class="card" aria-labelledby="create-service-account">
				<h2 id="create-service-account">Create a service account</h2>
				<p class="why">
					For automation: no password and no interactive login (web or SSH), only REST API tokens, which are made on the host with{" "}
					<code>portcullis token create</code> (docs/api.md).
				</p>
				<form method="post" action="/admin/users/service-account" class="stack">
					<CsrfField ctx={ctx} />
					<Field id="svc-username" name="username" label="Username" required maxLength={64} autocomplete="off" />
					<div class="check">
						<input type="checkbox" id="svc-admin" name="admin" />
						<label for="svc-admin">Administrator (its tokens may call admin routes, within their scopes)</label>
					</div>
					<button type="submit">Create service account</button>
				</form>
			</section>
		</Layout>
	);
}

function ActionButton({
	ctx,
	action,
	username,
	label,
	extra,
	danger,
}: {
	ctx: PageContext;
	action: string;
	username: string;
	label: string;
	extra?: Record<string, string>;
	danger?: boolean;
}) {
	return (
		<form method="post" action={action} class="inline">
			<CsrfField ctx={ctx} />
			<input type="hidden" name="username" value={username} />
			{Object.entries(extra ?? {}).map(([name, value]) => (
				<input type="hidden" name={name} value={value} />
			))}
			<button type="submit" class={danger ? "danger" : undefined}>
				{label}
			</button>
		</form>
	);
}

export function AdminUserPage(props: {
	ctx: PageContext;
	user: UserListItem & { sshMethod: string | null; created: number };
	factors: readonly { method: MethodId; label: string; lastUsedAt: number | null }[];
	allGroups: readonly string[];
	notice: Notice;
	resetLink?: { link: string; expiresAt: number } | null;
	/** A one-time password link, shown only in the response that created it. */
	passwordLink?: { link: string; expiresAt: number } | null;
}) {
	const { ctx, user } = props;
	const addable = props.allGroups.filter((group) => !user.groups.includes(group));
	return (
		<Layout ctx={ctx} title={`User ${user.username}`}>
			<p>
				<a href="/admin/users">← All users</a>
			</p>
			<NoticeBox notice={props.notice} />
			{props.resetLink ? (
				<Alert kind="warning">
					<p>
						One-time enrolment link for <strong>{user.username}</strong> (shown only now; valid until {formatTime(props.resetLink.expiresAt)}):
					</p>
					<p class="secret" id="reset-link">
						{props.resetLink.link}
					</p>
					<p>Give it to the user through a trusted channel. They open it, log in with their password and set up a new factor.</p>
				</Alert>
			) : null}
			{props.passwordLink ? (
				<Alert kind="warning">
					<p>
						One-time password link for <strong>{user.username}</strong> (shown only now; valid until {formatTime(props.passwordLink.expiresAt)}):
					</p>
					<p class="secret" id="password-link">
						{props.passwordLink.link}
					</p>
					<p>Give it to the user through a trusted channel. They open it and choose a new password; the link then stops working.</p>
				</Alert>
			) : null}
			<section class="card">
				<dl class="facts">
					<dt>Status</dt>
					<dd>
						{user.disabled ? "disabled" : "active"}
						{user.locked ? ", locked after failed attempts" : ""}
						{user.mustChange ? ", must change password" : ""}
					</dd>
					<dt>Password checked by</dt>
					<dd>
						{user.directory ? (
							<>
								the directory (LDAP){user.directoryDn === null ? "" : ": "}
								{user.directoryDn === null ? null : <code>{user.directoryDn}</code>}
								{user.directoryDisabled ? ", disabled in or removed from the directory" : ""}
							</>
						) : (
							"Portcullis (local account)"
						)}
					</dd>
					<dt>Administrator</dt>
					<dd>{user.admin ? "yes" : "no"}</dd>
					<dt>Created</dt>
					<dd>{formatTime(user.created)}</dd>
					<dt>SSH method (last web login)</dt>
					<dd>{user.sshMethod ?? "none"}</dd>
					<dt>Factors</dt>
					<dd>
						{props.factors.length === 0
							? "none"
							: props.factors.map((factor) => `${METHOD_INFO[factor.method].label}${factor.label ? ` (${factor.label})` : ""}`).join("; ")}
					</dd>
				</dl>
				<div class="button-row">
					{user.disabled ? (
						<ActionButton ctx={ctx} action="/admin/users/enable" username={user.username} label="Enable account" />
					) : (
						<ActionButton ctx={ctx} action="/admin/users/disable" username={user.username} label="Disable account" danger />
					)}
					{user.locked ? <ActionButton ctx={ctx} action="/admin/users/unlock" username={user.username} label="Unlock" /> : null}
				</div>
			</section>
			<section class="card" aria-labelledby="groups-heading">
				<h2 id="groups-heading">Groups</h2>
				{user.groups.length === 0 ? <p class="muted">Not in any group.</p> : null}
				<ul class="chips">
					{user.groups.map((group) => (
						<li>
							<a href={`/admin/group?name=${encodeURIComponent(group)}`}>{group}</a>
							<ActionButton ctx={ctx} action="/admin/users/remove-group" username={user.username} label={`Remove from ${group}`} extra={{ group }} />
						</li>
					))}
				</ul>
				{addable.length > 0 ? (
					<form method="post" action="/admin/users/add-group" class="inline-form">
						<CsrfField ctx={ctx} />
						<input type="hidden" name="username" value={user.username} />
						<label for="add-group">Add to group</label>
						<select id="add-group" name="group">
							{addable.map((group) => (
								<option value={group}>{group}</option>
							))}
						</select>
						<button type="submit">Add</button>
					</form>
				) : null}
			</section>
			<section class="card" aria-labelledby="password-heading">
				<h2 id="password-heading">Reset the password</h2>
				<p>
					Creates a one-time link with which the user chooses a new password (you never see it). Their current password keeps working until they use the link;
					their second factors stay as they are. A new link replaces an earlier one.
				</p>
				<div class="button-row">
					<ActionButton ctx={ctx} action="/admin/users/password-link" username={user.username} label="Create a one-time password link" />
				</div>
			</section>
			<section class="card" aria-labelledby="reset-heading">
				<h2 id="reset-heading">Reset two-factor authentication</h2>
				<p>
					Deletes all of the user's factors and recovery codes and ends their sessions. With a one-time link (recommended), only the holder of the link can set
					up the new factor. "Enrol at next login" lets whoever knows the password set it up.
				</p>
				<div class="button-row">
					<ActionButton
						ctx={ctx}
						action="/admin/users/reset-2fa"
						username={user.username}
						label="Reset and create a one-time link"
						extra={{ mode: "link" }}
						danger
					/>
					<ActionButton
						ctx={ctx}
						action="/admin/users/reset-2fa"
						username={user.username}
						label="Reset: enrol at next login"
						extra={{ mode: "next-login" }}
						danger
					/>
				</div>
			</section>
		</Layout>
	);
}

export interface GroupListItem {
	readonly name: string;
	readonly force: boolean;
	readonly allowed: readonly MethodId[] | null;
	readonly members: readonly string[];
	/** Staged rollout: epoch ms, or null (enforce now). */
	readonly deadline: number | null;
	/** SSH remember window in minutes; null: the global setting. */
	readonly rememberMinutes: number | null;
}

function allowedText(allowed: readonly MethodId[] | null): string {
	if (allowed === null) return "no restriction";
	if (allowed.length === 0) return "none";
	return allowed.map((method) => METHOD_INFO[method].label).join(", ");
}

function GroupPolicyFields({
	idPrefix,
	implemented,
	force,
	allowed,
	deadline,
	rememberMinutes,
}: {
	idPrefix: string;
	implemented: readonly MethodId[];
	force: boolean;
	allowed: readonly MethodId[] | null;
	deadline: number | null;
	rememberMinutes: number | null;
}) {
	return (
		<>
			<div class="check">
				<Checkbox id={`${idPrefix}-force`} name="force" checked={force} />
				<label for={`${idPrefix}-force`}>
					<strong>Force 2FA for members</strong>
				</label>
			</div>
			<DeadlineField id={`${idPrefix}-deadline`} value={deadline} />
			<RememberField id={`${idPrefix}-remember`} value={rememberMinutes} group />
			<fieldset>
				<legend>Allowed methods for members</legend>
				<div class="check">
					<Checkbox id={`${idPrefix}-unrestricted`} name="unrestricted" checked={allowed === null} />
					<label for={`${idPrefix}-unrestricted`}>No restriction (every globally enabled method)</label>
				</div>
				<p class="hint">Or untick "No restriction" and choose the methods members may use (intersected with the globally enabled ones):</p>
				{implemented.map((method) => (
					<div class="check">
						<Checkbox id={`${idPrefix}-${method}`} name={`method_${method}`} checked={allowed?.includes(method)} />
						<label for={`${idPrefix}-${method}`}>
							{METHOD_INFO[method].label} <span class="hint-inline">({kindNote(method)})</span>
						</label>
					</div>
				))}
			</fieldset>
		</>
	);
}

export function AdminGroupsPage({
	ctx,
	groups,
	implemented,
	notice,
}: {
	ctx: PageContext;
	groups: readonly GroupListItem[];
	implemented: readonly MethodId[];
	notice: Notice;
}) {
	return (
		<Layout ctx={ctx} title="User groups">
			<NoticeBox notice={notice} />
			<section class="card">
				{groups.length === 0 ? (
					<p>No groups yet.</p>
				) : (
					<table>
						<caption class="visually-hidden">All groups</caption>
						<thead>
							<tr>
								<th scope="col">Group</th>
								<th scope="col">2FA</th>
								<th scope="col">Allowed methods</th>
								<th scope="col">Members</th>
							</tr>
						</thead>
						<tbody>
							{groups.map((group) => (
								<tr>
									<td>
										<a href={`/admin/group?name=${encodeURIComponent(group.name)}`}>{group.name}</a>
									</td>
									<td>
										{group.force ? <span class="tag tag-good">forced</span> : <span class="muted">not forced</span>}
										{group.force && group.deadline !== null ? <span class="hint-inline"> (deadline {formatDeadline(group.deadline)})</span> : null}
									</td>
									<td>{allowedText(group.allowed)}</td>
									<td>{group.members.length}</td>
								</tr>
							))}
						</tbody>
					</table>
				)}
			</section>
			<section class="card" aria-labelledby="create-group">
				<h2 id="create-group">Create a group</h2>
				<PostForm action="/admin/groups/create" class="stack">
					<CsrfField ctx={ctx} />
					<Field id="group-name" name="name" label="Name" required maxLength={64} autocomplete="off" />
					<GroupPolicyFields idPrefix="new" implemented={implemented} force={false} allowed={null} deadline={null} rememberMinutes={null} />
					<button type="submit" class="primary">
						Create group
					</button>
				</PostForm>
			</section>
		</Layout>
	);
}

export function AdminGroupPage({
	ctx,
	group,
	implemented,
	users,
	notice,
}: {
	ctx: PageContext;
	group: GroupListItem;
	implemented: readonly MethodId[];
	users: readonly string[];
	notice: Notice;
}) {
	const addable = users.filter((user) => !group.members.includes(user));
	return (
		<Layout ctx={ctx} title={`Group ${group.name}`}>
			<p>
				<a href="/admin/groups">← All groups</a>
			</p>
			<NoticeBox notice={notice} />
			<section class="card" aria-labelledby="policy-heading">
				<h2 id="policy-heading">Policy</h2>
				<PostForm action="/admin/groups/update" class="stack">
					<CsrfField ctx={ctx} />
					<input type="hidden" name="name" value={group.name} />
					<GroupPolicyFields
						idPrefix="edit"
						implemented={implemented}
						force={group.force}
						allowed={group.allowed}
						deadline={group.deadline}
						rememberMinutes={group.rememberMinutes}
					/>
					<button type="submit" class="primary">
						Save group policy
					</button>
				</PostForm>
			</section>
			<section class="card" aria-labelledby="members-heading">
				<h2 id="members-heading">Members</h2>
				{group.members.length === 0 ? <p class="muted">No members.</p> : null}
				<ul class="chips">
					{group.members.map((member) => (
						<li>
							<a href={`/admin/user?name=${encodeURIComponent(member)}`}>{member}</a>
							<form method="post" action="/admin/groups/remove-member" class="inline">
								<CsrfField ctx={ctx} />
								<input type="hidden" name="name" value={group.name} />
								<input type="hidden" name="username" value={member} />
								<button type="submit" class="small" aria-label={`Remove ${member} from ${group.name}`}>
									Remove
								</button>
							</form>
						</li>
					))}
				</ul>
				{addable.length > 0 ? (
					<form method="post" action="/admin/groups/add-member" class="inline-form">
						<CsrfField ctx={ctx} />
						<input type="hidden" name="name" value={group.name} />
						<label for="add-member">Add member</label>
						<select id="add-member" name="username">
							{addable.map((user) => (
								<option value={user}>{user}</option>
							))}
						</select>
						<button type="submit">Add</button>
					</form>
				) : null}
			</section>
			<section class="card" aria-labelledby="delete-heading">
				<h2 id="delete-heading">Delete group</h2>
				<form method="post" action="/admin/groups/delete" class="inline">
					<CsrfField ctx={ctx} />
					<input type="hidden" name="name" value={group.name} />
					<button type="submit" class="danger">
						Delete group {group.name}
					</button>
				</form>
			</section>
		</Layout>
	);
}
