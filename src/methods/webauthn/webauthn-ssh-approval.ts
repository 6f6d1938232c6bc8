/**
 * WebAuthn on SSH (product.md Decision 6): a one-time approval link bound to the login attempt,
 * approved in the browser, consumed when the user presses Enter. Split out of
 * createWebauthnMethod (issue 12 item 5).
 */
import type { ChallengeRequest, ChallengeStart, VerifyRequest, VerifyResult } from "../method.ts";
import { APPROVAL_TTL_MS, approvalPrompt, linkContext, MAX_PENDING_ROUNDS, unavailable, type WebauthnContext } from "./webauthn-common.ts";
import type { ApprovalRow } from "./webauthn-store.ts";

export function createSshApproval(ctx: WebauthnContext) {
	const { deps, store, now, relyingParty } = ctx;

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
			return { kind: "continue", prompt: `Not approved yet. ${approvalPrompt(link)}`, echo: true, state: { approvalId: row.id, rounds: rounds + 1, link: sealedLink } };
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

	return { startSsh, verifySsh, approvalFor, stillPending };
}
