/**
 * The validated, frozen configuration. Every field has a default that makes
 * `npm install && npm start` work on a fresh machine; docs/configuration.md lists them all.
 */
import { z } from "zod";
import { parseCidr } from "../core/cidr.ts";
import { parseMaxStartups } from "../core/max-startups.ts";
import { DEFAULT_KEX, isPostQuantumKex, SUPPORTED_KEX } from "../core/ssh-kex.ts";
import { hasUnsafe } from "../core/untrusted-text.ts";

const hostPort = z
	.string()
	.regex(/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, "must be HOST:PORT")
	// Only judged when there is a port: "localhost" should get one problem ("must be HOST:PORT"), not two.
	.refine((value) => !/:\d{1,5}$/.test(value) || Number(value.slice(value.lastIndexOf(":") + 1)) <= 65535, "port must be 0-65535");

export const configSchema = z
	.object({
		data_dir: z.string().min(1).default("./data"),
		http: z
			.object({
				listen: hostPort.default("127.0.0.1:8080"),
				/** Public URL of the console: used in SSH messages and enrolment links. */
				public_url: z.url().optional(),
				/** Trust X-Forwarded-For from these proxy addresses only (never as a lockout key). */
				trusted_proxies: z.array(z.string()).default([]),
			})
			.strict()
			.default({ listen: "127.0.0.1:8080", trusted_proxies: [] }),
		ssh: z
			.object({
				listen: hostPort.default("127.0.0.1:2222"),
				/** ed25519 host key (OpenSSH PEM); created on first start. Empty: <data_dir>/ssh_host_ed25519_key. */
				host_key_file: z.string().default(""),
				/** Key the gateway uses to log in to targets; created on first start. Empty: <data_dir>/gateway_ed25519_key. */
				target_key_file: z.string().default(""),
				/** sshd LoginGraceTime: seconds to finish authentication. */
				login_grace_seconds: z.number().int().min(5).max(600).default(60),
				/** sshd MaxAuthTries: authentication requests per connection. */
				max_auth_tries: z.number().int().min(1).max(20).default(6),
				/** sshd MaxStartups "start:rate:full": random early drop of unauthenticated connections (src/core/max-startups.ts). */
				max_startups: z
					.string()
					.refine((value) => parseMaxStartups(value) !== null, "must be START:RATE:FULL (1 <= START <= FULL <= 10000, RATE 1-100) or one number")
					.default("10:30:100"),
				/** sshd PerSourceMaxStartups: unauthenticated connections per IPv4 address / IPv6 /64. */
				per_source_max_startups: z.number().int().min(1).max(10000).default(10),
				/** Live policy: how often each connection re-checks the user and policy (seconds). */
				live_check_seconds: z.number().int().min(1).max(30).default(10),
				/** Instant revocation: how often each node reads the policy version and its users' revocation state (ms). */
				policy_poll_ms: z.number().int().min(100).max(5000).default(1000),
				/** Recordings written before they moved into the database (asciicast v2 files; read only). Empty: <data_dir>/recordings. */
				recordings_dir: z.string().default(""),
				/** A recording's text reaches the database at most this many milliseconds after it was shown. */
				recording_flush_ms: z.number().int().min(50).max(5000).default(1000),
				/** Recordings are deleted (audited) this many days after they ended; 0 keeps them forever. */
				recording_retention_days: z.number().int().min(0).max(36500).default(0),
				/** SFTP content capture (servers with capture on): at most this many bytes of one opened file are kept, then "truncated". */
				sftp_capture_max_bytes: z
					.number()
					.int()
					.min(0)
					.max(1024 * 1024 * 1024)
					.default(64 * 1024 * 1024),
				/**
				 * Load balancers (addresses or CIDR blocks) whose PROXY protocol v1/v2 header is read for the
				 * client's address; connections from them must send one. From anyone else none is read.
				 */
				trusted_proxies: z
					.array(z.string().refine((value) => parseCidr(value) !== null, "must be an IP address or a CIDR block"))
					.max(256)
					.default([]),
				/** Key exchange methods offered on both legs, most preferred first (src/core/ssh-kex.ts). */
				kex: z
					.array(z.enum(SUPPORTED_KEX))
					.min(1)
					.refine((names) => new Set(names).size === names.length, "must not repeat a name")
					.default([...DEFAULT_KEX]),
				/** Offer clients only the post-quantum methods of `kex`: classical-only clients are refused at key exchange. */
				pq_only: z.boolean().default(false),
				/** This node's name in the live-session list (docs/operations.md "Live sessions"). Empty: the host name. */
				node_name: z
					.string()
					.max(100)
					.refine((value) => !hasUnsafe(value), "must be plain text")
					.default(""),
			})
			.strict()
			.refine((ssh) => !ssh.pq_only || ssh.kex.some(isPostQuantumKex), {
				message: "pq_only needs a post-quantum method (mlkem768x25519-sha256 or sntrup761x25519-sha512) in ssh.kex",
				path: ["pq_only"],
			})
			.default({
				listen: "127.0.0.1:2222",
				host_key_file: "",
				target_key_file: "",
				login_grace_seconds: 60,
				max_auth_tries: 6,
				max_startups: "10:30:100",
				per_source_max_startups: 10,
				live_check_seconds: 10,
				policy_poll_ms: 1000,
				recordings_dir: "",
				recording_flush_ms: 1000,
				recording_retention_days: 0,
				sftp_capture_max_bytes: 64 * 1024 * 1024,
				trusted_proxies: [],
				kex: [...DEFAULT_KEX],
				pq_only: false,
				node_name: "",
			}),
		database: z
			.object({
				/** postgres://… selects PostgreSQL; empty means SQLite at data_dir/portcullis.sqlite. */
				url: z.string().default(""),
				/** PostgreSQL: the longest wait for a pool connection (pg connectionTimeoutMillis), ms. */
				connect_timeout_ms: z.number().int().min(100).max(60000).default(5000),
				/** PostgreSQL: statement_timeout on the server and query_timeout in the client, ms. */
				statement_timeout_ms: z.number().int().min(100).max(600000).default(15000),
				/** SQLite: how long a write waits for another writer's lock (busy_timeout), ms. */
				sqlite_busy_timeout_ms: z.number().int().min(0).max(60000).default(5000),
				/** How often the health monitor probes while the database is down (five times slower while up), ms. */
				health_probe_ms: z.number().int().min(100).max(60000).default(1000),
			})
			.strict()
			.default({ url: "", connect_timeout_ms: 5000, statement_timeout_ms: 15000, sqlite_busy_timeout_ms: 5000, health_probe_ms: 1000 }),
		/** Operations: health and readiness listener, graceful stop. */
		ops: z
			.object({
				/** HOST:PORT of the operations listener (/healthz, /readyz, /metrics). Empty: off. */
				listen: z.union([z.literal(""), hostPort]).default(""),
				/** When set, /readyz, /healthz and /metrics require "Authorization: Bearer <token>". */
				token: z.string().default(""),
				/** SIGTERM: how long open web requests and SSH connections may take to finish, seconds. */
				drain_seconds: z.number().int().min(0).max(3600).default(10),
			})
			.strict()
			.default({ listen: "", token: "", drain_seconds: 10 }),
		secrets: z
			.object({
				/** Base64 of 32 random bytes. Empty: a key file is used (created 0600 on first start). */
				key: z.string().default(""),
				key_file: z.string().default(""),
			})
			.strict()
			.default({ key: "", key_file: "" }),
		security: z
			.object({
				attempt_ttl_seconds: z.number().int().min(30).max(3600).default(300),
				lockout_max_failures: z.number().int().min(1).max(100).default(5),
				lockout_window_seconds: z.number().int().min(60).max(86400).default(900),
				lockout_seconds: z.number().int().min(60).max(86400).default(900),
				lockout_max_seconds: z.number().int().min(60).max(604800).default(86400),
				/** Account-wide ceiling on wrong passwords within lockout_window_seconds (NIST SP 800-63B §5.2.2: at most 100). */
				password_max_failures: z.number().int().min(1).max(100).default(100),
				/** Per (account, source): wrong passwords before the growing delay starts. */
				password_delay_after_failures: z.number().int().min(1).max(100).default(5),
				/** Per (account, source): the longest delay the doubling reaches (kept below the reset period). */
				password_delay_max_seconds: z.number().int().min(1).max(1800).default(900),
				/** Per (account, source): a source quiet for this long starts afresh. */
				password_delay_reset_hours: z.number().int().min(1).max(720).default(24),
				/**
				 * How long an answer being checked may count on a lockout counter: longer than the longest
				 * check (a Duo push waits up to 90 s), so only a crashed node's reservations outlive it.
				 */
				inflight_lease_seconds: z.number().int().min(120).max(3600).default(300),
				/** A login whose counter is busy with answers in flight waits up to this long before answering "busy". */
				busy_wait_ms: z.number().int().min(0).max(30000).default(5000),
				/** The first pause of that wait (doubling, up to 8 times this). */
				busy_retry_ms: z.number().int().min(5).max(1000).default(25),
				session_idle_minutes: z.number().int().min(1).max(1440).default(30),
				session_max_hours: z.number().int().min(1).max(168).default(12),
				step_up_minutes: z.number().int().min(1).max(60).default(10),
				enroll_link_hours: z.number().int().min(1).max(720).default(72),
			})
			.strict()
			.default({
				attempt_ttl_seconds: 300,
				lockout_max_failures: 5,
				lockout_window_seconds: 900,
				lockout_seconds: 900,
				lockout_max_seconds: 86400,
				password_max_failures: 100,
				password_delay_after_failures: 5,
				password_delay_max_seconds: 900,
				password_delay_reset_hours: 24,
				inflight_lease_seconds: 300,
				busy_wait_ms: 5000,
				busy_retry_ms: 25,
				session_idle_minutes: 30,
				session_max_hours: 12,
				step_up_minutes: 10,
				enroll_link_hours: 72,
			}),
		totp: z
			.object({ issuer: z.string().min(1).max(64).default("Portcullis") })
			.strict()
			.default({ issuer: "Portcullis" }),
		/** WebAuthn relying party (W3C WebAuthn L2 §5.1.3/§7): resolved and checked by src/methods/webauthn/relying-party.ts. */
		webauthn: z
			.object({
				/** RP ID: the console's host name or a registrable suffix of it. Empty: the host of http.public_url. */
				rp_id: z.string().max(253).default(""),
				/** The exact origin browsers report (scheme://host[:port]). Empty: the origin of http.public_url. */
				origin: z.string().max(300).default(""),
				/** Name the browser shows when a key is registered. */
				rp_name: z.string().min(1).max(64).default("Portcullis"),
			})
			.strict()
			.default({ rp_id: "", origin: "", rp_name: "Portcullis" }),
		/** The process log (JSON lines on stdout, ISO 8601 UTC times): its level, for every component. */
		log: z
			.object({
				/** pino level; "debug" adds a line per static asset request, "warn" drops the per-request lines. */
				level: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
			})
			.strict()
			.default({ level: "info" }),
		/** LDAP / Active Directory as the first factor of directory users (docs/identity.md). Absent: no directory. */
		ldap: z
			.object({
				/** ldaps://host:636, or ldap://host:389 with start_tls (or insecure). */
				url: z.string().regex(/^ldaps?:\/\/[^/?#]+\/?$/, "must be ldaps://host[:port] or ldap://host[:port]"),
				/** Upgrade ldap:// with StartTLS (RFC 4511 §4.14) before any bind. */
				start_tls: z.boolean().default(false),
				/** Plain LDAP without TLS: passwords in clear on the network. The console marks it in red. */
				insecure: z.boolean().default(false),
				/** PEM file of the CA that signed the directory's certificate. Empty: the system's roots. */
				ca_file: z.string().default(""),
				/** The service account that searches for users (read access to users and groups). */
				bind_dn: z.string().min(1),
				/** Its password; or bind_password_file. */
				bind_password: z.string().default(""),
				bind_password_file: z.string().default(""),
				/** Where users are searched (subtree). */
				user_base: z.string().min(1),
				/** Filter with {username} (RFC 4515-escaped). AD: (&(objectClass=user)(sAMAccountName={username})). */
				user_filter: z.string().min(1).default("(&(objectClass=inetOrgPerson)(uid={username}))"),
				/** Attribute listing the user's groups (AD, OpenLDAP memberof overlay); "" to skip. */
				member_of_attribute: z.string().default("memberOf"),
				/** Group search base for servers without memberOf (groupOfNames, posixGroup); "" to skip. */
				group_base: z.string().default(""),
				/** Group search filter with {dn} and {username}. */
				group_filter: z.string().default("(&(objectClass=groupOfNames)(member={dn}))"),
				/** Directory group DN → Portcullis group name. */
				group_map: z.record(z.string().min(1), z.string().min(1)).default({}),
				/** Deadline of one whole directory exchange (connect, TLS, binds, searches). */
				timeout_ms: z.number().int().min(100).max(60000).default(5000),
				/** Bytes one exchange may receive before it is cut (a hostile or broken server). */
				max_response_bytes: z
					.number()
					.int()
					.min(4096)
					.max(64 * 1024 * 1024)
					.default(1024 * 1024),
				/** Minutes between syncs of directory accounts (groups, disabled, removed); 0: only at login. */
				sync_minutes: z.number().int().min(0).max(1440).default(5),
			})
			.strict()
			.refine(
				(ldap) => ldap.url.startsWith("ldaps:") || ldap.start_tls || ldap.insecure,
				"ldap:// needs start_tls = true, or insecure = true (passwords in clear)",
			)
			.refine((ldap) => !(ldap.url.startsWith("ldaps:") && ldap.start_tls), "start_tls is for ldap:// URLs; ldaps:// is TLS already")
			.optional(),
	})
	.strict();

export type Config = Readonly<z.infer<typeof configSchema>>;

export function publicUrl(config: Config): string {
	if (config.http.public_url) return config.http.public_url.replace(/\/$/, "");
	const listen = config.http.listen;
	const host = listen.slice(0, listen.lastIndexOf(":"));
	const port = listen.slice(listen.lastIndexOf(":") + 1);
	const shownHost = host === "0.0.0.0" || host === "[::]" ? "127.0.0.1" : host;
	return `http://${shownHost}:${port}`;
}
