/**
 * Composition root: config → database → stores → methods → flows. The web console, the SSH
 * gateway and the CLI all start from here, so every channel shares one set of flows.
 */
import { join, resolve } from "node:path";
import type { Kysely } from "kysely";
import type { Config } from "../config/config.ts";
import { publicUrl } from "../config/config.ts";
import { systemClock, type Clock } from "../core/clock.ts";
import { realSleep, type Sleep } from "../core/sleep.ts";
import { createLogger, type Logger } from "../core/logger.ts";
import { cryptoRandom, type Random } from "../core/random.ts";
import { PortcullisError } from "../core/errors.ts";
import { createNoMetrics, type Metrics } from "../core/metrics.ts";
import type { MetricsScrape } from "./prometheus-metrics.ts";
import { auditMetrics } from "../storage/audit-metrics.ts";
import { passwordProblem } from "../core/password-policy.ts";
import { createSecretBox, loadOrCreateKeyFile, type SecretBox } from "../crypto/secret-box.ts";
import { newToken } from "../crypto/tokens.ts";
import { AdminService } from "../flows/admin-service.ts";
import type { DirectoryAccounts, DirectoryPort } from "../flows/directory-accounts.ts";
import { directoryAccounts } from "./directory.ts";
import { EnrollmentFlow } from "../flows/enrollment-flow.ts";
import { LoginFlow } from "../flows/login-flow.ts";
import { NetworkRuleService } from "../flows/network-rules.ts";
import { LiveSessionService } from "../flows/live-sessions.ts";
import type { MethodRegistry } from "../methods/method.ts";
import { KeywordChallengeStore } from "../storage/keyword-challenge-store.ts";
import { createMethodRegistry } from "../methods/registry.ts";
import { MethodAdmin } from "../methods/method-admin.ts";
import { MethodSettingsStore } from "../methods/method-settings.ts";
import { relyingPartyOrProblem } from "../methods/webauthn/relying-party.ts";
import { WebauthnStore } from "../storage/webauthn-store.ts";
import { ServerService } from "../servers/server-service.ts";
import { HOST_FINGERPRINT_SETTING } from "../servers/gateway-host-key.ts";
import type { SshServices } from "../ssh/ssh-services.ts";
import { createWebTerminalConnector } from "../ssh/web-terminal.ts";
import { WebTerminalService } from "../flows/web-terminal.ts";
import { AttemptStore } from "../storage/attempt-store.ts";
import { AuditLog } from "../storage/audit-log.ts";
import { FactorStore } from "../storage/factor-store.ts";
import { GroupStore } from "../storage/group-store.ts";
import { DatabaseHealth, type Readiness } from "../storage/database-health.ts";
import { openDatabase, type DatabaseTarget, type OpenDatabase } from "../storage/open-database.ts";
import { type PairPolicy, PasswordThrottleStore } from "../storage/password-throttle-store.ts";
import { PolicyVersionStore } from "../storage/policy-version-store.ts";
import { RecoveryCodeStore } from "../storage/recovery-code-store.ts";
import type { Database } from "../storage/schema.ts";
import { NetworkRuleStore } from "../storage/network-rule-store.ts";
import { LiveSessionStore } from "../storage/live-session-store.ts";
import { ServerStore } from "../storage/server-store.ts";
import { RecordingStore } from "../storage/recording-store.ts";
import { recordingsDir } from "../storage/recording-files.ts";
import { SessionStore } from "../storage/session-store.ts";
import { SettingsStore } from "../storage/settings-store.ts";
import { SshKeyStore } from "../storage/ssh-key-store.ts";
import { RememberedGrantStore } from "../storage/remembered-grant-store.ts";
import { UserStore } from "../storage/user-store.ts";
import { ApiTokenStore } from "../storage/api-token-store.ts";
import { ApiTokenService } from "../flows/api-tokens.ts";
import { UserTransactions } from "../storage/user-transaction.ts";
import { UnitOfWork } from "../storage/unit-of-work.ts";
import { AuditChain, auditChainKey } from "../storage/audit-chain.ts";

