/**
 * /admin/methods: settings of the backend methods (YubiKey validation, Duo, RADIUS), "test
 * connection", and removing settings. Every change goes through MethodAdmin (validation, sealed
 * secrets, audit "method.settings-changed"); its refusals become a visible form error, never a
 * 500. Secrets are never rendered: a secret field left empty keeps the stored secret. Changes need
 * a fresh step-up like the other admin settings (docs/threat-model.md I8).
 */
import type { FastifyReply, FastifyRequest } from "fastify";
import { CONFIGURABLE_METHODS, type ConfigurableMethod } from "../../methods/method-settings.ts";
import type { ConnectionTestResult } from "../../methods/method-admin.ts";
import { attemptAdminChange, webActor as actor } from "../admin-change.ts";
import { pageContext, seeOther, sendPage, type RouteModule } from "../context.ts";
import { checkbox, str, type FormSchema, type Parsed } from "../forms.ts";
import { getRoute, postRoute } from "../route-kit.ts";
import type { Notice } from "../views/login.tsx";
import { AdminMethodsPage, MAX_RADIUS_ROWS } from "../views/methods-admin.tsx";

const DONE: Record<string, string> = { saved: "Saved.", cleared: "The settings were removed." };

// ---------------------------------------------------------------------------------------------
// Forms
// ---------------------------------------------------------------------------------------------

const YUBIKEY_FORM = {
	mode: str(16),
	urls: str(2600),
	clientId: str(64),
	apiKey: str(256),
	timeoutMs: str(9),
	caPem: str(12_000),
	clearCa: checkbox,
} as const satisfies FormSchema;
const DUO_FORM = {
	apiHost: str(260),
	integrationKey: str(64),
	secretKey: str(256),
	honourDuoBypass: checkbox,
	timeoutMs: str(9),
	caPem: str(12_000),
	clearCa: checkbox,
	webClientId: str(64),
	webClientSecret: str(256),
} as const satisfies FormSchema;
const RADIUS_FORM: FormSchema = {
	timeoutMs: str(9),
	retries: str(2),
	nasIdentifier: str(253),
	...Object.fromEntries(
		Array.from({ length: MAX_RADIUS_ROWS }, (_, index) => index + 1).flatMap((row) => [
			[`host_${row}`, str(253)],
			[`port_${row}`, str(5)],
			[`secret_${row}`, str(256)],
			[`legacy_${row}`, checkbox],
		]),
	),
};

/** A text field's value, or undefined when it is empty or absent (checkbox values never reach here). */
const blankToUndefined = (value: string | boolean | undefined): string | undefined => (typeof value !== "string" || value.trim() === "" ? undefined : value);

/** Form → MethodAdmin input. Empty secret or CA fields mean "keep"; the CA checkbox removes it. */
function yubikeyInput(form: Parsed<typeof YUBIKEY_FORM>): unknown {
	if (form.mode === "offline") return { mode: "offline" };
	const urls = String(form.urls ?? "")
		.split(/\r?\n/)
		.map((line) => line.trim())
		.filter((line) => line.length > 0);
	return {
		mode: form.mode ?? "",
		urls,
		clientId: form.clientId ?? "",
		apiKey: blankToUndefined(form.apiKey),
		timeoutMs: blankToUndefined(form.timeoutMs),
		caPem: form.clearCa === true ? "" : blankToUndefined(form.caPem),
	};
}

function duoInput(form: Parsed<typeof DUO_FORM>): unknown {
	return {
		apiHost: form.apiHost ?? "",
		integrationKey: form.integrationKey ?? "",
		secretKey: blankToUndefined(form.secretKey),
		honourDuoBypass: form.honourDuoBypass === true,
		timeoutMs: blankToUndefined(form.timeoutMs),
		caPem: form.clearCa === true ? "" : blankToUndefined(form.caPem),
		// An empty client ID removes the Web SDK (the web then uses the Auth API prompt); an empty secret keeps the stored one.
		webClientId: blankToUndefined(form.webClientId),
		webClientSecret: blankToUndefined(form.webClientSecret),
	};
}

