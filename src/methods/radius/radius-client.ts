/**
 * RADIUS authenticating client (RFC 2865) hardened against BlastRADIUS (CVE-2024-3596).
 *
 * Self-contained: node:dgram + node:crypto, no npm RADIUS library (docs/dependencies.md, RADIUS: `radius@1.1.4`
 * compares authenticators as lossy UTF-8 strings and accepted a forged Accept without the secret).
 *
 * Security properties (docs/threat-model.md, RADIUS, and docs/security-matrix.md row E3):
 * - every Access-Request carries a Message-Authenticator, placed first;
 * - every reply must carry a valid Message-Authenticator unless its server entry is explicitly
 *   marked `legacyNoMessageAuthenticator` (then an unsigned reply is accepted but reported loudly);
 * - the Response Authenticator is always verified; the reply must come from the server's address
 *   and port and carry the Identifier of an outstanding request;
 * - a reply failing any check is dropped (as if never received) and reported through `onEvent`,
 *   and the client keeps waiting for the genuine answer;
 * - timeout and retransmit limits, then failover; when no server answers verifiably the call
 *   throws PortcullisError("ERR_METHOD_UNAVAILABLE"): the caller fails closed;
 * - Access-Challenge without State, and an Accept whose Service-Type we do not support, are
 *   turned into a Reject (RFC 2865 §4.4, §5.6).
 */
import { createHash } from "node:crypto";
import dgram from "node:dgram";
import { lookup as dnsLookup } from "node:dns/promises";
import { isIP, isIPv4 } from "node:net";
import { systemClock, type Clock } from "../../core/clock.ts";
import { PortcullisError } from "../../core/errors.ts";
import { cryptoRandom, type Random } from "../../core/random.ts";
import { stripUnsafe } from "../../core/untrusted-text.ts";
import {
	RADIUS_ATTR,
	RADIUS_CODE,
	RADIUS_MAX_ATTRIBUTE_VALUE,
	RADIUS_MAX_PASSWORD_LENGTH,
	decodePacket,
	encodeAccessRequest,
	findAttributes,
	verifyResponse,
	type DecodeError,
	type DecodedPacket,
} from "./packet.ts";

export const RADIUS_DEFAULT_PORT = 1812;
export const RADIUS_DEFAULT_TIMEOUT_MS = 2000;
export const RADIUS_DEFAULT_RETRIES = 2;
/** RFC 2865 §5.6 values we can honour: Login (1) and Authenticate-Only (8). */
export const RADIUS_DEFAULT_SERVICE_TYPES: readonly number[] = [1, 8];
/** docs/threat-model.md, RADIUS: per-server shared secret of at least 16 random characters. */
export const RADIUS_RECOMMENDED_SECRET_LENGTH = 16;
/** Bound on what a server may make us display (an SSH prompt or a web page). */
const MAX_REPLY_MESSAGE_CHARS = 1024;

export interface RadiusServerConfig {
	readonly host: string;
	/** Default 1812. */
	readonly port?: number;
	/** RFC 2865 §3: must not be empty; refused at construction. */
	readonly secret: string | Buffer;
	/** Display name in events and errors; default "host:port". */
	readonly name?: string;
	/**
	 * Accept replies WITHOUT Message-Authenticator from this server (BlastRADIUS-vulnerable).
	 * A reply that does carry one is still verified. Every use is reported via onEvent.
	 */
	readonly legacyNoMessageAuthenticator?: boolean;
}

export interface ResolvedAddress {
	readonly address: string;
	readonly family: 4 | 6;
}

export interface RadiusClientOptions {
	/** Tried in order; the next one is used when a server gives no verified answer. */
	readonly servers: readonly RadiusServerConfig[];
	/** RFC 2865 §4.1: NAS-Identifier or NAS-IP-Address (or both) must be sent. */
	readonly nasIdentifier?: string;
	readonly nasIpAddress?: string;
	/** Wait per transmission (ms). Default 2000. */
	readonly timeoutMs?: number;
	/** Retransmissions per server after the first send. Default 2. */
	readonly retries?: number;
	/** Service-Type values accepted in an Access-Accept (RFC 2865 §5.6). Default [1, 8]. */
	readonly allowedServiceTypes?: readonly number[];
	readonly random?: Random;
	readonly clock?: Clock;
	/** Audit hook: dropped replies, retransmits, failovers, legacy use. Must not throw (errors are swallowed). */
	readonly onEvent?: (event: RadiusEvent) => void;
	/** Host name resolution; default node:dns lookup. Injected by tests. */
	readonly resolve?: (host: string) => Promise<ResolvedAddress>;
}