export interface Stores {
	readonly users: UserStore;
	readonly groups: GroupStore;
	readonly settings: SettingsStore;
	readonly factors: FactorStore;
	readonly recoveryCodes: RecoveryCodeStore;
	readonly attempts: AttemptStore;
	readonly sessions: SessionStore;
	readonly audit: AuditLog;
	readonly sshKeys: SshKeyStore;
	readonly passwordThrottle: PasswordThrottleStore;
	readonly policyVersion: PolicyVersionStore;
	/** WebAuthn challenges and SSH approval links. */
	readonly webauthn: WebauthnStore;
	readonly servers: ServerStore;
	/** Session recordings and their chunks (any node writes, any node plays). */
	readonly recordings: RecordingStore;
	/** Trusted networks of the 2FA policy (global and per group). */
	readonly networkRules: NetworkRuleStore;
	/** The SSH remember window's grants (migration 0014). */
	readonly rememberedGrants: RememberedGrantStore;
	/** Live SSH connections of every node, heartbeats and terminate requests (migration 0017). */
	readonly liveSessions: LiveSessionStore;
	/** REST API tokens (migration 0016). */
	readonly apiTokens: ApiTokenStore;
	/** Guarded 2FA transitions: one transaction with the user's row locked (storage/user-transaction.ts). */
	readonly transactions: UserTransactions;
	/** A change and its audit events in one transaction (storage/unit-of-work.ts). */
	readonly work: UnitOfWork;
}

export interface Portcullis {
	readonly config: Config;
	readonly db: Kysely<Database>;
	readonly dialect: "sqlite" | "postgres";
	readonly clock: Clock;
	readonly random: Random;
	readonly box: SecretBox;
	readonly stores: Stores;
	readonly methods: MethodRegistry;
	readonly login: LoginFlow;
	/** LDAP / Active Directory accounts (docs/identity.md); null when no [ldap] is configured. */
	readonly directory: DirectoryAccounts | null;
	readonly enrollment: EnrollmentFlow;
	readonly admin: AdminService;
	/** Second-factor method backends (YubiCloud, Duo, RADIUS settings) for the console and the CLI. */
	readonly methodAdmin: MethodAdmin;
	/** The sealed per-method backend settings, read on every use. */
	readonly methodSettings: MethodSettingsStore;
	readonly servers: ServerService;
	/** Trusted networks of the 2FA policy (global and per group), for the CLI. */
	readonly networkRules: NetworkRuleService;
	/** Live SSH connections across nodes: list and terminate (console, CLI, API) and the gateway's registry. */
	readonly liveSessions: LiveSessionService;
	/** REST API tokens and service accounts (docs/api.md). */
	readonly apiTokens: ApiTokenService;
	readonly consoleUrl: string;
	readonly logger: Logger;
	/** The console's web terminal: the open-time and live checks, and the SSH side behind its port (src/ssh/web-terminal.ts). */
	readonly webTerminal: WebTerminalService;
	/** What the SSH gateway may use (startSshGateway(app.ssh, …)); never the whole app. */
	readonly ssh: SshServices;
	/** Outage classification, the down/up log lines and the database probe (storage/database-health.ts). */
	readonly health: DatabaseHealth;
	/** /readyz: database reachable now, migrations current, secret key loaded. */
	readiness(): Promise<Readiness>;
	/** What the flows, storage and gateway report (a no-op unless exported). */
	readonly metrics: Metrics;
	/** `/metrics` in the Prometheus text format; null when not exported (CreateOptions.prometheus). */
	readonly scrapeMetrics: (() => Promise<MetricsScrape>) | null;
	close(): Promise<void>;
}

export interface CreateOptions {
	clock?: Clock;
	random?: Random;
	/** Overrides the database chosen by the config (tests pass a fresh SQLite file or PG schema). */
	database?: DatabaseTarget;
	secretKey?: Buffer;
	logger?: Logger;
	/** The pause between busy retries of a lockout reservation (tests shorten or record it). */
	sleep?: Sleep;
	/**
	 * Export Prometheus metrics (prom-client, loaded only then: the CLI's other commands do not pay
	 * for it). `portcullis serve` sets it when the operations listener is on.
	 */
	prometheus?: boolean;
	/** Another implementation of the port (tests); ignored when `prometheus` is set. */
	metrics?: Metrics;
	/** Replaces the LDAP client built from config.ldap (tests); ignored without an [ldap] table. */
	directory?: DirectoryPort;
}

/** The (account, source) password throttle's policy, from the configuration (also used by maintenance). */
export function pairPolicy(config: Config): PairPolicy {
	const security = config.security;
	return {
		freeFailures: security.password_delay_after_failures,
		maxDelayMs: security.password_delay_max_seconds * 1000,
		resetMs: security.password_delay_reset_hours * 3600_000,
		leaseMs: security.inflight_lease_seconds * 1000,
	};
}

