/**
 * Admin pages. Every change goes through AdminService (shared with the CLI), which validates and
 * audits; this module maps its PortcullisErrors to a visible form error (never a 500). Changes
 * need a fresh step-up like account management (docs/threat-model.md I8: "change force-2FA settings").
 */
import type { FastifyReply, FastifyRequest } from "fastify";
import { METHOD_IDS, type MethodId } from "../../core/method-id.ts";
import { pageContext, seeOther, sendPage, type RouteModule } from "../context.ts";
import { checkbox, str } from "../forms.ts";
import { getRoute, postRoute } from "../route-kit.ts";
import { attemptAdminChange, deadlineChange, rememberChange, webActor } from "../admin-change.ts";
import { AdminSettingsPage, EnrolmentStatusPage, ImpactConfirmPage } from "../views/admin.tsx";
import type { Notice } from "../views/login.tsx";

const DONE: Record<string, string> = {
	saved: "Saved.",
	created: "Created.",
	disabled: "The account is disabled and its sessions have ended.",
	enabled: "The account is enabled.",
	unlocked: "The account is unlocked.",
	reset: "Two-factor authentication was reset. The user sets up a new factor at the next login.",
	"group-added": "Added to the group.",
	"group-removed": "Removed from the group.",
	deleted: "Deleted.",
	"member-added": "Member added.",
	"member-removed": "Member removed.",
};

/** Checkbox fields method_<id> for every known method (the service refuses unimplemented ones). */
export const METHOD_FIELDS: Record<`method_${MethodId}`, typeof checkbox> = Object.fromEntries(
	METHOD_IDS.map((method) => [`method_${method}`, checkbox]),
) as Record<`method_${MethodId}`, typeof checkbox>;

export function checkedMethods(form: Record<string, unknown>): MethodId[] {
	return METHOD_IDS.filter((method) => form[`method_${method}`] === true);
}

/** The submitted form again, as hidden fields of the confirm step (checkboxes "on", text as typed; never the CSRF token). */
export function echoFields(form: Readonly<Record<string, unknown>>): Record<string, string> {
	const fields: Record<string, string> = {};
	for (const [name, value] of Object.entries(form)) {
		if (name === "confirm" || name === "_csrf") continue;
		if (value === true) fields[name] = "on";
		else if (typeof value === "string") fields[name] = value;
	}
	return fields;
}

export function notice(m: string | undefined): Notice {
	return m !== undefined && DONE[m] ? { kind: "success", text: DONE[m] } : null;
}

/** The route options of an admin change: a fresh step-up, returning to `back` when stale. */
export const change = (back: string) => ({ access: "admin" as const, stepUp: true, stepUpReturn: back });

export const adminRoutes: RouteModule = (server, web) => {
	const { services } = web;

	const actor = webActor;

	const attempt = attemptAdminChange;

	server.get("/admin", { config: { access: "admin" } }, async (_request, reply) => seeOther(reply, "/admin/users"));

	// ---- settings ----

	async function settingsPage(request: FastifyRequest, reply: FastifyReply, shown: Notice, status = 200): Promise<FastifyReply> {
		const settings = await services.directory.settings.getTwoFactor();
		return sendPage(
			reply,
			status,
			<AdminSettingsPage
				ctx={pageContext(request)}
				force={settings.forceTwoFactor}
				enabled={settings.enabledMethods}
				deadline={settings.enrolmentDeadline ?? null}
				rememberMinutes={settings.rememberMinutes ?? 0}
				implemented={services.admin.implementedMethods()}
				notice={shown}
			/>,
		);
	}

	getRoute(server, "/admin/settings", { access: "admin", fields: { m: str(32) } }, async (request, reply, query) =>
		settingsPage(request, reply, notice(query.m)),
	);

	getRoute(server, "/admin/enrolment", { access: "admin", fields: { filter: str(32) } }, async (request, reply, query) =>
		sendPage(
			reply,
			200,
			<EnrolmentStatusPage ctx={pageContext(request)} users={await services.admin.enrolmentStatus()} notEnrolledOnly={query.filter === "not-enrolled"} />,
		),
	);

	const settingsFields = { force: checkbox, deadline: str(64), remember: str(8), confirm: checkbox, ...METHOD_FIELDS };
	postRoute(server, "/admin/settings", { ...change("/admin/settings"), fields: settingsFields }, async (request, reply, form) => {
		let confirmPage: FastifyReply | null = null;
		const failed = await attempt(
			async () => {
				const current = await services.directory.settings.getTwoFactor();
				const enrolmentDeadline = deadlineChange(form.deadline, current.enrolmentDeadline, services.clock.now().getTime());
				const rememberMinutes = rememberChange(form.remember, undefined) ?? undefined;
				const changes = {
					forceTwoFactor: form.force === true,
					enabledMethods: checkedMethods(form),
					...(enrolmentDeadline !== undefined ? { enrolmentDeadline } : {}),
					...(rememberMinutes !== undefined ? { rememberMinutes } : {}),
				};
				if (!form.confirm) {
					// Impact preview: a change that newly requires 2FA of someone is confirmed first.
					const impact = await services.admin.previewSettings(actor(request), changes);
					if (impact.gaining.length > 0 || impact.selfWithoutFactor) {
						confirmPage = sendPage(
							reply,
							200,
							<ImpactConfirmPage ctx={pageContext(request)} action="/admin/settings" fields={echoFields(form)} impact={impact} back="/admin/settings" />,
						);
						return;
					}
				}
				await services.admin.updateSettings(actor(request), changes);
			},
			(shown, status) => settingsPage(request, reply, shown, status),
			request,
		);
		return failed ?? confirmPage ?? seeOther(reply, "/admin/settings?m=saved");
	});
};
