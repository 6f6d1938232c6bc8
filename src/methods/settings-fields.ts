/**
 * Field validators shared by the methods' settings specs (`src/methods/<id>/settings.ts`).
 * Malformed fields are ERR_INPUT ("<field>: <problem>"), well-formed but unsafe or contradictory
 * combinations ERR_POLICY_INVALID (docs/product-decisions.md, Decision 3). The messages are shown to admins as
 * they are (form errors, CLI), so they name the field and what is expected. Hand-written rather
 * than a zod schema: the exact messages, the trimming and "omitted secret keeps the stored one"
 * are part of the admin interface (tests pin them), and stored rows are re-validated with them.
 */
import { hasUnsafe } from "../core/untrusted-text.ts";
import { isIP } from "node:net";
import { PortcullisError } from "../core/errors.ts";
import type { JsonObject } from "./settings-spec.ts";

export const MAX_SERVERS = 5;
const MAX_CA_PEM = 16 * 1024;

export function bad(field: string, message: string): PortcullisError {
	return new PortcullisError("ERR_INPUT", `${field}: ${message}`);
}

export function refused(message: string): PortcullisError {
	return new PortcullisError("ERR_POLICY_INVALID", message);
}

export function isJsonObject(value: unknown): value is JsonObject {
	return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function asObject(value: unknown, field: string): JsonObject {
	if (!isJsonObject(value)) throw bad(field, "must be an object");
	return value;
}

export function onlyKeys(object: JsonObject, allowed: readonly string[], field: string): void {
	const extra = Object.keys(object).filter((key) => !allowed.includes(key));
	if (extra.length > 0) throw bad(field, `unknown setting ${JSON.stringify(extra[0]!.slice(0, 40))}`);
}

export const HOSTNAME = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;

export function text(object: JsonObject, key: string, field: string, options: { min?: number; max: number; pattern?: RegExp; hint?: string }): string {
	const value = object[key];
	if (typeof value !== "string") throw bad(`${field}.${key}`, "is required");
	const trimmed = value.trim();
	if (trimmed.length < (options.min ?? 1))
		throw bad(`${field}.${key}`, options.min !== undefined && options.min > 1 ? `must have at least ${options.min} characters` : "must not be empty");
	if (trimmed.length > options.max) throw bad(`${field}.${key}`, `must have at most ${options.max} characters`);
	if (hasUnsafe(trimmed)) throw bad(`${field}.${key}`, "must not contain control characters");
	if (options.pattern && !options.pattern.test(trimmed)) throw bad(`${field}.${key}`, options.hint ?? "is malformed");
	return trimmed;
}

/** A secret field: `undefined`/`null` keeps the stored one (forms never echo secrets); "" is refused. */
export function secret(object: JsonObject, key: string, field: string, current: string | undefined, check: (value: string) => string | null): string {
	const value = object[key];
	if (value === undefined || value === null) {
		if (current === undefined) throw bad(`${field}.${key}`, "is required");
		return current;
	}
	if (typeof value !== "string") throw bad(`${field}.${key}`, "must be a string");
	if (value.length === 0) throw bad(`${field}.${key}`, "must not be empty");
	const problem = check(value);
	if (problem !== null) throw bad(`${field}.${key}`, problem);
	return value;
}

export function integer(object: JsonObject, key: string, field: string, min: number, max: number, fallback: number): number {
	const raw = object[key];
	if (raw === undefined || raw === null || raw === "") return fallback;
	const value = typeof raw === "string" && /^[0-9]{1,9}$/.test(raw.trim()) ? Number(raw.trim()) : raw;
	if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max)
		throw bad(`${field}.${key}`, `must be a whole number from ${min} to ${max}`);
	return value;
}

export function boolean(object: JsonObject, key: string, field: string): boolean {
	const value = object[key];
	if (value === undefined || value === null) return false;
	if (typeof value !== "boolean") throw bad(`${field}.${key}`, "must be true or false");
	return value;
}

/** Like a secret: `undefined` keeps the current CA (forms do not echo it); null or "" removes it. */
export function caPem(object: JsonObject, field: string, current: string | undefined): { caPem?: string } {
	const value = object.caPem;
	if (value === undefined) return current === undefined ? {} : { caPem: current };
	if (value === null || value === "") return {};
	if (typeof value !== "string" || value.length > MAX_CA_PEM) throw bad(`${field}.caPem`, "must be PEM certificates of at most 16 KiB");
	const pem = value.trim();
	if (!/^-----BEGIN CERTIFICATE-----[\s\S]+-----END CERTIFICATE-----$/.test(pem)) throw bad(`${field}.caPem`, "must be one or more PEM certificates");
	return { caPem: `${pem}\n` };
}

export function isLoopbackHost(hostname: string): boolean {
	const host = hostname.replace(/^\[|\]$/g, "").toLowerCase();
	if (host === "localhost") return true;
	if (isIP(host) === 4) return host.startsWith("127.");
	if (isIP(host) === 6) return host === "::1";
	return false;
}

/** The note shown when a method's private CA replaces the system roots. */
export const PRIVATE_CA_NOTE = "A private CA replaces the system certificate roots for this method.";
