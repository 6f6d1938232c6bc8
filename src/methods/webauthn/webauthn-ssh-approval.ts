/**
 * WebAuthn on SSH (docs/product-decisions.md Decision 6): a one-time approval link bound to the login attempt,
 * approved in the browser, consumed when the user presses Enter. Split out of
 * createWebauthnMethod.
 */
import type { ChallengeRequest, ChallengeStart, VerifyRequest, VerifyResult } from "../method.ts";
import type { Assertions } from "./webauthn-assertion.ts";
import {
	APPROVAL_TTL_MS,
	approvalPrompt,
	details,
	linkContext,
	MAX_PENDING_ROUNDS,
	unavailable,
	type ApprovalOutcome,
	type ApprovalView,
	type WebauthnContext,
} from "./webauthn-common.ts";
import type { ApprovalRow } from "../../storage/webauthn-store.ts";

/**
 * `assertions`: the WebAuthn checks of the approval page (webauthn-assertion.ts). viewApproval,
 * approve and deny serve /approve/<token>; startSsh and verifySsh the SSH prompt.
 */
export function createSshApproval(ctx: WebauthnContext, assertions: Pick<Assertions, "checkAssertion" | "requestOptions">) {
	const { deps, store, now, relyingParty, audit } = ctx;
	const { checkAssertion, requestOptions } = assertions;

	async function startSsh(request: ChallengeRequest): Promise<ChallengeStart> {
		const rp = relyingParty();
		const attempt = await store.attemptInfo(request.attemptId);
		if (attempt === null || attempt.userId !== request.user.id) throw unavailable("the login attempt is unknown");
		const expiresAt = Math.min(now() + APPROVAL_TTL_MS, attempt.expiresAt);
		if (expiresAt <= now()) throw unavailable("the login attempt has expired");
		const approval = await store.createApproval({ userId: request.user.id, attemptId: request.attemptId, source: request.sourceAddress, expiresAt });
		const link = `${rp.consoleUrl}/approve/${approval.token}`;
		// Only the token's hash is in webauthn_approvals; the link itself rides in the attempt's
		// challenge state (to repeat the prompt), sealed like every other secret at rest.
		return {
			prompt: approvalPrompt(link),
			echo: true,
			state: { approvalId: approval.id, rounds: 0, link: deps.box.seal(link, linkContext(approval.id)) },
		};
	}

	async function verifySsh(request: VerifyRequest): Promise<VerifyResult> {
		const state = request.state;
		const approvalId = typeof state?.approvalId === "string" ? state.approvalId : null;
		const sealedLink = typeof state?.link === "string" ? state.link : null;
		const rounds = typeof state?.rounds === "number" && Number.isInteger(state.rounds) ? state.rounds : MAX_PENDING_ROUNDS;
		if (approvalId === null || sealedLink === null) return { kind: "invalid", reason: "expired" };
		// The prompt asks for Enter only; typed text (a TOTP code out of habit) is not an approval.
		if (request.response.trim() !== "") return { kind: "invalid", reason: "malformed" };
		const factorId = await store.consumeApproval(approvalId, request.attemptId, request.user.id);
		if (factorId !== null) {
			// The approving key must still be one of the user's active keys.
			if (!request.factors.some((factor) => factor.id === factorId)) return { kind: "invalid", reason: "wrong" };
			return { kind: "valid", factorId };
		}
		const row = await store.getApproval(approvalId);
		if (row === null || row.attemptId !== request.attemptId || row.userId !== request.user.id) return { kind: "invalid", reason: "expired" };
		if (row.status === "denied") return { kind: "invalid", reason: "wrong" };
		if (row.status === "pending" && row.expiresAt > now()) {
			if (rounds + 1 > MAX_PENDING_ROUNDS) {
				await store.markExpired(row.id);
				return { kind: "invalid", reason: "expired" };
			}
			const link = deps.box.open(sealedLink, linkContext(row.id)).toString("utf8");
			return {
				kind: "continue",
				prompt: `Not approved yet. ${approvalPrompt(link)}`,
				echo: true,
				state: { approvalId: row.id, rounds: rounds + 1, link: sealedLink },
			};
		}
		await store.markExpired(row.id);
		return { kind: "invalid", reason: "expired" };
	}

	/** The approval behind a token, if it belongs to this user (never reveals another user's). */
	async function approvalFor(token: string, userId: string): Promise<ApprovalRow | { kind: "not-found" } | { kind: "other-user" }> {
		const row = await store.findApprovalByToken(token);
		if (row === null) return { kind: "not-found" };
		if (row.userId !== userId) return { kind: "other-user" };
		return row;
	}

	async function stillPending(row: ApprovalRow): Promise<boolean> {
		if (row.status !== "pending" || row.expiresAt <= now()) return false;
		const attempt = await store.attemptInfo(row.attemptId);
		if (attempt === null || !attempt.live) {
			await store.markExpired(row.id);
			return false;
		}
		return true;
	}

	async function viewApproval(token: string, userId: string): Promise<ApprovalView> {
		const row = await approvalFor(token, userId);
		if ("kind" in row) return row;
		if (!(await stillPending(row))) {
			return { kind: "closed", details: details((await store.getApproval(row.id)) ?? row, now()) };
		}
		const factors = await deps.factors.listActive(userId, "webauthn");
		const challenge = await store.createChallenge({ userId, scope: "ssh-approval", attemptId: row.attemptId, approvalId: row.id }, row.expiresAt - now());
		return { kind: "pending", details: details(row, now()), challengeId: challenge.id, options: await requestOptions(challenge.challenge, factors) };
	}

	async function approve(token: string, userId: string, challengeId: string, response: string, from: string): Promise<ApprovalOutcome> {
		const row = await approvalFor(token, userId);
		if ("kind" in row) return row;
		const user = { id: userId, username: null as string | null };
		if (!(await stillPending(row))) return { kind: "closed", details: details((await store.getApproval(row.id)) ?? row, now()) };
		const expected = await store.consumeChallenge(challengeId, { userId, scope: "ssh-approval", attemptId: row.attemptId, approvalId: row.id });
		if (expected === null) return { kind: "invalid", message: "This page has expired. Reload it and approve again." };
		const factors = await deps.factors.listActive(userId, "webauthn");
		const username = (await deps.users.findById(userId))?.username ?? null;
		user.username = username;
		const checked = await checkAssertion({ id: userId, username: username ?? "" }, factors, response, expected, {
			channel: "web",
			source: from,
			scope: "ssh-approval",
		});
		if (checked.kind === "invalid") {
			await audit("webauthn.ssh-approval", "failure", user, { approvalId: row.id, sshSource: row.source, reason: checked.reason }, "web", from);
			return {
				kind: "invalid",
				message:
					checked.reason === "replayed"
						? "This security key was refused (its signature counter went backwards). Ask an administrator."
						: "The security key's answer was not accepted. Try again.",
			};
		}
		if (!(await store.markApproved(row.id, userId, checked.factorId, from))) {
			return { kind: "closed", details: details((await store.getApproval(row.id)) ?? row, now()) };
		}
		await audit("webauthn.ssh-approval", "success", user, { approvalId: row.id, sshSource: row.source, factorId: checked.factorId }, "web", from);
		return { kind: "approved", details: details({ ...row, status: "approved" }, now()) };
	}

	async function deny(token: string, userId: string, from: string): Promise<ApprovalOutcome> {
		const row = await approvalFor(token, userId);
		if ("kind" in row) return row;
		if (!(await store.markDenied(row.id, userId, from))) return { kind: "closed", details: details((await store.getApproval(row.id)) ?? row, now()) };
		const username = (await deps.users.findById(userId))?.username ?? null;
		await audit("webauthn.ssh-denied", "info", { id: userId, username }, { approvalId: row.id, sshSource: row.source }, "web", from);
		return { kind: "denied", details: details({ ...row, status: "denied" }, now()) };
	}

	return { startSsh, verifySsh, viewApproval, approve, deny };
}
