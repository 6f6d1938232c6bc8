/**
 * Access Keyword (docs/product-decisions.md Decision 5): a passphrase of at least 10 characters with at least 4
 * distinct ones; a login asks for the characters at 3 random positions. The positions are state,
 * not a view (docs/threat-model.md, "Access Keyword re-roll"): drawn once per user, stored, and shown again by every prompt
 * until answered correctly or expired (keyword-challenge-store.ts). It
 * is stored sealed with AES-256-GCM (the positions must be readable, so it cannot be hashed), never
 * logged, and every wrong answer counts on the account's 2FA failure counter.
 *
 * It is a knowledge factor (OWASP MFA cheat sheet): the UI says so and groups can exclude it.
 */
import type { Clock } from "../../core/clock.ts";
import type { Random } from "../../core/random.ts";
import type { SecretBox } from "../../crypto/secret-box.ts";
import { constantTimeEqual } from "../../crypto/tokens.ts";
import type { FactorStore } from "../../storage/factor-store.ts";
import type { KeywordChallengeStore } from "../../storage/keyword-challenge-store.ts";
import type {
	ChallengeRequest,
	ChallengeStart,
	EnrollmentBegin,
	EnrollmentComplete,
	EnrollmentRequest,
	SecondFactorMethod,
	VerifyRequest,
	VerifyResult,
} from "../method.ts";
import { ENROLMENT_WITHDRAWN } from "../method.ts";
import { hasUnsafe } from "../../core/untrusted-text.ts";

export const KEYWORD_MIN_LENGTH = 10;
export const KEYWORD_MAX_LENGTH = 64;
export const KEYWORD_MIN_DISTINCT = 4;
export const KEYWORD_POSITIONS = 3;

export interface AccessKeywordDeps {
	readonly factors: FactorStore;
	readonly box: SecretBox;
	readonly clock: Clock;
	readonly random: Random;
	/** The per-user drawn positions, shared by web, SSH and every node. */
	readonly challenges: KeywordChallengeStore;
}

/** Characters are Unicode code points of the NFC form, so "é" is one character however typed. */
export function keywordCharacters(keyword: string): string[] {
	return Array.from(keyword.normalize("NFC"));
}

export function validateKeyword(keyword: string): string | null {
	const chars = keywordCharacters(keyword);
	if (chars.length < KEYWORD_MIN_LENGTH) return `The access keyword must have at least ${KEYWORD_MIN_LENGTH} characters.`;
	if (chars.length > KEYWORD_MAX_LENGTH) return `The access keyword must have at most ${KEYWORD_MAX_LENGTH} characters.`;
	if (new Set(chars).size < KEYWORD_MIN_DISTINCT) return `The access keyword must use at least ${KEYWORD_MIN_DISTINCT} different characters.`;
	if (hasUnsafe(keyword)) return "The access keyword must not contain control characters.";
	return null;
}

/** Picks `count` distinct 1-based positions, sorted, with the injected CSPRNG. */
export function pickPositions(random: Random, length: number, count = KEYWORD_POSITIONS): number[] {
	const positions = new Set<number>();
	while (positions.size < Math.min(count, length)) positions.add(random.int(1, length + 1));
	return [...positions].sort((a, b) => a - b);
}

export function describePositions(positions: readonly number[]): string {
	if (positions.length === 1) return `character ${positions[0]}`;
	return `characters ${positions.slice(0, -1).join(", ")} and ${positions[positions.length - 1]}`;
}

function readPositions(state: unknown): number[] | null {
	if (state === null || typeof state !== "object") return null;
	const positions = (state as { positions?: unknown }).positions;
	if (!Array.isArray(positions) || positions.length !== KEYWORD_POSITIONS) return null;
	if (!positions.every((value) => Number.isInteger(value) && value >= 1 && value <= KEYWORD_MAX_LENGTH)) return null;
	return positions as number[];
}

