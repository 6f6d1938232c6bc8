/**
 * Setting up Duo for a user: one Duo username, checked with preauth now, bound to one account
 * (docs/product-decisions.md, "Methods"). Split out of createDuoMethod.
 */
import { hasUnsafe } from "../../core/untrusted-text.ts";
import type { EnrollmentBegin, EnrollmentRequest } from "../method.ts";
import { ENROLMENT_WITHDRAWN } from "../method.ts";
import type { DuoSettings } from "../method-settings.ts";
import { duoClient, shortName, type DuoMethodDeps } from "./duo-common.ts";
import { decidePreauth } from "./duo-policy.ts";

export async function beginDuoEnrollment(deps: Pick<DuoMethodDeps, "settings" | "factors" | "clock">, request: EnrollmentRequest): Promise<EnrollmentBegin> {
	const duoUser = (request.input.username ?? "").trim() || request.user.username;
	if (duoUser.length > 256 || hasUnsafe(duoUser)) return { kind: "rejected", message: "That is not a valid Duo username." };
	let settings: DuoSettings;
	try {
		settings = await deps.settings.require("duo");
	} catch {
		return { kind: "rejected", message: "Duo cannot be set up right now: the administrator has not finished configuring it." };
	}
	const mine = await deps.factors.listActive(request.user.id, "duo");
	if (mine.length > 0) return { kind: "rejected", message: "Duo is already set up for your account. Remove it first to use another Duo username." };
	const bound = (await deps.factors.findByPublicId("duo", duoUser)).filter((factor) => factor.status === "active" && factor.userId !== request.user.id);
	if (bound.length > 0) return { kind: "rejected", message: "That Duo username is already used by another account." };

	let answer;
	try {
		answer = await duoClient(settings, deps.clock).preauth(duoUser);
	} catch {
		return { kind: "rejected", message: "Duo cannot be reached right now. Try again later." };
	}
	const decision = decidePreauth(answer, { honourDuoBypass: settings.honourDuoBypass });
	if (decision.kind === "deny") {
		switch (decision.reason) {
			case "not-enrolled": {
				const url =
					answer.result === "enroll" && answer.enrollPortalUrl !== null && /^https:\/\/[\x21-\x7e]{1,500}$/.test(answer.enrollPortalUrl)
						? answer.enrollPortalUrl
						: null;
				return {
					kind: "rejected",
					message: url
						? `Your Duo account has no device yet. Enroll one at ${url} and then try again.`
						: "Your Duo account has no device yet. Enroll in Duo first (ask your administrator), then try again.",
				};
			}
			case "bypass-not-allowed":
				return {
					kind: "rejected",
					message: "Duo lets this account in without a second factor (bypass), which this server does not accept. Ask your Duo administrator.",
				};
			default:
				return { kind: "rejected", message: `Duo refuses this account: ${answer.statusMsg.slice(0, 200) || "denied"}` };
		}
	}
	const factorId = deps.factors.newFactorId();
	if (
		(await deps.factors.insert(
			{ id: factorId, userId: request.user.id, method: "duo", label: request.label, status: "active", secretEnc: null, publicId: duoUser },
			request.guard,
		)) === null
	) {
		return { kind: "rejected", message: ENROLMENT_WITHDRAWN };
	}
	const devices = answer.result === "auth" ? answer.devices.map(shortName).join(", ") : "(Duo bypass)";
	return { kind: "active", factorId, display: { duoUsername: duoUser, devices } };
}