function radiusInput(form: Parsed<typeof RADIUS_FORM>): unknown {
	const servers = [];
	for (let row = 1; row <= MAX_RADIUS_ROWS; row++) {
		const host = blankToUndefined(form[`host_${row}`]);
		if (host === undefined) continue;
		servers.push({
			host,
			port: blankToUndefined(form[`port_${row}`]),
			secret: blankToUndefined(form[`secret_${row}`]),
			legacyNoMessageAuthenticator: form[`legacy_${row}`] === true,
		});
	}
	return {
		servers,
		timeoutMs: blankToUndefined(form.timeoutMs),
		retries: blankToUndefined(form.retries),
		nasIdentifier: blankToUndefined(form.nasIdentifier),
	};
}

// ---------------------------------------------------------------------------------------------
// Routes
// ---------------------------------------------------------------------------------------------

export const methodAdminRoutes: RouteModule = (server, web) => {
	const admin = web.services.methodAdmin;
	const change = { access: "admin" as const, stepUp: true, stepUpReturn: "/admin/methods" };

	async function page(
		request: FastifyRequest,
		reply: FastifyReply,
		notice: Notice,
		status = 200,
		tested: ConnectionTestResult | null = null,
		focus: ConfigurableMethod | null = null,
	): Promise<FastifyReply> {
		return sendPage(reply, status, <AdminMethodsPage ctx={pageContext(request)} views={await admin.list()} notice={notice} tested={tested} focus={focus} />);
	}

	/** MethodAdmin refusals (invalid settings, policy) are shown on the page; anything else is a bug (500). */
	async function attempt(
		request: FastifyRequest,
		reply: FastifyReply,
		method: ConfigurableMethod,
		action: () => Promise<void>,
		done: string,
	): Promise<FastifyReply> {
		const failed = await attemptAdminChange(action, (notice, status) => page(request, reply, notice, status, null, method));
		// Back to the method's own section, open, with the result in it.
		return failed ?? seeOther(reply, `/admin/methods?m=${done}&method=${method}#settings-${method}`);
	}

	getRoute(server, "/admin/methods", { access: "admin", fields: { m: str(32), method: str(32) } }, async (request, reply, query) => {
		const done = query.m === undefined ? undefined : DONE[query.m];
		const focus = CONFIGURABLE_METHODS.find((method) => method === query.method) ?? null;
		return page(request, reply, done ? { kind: "success", text: done } : null, 200, null, focus);
	});

	postRoute(server, "/admin/methods/yubikey-otp", { ...change, fields: YUBIKEY_FORM }, async (request, reply, form) =>
		attempt(request, reply, "yubikey-otp", async () => void (await admin.update(actor(request), "yubikey-otp", yubikeyInput(form))), "saved"),
	);
	postRoute(server, "/admin/methods/duo", { ...change, fields: DUO_FORM }, async (request, reply, form) =>
		attempt(request, reply, "duo", async () => void (await admin.update(actor(request), "duo", duoInput(form))), "saved"),
	);
	postRoute(server, "/admin/methods/radius", { ...change, fields: RADIUS_FORM }, async (request, reply, form) =>
		attempt(request, reply, "radius", async () => void (await admin.update(actor(request), "radius", radiusInput(form))), "saved"),
	);

	for (const method of CONFIGURABLE_METHODS) {
		// Testing changes nothing (it is audited): no step-up needed.
		postRoute(server, `/admin/methods/${method}/test`, { access: "admin", fields: {} }, async (request, reply) =>
			page(request, reply, null, 200, await admin.testConnection(actor(request), method)),
		);
		postRoute(server, `/admin/methods/${method}/clear`, { ...change, fields: {} }, async (request, reply) =>
			attempt(request, reply, method, () => admin.clear(actor(request), method), "cleared"),
		);
	}
};