export interface RadiusAuthenticateInput {
	readonly username: string;
	/** The password or one-time code; at most 128 UTF-8 octets (RFC 2865 §5.2). */
	readonly password: string;
	/** State from a previous Access-Challenge (RFC 2865 §5.24), echoed unmodified. */
	readonly state?: Buffer;
	/** The end user's address, sent as Calling-Station-Id (RFC 2865 §5.31). */
	readonly callingStationId?: string;
	/**
	 * Server that issued the challenge (`serverIndex` of the challenge result). State is usually
	 * only meaningful to that server, so it is tried first; the others remain failover targets.
	 */
	readonly serverIndex?: number;
}

export type RadiusRejectReason =
	/** The server sent Access-Reject. */
	| "server-reject"
	/** Access-Accept with a Service-Type we do not support (RFC 2865 §5.6). */
	| "unsupported-service-type"
	/** Access-Challenge without State: cannot be continued, so treated as Reject (RFC 2865 §4.4). */
	| "challenge-without-state";

export type RadiusAuthResult =
	| { readonly kind: "accept"; readonly replyMessage?: string; readonly server: string; readonly serverIndex: number }
	| {
			readonly kind: "reject";
			readonly replyMessage?: string;
			readonly reason: RadiusRejectReason;
			readonly server: string;
			readonly serverIndex: number;
	  }
	| {
			readonly kind: "challenge";
			readonly state: Buffer;
			/** Prompt text from the server ("" if it sent none). Control characters are removed. */
			readonly replyMessage: string;
			readonly server: string;
			readonly serverIndex: number;
	  };

export type RadiusDropReason =
	| DecodeError
	| "not-a-reply"
	| "unexpected-source"
	| "unknown-identifier"
	| "bad-response-authenticator"
	| "missing-message-authenticator"
	| "bad-message-authenticator";

export type RadiusEvent =
	| {
			readonly type: "reply-dropped";
			readonly reason: RadiusDropReason;
			/** The server whose request the datagram claimed to answer, if any. */
			readonly server: string | null;
			/** "address:port" the datagram came from. */
			readonly from: string;
			readonly identifier: number | null;
			readonly detail: string;
	  }
	| { readonly type: "unsigned-reply-accepted"; readonly server: string; readonly code: number }
	| { readonly type: "retransmit"; readonly server: string; readonly identifier: number; readonly attempt: number }
	| {
			readonly type: "server-failed";
			readonly server: string;
			readonly reason: "timeout" | "resolve-failed" | "send-failed";
			readonly detail: string;
	  }
	| { readonly type: "reply-rejected-locally"; readonly server: string; readonly reason: RadiusRejectReason; readonly detail: string }
	| { readonly type: "legacy-server-configured"; readonly server: string }
	| { readonly type: "weak-secret"; readonly server: string; readonly length: number }
	| { readonly type: "socket-error"; readonly detail: string };

export interface RadiusServerProbe {
	readonly server: string;
	/** Some datagram came back from the server's address and port. */
	readonly reachable: boolean;
	/** A reply passed every check (Response Authenticator, Message-Authenticator unless legacy). */
	readonly verified: boolean;
	readonly outcome: "accept" | "reject" | "challenge" | null;
	readonly roundTripMs: number | null;
	/** Human hint for the admin, or null when everything looked right. */
	readonly problem: string | null;
}

interface NormalisedServer {
	readonly index: number;
	readonly label: string;
	readonly host: string;
	readonly port: number;
	readonly secret: Buffer;
	readonly legacy: boolean;
}

function configError(message: string): PortcullisError {
	return new PortcullisError("ERR_CONFIG_INVALID", `RADIUS: ${message}`);
}

function isPositiveInteger(value: unknown, max: number): value is number {
	return typeof value === "number" && Number.isInteger(value) && value >= 1 && value <= max;
}