export function createAccessKeywordMethod(deps: AccessKeywordDeps): SecondFactorMethod {
	const context = (factorId: string) => `access-keyword:${factorId}`;

	return {
		id: "access-keyword",
		interaction: "code",

		async startChallenge(request: ChallengeRequest): Promise<ChallengeStart> {
			const factor = request.factors[0];
			if (factor === undefined || factor.secretEnc === null) {
				return { prompt: "Access keyword", echo: false, state: null };
			}
			const length = keywordCharacters(deps.box.open(factor.secretEnc, context(factor.id)).toString("utf8")).length;
			// Re-uses the live positions when there are any: showing the prompt again never draws.
			const { challenge } = await deps.challenges.liveOrDraw({
				userId: request.user.id,
				username: request.user.username,
				factorId: factor.id,
				pick: () => pickPositions(deps.random, length),
				channel: request.channel,
				source: request.sourceAddress,
			});
			const positions = [...challenge.positions];
			return { prompt: `Access keyword: ${describePositions(positions)}`, echo: false, state: { positions, factorId: factor.id, challengeId: challenge.id } };
		},

		async verifyResponse(request: VerifyRequest): Promise<VerifyResult> {
			const positions = readPositions(request.state);
			if (positions === null) return { kind: "invalid", reason: "expired" };
			if (typeof request.response !== "string" || request.response.length > 64) return { kind: "invalid", reason: "malformed" };
			const answer = keywordCharacters(request.response);
			if (answer.length !== positions.length) return { kind: "invalid", reason: "malformed" };
			const { factorId, challengeId } = request.state as { factorId?: unknown; challengeId?: unknown };
			const factor = request.factors.find((candidate) => candidate.id === factorId);
			if (factor === undefined || factor.secretEnc === null || typeof challengeId !== "string") return { kind: "invalid", reason: "expired" };
			// The stored challenge is the truth: the answer must be to the positions live now.
			const live = await deps.challenges.live(request.user.id);
			if (live === null || live.id !== challengeId || live.factorId !== factor.id || live.positions.join(",") !== positions.join(",")) {
				await deps.challenges.dropExpired(request.user.id, challengeId);
				return { kind: "invalid", reason: "expired" };
			}
			const chars = keywordCharacters(deps.box.open(factor.secretEnc, context(factor.id)).toString("utf8"));
			const expected = positions.map((position) => chars[position - 1] ?? "\u0000").join("");
			// A wrong answer keeps the challenge: the same positions are asked again (and the answer was charged).
			if (!constantTimeEqual(expected, answer.join(""))) return { kind: "invalid", reason: "wrong" };
			if (!(await deps.challenges.consume(request.user.id, live.id))) return { kind: "invalid", reason: "expired" };
			await deps.factors.touch(factor.id);
			return { kind: "valid", factorId: factor.id };
		},

		async beginEnrollment(request: EnrollmentRequest): Promise<EnrollmentBegin> {
			const keyword = request.input.keyword ?? "";
			const confirm = request.input.confirm ?? "";
			const problem = validateKeyword(keyword);
			if (problem !== null) return { kind: "rejected", message: problem };
			if (keyword.normalize("NFC") !== confirm.normalize("NFC")) return { kind: "rejected", message: "The two keywords do not match." };
			const existing = await deps.factors.listActive(request.user.id, "access-keyword");
			if (existing.length > 0) return { kind: "rejected", message: "You already have an access keyword. Remove it before setting a new one." };
			const factorId = deps.factors.newFactorId();
			// Both entries were typed in one form, so the factor is created active in one INSERT.
			const inserted = await deps.factors.insert(
				{
					id: factorId,
					userId: request.user.id,
					method: "access-keyword",
					label: request.label,
					status: "active",
					secretEnc: deps.box.seal(keyword.normalize("NFC"), context(factorId)),
				},
				request.guard,
			);
			if (inserted === null) return { kind: "rejected", message: ENROLMENT_WITHDRAWN };
			return { kind: "active", factorId, display: {} };
		},

		async completeEnrollment(): Promise<EnrollmentComplete> {
			return { kind: "invalid", message: "An access keyword is set up in one step." };
		},
	};
}
