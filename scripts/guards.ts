/**
 * The guard sites that keep 2FA state safe, each with a patch that disables it and the tests that
 * must then fail (run by scripts/test-guards.ts, `npm run test:guards`). A guard is a check whose
 * removal would reopen an attack; the tests named are the attack tests that prove it matters.
 * When you add a guard, add it here; when a guard's code moves, update its anchor.
 */
export interface Guard {
	readonly id: string;
	/** The attack the guard stops, in one line. */
	readonly why: string;
	readonly file: string;
	/** Exact text, occurring once in the file. */
	readonly find: string;
	/** What it becomes with the guard disabled. */
	readonly replace: string;
	readonly tests: { readonly file: string; readonly names: readonly string[] };
}

export const GUARDS: readonly Guard[] = [
	{
		id: "user-row-lock",
		why: "guarded transitions (factor removal, reset) serialise on the user's row; without it two parallel removals both pass the last-factor rule",
		file: "src/storage/user-transaction.ts",
		find: "const user = await lockUser(trx, userId);",
		replace: 'const user = await trx.selectFrom("users").selectAll().where("id", "=", userId).executeTakeFirst();',
		tests: { file: "test/security/enrolment-races.test.ts", names: ["last-factor rule raced: a forced user removes both factors at once on two nodes; one removal wins, one factor stays"] },
	},
	{
		id: "reset-generation",
		why: "a factor begun before an admin reset never activates after it",
		file: "src/storage/factor-store.ts",
		find: "if (user === undefined || user.disabled === 1 || Number(user.tfa_generation) !== guard.generation) return false;",
		replace: "if (user === undefined || user.disabled === 1) return false;",
		tests: { file: "test/security/enrolment-binding.test.ts", names: ["a factor begun before an admin reset never activates after it, even from a trusted caller"] },
	},
	{
		id: "origin-live",
		why: "a pending factor dies with the login attempt (or web session) that began it",
		file: "src/storage/factor-store.ts",
		find: "if (guard.origin !== null && !(await originIsLive(trx, userId, guard.origin, now))) return false;",
		replace: "",
		tests: { file: "test/security/enrolment-binding.test.ts", names: ["a pending factor dies with the login attempt that began it"] },
	},
	{
		id: "origin-match",
		why: "a pending factor is activated only from the attempt or session that began it",
		file: "src/storage/factor-store.ts",
		find: '.where("origin", guard.origin === null ? "is" : "=", guard.origin)',
		replace: "",
		tests: { file: "test/storage/storage-conformance.test.ts", names: ["enrolment link: 10 parallel activations with one link, one factor; none after expiry or from another attempt"] },
	},
	{
		id: "enrolment-link",
		why: "after an admin reset, forced enrolment needs the one-time link, and one link enrols one factor",
		file: "src/storage/factor-store.ts",
		find: "if (duringLogin && user.enroll_token_hash !== null && (!linkOutstanding || guard.linkHash !== user.enroll_token_hash)) return false;",
		replace: "",
		tests: { file: "test/storage/storage-conformance.test.ts", names: ["enrolment link: 10 parallel activations with one link, one factor; none after expiry or from another attempt"] },
	},
	{
		id: "enrolment-step",
		why: "a half-authenticated user may enrol only while their attempt's policy step is 'enrol' (not with a factor already usable)",
		file: "src/flows/enrollment-flow.ts",
		find: "if (context.duringLogin && !(await this.attemptNeedsEnrolment(user, context))) {",
		replace: "if (false) {",
		tests: { file: "test/security/enrolment-binding.test.ts", names: ["a forced-enrolment start from an attempt that is not at the enrolment step is refused, audited and charged"] },
	},
	{
		id: "finish-enrolment-origin",
		why: "a factor enrolled during one login attempt cannot complete another attempt",
		file: "src/flows/login-flow.ts",
		find: "factor.origin !== `attempt:${attempt.id}` ||",
		replace: "",
		tests: { file: "test/security/enrolment-binding.test.ts", names: ["a factor enrolled during one login attempt cannot finish another attempt"] },
	},
];