/** Refuses configurations the RFCs forbid or that cannot work. Throws ERR_CONFIG_INVALID. */
export function validateRadiusClientOptions(options: RadiusClientOptions): void {
	if (!Array.isArray(options.servers) || options.servers.length === 0) throw configError("at least one server is required");
	options.servers.forEach((server, index) => {
		const where = `server ${index + 1}`;
		if (typeof server.host !== "string" || server.host.trim().length === 0) throw configError(`${where}: host is empty`);
		if (server.port !== undefined && !isPositiveInteger(server.port, 65535)) throw configError(`${where}: port is invalid`);
		const secret = typeof server.secret === "string" ? Buffer.from(server.secret, "utf8") : server.secret;
		// RFC 2865 §3: "The secret (password) ... MUST NOT be empty".
		if (!Buffer.isBuffer(secret) || secret.length === 0) throw configError(`${where}: shared secret must not be empty`);
	});
	if (options.nasIdentifier === undefined && options.nasIpAddress === undefined) {
		throw configError("nasIdentifier or nasIpAddress is required (RFC 2865 §4.1)");
	}
	if (options.nasIdentifier !== undefined) {
		const length = Buffer.byteLength(options.nasIdentifier, "utf8");
		if (length === 0 || length > RADIUS_MAX_ATTRIBUTE_VALUE) throw configError("nasIdentifier must be 1-253 octets");
	}
	if (options.nasIpAddress !== undefined && !isIPv4(options.nasIpAddress)) throw configError("nasIpAddress must be IPv4");
	if (options.timeoutMs !== undefined && !isPositiveInteger(options.timeoutMs, 60_000)) {
		throw configError("timeoutMs must be an integer in 1..60000");
	}
	if (
		options.retries !== undefined &&
		!(typeof options.retries === "number" && Number.isInteger(options.retries) && options.retries >= 0 && options.retries <= 10)
	) {
		throw configError("retries must be an integer in 0..10");
	}
	if (options.allowedServiceTypes !== undefined) {
		for (const value of options.allowedServiceTypes) {
			if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) throw configError("allowedServiceTypes has an invalid value");
		}
	}
}

/** Strip control and bidi-override characters so a server cannot drive the user's terminal. */
export function sanitizeReplyMessage(text: string): string {
	return stripUnsafe(text, { keepNewlines: true }).slice(0, MAX_REPLY_MESSAGE_CHARS);
}

function replyMessageOf(packet: DecodedPacket): string | undefined {
	const parts = findAttributes(packet, RADIUS_ATTR.ReplyMessage);
	if (parts.length === 0) return undefined;
	// RFC 2865 §5.18: multiple Reply-Messages are displayed in packet order.
	return sanitizeReplyMessage(parts.map((part) => part.value.toString("utf8")).join("\n"));
}

async function defaultResolve(host: string): Promise<ResolvedAddress> {
	const family = isIP(host);
	if (family === 4 || family === 6) return { address: host, family };
	const result = await dnsLookup(host);
	return { address: result.address, family: result.family === 6 ? 6 : 4 };
}

interface Outstanding {
	readonly server: NormalisedServer;
	readonly address: string;
	readonly identifier: number;
	readonly requestAuthenticator: Buffer;
	readonly packet: Buffer;
	readonly family: 4 | 6;
}

interface VerifiedReply {
	readonly request: Outstanding;
	readonly packet: DecodedPacket;
	readonly receivedAt: number;
}

/**
 * One authentication attempt: its own UDP socket(s) on ephemeral ports, and the table of
 * requests still outstanding. Requests to servers we already failed over from stay outstanding,
 * so a late but genuine answer is still accepted (RFC 5080 §2.2.1).
 */
class Exchange {
	readonly #sockets = new Map<4 | 6, Promise<dgram.Socket>>();
	readonly #outstanding: Outstanding[] = [];
	readonly #emit: (event: RadiusEvent) => void;
	readonly #random: Random;
	readonly #clock: Clock;
	#reply: VerifiedReply | null = null;
	#wake: (() => void) | null = null;
	#closed = false;

	constructor(emit: (event: RadiusEvent) => void, random: Random, clock: Clock) {
		this.#emit = emit;
		this.#random = random;
		this.#clock = clock;
	}

