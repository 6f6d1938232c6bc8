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
		id: "password-link-single-use",
		why: "a one-time password link sets a password once; without clearing it in the UPDATE that uses it, the link (or a leaked copy) works again",
		file: "src/storage/user-store.ts",
		find: "// Used: the link is gone in the same statement that used it.\n\t\t\t\tpw_link_hash: null,\n\t\t\t\tpw_link_expires_at: null,",
		replace: "// guard disabled",
		tests: {
			file: "test/storage/password-link.test.ts",
			names: ["two uses of one link at once: exactly one sets the password; the link is then gone"],
		},
	},
	{
		id: "user-row-lock",
		why: "guarded transitions (factor removal, reset) serialise on the user's row; without it two parallel removals both pass the last-factor rule",
		file: "src/storage/unit-of-work.ts",
		find: "lockUser: (userId) => lockUser(trx, userId),",
		replace: 'lockUser: (userId) => trx.selectFrom("users").selectAll().where("id", "=", userId).executeTakeFirst(),',
		tests: {
			file: "test/security/enrolment-races.test.ts",
			names: ["last-factor rule raced: a forced user removes both factors at once on two nodes; one removal wins, one factor stays"],
		},
	},
	{
		id: "reset-generation",
		why: "a factor begun before an admin reset never activates after it",
		file: "src/storage/factor-store.ts",
		find: "if (user === undefined || user.disabled === 1 || Number(user.tfa_generation) !== guard.generation) return false;",
		replace: "if (user === undefined || user.disabled === 1) return false;",
		tests: {
			file: "test/security/enrolment-binding.test.ts",
			names: ["a factor begun before an admin reset never activates after it, even from a trusted caller"],
		},
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
		tests: {
			file: "test/storage/storage-conformance.test.ts",
			names: ["enrolment link: 10 parallel activations with one link, one factor; none after expiry or from another attempt"],
		},
	},
	{
		id: "enrolment-link",
		why: "after an admin reset, forced enrolment needs the one-time link, and one link enrols one factor",
		file: "src/storage/factor-store.ts",
		find: "if (duringLogin && user.enroll_token_hash !== null && (!linkOutstanding || guard.linkHash !== user.enroll_token_hash)) return false;",
		replace: "",
		tests: {
			file: "test/storage/storage-conformance.test.ts",
			names: ["enrolment link: 10 parallel activations with one link, one factor; none after expiry or from another attempt"],
		},
	},
	{
		id: "enrolment-step",
		why: "a half-authenticated user may enrol only while their attempt's policy step is 'enrol' (not with a factor already usable)",
		file: "src/flows/enrollment-flow.ts",
		find: "if (context.duringLogin && !(await this.attemptNeedsEnrolment(user, context))) {",
		replace: "if (false) {",
		tests: {
			file: "test/security/enrolment-binding.test.ts",
			names: ["a forced-enrolment start from an attempt that is not at the enrolment step is refused, audited and charged"],
		},
	},
	{
		id: "finish-enrolment-origin",
		why: "a factor enrolled during one login attempt cannot complete another attempt",
		file: "src/flows/login-flow.ts",
		find: "factor.origin !== `attempt:${attempt.id}` ||",
		replace: "",
		tests: { file: "test/security/enrolment-binding.test.ts", names: ["a factor enrolled during one login attempt cannot finish another attempt"] },
	},
	{
		id: "keyword-positions-reused",
		why: "showing the keyword prompt again re-uses the stored positions (no free re-roll until an observed answer fits)",
		file: "src/storage/keyword-challenge-store.ts",
		find: "if (current !== undefined && Number(current.expires_at) > now && current.factor_id === request.factorId) {",
		replace: "if (false) {",
		tests: {
			file: "test/security/keyword-reroll.test.ts",
			names: ["50 prompt displays across two nodes, web and SSH attempts alike, show the same positions and draw once"],
		},
	},
	{
		id: "keyword-abandoned-charged",
		why: "an abandoned keyword challenge costs one failure, so waiting out the expiry is not a free re-roll",
		file: "src/storage/keyword-challenge-store.ts",
		find: 'if (replaced === "abandoned") await this.#chargeAbandoned(trx, audit, base, current!);',
		replace: "",
		tests: { file: "test/security/keyword-reroll.test.ts", names: ["abandoning is never free: five abandoned draws lock the account like five wrong answers"] },
	},
	{
		id: "session-gate",
		why: "every new SSH channel/exec and web request re-checks the policy at once when its version or the user's epoch moved",
		file: "src/flows/session-gate.ts",
		find: "if (snapshot.version === checkedVersion && userStillAdmits(snapshot, session.sessionEpoch, this.deps.clock.now().getTime())) {",
		replace: "if (true) {",
		tests: {
			file: "test/security/revocation.test.ts",
			names: ["force-2FA switched on: a password-only connection's next exec is refused and the connection closed"],
		},
	},
	{
		id: "web-fast-path-version",
		why: "the console's one-read fast path compares the policy version read with the session NOW, so a change on another node bites the next request there",
		file: "src/web/server.ts",
		find: "snapshot: snapshotOfUser(found.user, found.policyVersion),",
		replace: "snapshot: snapshotOfUser(found.user, Number(current.policy_version)),",
		tests: {
			file: "test/security/live-policy-nodes.test.ts",
			names: ["2FA forced on the user's group on node B: the next request on node A is sent to the second factor"],
		},
	},
	{
		id: "recovery-code-still-allowed",
		why: "a session proven with a recovery code steps up once recovery codes are no longer allowed",
		file: "src/core/decide-second-factor.ts",
		find: 'return provenMethod === "recovery-code" && decision.allowedMethods.includes("recovery-code");',
		replace: 'return provenMethod === "recovery-code";',
		tests: {
			file: "test/security/revocation.test.ts",
			names: ["a session proven with a recovery code steps up when recovery codes are removed from the allowed methods; a TOTP session stays"],
		},
	},
	{
		id: "password-throttle",
		why: "wrong passwords slow their own source (growing delay) instead of locking the owner out everywhere",
		file: "src/flows/password-stage.ts",
		find: 'if (throttle.kind === "throttled") {',
		replace: "if (false) {",
		tests: {
			file: "test/security/lockout-weapon.test.ts",
			names: ["a guessing source is slowed by a doubling delay, refused unchecked (right password too) with an unknown user's answer"],
		},
	},
	{
		id: "service-request-required",
		why: "authentication requests before SERVICE_REQUEST ssh-userauth are a protocol error (RFC 4253 §10)",
		file: "src/ssh/protocol-guard.ts",
		find: 'if (!serviceRequested) return violation(SSH_DISCONNECT_PROTOCOL_ERROR, { reason: "userauth-before-service-request", ...found });',
		replace: "",
		tests: { file: "test/security/ssh-preauth.test.ts", names: ["USERAUTH_REQUEST without SERVICE_REQUEST: refused with a protocol error and audited"] },
	},
	{
		id: "per-source-startups",
		why: "one source holding many unauthenticated sockets cannot starve everyone else's logins",
		file: "src/ssh/limits.ts",
		find: 'if (fromSource >= this.settings.perSourceMaxStartups) return { admitted: false, reason: "per-source", source };',
		replace: "",
		tests: {
			file: "test/security/ssh-preauth.test.ts",
			names: ["one source holding many sockets: its extra connections are dropped, other sources still get in; drops are audited once per source per minute"],
		},
	},
	{
		id: "totp-step-single-use",
		why: "a TOTP step is accepted once across nodes (compare-and-set on the last used step, RFC 6238 §5.2)",
		file: "src/storage/factor-store.ts",
		find: '.where((eb) => eb.or([eb("last_used_counter", "is", null), eb("last_used_counter", "<", counter)]))',
		replace: "",
		tests: {
			file: "test/security/node-races.test.ts",
			names: ["TOTP replay across nodes: one valid code submitted 12 times from two nodes at once logs in exactly once"],
		},
	},
	{
		id: "recovery-code-single-use",
		why: "a recovery code is spent once, even raced across nodes",
		file: "src/storage/recovery-code-store.ts",
		find: '.set({ used_at: this.clock.now().getTime() })\n\t\t\t.where("id", "=", id)\n\t\t\t.where("used_at", "is", null)',
		replace: '.set({ used_at: this.clock.now().getTime() })\n\t\t\t.where("id", "=", id)',
		tests: { file: "test/security/node-races.test.ts", names: ["recovery code double use across nodes: 10 parallel submissions of one code, one success"] },
	},
	{
		id: "charge-before-check",
		why: "a second-factor answer is reserved before it is checked and answers in flight count against the limit, so parallel guesses on several nodes never exceed it",
		file: "src/storage/user-store.ts",
		find: '.where(sql<number>`${failures} + ${inflight}`, "<", policy.maxFailures)',
		replace: '.where(sql<number>`${failures}`, "<", policy.maxFailures)',
		tests: {
			file: "test/security/node-races.test.ts",
			names: ["second-factor guessing across nodes: 30 parallel wrong codes from two nodes, at most the lockout limit are evaluated"],
		},
	},
	{
		id: "recording-chain-end",
		why: "a recording's chunks are appended only at the chain's end, once per position: two writers (or a retry) cannot fork a recording",
		file: "src/storage/recording-store.ts",
		find: '.where("chunks", "=", seq)',
		replace: "",
		tests: { file: "test/storage/recording-store.test.ts", names: ["the chain grows only at its end, once per position; chunks are bound to their recording"] },
	},
	{
		id: "inflight-not-a-failure",
		why: "a right answer gives its reservation back, so parallel right answers (a deploy tool's forks) never fill the budget or lock the account",
		file: "src/storage/user-store.ts",
		find: "[c.inflight]: releasedInflight(c, reservation, now, policy),\n\t\t\t\t[c.failures]: 0,",
		replace: "[c.failures]: 0,",
		tests: {
			file: "test/security/lockout-concurrency.test.ts",
			names: ["100 parallel right passwords (web and SSH, 4 sources) all log in and leave no lock, no failure and nothing in flight"],
		},
	},
	{
		id: "step-up-direct-tcpip",
		why: "a ProxyJump (-J, scp/sftp -J) tunnel to a server that requires 2FA needs a second factor proven by the connection itself",
		file: "src/ssh/channels.ts",
		find: 'if (access.kind === "refused") return prohibit(access.message);',
		replace: "",
		tests: {
			file: "test/ssh/step-up-e2e.test.ts",
			names: ["a user without a second factor reaches ordinary servers, but -J and exec to the step-up server are refused with the reason"],
		},
	},
	{
		id: "step-up-relay",
		why: "the menu and `ssh gw SERVER` open a relay to a server that requires 2FA only with a (fresh enough) second factor on the connection",
		file: "src/ssh/channels.ts",
		find: 'if (access.kind === "refused") return { ok: false, message: access.message };',
		replace: "",
		tests: {
			file: "test/ssh/step-up-e2e.test.ts",
			names: ["menu: with a freshness window, a connection whose factor is older is refused in the menu with how to reconnect"],
		},
	},
	{
		id: "network-deny",
		why: "a deny-outside network rule refuses logins from outside its trusted networks (the stricter rule wins)",
		file: "src/core/decide-second-factor.ts",
		find: 'if (network.denied !== null) return { kind: "network-denied", group: network.denied.group };',
		replace: "",
		tests: {
			file: "test/ssh/proxy-protocol-haproxy.test.ts",
			names: ["through haproxy from outside the trusted networks: refused by the deny-outside rule, with the message"],
		},
	},
	{
		id: "proxy-header-trusted-only",
		why: "a PROXY protocol header is read only from a configured trusted proxy; anyone else could claim any address",
		file: "src/ssh/gateway-client.ts",
		find: "if (!gateway.isTrustedProxy(socket.remoteAddress)) return admitSocket(",
		replace: "if (false) return admitSocket(",
		tests: {
			file: "test/ssh/proxy-protocol-haproxy.test.ts",
			names: ["a PROXY header from an untrusted peer is not read: the connection keeps its own address and gets nowhere"],
		},
	},
	{
		id: "remember-grant-epoch",
		why: "a remembered SSH grant dies with the user's session epoch (password change, disable, lockout, reset), on every node",
		file: "src/storage/remembered-grant-store.ts",
		find: '.where("remembered_grants.target", "=", target)\n\t\t\t.where("remembered_grants.expires_at", ">", now)\n\t\t\t.whereRef("remembered_grants.session_epoch", "=", "users.session_epoch")',
		replace: '.where("remembered_grants.target", "=", target)\n\t\t\t.where("remembered_grants.expires_at", ">", now)',
		tests: {
			file: "test/security/remember-nodes.test.ts",
			names: ["a grant made on node A is honoured on node B; a revocation on node B is seen at once on node A"],
		},
	},
	{
		id: "remember-grant-policy-version",
		why: "a remembered SSH grant dies with any policy change (settings, groups, memberships, factors), on every node",
		file: "src/storage/remembered-grant-store.ts",
		find: '.whereRef("remembered_grants.policy_version", "=", "policy_version.version")\n\t\t\t.where("users.disabled", "=", 0)',
		replace: '.where("users.disabled", "=", 0)',
		tests: {
			file: "test/security/remember-nodes.test.ts",
			names: ["a policy change fired together with logins: every login that starts after it is asked again"],
		},
	},
	{
		id: "remember-ssh-only",
		why: "a remembered grant replaces the second factor only on SSH, never on the web console",
		file: "src/core/decide-second-factor.ts",
		find: 'input.rememberedGrant === true && input.channel === "ssh" &&',
		replace: "input.rememberedGrant === true &&",
		tests: { file: "test/core/decide-second-factor.test.ts", names: ["remember: never on the web console"] },
	},
	{
		id: "restore-key-check",
		why: "a restore with the wrong secret key (every second factor unreadable, the audit chain unverifiable) is refused, and nothing is kept",
		file: "src/app/backup.ts",
		find: "if (!verified.ok)",
		replace: "if (!verified.ok && false)",
		tests: { file: "test/cli/backup-restore.test.ts", names: ["refused restores keep nothing: no key, the wrong key, a non-empty data directory"] },
	},
	{
		id: "restore-empty-dir",
		why: "a restore never writes over a data directory that holds anything but the configuration and key files",
		file: "src/app/backup.ts",
		find: "const other = readdirSync(dir).filter((name) => !RESTORE_ALLOWED_FILES.includes(name));",
		replace: "const other: string[] = [];",
		tests: { file: "test/cli/backup-restore.test.ts", names: ["refused restores keep nothing: no key, the wrong key, a non-empty data directory"] },
	},
	{
		id: "password-breached-list",
		why: "a new password found in the shipped list of common and breached passwords is refused (NIST SP 800-63B §5.1.1.2)",
		file: "src/core/password-policy.ts",
		find: "if (list.has(folded) || (base.length >= 4 && list.has(base))) {",
		replace: "if (false) {",
		tests: {
			file: "test/core/password-policy.test.ts",
			names: ["common and breached passwords are refused, ignoring case, and with the usual suffix of digits or symbols"],
		},
	},
	{
		id: "password-before-enrolment",
		why: "an account whose password an admin knows gets no factor bound until that password is replaced",
		file: "src/web/routes/enroll.tsx",
		find: 'if (step.kind === "enroll" && request.web.user?.must_change_password === 1) {',
		replace: "if (false) {",
		tests: {
			file: "test/web/forms-and-first-login.test.ts",
			names: ["admin-set password + forced enrolment: new password first, then the factor, then the recovery codes"],
		},
	},
	{
		id: "live-kill-once",
		why: "a terminate request is consumed by one conditional UPDATE: it is acted on (and audited as ssh.terminated) exactly once",
		file: "src/storage/live-session-store.ts",
		find: '.set({ consumed_at: this.clock.now().getTime() })\n\t\t\t.where("id", "=", id)\n\t\t\t.where("consumed_at", "is", null)',
		replace: '.set({ consumed_at: this.clock.now().getTime() })\n\t\t\t.where("id", "=", id)',
		tests: { file: "test/flows/live-sessions.test.ts", names: ["terminate: the request and its audit event commit together; two racing consumers act once"] },
	},
	{
		id: "live-terminate-admin",
		why: "only an admin may end another user's live SSH connection",
		file: "src/web/routes/admin-live.tsx",
		find: '"/admin/live/terminate",\n\t\t{ access: "admin",',
		replace: '"/admin/live/terminate",\n\t\t{ access: "full",',
		tests: {
			file: "test/ssh/live-sessions-nodes.test.ts",
			names: ["a non-admin cannot see or end live sessions; an admin without a fresh step-up is sent to it and nothing is requested"],
		},
	},
	{
		id: "live-terminate-step-up",
		why: "ending a live connection needs a fresh second factor (step-up), not just an old admin session",
		file: "src/web/routes/admin-live.tsx",
		find: 'stepUp: true, stepUpReturn: "/admin/live",',
		replace: "",
		tests: {
			file: "test/ssh/live-sessions-nodes.test.ts",
			names: ["a non-admin cannot see or end live sessions; an admin without a fresh step-up is sent to it and nothing is requested"],
		},
	},
	{
		id: "api-live-policy",
		why: "an API token passes the web session's live-policy check on every call; without it a disabled, locked, re-passworded or newly forced owner's token keeps working",
		file: "src/flows/api-tokens.ts",
		find: ": await this.deps.login.checkSession({",
		replace: ': await (async (_input: unknown) => "ok" as const)({',
		tests: {
			file: "test/web/api.test.ts",
			names: [
				"a disabled owner's token stops at once; a locked owner's too",
				"newly forced into 2FA: a token made without a factor stops at once; a token that proved TOTP goes on",
				"a password change (session epoch) ends the owner's tokens",
			],
		},
	},
	{
		id: "api-owner-admin",
		why: "a token never exceeds its owner: admin routes need an administrator owner, whatever the token's scopes",
		file: "src/flows/api-tokens.ts",
		find: "if (rights.admin && principal.user.is_admin !== 1) return false;",
		replace: "",
		tests: {
			file: "test/web/api.test.ts",
			names: ["a token never exceeds its owner: a non-admin's token with every scope cannot call admin routes; a demoted admin's token stops at once"],
		},
	},
	{
		id: "api-scope",
		why: "a token does only what its scopes name",
		file: "src/flows/api-tokens.ts",
		find: "return rights.scope === null || principal.scopes.includes(rights.scope);",
		replace: "return true;",
		tests: { file: "test/web/api.test.ts", names: ["scopes: a read token cannot write; the users:write twin can"] },
	},
	{
		id: "api-revoked",
		why: "a revoked token is refused at the next call on every node",
		file: "src/storage/api-token-store.ts",
		find: '.where("token_hash", "=", sha256Hex(token))\n\t\t\t.where("revoked_at", "is", null)',
		replace: '.where("token_hash", "=", sha256Hex(token))',
		tests: { file: "test/web/api.test.ts", names: ["a revoked token is refused at once on another node sharing the database"] },
	},
	{
		id: "api-token-step-up",
		why: "a personal API token is made only with a fresh second factor (a stolen session cannot mint a long-lived credential)",
		file: "src/web/routes/account-tokens.tsx",
		find: '{ access: "full", stepUp: true, stepUpReturn: "/account/tokens",',
		replace: '{ access: "full", stepUp: false, stepUpReturn: "/account/tokens",',
		tests: { file: "test/web/api.test.ts", names: ["the tokens page: creating needs a fresh step-up; the token is shown once; last use shown; revocable"] },
	},
];
