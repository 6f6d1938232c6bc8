/**
 * Operational failures throw a PortcullisError with a stable code; expected outcomes (wrong code,
 * replay, locked) are returned as values instead. Every code is documented in docs/errors.md and a
 * test keeps the two in step.
 */
export const ERROR_CODES = {
	ERR_CONFIG_INVALID: "The configuration is invalid.",
	ERR_DATABASE: "The database failed.",
	ERR_DATABASE_UNAVAILABLE: "The database cannot be reached or written right now (an outage); the request was refused.",
	ERR_METHOD_UNAVAILABLE: "A second-factor method cannot decide (backend unreachable or misconfigured).",
	ERR_METHOD_REFUSED: "The method's backend refused this user outright (e.g. Duo preauth deny or enroll); the login is denied.",
	ERR_METHOD_NOT_IMPLEMENTED: "The method is not available in this build.",
	ERR_SECRET_KEY: "The secret-encryption key is missing or unusable.",
	ERR_DECRYPT: "A stored secret could not be decrypted (wrong key or tampered data).",
	ERR_POLICY_INVALID: "The requested policy change would leave an invalid policy.",
	ERR_NOT_FOUND: "The named user, group or factor does not exist.",
	ERR_CONFLICT: "The object already exists or is in a conflicting state.",
	ERR_INPUT: "The input is malformed.",
	ERR_AUDIT_CHAIN: "The audit log's hash chain does not verify: an event was edited, deleted or inserted.",
	ERR_BACKUP:
		"A backup or restore was refused or failed (PostgreSQL deployment, destination exists, data directory not empty, missing or wrong secret key, unreadable backup).",
	ERR_INTERNAL: "An unexpected internal error (a bug); the request was refused.",
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class PortcullisError extends Error {
	readonly code: ErrorCode;
	/** The input field the refusal is about ("name", "password"…), when one is: forms mark it (web/views/form-echo.tsx). */
	readonly field: string | undefined;
	constructor(code: ErrorCode, message: string = ERROR_CODES[code], options?: { cause?: unknown; field?: string }) {
		super(message, options?.cause !== undefined ? { cause: options.cause } : undefined);
		this.code = code;
		this.field = options?.field;
		this.name = "PortcullisError";
	}
}

export function isPortcullisError(value: unknown, code?: ErrorCode): value is PortcullisError {
	return value instanceof PortcullisError && (code === undefined || value.code === code);
}