	#socket(family: 4 | 6): Promise<dgram.Socket> {
		let pending = this.#sockets.get(family);
		if (pending === undefined) {
			pending = new Promise<dgram.Socket>((resolve, reject) => {
				const socket = dgram.createSocket(family === 6 ? "udp6" : "udp4");
				const onBindError = (error: Error): void => reject(error);
				socket.once("error", onBindError);
				socket.on("message", (message, rinfo) => this.#onMessage(message, rinfo));
				socket.bind(0, () => {
					socket.off("error", onBindError);
					socket.on("error", (error) => this.#emit({ type: "socket-error", detail: error.message }));
					resolve(socket);
				});
			});
			this.#sockets.set(family, pending);
		}
		return pending;
	}

	/** Registers a new request: fresh Identifier and fresh random Request Authenticator (RFC 2865 §4.1). */
	newRequest(server: NormalisedServer, target: ResolvedAddress, build: (identifier: number, requestAuthenticator: Buffer) => Buffer): Outstanding {
		const inUse = new Set(
			this.#outstanding.filter((request) => request.address === target.address && request.server.port === server.port).map((request) => request.identifier),
		);
		if (inUse.size >= 256) throw new PortcullisError("ERR_METHOD_UNAVAILABLE", "RADIUS: identifier space exhausted");
		let identifier = this.#random.int(0, 256);
		while (inUse.has(identifier)) identifier = (identifier + 1) % 256;
		const requestAuthenticator = this.#random.bytes(16);
		const packet = build(identifier, requestAuthenticator);
		const request: Outstanding = {
			server,
			address: target.address,
			identifier,
			requestAuthenticator,
			packet,
			family: target.family,
		};
		this.#outstanding.push(request);
		return request;
	}

	async transmit(request: Outstanding): Promise<void> {
		const socket = await this.#socket(request.family);
		await new Promise<void>((resolve, reject) => {
			socket.send(request.packet, request.server.port, request.address, (error) => (error ? reject(error) : resolve()));
		});
	}

	/** Resolves with the first verified reply, or null after `ms` without one. */
	wait(ms: number): Promise<VerifiedReply | null> {
		if (this.#reply !== null) return Promise.resolve(this.#reply);
		return new Promise((resolve) => {
			const timer = setTimeout(() => {
				this.#wake = null;
				resolve(null);
			}, ms);
			this.#wake = () => {
				clearTimeout(timer);
				this.#wake = null;
				resolve(this.#reply);
			};
		});
	}

	#drop(reason: RadiusDropReason, from: string, request: Outstanding | null, identifier: number | null, detail: string): void {
		this.#emit({ type: "reply-dropped", reason, server: request?.server.label ?? null, from, identifier, detail });
	}

	#onMessage(message: Buffer, rinfo: dgram.RemoteInfo): void {
		if (this.#closed || this.#reply !== null) return;
		const from = `${rinfo.address}:${rinfo.port}`;
		const claimedIdentifier = message.length >= 2 ? (message[1] as number) : null;
		// Source IP and port first: they must be those we sent to (docs/security-matrix.md E3: "a reply from
		// the wrong port → ignore"). Checking before decoding also lets us attribute a malformed
		// datagram to the server that sent it.
		const fromServer = this.#outstanding.filter((request) => request.address === rinfo.address && request.server.port === rinfo.port);
		if (fromServer.length === 0) {
			this.#drop("unexpected-source", from, null, claimedIdentifier, "no request was sent to this address and port");
			return;
		}
		const decoded = decodePacket(message);
		if (!decoded.ok) {
			this.#drop(decoded.error, from, fromServer[0] ?? null, claimedIdentifier, decoded.detail);
			return;
		}
		const packet = decoded.packet;
		if (packet.code !== RADIUS_CODE.AccessAccept && packet.code !== RADIUS_CODE.AccessReject && packet.code !== RADIUS_CODE.AccessChallenge) {
			this.#drop("not-a-reply", from, fromServer[0] ?? null, packet.identifier, `code ${packet.code}`);
			return;
		}
		const request = fromServer.find((candidate) => candidate.identifier === packet.identifier);
		if (request === undefined) {
			this.#drop("unknown-identifier", from, fromServer[0] ?? null, packet.identifier, "no outstanding request has this Identifier");
			return;
		}
		const verification = verifyResponse(packet, request.requestAuthenticator, request.server.secret);
		if (!verification.responseAuthenticatorValid) {
			this.#drop("bad-response-authenticator", from, request, packet.identifier, "Response Authenticator mismatch (RFC 2865 §3)");
			return;
		}
		if (verification.messageAuthenticator === "invalid") {
			this.#drop("bad-message-authenticator", from, request, packet.identifier, "Message-Authenticator mismatch (RFC 3579 §3.2)");
			return;
		}
		if (verification.messageAuthenticator === "absent") {
			if (!request.server.legacy) {
				this.#drop("missing-message-authenticator", from, request, packet.identifier, "reply without Message-Authenticator (BlastRADIUS, CVE-2024-3596)");
				return;
			}
			this.#emit({ type: "unsigned-reply-accepted", server: request.server.label, code: packet.code });
		}
		this.#reply = { request, packet, receivedAt: this.#clock.now().getTime() };
		this.#wake?.();
	}

	close(): void {
		if (this.#closed) return;
		this.#closed = true;
		this.#wake?.();
		for (const pending of this.#sockets.values()) {
			pending.then(
				(socket) => {
					try {
						socket.close();
					} catch {
						// Already closed: nothing to release.
					}
				},
				() => undefined,
			);
		}
	}
}

export class RadiusClient {
	readonly #servers: readonly NormalisedServer[];
	readonly #nasIdentifier: string | undefined;
	readonly #nasIpAddress: string | undefined;
	readonly #timeoutMs: number;
	readonly #retries: number;
	readonly #allowedServiceTypes: ReadonlySet<number>;
	readonly #random: Random;
	readonly #clock: Clock;
	readonly #onEvent: ((event: RadiusEvent) => void) | undefined;
	readonly #resolve: (host: string) => Promise<ResolvedAddress>;
	#droppedReplies = 0;

	constructor(options: RadiusClientOptions) {
		validateRadiusClientOptions(options);
		try {
			createHash("md5").update("probe").digest();
		} catch (error) {
			// OpenSSL in FIPS mode has no MD5, and RADIUS cannot work without it (docs/dependencies.md, RADIUS).
			throw new PortcullisError("ERR_METHOD_UNAVAILABLE", "RADIUS: MD5 is unavailable (FIPS mode?)", { cause: error });
		}
		this.#servers = options.servers.map((server, index) => {
			const port = server.port ?? RADIUS_DEFAULT_PORT;
			return {
				index,
				label: server.name ?? `${server.host}:${port}`,
				host: server.host,
				port,
				secret: Buffer.from(typeof server.secret === "string" ? Buffer.from(server.secret, "utf8") : server.secret),
				legacy: server.legacyNoMessageAuthenticator === true,
			};
		});
		this.#nasIdentifier = options.nasIdentifier;
		this.#nasIpAddress = options.nasIpAddress;
		this.#timeoutMs = options.timeoutMs ?? RADIUS_DEFAULT_TIMEOUT_MS;
		this.#retries = options.retries ?? RADIUS_DEFAULT_RETRIES;
		this.#allowedServiceTypes = new Set(options.allowedServiceTypes ?? RADIUS_DEFAULT_SERVICE_TYPES);
		this.#random = options.random ?? cryptoRandom;
		this.#clock = options.clock ?? systemClock;
		this.#onEvent = options.onEvent;
		this.#resolve = options.resolve ?? defaultResolve;
		for (const server of this.#servers) {
			if (server.legacy) this.#emit({ type: "legacy-server-configured", server: server.label });
			if (server.secret.length < RADIUS_RECOMMENDED_SECRET_LENGTH) {
				this.#emit({ type: "weak-secret", server: server.label, length: server.secret.length });
			}
		}
	}