export function databaseTarget(config: Config): DatabaseTarget {
	if (config.database.url !== "") return { kind: "postgres", url: config.database.url };
	return { kind: "sqlite", file: resolve(config.data_dir, "portcullis.sqlite") };
}

function secretKey(config: Config): Buffer {
	if (config.secrets.key !== "") {
		const key = Buffer.from(config.secrets.key, "base64");
		if (key.length !== 32) throw new PortcullisError("ERR_SECRET_KEY", "secrets.key must be base64 of exactly 32 bytes");
		return key;
	}
	return loadOrCreateKeyFile(config.secrets.key_file !== "" ? config.secrets.key_file : join(config.data_dir, "secret.key"));
}

export async function createPortcullis(config: Config, options: CreateOptions = {}): Promise<Portcullis> {
	const clock = options.clock ?? systemClock;
	const random = options.random ?? cryptoRandom;
	const logger = options.logger ?? createLogger({ level: config.log.level });
	const key = options.secretKey ?? secretKey(config);
	const box = createSecretBox(key);
	const prometheus = options.prometheus === true ? new (await import("./prometheus-metrics.ts")).PrometheusMetrics() : null;
	const metrics: Metrics = prometheus ?? options.metrics ?? createNoMetrics();
	const opened: OpenDatabase = await openDatabase(
		options.database ?? databaseTarget(config),
		{
			connectMs: config.database.connect_timeout_ms,
			statementMs: config.database.statement_timeout_ms,
			sqliteBusyMs: config.database.sqlite_busy_timeout_ms,
		},
		prometheus === null && options.metrics === undefined ? undefined : (ms) => metrics.databaseQuery(ms),
	);
	const db = opened.db;
	const health = new DatabaseHealth({
		db,
		dialect: opened.dialect,
		logger: logger.child({ component: "database" }),
		migrator: opened.migrator,
		probeMs: config.database.health_probe_ms,
		probeTimeoutMs: config.database.connect_timeout_ms,
	});
	// The audit chain's HMAC key is derived from the secrets key (storage/audit-chain.ts).
	// Logins and lockouts are counted from their committed audit events (storage/audit-metrics.ts).
	const audit = new AuditLog(db, clock, logger, new AuditChain(auditChainKey(key)), { count: 0 }, auditMetrics(metrics));
	const work = new UnitOfWork(db, opened.dialect, clock, random, audit, recordingsDir(config));
	const stores: Stores = {
		users: new UserStore(db, clock, random),
		groups: new GroupStore(db, clock, random),
		settings: new SettingsStore(db),
		factors: new FactorStore(db, clock, random, audit),
		recoveryCodes: new RecoveryCodeStore(db, clock, random, audit),
		attempts: new AttemptStore(db, clock, random),
		sessions: new SessionStore(db, clock, random),
		audit,
		sshKeys: new SshKeyStore(db, clock, random),
		passwordThrottle: new PasswordThrottleStore(db, clock),
		transactions: new UserTransactions(work),
		work,
		webauthn: new WebauthnStore(db, clock, random),
		policyVersion: new PolicyVersionStore(db),
		servers: new ServerStore(db, clock, random),
		recordings: new RecordingStore(db, clock, random, recordingsDir(config)),
		networkRules: new NetworkRuleStore(db, clock),
		rememberedGrants: new RememberedGrantStore(db, clock, random),
		liveSessions: new LiveSessionStore(db, clock, random),
		apiTokens: new ApiTokenStore(db, clock, random),
	};
	prometheus?.bind({ activeWebSessions: () => stores.sessions.countActive(), auditWriteFailures: () => audit.failedWrites });
	const consoleUrl = publicUrl(config);
	const security = config.security;
	const lockout = {
		maxFailures: security.lockout_max_failures,
		windowMs: security.lockout_window_seconds * 1000,
		lockMs: security.lockout_seconds * 1000,
		maxLockMs: security.lockout_max_seconds * 1000,
		leaseMs: security.inflight_lease_seconds * 1000,
	};
	// An abandoned keyword challenge is charged on the 2FA counter, so the store needs its lockout.
	const keywordChallenges = new KeywordChallengeStore(db, opened.dialect, clock, random, lockout, audit);
	const methodSettings = new MethodSettingsStore(stores.settings, box);
	const relyingParty = relyingPartyOrProblem(config);
	const methods = createMethodRegistry({
		factors: stores.factors,
		recoveryCodes: stores.recoveryCodes,
		methodSettings,
		audit: stores.audit,
		box,
		clock,
		random,
		totpIssuer: config.totp.issuer,
		users: stores.users,
		webauthn: relyingParty,
		webauthnStore: stores.webauthn,
		consoleUrl,
		keywordChallenges,
	});
	const directory =
		config.ldap === undefined
			? null
			: directoryAccounts(config.ldap, { users: stores.users, audit: stores.audit, work, logger: logger.child({ component: "directory" }) }, options.directory);
	const login = new LoginFlow({
		...stores,
		...(directory === null ? {} : { directory }),
		methods,
		clock,
		sleep: options.sleep ?? realSleep,
		logger,
		metrics,
		config: {
			attemptTtlMs: security.attempt_ttl_seconds * 1000,
			secondFactorLockout: lockout,
			passwordLockout: { ...lockout, maxFailures: security.password_max_failures },
			passwordThrottle: pairPolicy(config),
			busyWait: { maxWaitMs: security.busy_wait_ms, retryMs: security.busy_retry_ms },
			consoleUrl,
		},
	});
	const enrollment = new EnrollmentFlow({ ...stores, methods, clock, secondFactorLockout: lockout });
	const admin = new AdminService({
		...stores,
		methods,
		clock,
		random,
		enrollLinkTtlMs: security.enroll_link_hours * 3600_000,
		consoleUrl,
		// A method this deployment's configuration cannot run (WebAuthn on an IP address) is refused when enabled, with the fix.
		deploymentProblem: (method) => (method === "webauthn" && "problem" in relyingParty ? relyingParty.problem : null),
	});
	const methodAdmin = new MethodAdmin({
		settings: stores.settings,
		groups: stores.groups,
		audit: stores.audit,
		methodSettings,
		clock,
		random,
		consoleUrl,
		work,
	});
	const servers = new ServerService({ store: stores.servers, audit: stores.audit, groups: admin, box, settings: stores.settings, work });
	const networkRules = new NetworkRuleService({ store: stores.networkRules, groups: admin, work });
	const liveSessions = new LiveSessionService({ store: stores.liveSessions, work, clock });
	const apiTokens = new ApiTokenService({ tokens: stores.apiTokens, users: stores.users, login, audit: stores.audit, work, clock });
	const ssh: SshServices = {
		config,
		clock,
		random,
		logger: logger.child({ adapter: "ssh" }),
		consoleUrl,
		login,
		accounts: stores.users,
		userKeys: stores.sshKeys,
		audit: stores.audit,
		servers,
		recordings: stores.recordings,
		policyVersion: stores.policyVersion,
		databaseHealth: health,
		metrics,
		live: liveSessions,
		publishHostKeyFingerprint: (fingerprint) => stores.settings.set(HOST_FINGERPRINT_SETTING, fingerprint),
	};
	const terminalConnector = createWebTerminalConnector(ssh);
	const webTerminal = new WebTerminalService({
		login,
		servers,
		audit: stores.audit,
		clock,
		connector: terminalConnector,
		pollMs: config.ssh.policy_poll_ms,
	});
	return {
		config,
		db,
		dialect: opened.dialect,
		clock,
		random,
		box,
		stores,
		methods,
		login,
		directory,
		enrollment,
		admin,
		methodAdmin,
		methodSettings,
		servers,
		networkRules,
		liveSessions,
		apiTokens,
		consoleUrl,
		logger,
		webTerminal,
		ssh,
		health,
		// The box was built from the key above (createPortcullis throws ERR_SECRET_KEY otherwise).
		readiness: () => health.readiness(true),
		metrics,
		scrapeMetrics: prometheus === null ? null : () => prometheus.scrape(),
		close: async () => {
			await terminalConnector.stop();
			health.stop();
			await opened.close();
		},
	};
}

/**
 * First start only: creates the initial admin `admin` with a one-time password that must be
 * changed at first login. Returns the password to print once, or null when users already exist.
 */
export async function ensureInitialAdmin(app: Portcullis): Promise<string | null> {
	if ((await app.stores.users.count()) > 0) return null;
	// 120 random bits; drawn again in the (one in millions) case the policy refuses it, e.g. "admin" inside it.
	let password = newToken(app.random, 15);
	while (passwordProblem(password, { username: "admin" }) !== null) password = newToken(app.random, 15);
	await app.admin.createUser(
		{ name: "portcullis", channel: "cli", source: "local" },
		{ username: "admin", password, isAdmin: true, groups: [], mustChangePassword: true },
	);
	return password;
}
