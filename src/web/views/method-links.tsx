/**
 * Links to the enrolment pages of the backend methods (src/web/routes/methods-enroll.tsx), for
 * the account page and the forced-enrolment page. Kept apart from the route module so views do not
 * import routes.
 */
import type { MethodId } from "../../core/method-id.ts";

export const WEB_ENROLLABLE = ["yubikey-otp", "duo", "radius"] as const;
export type WebEnrollable = (typeof WEB_ENROLLABLE)[number];

export const ENROL_TITLES: Record<WebEnrollable, string> = {
	"yubikey-otp": "Set up a YubiKey",
	duo: "Set up Duo",
	radius: "Set up RADIUS",
};

const NOTES: Record<WebEnrollable, string> = {
	"yubikey-otp": "touch the key; works on the web and over SSH",
	duo: "push, phone call or Duo passcode",
	radius: "your organisation's RADIUS or token server",
};

/** WebAuthn has its own enrolment page (src/web/routes/webauthn.tsx) at the same paths. */
const OTHER_PAGES: Partial<Record<MethodId, { title: string; note: string }>> = {
	webauthn: { title: "Register a security key", note: "FIDO2 key or passkey; SSH logins are approved in the browser" },
};

/** Every method with a link from the account and forced-enrolment pages. */
export const LINKED_ENROLLABLE: readonly MethodId[] = ["webauthn", ...WEB_ENROLLABLE];

function linkText(method: MethodId): { title: string; note: string } | null {
	if ((WEB_ENROLLABLE as readonly string[]).includes(method)) return { title: ENROL_TITLES[method as WebEnrollable], note: NOTES[method as WebEnrollable] };
	return OTHER_PAGES[method] ?? null;
}

export function hasMethodEnrollLinks(methods: readonly MethodId[]): boolean {
	return LINKED_ENROLLABLE.some((method) => methods.includes(method));
}

export function MethodEnrollLinks({ methods, base }: { methods: readonly MethodId[]; base: "/account/factors" | "/login/enroll" }) {
	const shown = LINKED_ENROLLABLE.filter((method) => methods.includes(method));
	if (shown.length === 0) return null;
	return (
		<ul class="method-links">
			{shown.map((method) => (
				<li>
					<a href={`${base}/${method}`}>{linkText(method)?.title}</a> <span class="hint-inline">({linkText(method)?.note})</span>
				</li>
			))}
		</ul>
	);
}