	/** Replies dropped by verification since construction (also reported one by one via onEvent). */
	get droppedReplies(): number {
		return this.#droppedReplies;
	}

	#emit(event: RadiusEvent): void {
		if (event.type === "reply-dropped") this.#droppedReplies++;
		if (this.#onEvent === undefined) return;
		try {
			this.#onEvent(event);
		} catch {
			// An audit sink failure must not change the authentication outcome.
		}
	}

	#checkInput(input: RadiusAuthenticateInput): void {
		const bad = (message: string): PortcullisError => new PortcullisError("ERR_INPUT", `RADIUS: ${message}`);
		const userLength = Buffer.byteLength(input.username, "utf8");
		if (userLength === 0 || userLength > RADIUS_MAX_ATTRIBUTE_VALUE) throw bad("username must be 1-253 octets");
		if (Buffer.byteLength(input.password, "utf8") > RADIUS_MAX_PASSWORD_LENGTH) throw bad("password longer than 128 octets");
		if (input.state !== undefined && (input.state.length === 0 || input.state.length > RADIUS_MAX_ATTRIBUTE_VALUE)) {
			throw bad("state must be 1-253 octets");
		}
		if (input.callingStationId !== undefined) {
			const length = Buffer.byteLength(input.callingStationId, "utf8");
			if (length === 0 || length > RADIUS_MAX_ATTRIBUTE_VALUE) throw bad("callingStationId must be 1-253 octets");
		}
		if (input.serverIndex !== undefined && !(Number.isInteger(input.serverIndex) && this.#servers[input.serverIndex])) {
			throw bad("serverIndex does not name a configured server");
		}
	}

