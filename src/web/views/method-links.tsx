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

export function hasMethodEnrollLinks(methods: readonly MethodId[]): boolean {
	return WEB_ENROLLABLE.some((method) => methods.includes(method));
}

export function MethodEnrollLinks({ methods, base }: { methods: readonly MethodId[]; base: "/account/factors" | "/login/enroll" }) {
	const shown = WEB_ENROLLABLE.filter((method) => methods.includes(method));
	if (shown.length === 0) return null;
	return (
		<ul class="method-links">
			{shown.map((method) => (
				<li>
					<a href={`${base}/${method}`}>{ENROL_TITLES[method]}</a> <span class="hint-inline">({NOTES[method]})</span>
				</li>
			))}
		</ul>
	);
}