	/**
	 * Sends one Access-Request (with failover) and returns the verified outcome.
	 * Throws PortcullisError ERR_METHOD_UNAVAILABLE when no server answered verifiably, ERR_INPUT
	 * when the input cannot be encoded (e.g. a password over 128 octets).
	 */
	async authenticate(input: RadiusAuthenticateInput): Promise<RadiusAuthResult> {
		this.#checkInput(input);
		const order = [...this.#servers];
		if (input.serverIndex !== undefined) {
			const first = order.splice(input.serverIndex, 1);
			order.unshift(...first);
		}
		const exchange = new Exchange((event) => this.#emit(event), this.#random, this.#clock);
		const failures: string[] = [];
		try {
			for (const server of order) {
				const reply = await this.#tryServer(exchange, server, input, failures);
				if (reply !== null) return this.#interpret(reply);
			}
		} finally {
			exchange.close();
		}
		throw new PortcullisError("ERR_METHOD_UNAVAILABLE", `RADIUS: no server gave a verified answer (${failures.join("; ")})`, { cause: { failures } });
	}

	async #tryServer(exchange: Exchange, server: NormalisedServer, input: RadiusAuthenticateInput, failures: string[]): Promise<VerifiedReply | null> {
		const fail = (reason: "timeout" | "resolve-failed" | "send-failed", detail: string): null => {
			failures.push(`${server.label}: ${reason}`);
			this.#emit({ type: "server-failed", server: server.label, reason, detail });
			return null;
		};
		let target: ResolvedAddress;
		try {
			target = await this.#resolve(server.host);
		} catch (error) {
			return fail("resolve-failed", String(error));
		}
		// A new server means a new Identifier and Request Authenticator, and the password hidden
		// under that server's secret; retransmissions to the same server reuse both (RFC 5080 §2.2.1).
		const request = exchange.newRequest(server, target, (identifier, requestAuthenticator) =>
			encodeAccessRequest({
				identifier,
				requestAuthenticator,
				secret: server.secret,
				userName: input.username,
				password: input.password,
				...(this.#nasIdentifier !== undefined ? { nasIdentifier: this.#nasIdentifier } : {}),
				...(this.#nasIpAddress !== undefined ? { nasIpAddress: this.#nasIpAddress } : {}),
				...(input.state !== undefined ? { state: input.state } : {}),
				...(input.callingStationId !== undefined ? { callingStationId: input.callingStationId } : {}),
			}),
		);
		for (let attempt = 0; attempt <= this.#retries; attempt++) {
			if (attempt > 0) {
				this.#emit({ type: "retransmit", server: server.label, identifier: request.identifier, attempt });
			}
			try {
				await exchange.transmit(request);
			} catch (error) {
				return fail("send-failed", String(error));
			}
			const reply = await exchange.wait(this.#timeoutMs);
			if (reply !== null) return reply;
		}
		return fail("timeout", `no verified reply after ${this.#retries + 1} transmissions of ${this.#timeoutMs} ms`);
	}

	#interpret(reply: VerifiedReply): RadiusAuthResult {
		const { packet, request } = reply;
		const server = request.server.label;
		const serverIndex = request.server.index;
		const replyMessage = replyMessageOf(packet);
		const withMessage = replyMessage !== undefined ? { replyMessage } : {};
		const localReject = (reason: RadiusRejectReason, detail: string): RadiusAuthResult => {
			this.#emit({ type: "reply-rejected-locally", server, reason, detail });
			return { kind: "reject", reason, server, serverIndex, ...withMessage };
		};
		switch (packet.code) {
			case RADIUS_CODE.AccessAccept: {
				for (const attribute of findAttributes(packet, RADIUS_ATTR.ServiceType)) {
					const value = attribute.value.readUInt32BE(0);
					if (!this.#allowedServiceTypes.has(value)) {
						return localReject("unsupported-service-type", `Service-Type ${value} (RFC 2865 §5.6)`);
					}
				}
				return { kind: "accept", server, serverIndex, ...withMessage };
			}
			case RADIUS_CODE.AccessChallenge: {
				const states = findAttributes(packet, RADIUS_ATTR.State);
				const state = states[0];
				if (state === undefined || states.length > 1) {
					return localReject("challenge-without-state", `${states.length} State attributes`);
				}
				return { kind: "challenge", state: Buffer.from(state.value), replyMessage: replyMessage ?? "", server, serverIndex };
			}
			default:
				return { kind: "reject", reason: "server-reject", server, serverIndex, ...withMessage };
		}
	}

	/**
	 * Admin "test connection": sends an Access-Request for a dummy user with a random password to
	 * EACH server separately (no failover) and reports whether it answered and whether the answer
	 * verified. Never throws for network problems; they are reported per server.
	 */
	async testConnection(options: { readonly username?: string } = {}): Promise<RadiusServerProbe[]> {
		const username = options.username ?? "portcullis-connection-test";
		const password = this.#random.bytes(12).toString("hex");
		const probes: RadiusServerProbe[] = [];
		for (const server of this.#servers) probes.push(await this.#probe(server, username, password));
		return probes;
	}

	async #probe(server: NormalisedServer, username: string, password: string): Promise<RadiusServerProbe> {
		const drops: RadiusDropReason[] = [];
		const exchange = new Exchange(
			(event) => {
				if (event.type === "reply-dropped" && event.server === server.label) drops.push(event.reason);
				this.#emit(event);
			},
			this.#random,
			this.#clock,
		);
		const failures: string[] = [];
		const started = this.#clock.now().getTime();
		try {
			const reply = await this.#tryServer(exchange, server, { username, password }, failures);
			if (reply !== null) {
				const result = this.#interpret(reply);
				const unsigned = reply.packet.attributes.every((attribute) => attribute.type !== RADIUS_ATTR.MessageAuthenticator);
				let problem: string | null = null;
				if (result.kind === "accept") {
					problem = "the server ACCEPTED a dummy user with a random password: check its policy";
				} else if (unsigned) {
					problem = "the server does not sign replies with Message-Authenticator (BlastRADIUS); accepted only because this server is marked legacy";
				}
				return {
					server: server.label,
					reachable: true,
					verified: true,
					outcome: result.kind,
					roundTripMs: reply.receivedAt - started,
					problem,
				};
			}
		} finally {
			exchange.close();
		}
		const reachable = drops.some((reason) => reason !== "unexpected-source");
		let problem: string;
		if (failures.some((failure) => failure.endsWith("resolve-failed"))) problem = `cannot resolve host ${server.host}`;
		else if (failures.some((failure) => failure.endsWith("send-failed"))) problem = "cannot send to the server (network unreachable?)";
		else if (drops.includes("missing-message-authenticator")) {
			problem = "the server answers without Message-Authenticator (BlastRADIUS, CVE-2024-3596): upgrade it or make it sign replies";
		} else if (drops.includes("bad-response-authenticator") || drops.includes("bad-message-authenticator")) {
			problem = "replies fail verification: the shared secret probably differs";
		} else if (reachable) problem = `replies were malformed or unexpected (${[...new Set(drops)].join(", ")})`;
		else {
			problem =
				"no reply: server down, port filtered, this client not configured on the server, or a different shared secret " +
				"(servers that require Message-Authenticator silently drop requests signed with another secret)";
		}
		return { server: server.label, reachable, verified: false, outcome: null, roundTripMs: null, problem };
	}
}
